// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * follow.c - -f: print records as they arrive, one tcpdump-like line each.
 *
 * /proc/tcpflow's file offset is a record number, so plain sequential
 * read()s resume where the last one stopped, and poll() says when records
 * past it exist.  A regular file has no such poll (it is always
 * "readable"), so there we fall back to tail -f's sleep; a pipe ends at
 * its end.  A ladder needs whole conversations, so -f prints lines only.
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
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "show.h"

static void ep(struct obuf *ob, unsigned int af, const uint8_t *a,
	       unsigned int port)
{
	char buf[TF_EP_MAX];

	ob_mem(ob, buf, tf_endpoint_str(buf, af, a, port));
}

void tf_follow_line(struct obuf *ob, const struct tf_rec *r, uint64_t t0)
{
	const struct tcpflow_record *x = &r->r;
	char tmp[TF_COMM_MAX];
	size_t n;

	if (x->ts_ns >= t0) {
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
		ob_u64(ob, x->seq);
		if (x->flags & TCPFLOW_F_ACK) {
			ob_str(ob, ", ack ");
			ob_u64(ob, x->ack);
		}
		ob_str(ob, ", win ");
		ob_u64(ob, x->win);
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

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Returns 0 at the end of a pipe, 1 on error, 2 on a wrong format. */
int tf_follow(int fd, const struct tf_opts *o, struct tf_parser *p,
	      struct obuf *ob)
{
	struct tf_input in;
	struct tf_trace t;	/* only t0, for times and --since/--until */
	struct tf_rec rec;
	struct stat st;
	int is_pipe, polled = 0, have_t0 = 0, ret = 0;

	tf_trace_init(&t);
	if (tf_input_init(&in, fd))
		return 1;
	is_pipe = !fstat(fd, &st) && (S_ISFIFO(st.st_mode) ||
				      S_ISSOCK(st.st_mode) ||
				      S_ISCHR(st.st_mode));
	for (;;) {
		const char *line;
		size_t len;
		enum tf_in got = tf_input_next(&in, &line, &len, is_pipe);

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
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			ob_flush(ob);
			fflush(ob->f);
			if (ob->err || is_pipe)
				break;
			/* A file that is always "readable": sleep instead. */
			if (polled)
				nap(200);
			polled = poll(&pfd, 1, 1000) > 0;
			continue;
		}
		polled = 0;
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
		}
		if (tf_rec_selected(&t, &rec, o))
			tf_follow_line(ob, &rec, t.t0);
	}
out:
	tf_input_free(&in);
	return ret;
}
