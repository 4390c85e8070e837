// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * follow.c - -f: print records as they arrive, one tcpdump-like line each.
 *
 * /proc/tcpflow's file offset is a record number, so plain sequential
 * read()s resume where the last one stopped, and poll() says when records
 * past it exist.  A regular file has no such poll (it is always
 * "readable"), so there we fall back to tail -f's sleep; a pipe ends at
 * its end.  A pipe is read only as far as poll() says it holds, and what
 * was printed is flushed before waiting for more: a record is on the
 * screen as soon as it is in the pipe (tcpflow-bpf -f | tcpflow-show -f -).
 *
 * Sequence numbers are relative to the first one seen from that end of
 * that 4-tuple (its ISN when the SYN was seen), as in the ladder; -S
 * prints them as on the wire.  --explain adds the notes a record alone
 * can give, each once per conversation (tf_note_for()).
 *
 * SIGINT/SIGTERM (tf_stop) end the loop cleanly: what is already in the
 * pipe is read and printed first (tf_wait()).
 *
 * With --json, each record is --json's line instead (the systemd unit
 * logs them so, docs/fleet.md).  A merged stream's records (jsonin.c)
 * begin with their host, "HOST: ", and times, relative numbers and
 * notes are each host's own.
 */
/*
 * Not _GNU_SOURCE here: with it, <sys/stat.h> pulls in <linux/types.h>,
 * whose __u64 (unsigned long long) clashes with tcpflow_abi.h's userspace
 * typedef (uint64_t, unsigned long on x86-64).
 */
#undef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include "show.h"

/* main.c's SIGINT/SIGTERM handler sets it; tf_wait() sees it */
volatile sig_atomic_t tf_stop;

static void ep(struct obuf *ob, unsigned int af, const uint8_t *a,
	       unsigned int port)
{
	char buf[TF_EP_MAX];

	ob_mem(ob, buf, tf_endpoint_str(buf, af, a, port));
}

void tf_host_prefix(struct obuf *ob, const struct tf_hosts *h,
		    const struct tf_rec *r)
{
	char buf[TF_HOST_LABEL_MAX];

	if (!r->host || !h)
		return;
	ob_str(ob, tf_host_label(h, r->host, buf));
	ob_str(ob, ": ");
}

void tf_follow_line(struct obuf *ob, const struct tf_rec *r, uint64_t t0)
{
	tf_follow_line_rel(ob, r, t0, r->r.seq, r->r.ack);
}

void tf_follow_line_rel(struct obuf *ob, const struct tf_rec *r, uint64_t t0,
			uint32_t seq, uint32_t ack)
{
	const struct tcpflow_record *x = &r->r;
	char tmp[TF_COMM_MAX];
	size_t n;

	if (tf_wall_on()) {
		n = tf_wall_str(tmp, sizeof(tmp), x->ts_ns);
	} else if (x->ts_ns >= t0) {
		n = tf_frac_str(tmp, x->ts_ns - t0, 1000000000, 6);
	} else {
		tmp[0] = '-';
		n = 1 + tf_frac_str(tmp + 1, t0 - x->ts_ns, 1000000000, 6);
	}
	ob_pad(ob, ' ', n < 11 ? 11 - n : 0);
	ob_mem(ob, tmp, n);
	ob_ch(ob, ' ');
	ob_u64(ob, x->conn);
	ob_ch(ob, ' ');
	if (x->event == TCPFLOW_EV_STATE) {
		ob_str(ob, "state ");
		ep(ob, x->af, x->laddr, x->lport);
		ob_str(ob, " - ");
		ep(ob, x->af, x->raddr, x->rport);
		ob_str(ob, ": ");
		ob_color(ob, TF_C_STATE);
		ob_str(ob, tf_state_name(x->old_state));
		ob_str(ob, " -> ");
		ob_str(ob, tf_state_name(x->new_state));
		ob_color(ob, TF_C_RESET);
		if (x->why) {
			ob_str(ob, " (");
			ob_str(ob, tf_why_name(x->why));
			ob_ch(ob, ')');
		}
		if (!(r->dash & TF_DASH(TF_K_DUR))) {
			ob_str(ob, ", after ");
			ob_frac(ob, x->dur_ns, 1000000, 3);
			ob_str(ob, " ms");
		}
	} else {
		int tx = x->event == TCPFLOW_EV_TX;

		ob_str(ob, tx ? "tx    " : "rx    ");
		if (tx) {
			ep(ob, x->af, x->laddr, x->lport);
			ob_str(ob, " > ");
			ep(ob, x->af, x->raddr, x->rport);
		} else {
			ep(ob, x->af, x->raddr, x->rport);
			ob_str(ob, " > ");
			ep(ob, x->af, x->laddr, x->lport);
		}
		ob_str(ob, ": Flags [");
		ob_mem(ob, tmp, tf_flags_str(tmp, x->flags));
		ob_str(ob, "], seq ");
		ob_u64(ob, seq);
		if (x->flags & TCPFLOW_F_ACK) {
			ob_str(ob, ", ack ");
			ob_u64(ob, ack);
		}
		ob_str(ob, ", win ");
		ob_u64(ob, x->win);
		if (tf_opts_str(tmp, x, r->dash, TF_OPTS_TCPDUMP)) {
			ob_str(ob, ", options [");
			ob_str(ob, tmp);
			ob_ch(ob, ']');
		}
		ob_str(ob, ", length ");
		ob_u64(ob, x->len);
		if (x->new_state) {
			ob_str(ob, " (");
			ob_str(ob, tf_state_name(x->new_state));
			ob_ch(ob, ')');
		}
	}
	if (!(r->dash & TF_DASH(TF_K_COMM))) {
		ob_ch(ob, ' ');
		ob_mem(ob, tmp, tf_comm_str(tmp, x->comm));
		ob_ch(ob, '[');
		ob_u64(ob, x->pid);
		ob_ch(ob, ']');
	}
	ob_ch(ob, '\n');
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR && !tf_stop)
		;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tf_fd_is_pipe(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && (S_ISFIFO(st.st_mode) ||
				   S_ISSOCK(st.st_mode) ||
				   S_ISCHR(st.st_mode));
}

/*
 * Called when nothing complete is left to read: wait for more.  Returns
 * 1 at the end: a pipe's end, or tf_stop and the input drained (a pipe:
 * its writer gone, or nothing more for a moment; a child: its end, 3 s at
 * most, then SIGTERM).  0: read again.
 */
int tf_wait(struct tf_wait *w, struct tf_input *in)
{
	struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
	long left;

	if (w->is_pipe && in->eof)
		return 1;
	if (tf_stop && !w->stopping) {
		w->stopping = 1;
		w->deadline = now_ms() + (w->child > 0 ? 3000 : 200);
		if (w->child > 0)
			kill(w->child, SIGINT);
	}
	if (w->stopping) {
		if (!w->is_pipe)	/* read() returned 0: all read */
			return 1;
		left = w->deadline - now_ms();
		if (left <= 0) {
			if (w->child > 0)
				kill(w->child, SIGTERM);
			return 1;
		}
		/* A pipe with nothing more for a moment: all read. */
		if (poll(&pfd, 1, (int)left) == 0 && w->child <= 0)
			return 1;
		return 0;
	}
	if (w->is_pipe) {
		/* Bounded, so that a signal just before it is seen soon. */
		poll(&pfd, 1, 250);
		return 0;
	}
	/* A file that is always "readable": sleep instead. */
	if (w->polled)
		nap(100);
	w->polled = poll(&pfd, 1, 250) > 0;
	return 0;
}

/*
 * What -f keeps per 4-tuple: the seq base of each end (directed keys),
 * and per conversation (the smaller end first) the notes given and FINs
 * seen.  Open addressing; a live trace has few conversations.
 */
struct fkey {
	uint8_t used, kind, af;		/* kind: 0 one end's seqs, 1 conv */
	uint8_t a[2][16];
	uint16_t port[2];
	uint16_t host;
};

struct fent {
	struct fkey k;
	uint32_t base;
	uint64_t notes;
	unsigned int fins;	/* explain(): ends that sent a FIN */
};

struct ftab {
	struct fent *e;
	size_t mask, n;
};

static uint64_t fkey_hash(const struct fkey *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static struct fent *ftab_get(struct ftab *t, const struct fkey *k, int *isnew)
{
	size_t i;

	if (2 * (t->n + 1) > t->mask + 1) {
		size_t cap = t->mask ? 2 * (t->mask + 1) : 64;
		struct fent *e = calloc(cap, sizeof(*e));

		if (!e)
			return NULL;
		for (size_t j = 0; t->e && j <= t->mask; j++) {
			if (!t->e[j].k.used)
				continue;
			i = fkey_hash(&t->e[j].k) & (cap - 1);
			while (e[i].k.used)
				i = (i + 1) & (cap - 1);
			e[i] = t->e[j];
		}
		free(t->e);
		t->e = e;
		t->mask = cap - 1;
	}
	i = fkey_hash(k) & t->mask;
	while (t->e[i].k.used) {
		if (!memcmp(&t->e[i].k, k, sizeof(*k))) {
			*isnew = 0;
			return &t->e[i];
		}
		i = (i + 1) & t->mask;
	}
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->e[i].k = *k;
	t->n++;
	*isnew = 1;
	return &t->e[i];
}

/* The key of what the end that sent r's segment sends (fwd) or gets. */
static void dir_key(struct fkey *k, const struct tf_rec *r, int fwd)
{
	const struct tcpflow_record *x = &r->r;
	int from_local = (x->event == TCPFLOW_EV_TX) == fwd;

	memset(k, 0, sizeof(*k));
	k->used = 1;
	k->host = r->host;
	k->af = x->af;
	memcpy(k->a[0], from_local ? x->laddr : x->raddr, 16);
	memcpy(k->a[1], from_local ? x->raddr : x->laddr, 16);
	k->port[0] = from_local ? x->lport : x->rport;
	k->port[1] = from_local ? x->rport : x->lport;
}

/* Returns which end of the key sent r's segment: 0 or 1. */
static int conv_key(struct fkey *k, const struct tf_rec *r)
{
	int swap;

	dir_key(k, r, 1);
	k->kind = 1;
	swap = memcmp(k->a[0], k->a[1], 16) > 0 ||
	       (!memcmp(k->a[0], k->a[1], 16) && k->port[0] > k->port[1]);
	if (swap) {
		uint8_t a[16];
		uint16_t p = k->port[0];

		memcpy(a, k->a[0], 16);
		memcpy(k->a[0], k->a[1], 16);
		memcpy(k->a[1], a, 16);
		k->port[0] = k->port[1];
		k->port[1] = p;
	}
	return swap;
}

/* seq and ack relative to each end's base; the bases learned here. */
static int relative(struct ftab *t, const struct tf_rec *r,
		    uint32_t *seq, uint32_t *ack)
{
	const struct tcpflow_record *x = &r->r;
	struct fkey k;
	struct fent *e;
	int isnew;

	dir_key(&k, r, 1);
	e = ftab_get(t, &k, &isnew);
	if (!e)
		return -1;
	/* A SYN starts the 4-tuple over: a new connection. */
	if (isnew || (x->flags & TCPFLOW_F_SYN))
		e->base = x->seq;
	*seq = x->seq - e->base;
	*ack = x->ack;
	if (!(x->flags & TCPFLOW_F_ACK))
		return 0;
	dir_key(&k, r, 0);
	e = ftab_get(t, &k, &isnew);
	if (!e)
		return -1;
	if (isnew)	/* the other end's ISN: not seen yet, guessed */
		e->base = (x->flags & TCPFLOW_F_SYN) ? x->ack - 1 : x->ack;
	*ack = x->ack - e->base;
	return 0;
}

static void explain(struct obuf *ob, struct ftab *t, const struct tf_rec *r,
		    int rel)
{
	const char *const *lines, *const *more;
	struct fkey k;
	struct fent *e;
	int isnew, id, from;

	if (r->r.sock == TCPFLOW_SK_NONE)
		return;
	from = conv_key(&k, r);
	e = ftab_get(t, &k, &isnew);
	if (!e)
		return;
	/*
	 * e->fins: a bit for each end that sent a FIN.  The same FIN seen
	 * at both ends, or sent again, is not the other side's FIN.
	 */
	id = tf_note_for(r, rel, !!(e->fins & (1u << !from)));
	if (tf_is_seg(r) && (r->r.flags & TCPFLOW_F_FIN))
		e->fins |= 1u << from;
	if (id <= 0 || id >= 64 || (e->notes & (1ull << id)))
		return;
	e->notes |= 1ull << id;
	lines = tf_note_lines(id, &more);
	for (int pass = 0; pass < 2; pass++, lines = more) {
		for (int i = 0; lines && lines[i]; i++) {
			ob_pad(ob, ' ', 12);
			ob_color(ob, TF_C_NOTE);
			ob_str(ob, "# ");
			ob_str(ob, lines[i]);
			ob_color(ob, TF_C_RESET);
			ob_ch(ob, '\n');
		}
	}
}

/* Returns 0 at the end, 1 on error, 2 on a wrong format. */
int tf_follow(int fd, pid_t child, const struct tf_opts *o,
	      struct tf_parser *p, struct obuf *ob, int json)
{
	struct tf_input in;
	struct tf_trace t;	/* only t0 (each host's), for times and
				   --since/--until, and the hosts, for --host */
	struct tf_rec rec;
	struct ftab tab = { 0 };
	struct tf_wait w = { .child = child };
	int have_t0 = 0, ret = 0;

	tf_trace_init(&t);
	if (tf_input_init(&in, fd))
		return 1;
	w.is_pipe = tf_fd_is_pipe(fd);
	in.poll_first = w.is_pipe;
	for (;;) {
		const char *line;
		size_t len;
		enum tf_in got = tf_input_next(&in, &line, &len, w.is_pipe);

		if (got == TF_IN_LONG) {
			p->line++;
			tf_parser_warn(p, "longer than %d bytes, skipped",
				       TF_MAX_LINE);
			continue;
		}
		if (got == TF_IN_ERR) {
			if (p->err)
				fprintf(p->err, TF_PROG ": read: %s\n",
					strerror(errno));
			ret = 1;
			break;
		}
		if (got == TF_IN_AGAIN) {
			/* Shown before waiting: on screen as it comes. */
			ob_flush(ob);
			fflush(ob->f);
			if (ob->err || tf_wait(&w, &in))
				break;
			continue;
		}
		w.polled = 0;
		switch (tf_parse_line(p, line, len, &rec)) {
		case TF_LINE_FATAL:
			ret = 2;
			goto out;
		case TF_LINE_SKIP:
			continue;
		case TF_LINE_RECORD:
			break;
		}
		if (!have_t0) {
			t.t0 = rec.r.ts_ns;
			have_t0 = 1;
			if (!json)
				tf_wall_warn(p->err, "input");
		}
		if (rec.host && tf_t0_note(&t, &rec)) {
			ret = 1;
			break;
		}
		t.hosts = p->hosts;	/* a view of the parser's, not owned */
		if (!tf_rec_selected(&t, &rec, o))
			continue;
		if (json) {
			tf_json_rec(ob, &rec, &p->hosts);
			continue;
		}
		tf_host_prefix(ob, &p->hosts, &rec);
		if (tf_is_seg(&rec) && !o->absolute) {
			uint32_t seq, ack;

			if (relative(&tab, &rec, &seq, &ack)) {
				ret = 1;
				break;
			}
			tf_follow_line_rel(ob, &rec, tf_t0(&t, rec.host), seq,
					   ack);
		} else {
			tf_follow_line(ob, &rec, tf_t0(&t, rec.host));
		}
		if (o->explain)
			explain(ob, &tab, &rec, !o->absolute);
	}
out:
	free(tab.e);
	free(t.ht0);
	tf_input_free(&in);
	return ret;
}
