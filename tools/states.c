// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * states.c - --states: one line per state change, like libbpf-tools'
 * tcpstates, with the time spent in the old state.
 *
 * The time in a state is measured per connection from when it entered
 * that state, not from its last change: when a timewait sock takes over,
 * the full sock still reports FIN_WAIT2 -> CLOSE after the tw sock's
 * FIN_WAIT2 -> TIME_WAIT, and both left the FIN_WAIT2 entered earlier.
 */
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define NSTATES TCPFLOW_STATE_MAX

static void col(struct obuf *ob, const char *s, size_t n, size_t width)
{
	ob_mem(ob, s, n);
	ob_pad(ob, ' ', n < width ? width - n : 1);
}

int tf_view_states(const struct tf_trace *t, const struct tf_opts *o,
		   struct obuf *ob)
{
	uint8_t *sel = tf_select_groups(t, o);
	uint64_t *entered = calloc(t->nconn * NSTATES + 1, sizeof(*entered));
	size_t epw = 11, connw = 6;
	char buf[TF_EP_MAX];

	if (!sel || !entered) {
		free(sel);
		free(entered);
		return -1;
	}
	/* Column widths from what will be printed. */
	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];
		size_t n;

		if (r->r.event != TCPFLOW_EV_STATE || !sel[r->group])
			continue;
		n = tf_endpoint_str(buf, r->r.af, r->r.laddr, r->r.lport);
		if (n > epw)
			epw = n;
		n = tf_endpoint_str(buf, r->r.af, r->r.raddr, r->r.rport);
		if (n > epw)
			epw = n;
		n = tf_u64_str(buf, r->r.conn);
		if (n > connw)
			connw = n;
	}
	epw += 2;
	connw += 2;

	ob_color(ob, TF_C_HEAD);
	col(ob, "TIME(s)", 7, 12);
	col(ob, "CONN", 4, connw);
	col(ob, "SK", 2, 5);
	col(ob, "PID", 3, 8);
	col(ob, "COMM", 4, 17);
	col(ob, "LADDR:LPORT", 11, epw);
	col(ob, "RADDR:RPORT", 11, epw);
	col(ob, "OLDSTATE", 8, 13);
	col(ob, "-> NEWSTATE", 11, 16);
	ob_str(ob, "MS");
	ob_color(ob, TF_C_RESET);
	ob_ch(ob, '\n');

	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *x = &r->r;
		uint64_t *in = r->cx >= 0 ? entered + (size_t)r->cx * NSTATES :
			       NULL;
		const char *s;
		size_t n;
		char tmp[TF_COMM_MAX];

		if (x->event != TCPFLOW_EV_STATE)
			continue;
		/* Track even what is not shown: the durations need it. */
		uint64_t since = in && x->old_state < NSTATES ?
				 in[x->old_state] : 0;
		if (in && x->new_state < NSTATES)
			in[x->new_state] = x->ts_ns + 1;  /* 0: never */
		if (!sel[r->group] || !tf_rec_in_window(t, r, o))
			continue;

		ob_reserve_fast(ob, 512);
		n = tf_frac_str(tmp, x->ts_ns - t->t0, 1000000000, 6);
		col(ob, tmp, n, 12);
		col(ob, tmp, tf_u64_str(tmp, x->conn), connw);
		s = tf_sock_name(x->sock);
		col(ob, s, strlen(s), 5);
		if (r->dash & TF_DASH(TF_K_PID))
			col(ob, "-", 1, 8);
		else
			col(ob, tmp, tf_u64_str(tmp, x->pid), 8);
		col(ob, tmp, tf_comm_str(tmp, x->comm), 17);
		col(ob, buf, tf_endpoint_str(buf, x->af, x->laddr, x->lport),
		    epw);
		col(ob, buf, tf_endpoint_str(buf, x->af, x->raddr, x->rport),
		    epw);
		ob_color(ob, TF_C_STATE);
		s = tf_state_name(x->old_state);
		col(ob, s, strlen(s), 13);
		ob_mem(ob, "-> ", 3);
		s = tf_state_name(x->new_state);
		ob_str(ob, s);
		ob_color(ob, TF_C_RESET);
		ob_pad(ob, ' ', strlen(s) < 13 ? 13 - strlen(s) : 1);
		if (x->old_state == TF_ST_TIME_WAIT &&
		    !(r->dash & TF_DASH(TF_K_DUR)))
			ob_frac(ob, x->dur_ns, 1000000, 3);
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
	free(sel);
	free(entered);
	return 0;
}
