// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * states.c - --states: one line per state change, like libbpf-tools'
 * tcpstates, with the time spent in the old state.
 *
 * The time in a state is measured per connection from when it entered
 * that state, not from its last change: when a timewait sock takes over,
 * the full sock still reports FIN_WAIT2 -> CLOSE after the tw sock's
 * FIN_WAIT2 -> TIME_WAIT, and both left the FIN_WAIT2 entered earlier.
 *
 * It works a record at a time (tf_states_rec), so main.c can stream a
 * trace of any size through it; columns are fixed for that reason, and
 * wide enough for IPv4 (IPv6 endpoints push the rest of their line
 * right, as in tcpstates without -w).  A record of a merged stream
 * (docs/fleet.md) has its host before its line, "HOST: ".
 */
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define NSTATES TCPFLOW_STATE_MAX

/* (host, conn id) -> when it entered each state (ts + 1; 0: not seen) */
struct conn_times {
	uint64_t id;
	uint16_t host;
	uint64_t entered[NSTATES];
};

struct tf_states {
	struct obuf *ob;
	const struct tf_hosts *hosts;	/* a line's "HOST: " */
	struct conn_times *tab;
	size_t mask, used;
};

static uint64_t hash(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* Slot 0 of the id space means empty: conn 0 (no socket) is not kept. */
static struct conn_times *times_of(struct tf_states *s, uint64_t id,
				   uint16_t host)
{
	size_t i;

	if (!id)
		return NULL;
	if ((s->used + 1) * 2 > s->mask + 1) {
		size_t ncap = (s->mask + 1) * 2;
		struct conn_times *n = calloc(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j <= s->mask; j++) {
			if (!s->tab[j].id)
				continue;
			i = hash(s->tab[j].id ^ (uint64_t)s->tab[j].host << 48) &
			    (ncap - 1);
			while (n[i].id)
				i = (i + 1) & (ncap - 1);
			n[i] = s->tab[j];
		}
		free(s->tab);
		s->tab = n;
		s->mask = ncap - 1;
	}
	for (i = hash(id ^ (uint64_t)host << 48) & s->mask; s->tab[i].id;
	     i = (i + 1) & s->mask)
		if (s->tab[i].id == id && s->tab[i].host == host)
			return &s->tab[i];
	s->tab[i].id = id;
	s->tab[i].host = host;
	s->used++;
	return &s->tab[i];
}

static void col(struct obuf *ob, const char *s, size_t n, size_t width)
{
	ob_mem(ob, s, n);
	ob_pad(ob, ' ', n < width ? width - n : 1);
}

#define W_TIME 12
#define W_CONN 8
#define W_SK 5
#define W_PID 8
#define W_COMM 17
#define W_EP 23
#define W_STATE 13

struct tf_states *tf_states_new(struct obuf *ob, const struct tf_hosts *h)
{
	struct tf_states *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ob = ob;
	s->hosts = h;
	s->mask = 1023;
	s->tab = calloc(s->mask + 1, sizeof(*s->tab));
	if (!s->tab) {
		free(s);
		return NULL;
	}
	ob_color(ob, TF_C_HEAD);
	col(ob, "TIME(s)", 7, W_TIME);
	col(ob, "CONN", 4, W_CONN);
	col(ob, "SK", 2, W_SK);
	col(ob, "PID", 3, W_PID);
	col(ob, "COMM", 4, W_COMM);
	col(ob, "LADDR:LPORT", 11, W_EP);
	col(ob, "RADDR:RPORT", 11, W_EP);
	col(ob, "OLDSTATE", 8, W_STATE);
	col(ob, "-> NEWSTATE", 11, W_STATE + 3);
	ob_str(ob, "MS");
	ob_color(ob, TF_C_RESET);
	ob_ch(ob, '\n');
	return s;
}

void tf_states_free(struct tf_states *s)
{
	if (s) {
		free(s->tab);
		free(s);
	}
}

/*
 * Every record goes through here, shown or not (shown: selected and in
 * the time window), so that durations stay right.
 */
void tf_states_rec(struct tf_states *s, const struct tf_rec *r, uint64_t t0,
		   int shown)
{
	const struct tcpflow_record *x = &r->r;
	struct obuf *ob = s->ob;
	struct conn_times *ct;
	uint64_t since = 0;
	char tmp[TF_COMM_MAX];
	const char *name;
	size_t n;

	if (x->event != TCPFLOW_EV_STATE)
		return;
	ct = times_of(s, x->conn, r->host);
	if (ct && x->old_state < NSTATES)
		since = ct->entered[x->old_state];
	if (ct && x->new_state < NSTATES)
		ct->entered[x->new_state] = x->ts_ns + 1;
	if (!shown)
		return;

	tf_host_prefix(ob, s->hosts, r);
	if (x->ts_ns >= t0) {
		n = tf_frac_str(tmp, x->ts_ns - t0, 1000000000, 6);
	} else {	/* another CPU's clock was a hair behind */
		tmp[0] = '-';
		n = 1 + tf_frac_str(tmp + 1, t0 - x->ts_ns, 1000000000, 6);
	}
	col(ob, tmp, n, W_TIME);
	col(ob, tmp, tf_u64_str(tmp, x->conn), W_CONN);
	name = tf_sock_name(x->sock);
	col(ob, name, strlen(name), W_SK);
	if (r->dash & TF_DASH(TF_K_PID))
		col(ob, "-", 1, W_PID);
	else
		col(ob, tmp, tf_u64_str(tmp, x->pid), W_PID);
	col(ob, tmp, tf_comm_str(tmp, x->comm), W_COMM);
	col(ob, tmp, tf_endpoint_str(tmp, x->af, x->laddr, x->lport), W_EP);
	col(ob, tmp, tf_endpoint_str(tmp, x->af, x->raddr, x->rport), W_EP);
	ob_color(ob, TF_C_STATE);
	name = tf_state_name(x->old_state);
	col(ob, name, strlen(name), W_STATE);
	ob_mem(ob, "-> ", 3);
	name = tf_state_name(x->new_state);
	ob_str(ob, name);
	ob_color(ob, TF_C_RESET);
	ob_pad(ob, ' ', strlen(name) < W_STATE ? W_STATE - strlen(name) : 1);
	if (x->old_state == TF_ST_TIME_WAIT && !(r->dash & TF_DASH(TF_K_DUR)))
		ob_frac(ob, x->dur_ns, 1000000, 3);	/* the kernel's own */
	else if (since && x->ts_ns + 1 >= since)
		ob_frac(ob, x->ts_ns + 1 - since, 1000000, 3);
	else
		ob_ch(ob, '-');
	if (x->why) {
		ob_ch(ob, ' ');
		ob_str(ob, tf_why_name(x->why));
	}
	ob_ch(ob, '\n');
}

int tf_view_states(const struct tf_trace *t, const struct tf_opts *o,
		   struct obuf *ob)
{
	uint8_t *sel = tf_select_groups(t, o);
	struct tf_states *s = sel ? tf_states_new(ob, &t->hosts) : NULL;

	if (!s) {
		free(sel);
		return -1;
	}
	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];

		tf_states_rec(s, r, tf_t0(t, r->host), sel[r->group] &&
			      tf_rec_in_window(t, r, o));
	}
	tf_states_free(s);
	free(sel);
	return 0;
}
