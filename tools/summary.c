// SPDX-License-Identifier: GPL-2.0
/*
 * summary.c - one line per connection (--summary), or the same as CSV
 * (--csv): who the ends were, when it began and how long it lasted, the
 * bytes each way, the handshake's round trip as each end saw it, who
 * closed first, how it ended, and which end held TIME_WAIT for how long.
 *
 * Everything comes from the records of the conversation, nothing from a
 * clock of our own: bytes from sequence numbers (the highest data byte a
 * side sent, or the other side acked, above its ISN), round trips from
 * the records' timestamps at each end.  An end that was not traced has
 * '-' where only its own records could tell.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "show.h"

enum tf_end {
	END_OPEN, END_FIN, END_RST, END_ABORT, END_TIMEOUT,
};

static const char *const end_names[] = {
	[END_OPEN] = "open", [END_FIN] = "FIN", [END_RST] = "RST",
	[END_ABORT] = "abort", [END_TIMEOUT] = "timeout",
};

struct side_sum {
	int have_data;		/* data_end is known */
	uint32_t data_end;	/* one past the last data byte */
	int fin;		/* sent a FIN at fin_at */
	uint32_t fin_at;
	uint64_t syn_tx, synack_rx;	/* client's handshake times */
	uint64_t synack_tx, ack_rx;	/* server's */
	uint64_t closed;	/* first close: FIN_WAIT1, FIN or RST sent */
	int closed_set;
	int to_close;		/* full sock went to CLOSE */
	uint8_t close_from;	/* ... from this state */
	int rst_sent;
	int fw2_timeout;	/* its FIN_WAIT2 timewait sock ran out */
	uint64_t tw_start, tw_end;
	int tw, tw_ended;
	uint8_t tw_why;
};

struct sum {
	struct side_sum s[2];
	uint64_t first, last;
};

static void note_close(struct side_sum *e, uint64_t ts)
{
	if (!e->closed_set || ts < e->closed) {
		e->closed = ts;
		e->closed_set = 1;
	}
}

/* The segment's sender had no socket: its own tx record says so. */
static int from_nosock(const struct tf_trace *t, const struct tf_rec *r)
{
	if (r->r.event == TCPFLOW_EV_RX)
		return r->twin >= 0 ?
		       t->rec[r->twin].r.sock == TCPFLOW_SK_NONE : -1;
	return r->r.sock == TCPFLOW_SK_NONE;
}

static void seg_sum(const struct tf_trace *t, struct sum *m,
		    const struct tf_group *g, const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	unsigned int s = tf_sender(r);
	struct side_sum *e = &m->s[s], *o = &m->s[!s];
	uint8_t f = x->flags;
	uint32_t end = x->seq + !!(f & TCPFLOW_F_SYN) + x->len;

	/* data sent by s */
	if (x->len && (!e->have_data || (int32_t)(end - e->data_end) > 0)) {
		e->data_end = end;
		e->have_data = 1;
	}
	if (f & TCPFLOW_F_FIN) {
		e->fin = 1;
		e->fin_at = end;
		if (!e->have_data || (int32_t)(end - e->data_end) > 0) {
			e->data_end = end;
			e->have_data = 1;
		}
		note_close(e, x->ts_ns);
	}
	/* a reset from no socket after this end had gone answers a late
	 * segment; it is not how the connection ended (unknown sender: an
	 * end whose timewait sock had gone has no socket left) */
	if ((f & TCPFLOW_F_RST) &&
	    !(from_nosock(t, r) == 1 && (e->to_close || e->tw_ended)) &&
	    !(from_nosock(t, r) < 0 && e->tw_ended)) {
		e->rst_sent = 1;
		note_close(e, x->ts_ns);
	}
	/* what s acks of the other side's data (not its SYN, not its FIN) */
	if ((f & TCPFLOW_F_ACK) && !(f & TCPFLOW_F_RST) &&
	    (int32_t)(x->ack - g->base[!s] - 1) >= 0) {
		uint32_t a = x->ack;

		if (o->fin && (int32_t)(a - o->fin_at) > 0)
			a = o->fin_at;
		if (!o->have_data || (int32_t)(a - o->data_end) > 0) {
			o->data_end = a;
			o->have_data = 1;
		}
	}
	/* the handshake, at the end that recorded it */
	if ((f & TCPFLOW_F_SYN) && !(f & TCPFLOW_F_ACK) &&
	    x->event == TCPFLOW_EV_TX && !e->synack_rx)
		e->syn_tx = x->ts_ns;		/* the last SYN before the answer */
	if ((f & TCPFLOW_F_SYN) && (f & TCPFLOW_F_ACK)) {
		if (x->event == TCPFLOW_EV_TX && !e->ack_rx)
			e->synack_tx = x->ts_ns;
		if (x->event == TCPFLOW_EV_RX && !o->synack_rx)
			o->synack_rx = x->ts_ns;
	}
	if ((f & TCPFLOW_F_ACK) && !(f & (TCPFLOW_F_SYN | TCPFLOW_F_RST)) &&
	    x->event == TCPFLOW_EV_RX && o->synack_tx && !o->ack_rx)
		o->ack_rx = x->ts_ns;
}

static void state_sum(struct sum *m, const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	struct side_sum *e = &m->s[r->side];

	if (x->new_state == TF_ST_FIN_WAIT1 || x->new_state == TF_ST_LAST_ACK)
		note_close(e, x->ts_ns);
	if (x->new_state == TF_ST_TIME_WAIT && x->sock == TCPFLOW_SK_TW &&
	    !e->tw) {
		e->tw = 1;
		e->tw_start = x->ts_ns;
	}
	if (x->old_state == TF_ST_TIME_WAIT && x->new_state == TF_ST_CLOSE &&
	    x->sock == TCPFLOW_SK_TW && e->tw) {
		e->tw_ended = 1;
		e->tw_end = x->ts_ns;
		e->tw_why = x->why;
	}
	if (x->sock == TCPFLOW_SK_TW && x->old_state == TF_ST_FIN_WAIT2 &&
	    x->new_state == TF_ST_CLOSE && x->why == TCPFLOW_WHY_EXPIRE) {
		e->fw2_timeout = 1;
		e->tw_ended = 1;
	}
	if (x->new_state == TF_ST_CLOSE && x->sock == TCPFLOW_SK_FULL &&
	    !e->to_close) {
		e->to_close = 1;
		e->close_from = x->old_state;
	}
}

static enum tf_end how_ended(const struct sum *m, const struct tf_group *g)
{
	int closed = 1;

	for (int s = 0; s < 2; s++)
		if (m->s[s].rst_sent)
			/* a side that reset its own open connection aborted */
			return m->s[s].to_close && !m->s[s].fin &&
			       (m->s[s].close_from == TF_ST_ESTABLISHED ||
				m->s[s].close_from == TF_ST_CLOSE_WAIT) ?
			       END_ABORT : END_RST;
	if (m->s[0].fw2_timeout || m->s[1].fw2_timeout)
		return END_TIMEOUT;	/* tcp_fin_timeout: no FIN came in time */
	if (m->s[0].fin && m->s[1].fin)
		return END_FIN;
	for (int s = 0; s < 2; s++)
		if (g->traced[s] && !m->s[s].to_close && !m->s[s].tw)
			closed = 0;
	/* gone with no reset and not both FINs: a timer gave up */
	return closed && (m->s[0].to_close || m->s[1].to_close) ?
	       END_TIMEOUT : END_OPEN;
}

enum {
	C_CONV, C_HOST, C_CLIENT, C_SERVER, C_CPROC, C_SPROC, C_START, C_DUR,
	C_CS, C_SC, C_RTTC, C_RTTS, C_FIRST, C_END, C_TWSIDE, C_TW, C_TWEND,
	C_N
};

struct line {
	char f[C_N][TF_EP_MAX + 24];	/* C_HOST's is not used: */
	uint16_t host;			/* ... its label, from this */
};

static const char *const heads[C_N] = {
	"conv", "host", "client", "server", "client_proc", "server_proc",
	"start_s", "duration_s", "bytes_c2s", "bytes_s2c", "rtt_client_ms",
	"rtt_server_ms", "closed_first", "ended", "time_wait", "time_wait_s",
	"time_wait_end",
};

/* A column's name: "start" holds a time of day with -T, not seconds */
static const char *head(int c)
{
	return c == C_START && tf_wall_on() ? "start" : heads[c];
}

static void fmt_secs(char *b, size_t n, uint64_t ns)
{
	snprintf(b, n, "%" PRIu64 ".%03" PRIu64, ns / 1000000000u,
		 ns % 1000000000u / 1000000u);
}

static void fmt_ms(char *b, size_t n, uint64_t ns)
{
	snprintf(b, n, "%" PRIu64 ".%03" PRIu64, ns / 1000000u,
		 ns % 1000000u / 1000u);
}

static void proc_of(const struct tf_trace *t, const struct tf_group *g,
		    unsigned int s, char *b, size_t n)
{
	const struct tf_conn *c;
	const struct tcpflow_record *x;

	snprintf(b, n, "-");
	if (g->conn[s] < 0)
		return;
	c = &t->conn[g->conn[s]];
	if (c->owner < 0)
		return;
	x = &t->rec[c->owner].r;
	snprintf(b, n, "%u/%s", x->pid, x->comm);
}

static void fill(const struct tf_trace *t, const struct tf_group *g,
		 struct line *l)
{
	const uint32_t *idx = t->order + g->off;
	struct sum m;
	size_t n = sizeof(l->f[0]);

	memset(&m, 0, sizeof(m));
	m.first = UINT64_MAX;
	for (uint32_t k = 0; k < g->nrec; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];
		uint64_t ts = r->r.ts_ns;

		/* from the first segment (a connect()'s state row can be
		 * well before its SYN) to the last record that is not the
		 * timewait sock's own (TIME_WAIT has its columns) */
		if (tf_is_seg(r) && ts < m.first)
			m.first = ts;
		if (!(r->r.event == TCPFLOW_EV_STATE &&
		      r->r.sock == TCPFLOW_SK_TW) && ts > m.last)
			m.last = ts;
		if (tf_is_seg(r))
			seg_sum(t, &m, g, r);
		else if (r->r.event == TCPFLOW_EV_STATE)
			state_sum(&m, r);
	}
	snprintf(l->f[C_CONV], n, "%u", g->number);
	l->host = g->host;
	tf_endpoint_str(l->f[C_CLIENT], g->af, g->addr[0], g->port[0]);
	tf_endpoint_str(l->f[C_SERVER], g->af, g->addr[1], g->port[1]);
	proc_of(t, g, 0, l->f[C_CPROC], n);
	proc_of(t, g, 1, l->f[C_SPROC], n);
	if (m.first == UINT64_MAX)	/* no segment: its records, then */
		m.first = t->rec[idx[0]].r.ts_ns;
	if (m.last < m.first)
		m.last = m.first;
	/* -T: the date and time of day, ISO 8601 (Z with --utc) */
	if (tf_wall_on())
		tf_wall_iso(l->f[C_START], n, m.first);
	else
		fmt_secs(l->f[C_START], n, m.first - tf_t0(t, g->host));
	fmt_secs(l->f[C_DUR], n, m.last - m.first);
	for (unsigned int s = 0; s < 2; s++) {
		const struct side_sum *e = &m.s[s];
		char *b = l->f[s ? C_SC : C_CS];

		if (e->have_data)
			snprintf(b, n, "%" PRIu32, e->data_end - g->base[s] - 1);
		else
			snprintf(b, n, "0");
	}
	for (unsigned int s = 0; s < 2; s++) {
		const struct side_sum *e = &m.s[s];
		char *b = l->f[s ? C_RTTS : C_RTTC];

		/* its SYN to the SYN-ACK (a client, and both ends of a
		 * simultaneous open), else its SYN-ACK to the ACK */
		if (e->syn_tx && e->synack_rx > e->syn_tx)
			fmt_ms(b, n, e->synack_rx - e->syn_tx);
		else if (e->synack_tx && e->ack_rx > e->synack_tx)
			fmt_ms(b, n, e->ack_rx - e->synack_tx);
		else
			snprintf(b, n, "-");
	}
	if (m.s[0].closed_set || m.s[1].closed_set)
		snprintf(l->f[C_FIRST], n, "%s",
			 !m.s[1].closed_set || (m.s[0].closed_set &&
			 m.s[0].closed <= m.s[1].closed) ? "client" : "server");
	else
		snprintf(l->f[C_FIRST], n, "-");
	snprintf(l->f[C_END], n, "%s", end_names[how_ended(&m, g)]);
	snprintf(l->f[C_TWSIDE], n, "-");
	snprintf(l->f[C_TW], n, "-");
	snprintf(l->f[C_TWEND], n, "-");
	for (unsigned int s = 0; s < 2; s++) {
		const struct side_sum *e = &m.s[s];
		char d[32];

		if (!e->tw)
			continue;
		snprintf(l->f[C_TWSIDE], n, "%s", s ? "server" : "client");
		if (e->tw_ended) {
			fmt_secs(d, sizeof(d), e->tw_end - e->tw_start);
			snprintf(l->f[C_TW], n, "%s", d);
			snprintf(l->f[C_TWEND], n, "%s",
				 e->tw_why == TCPFLOW_WHY_EXPIRE ? "expire" :
				 e->tw_why == TCPFLOW_WHY_KILL ? "kill" : "-");
		} else {
			/* still in TIME_WAIT when the trace ends: at least */
			fmt_secs(d, sizeof(d), tf_tend(t, g->host) - e->tw_start);
			snprintf(l->f[C_TW], n, ">%s", d);
			snprintf(l->f[C_TWEND], n, "still");
		}
		break;
	}
}

/* RFC 4180: a field with a comma, a quote or a line break is quoted. */
static void csv_field(struct obuf *ob, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		ob_str(ob, s);
		return;
	}
	ob_ch(ob, '"');
	for (; *s; s++) {
		if (*s == '"')
			ob_ch(ob, '"');
		ob_ch(ob, *s);
	}
	ob_ch(ob, '"');
}

int tf_view_summary(const struct tf_trace *t, const struct tf_opts *o,
		    struct obuf *ob, int csv)
{
	uint8_t *sel = tf_select_groups(t, o);
	struct line *ls;
	size_t nl = 0, w[C_N];
	/* a merged stream's (docs/fleet.md): a host column after conv */
	int hosts = t->hosts.n > 1;
	char hl[TF_HOST_LABEL_MAX];

	if (!sel)
		return -1;
	ls = calloc(t->ngroup + 1, sizeof(*ls));
	if (!ls) {
		free(sel);
		return -1;
	}
	for (size_t j = 0; j < t->ngroup; j++) {
		const struct tf_group *g = &t->group[j];

		if (sel[j] && g->nrec && g->kind == TF_G_CONV)
			fill(t, g, &ls[nl++]);
	}
	for (int c = 0; c < C_N; c++) {
		w[c] = strlen(head(c));
		for (size_t i = 0; i < nl; i++) {
			size_t len = c != C_HOST ? strlen(ls[i].f[c]) :
				     strlen(tf_host_label(&t->hosts,
							  ls[i].host, hl));

			if (len > w[c])
				w[c] = len;
		}
	}
	for (size_t i = 0; i <= nl; i++) {
		for (int c = 0; c < C_N; c++) {
			const char *v = i ? ls[i - 1].f[c] : head(c);

			if (c == C_HOST && !hosts)
				continue;
			if (c == C_HOST && i)
				v = tf_host_label(&t->hosts, ls[i - 1].host, hl);
			if (csv) {
				if (c)
					ob_ch(ob, ',');
				csv_field(ob, v);
			} else {
				if (c)
					ob_str(ob, "  ");
				ob_str(ob, v);
				if (c < C_N - 1)
					ob_pad(ob, ' ', w[c] - strlen(v));
			}
		}
		ob_ch(ob, '\n');
	}
	free(ls);
	free(sel);
	return 0;
}
