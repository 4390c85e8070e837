// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ladder.c - the default view: one sequence diagram per conversation.
 *
 *        ms        client |                                  | server
 *     0.000      SYN_SENT |                                  |
 *     0.011               |------------ [S] seq=0 ---------->|
 *
 * The client (who sent the first SYN) is on the left, the server on the
 * right, as in Wireshark's flow graph and every textbook.  Each side's
 * state changes sit next to its own rail; the comment column on the
 * right holds Wireshark-like tags and, with --explain, the teaching
 * notes.  Rows are collected first so that column widths fit the
 * conversation, then printed.
 */
#include <stdlib.h>
#include <string.h>
#include "ladder.h"

enum note {
	N_NONE, N_SYN, N_REL, N_SYNACK, N_ACK3, N_ESTAB, N_DATA, N_FIN1,
	N_FINACK, N_HALF, N_FIN2, N_LASTACK, N_CLOSE_WAIT, N_LAST_ACK,
	N_FIN_WAIT2, N_TIME_WAIT, N_TW_END, N_RST, N_RST_SYN, N_RST_SYNACK,
	N_RETRANS,
	N_TW_ACK, N_NOTRECV, N_REARM, N_NEWSYN, N_SYN_SERVER, N_SIMOPEN,
	N_SIMSYNACK, N_KILL_SYN, N_KILL_RST, N_KILL_RST_SENT, N_KILL_REUSE,
	N_KILL_OTHER, N_TW_SYN, N_SIMFIN, N_SIMACK, N_CLOSING, N_FIN2_ACK,
	N_FW2_BRIEF, N_RST_LISTEN, N_RST_ABORT, N_RST_LATE, N_FW2_TIMEOUT,
	N_TW_ACK_LATE, N_TW_ACK_UNKNOWN, N_TW_ACK_SYN, N_TW_ACK_OOW,
	N_REARM_ACK, N_REARM_OOW, N_REARM_UNSEEN, N_RETRANS_DUPSYN,
	N_SYNACK_TFO, N_HALFOPEN, N_RETRANS_FAST, N_KILL_FW2_RST,
	N_KILL_FW2_OTHER, N_RETRANS_TLP, N_RETRANS_RTO,
	N_SYNOPT, N_SYNOPT_ACK, N_SYN_NOOPT, N_RETRANS_SYN,
	N_RETRANS_SYNACK, N_ACK3_TFO, N_RST_GONE,
	N_MAX
};

_Static_assert(N_MAX <= 128, "struct noter keeps the notes given in 2 u64");

/* Short lines, a slide's worth each; shown once per conversation.
 * docs/notes.md lists each one, when it is given, and its source. */
static const char *const notes[N_MAX][TF_NOTE_LINES + 1] = {
	[N_SYN] = { "SYN: the client picks its initial",
		    "sequence number x (ISN)" },
	[N_REL] = { "(numbers are relative: x shows as 0;",
		    " -S prints them as on the wire)" },
	[N_SYNACK] = { "SYN-ACK: the server's ISN y, ack = x+1:",
		       "a SYN takes one sequence number" },
	[N_SYNOPT] = { "options: what this end can do. mss: the",
		       "largest segment it takes; ws N: after",
		       "the handshake its window counts 2^N",
		       "bytes; sack: it takes selective ACKs;",
		       "ts: timestamps (RTT, PAWS; RFC 7323)" },
	[N_SYNOPT_ACK] = { "ws, sack and ts are used only if both",
			   "the SYN and the SYN-ACK carry them;",
			   "each mss caps what the other end sends" },
	[N_SYN_NOOPT] = { "no options: no mss, so the other end",
			  "sends at most 536 bytes a segment",
			  "(IPv4; 1220 IPv6), and no ws, sack, ts" },
	[N_ACK3] = { "ACK: seq = x+1, ack = y+1 confirms the",
		     "server's ISN y. Why a third step: a",
		     "client that gets a SYN-ACK for an old",
		     "SYN of its own answers RST instead",
		     "(RFC 9293 3.5)" },
	[N_ACK3_TFO] = { "ACK: ack = y+1 confirms the server's",
			 "ISN y; seq = x+1+len: the data in the",
			 "SYN took len sequence numbers too" },
	[N_ESTAB] = { "ESTABLISHED: data may flow both ways" },
	[N_DATA] = { "data: the next seq is seq + len" },
	[N_FIN1] = { "FIN: no more data from this side;",
		     "a FIN takes one sequence number too" },
	[N_FINACK] = { "ACK of the FIN (its seq + 1): half-",
		       "closed; the other side may still send" },
	[N_HALF] = { "half-close: data still flows from",
		     "the side that has not sent a FIN" },
	[N_FIN2] = { "the other side's FIN: it is done too" },
	[N_LASTACK] = { "last ACK: acknowledges the second FIN" },
	[N_CLOSE_WAIT] = { "CLOSE_WAIT: the peer sent its FIN",
			   "(close() or shutdown(SHUT_WR)); this",
			   "side may still send until it closes" },
	[N_LAST_ACK] = { "LAST_ACK: waits for the ACK of its FIN" },
	[N_FIN_WAIT2] = { "FIN_WAIT2: our FIN is acked; now wait",
			  "for the peer's FIN" },
	[N_TIME_WAIT] = { "TIME_WAIT: 60 s on Linux, a fixed",
			  "TCP_TIMEWAIT_LEN (RFC 9293's 2MSL, MSL",
			  "= 2 min, would be 4 min): a lost last",
			  "ACK can be sent again, and old",
			  "segments of this 4-tuple die out" },
	[N_TW_END] = { "TIME_WAIT over (its 60 s ran out):",
		       "the 4-tuple is free again" },
	[N_RST] = { "RST: aborts the connection at once" },
	[N_RST_SYN] = { "RST to a SYN: nothing listens on this",
			"port; connect() gets ECONNREFUSED" },
	[N_RST_SYNACK] = { "RST to the SYN-ACK: no socket wants it",
			   "(an old SYN, a connect() given up, or",
			   "a forged source address): the server",
			   "drops its request, no connection" },
	[N_RETRANS] = { "no ACK came in time: sent again",
			"(retransmission timer, or a tail loss",
			"probe)" },
	[N_TW_ACK] = { "answered from TIME_WAIT: this is why",
		       "TIME_WAIT waits (the last ACK was lost)" },
	[N_NOTRECV] = { "lost: the other end never got it" },
	[N_REARM] = { "the FIN came again: TIME_WAIT's 60 s",
		      "start over" },
	[N_NEWSYN] = { "a request sock: SYN_RECV in textbooks;",
		       "the full socket is born with the ACK" },
	[N_SYN_SERVER] = { "SYN from the server's side: it",
			   "connects too, from its own port" },
	[N_SIMOPEN] = { "a SYN from each side, crossing:",
			"simultaneous open; no SYN-ACK came",
			"first, so each side is in SYN_SENT" },
	[N_SIMSYNACK] = { "its own SYN again, now with the ACK",
			  "of the other's SYN: SYN_RECV on both" },
	[N_KILL_SYN] = { "TIME_WAIT ended early: the new SYN",
			 "reopened this 4-tuple, and the",
			 "listener took it as a new connection" },
	[N_KILL_RST] = { "TIME_WAIT ended early by an RST: Linux",
			 "lets a reset kill it (tcp_rfc1337=0);",
			 "RFC 1337 calls this TIME-WAIT",
			 "assassination" },
	[N_KILL_RST_SENT] = { "a segment the FIN_WAIT2 end cannot take",
			      "(a SYN, or data after close): it",
			      "answered with an RST and is gone" },
	[N_KILL_REUSE] = { "TIME_WAIT ended early: a connect() on",
			   "this host took the same 4-tuple",
			   "(net.ipv4.tcp_tw_reuse)" },
	[N_KILL_OTHER] = { "TIME_WAIT ended early, with no segment",
			   "or connect() to end it: its network",
			   "namespace went away, or ss -K killed it" },
	[N_SIMFIN] = { "FINs crossing: this FIN does not ack",
		       "the other's: a simultaneous close",
		       "(RFC 9293 3.6); each side goes",
		       "FIN_WAIT1 -> CLOSING on the other's FIN" },
	[N_SIMACK] = { "each side ACKs the other's FIN; both",
		       "end in TIME_WAIT" },
	[N_CLOSING] = { "CLOSING: the peer's FIN came before",
			"the ACK of ours; waits for that ACK,",
			"then TIME_WAIT" },
	[N_FIN2_ACK] = { "the other side's FIN, and in the same",
			 "segment the ACK of the first FIN",
			 "(ack = its seq + 1): a three-segment",
			 "close" },
	[N_FW2_BRIEF] = { "FIN_WAIT2 for an instant: the segment",
			  "that acked our FIN carried the peer's",
			  "FIN too" },
	[N_RST_LISTEN] = { "RST from the listener to the last ACK",
			   "of the handshake (accept queue full",
			   "with tcp_abort_on_overflow=1, a wrong",
			   "ack, or too late): connect() had",
			   "succeeded; the client gets ECONNRESET" },
	[N_RST_ABORT] = { "RST instead of FIN: closed with",
			  "SO_LINGER 0 or unread data (RFC 1122",
			  "4.2.2.13), or not accepted before its",
			  "listener closed; no TIME_WAIT, the peer",
			  "gets ECONNRESET; an RST is never ACKed" },
	[N_RST_LATE] = { "the late FIN meets no socket: the",
			 "kernel answers with RST",
			 "(RFC 9293 3.10.7.1)" },
	[N_RST_GONE] = { "this end's socket is gone (it closed",
			 "from LAST_ACK): a segment for it gets",
			 "an RST (RFC 9293 3.10.7.1)" },
	[N_FW2_TIMEOUT] = { "FIN_WAIT2 timed out: no FIN from the",
			    "peer within tcp_fin_timeout (60 s by",
			    "default); the socket is gone, a late",
			    "FIN gets an RST" },
	[N_TW_ACK_LATE] = { "answered from TIME_WAIT again: the",
			    "last ACK did arrive, after the peer's",
			    "timer had sent its FIN again (late,",
			    "not lost)" },
	[N_TW_ACK_UNKNOWN] = { "answered from TIME_WAIT: a FIN came",
			       "again; whether the last ACK was lost",
			       "or late is not in the trace" },
	[N_TW_ACK_SYN] = { "TIME_WAIT refuses this SYN (old seq or",
			   "timestamp, or no listener) and answers",
			   "with an ACK: the 4-tuple stays taken" },
	[N_TW_ACK_OOW] = { "TIME_WAIT answers a segment outside its",
			   "window with an ACK" },
	[N_REARM_ACK] = { "an ACK came in the window: TIME_WAIT's",
			  "60 s start over" },
	[N_REARM_OOW] = { "a segment with ACK came from outside",
			  "the window (or failed PAWS): TIME_WAIT",
			  "ACKs it and its 60 s start over" },
	[N_REARM_UNSEEN] = { "TIME_WAIT's 60 s start over; the",
			     "segment that did it was not recorded" },
	[N_RETRANS_SYN] = { "the SYN sent again: no ACK of it came",
			    "in time (the retransmission timer",
			    "connect() armed: 1 s, doubling, up to",
			    "tcp_syn_retries times; never a tail",
			    "loss probe)" },
	[N_RETRANS_SYNACK] = { "the SYN-ACK sent again: no ACK came in",
			       "time; the server's timer for its request",
			       "sock resends it (1 s, doubling, up to",
			       "tcp_synack_retries times)" },
	[N_RETRANS_DUPSYN] = { "the SYN came again: Linux answers at",
			       "once with the SYN-ACK again",
			       "(tcp_check_req(), inet_rtx_syn_ack())" },
	[N_SYNACK_TFO] = { "SYN-ACK: ack = x+1+len: the SYN's data",
			   "was accepted (TCP Fast Open)" },
	[N_HALFOPEN] = { "half-open: connect() has returned, the",
			 "client is ESTABLISHED; the server's",
			 "request sock sends its SYN-ACK again (1 s,",
			 "doubling, tcp_synack_retries) until an",
			 "ACK or the first data completes it" },
	[N_RETRANS_TLP] = { "no ACK for about two round trips: the",
			    "last segment sent again, to draw an",
			    "ACK that shows what was lost (tail",
			    "loss probe, RFC 8985 7)" },
	[N_RETRANS_RTO] = { "no ACK came in time: sent again from",
			    "the first unacked byte (retransmission",
			    "timer, RFC 6298; it doubles each time)" },
	[N_RETRANS_FAST] = { "three duplicate ACKs came: sent again",
			     "at once, no timer (fast retransmit,",
			     "RFC 5681 3.2)" },
	[N_KILL_FW2_RST] = { "an RST ended the closed FIN_WAIT2 end",
			     "at once (in FIN_WAIT2 a reset kills",
			     "it whatever tcp_rfc1337 says)" },
	[N_KILL_FW2_OTHER] = { "the closed FIN_WAIT2 end was removed",
			       "early, by no segment it got: a new",
			       "connect() on the 4-tuple, its netns",
			       "going away, or ss -K" },
	[N_TW_SYN] = { "a SYN to the TIME_WAIT socket: its seq",
		       "is above the old connection's (or its",
		       "timestamp newer), so Linux may reopen",
		       "the 4-tuple at once (RFC 6191)" },
};

const char *tf_note_line(unsigned int id, unsigned int i)
{
	if (!id || id >= N_MAX || i >= TF_NOTE_LINES)
		return NULL;
	return notes[id][i];
}
/*
 * -f --explain: a note for one record read alone, as it arrives, with no
 * conversation around it (the ladder's notes see the whole of it).  fin:
 * the other end has sent a FIN already.  N_NONE: no note.
 */
int tf_note_for(const struct tf_rec *r, int relative, unsigned int fin)
{
	const struct tcpflow_record *x = &r->r;

	if (x->event == TCPFLOW_EV_STATE) {
		switch (x->new_state) {
		case TF_ST_ESTABLISHED:
			return N_ESTAB;
		case TF_ST_NEW_SYN_RECV:
			return N_NEWSYN;
		case TF_ST_CLOSE_WAIT:
			return N_CLOSE_WAIT;
		case TF_ST_LAST_ACK:
			return N_LAST_ACK;
		case TF_ST_FIN_WAIT2:
			return N_FIN_WAIT2;
		case TF_ST_TIME_WAIT:
			return x->old_state == TF_ST_TIME_WAIT ? N_REARM :
			       N_TIME_WAIT;
		case TF_ST_CLOSING:
			return N_CLOSING;
		case TF_ST_CLOSE:
			if (x->old_state == TF_ST_TIME_WAIT &&
			    x->why == TCPFLOW_WHY_EXPIRE)
				return N_TW_END;
			return N_NONE;
		}
		return N_NONE;
	}
	if (x->flags & TCPFLOW_F_RST)
		return N_RST;
	if ((x->flags & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) == TCPFLOW_F_SYN)
		return relative ? N_REL : N_SYN;	/* N_REL: both */
	if (x->flags & TCPFLOW_F_SYN)
		return N_SYNACK;
	if (x->flags & TCPFLOW_F_FIN)
		return fin ? N_FIN2 : N_FIN1;
	if (x->len)
		return N_DATA;
	return N_NONE;
}

/* The lines of note id; N_REL is the SYN's note and the relative one. */
const char *const *tf_note_lines(int id, const char *const **more)
{
	*more = NULL;
	if (id <= N_NONE || id >= N_MAX)
		return NULL;
	if (id == N_REL) {
		*more = notes[N_REL];
		return notes[N_SYN];
	}
	return notes[id];
}


static struct tf_row *row_add(struct tf_rows *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct tf_row *r = realloc(rs->r, cap * sizeof(*r));

		if (!r) {
			rs->oom = 1;
			return NULL;
		}
		rs->r = r;
		rs->cap = cap;
	}
	memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
	return &rs->r[rs->n++];
}

static void tag_add(struct tf_row *w, const char *tag)
{
	size_t n = strlen(w->tag);

	snprintf(w->tag + n, sizeof(w->tag) - n, "%s%s", n ? " " : "", tag);
}

/* Each note once per conversation. */
struct noter {
	int on;
	uint64_t given[2];
};

static void note_add(struct noter *nt, struct tf_row *w, enum note id)
{
	if (!nt->on || (nt->given[id / 64] & (1ull << id % 64)))
		return;
	/* a row full already: the note waits for the next row it fits */
	for (int i = 0; i < TF_ROW_NOTES; i++)
		if (!w->note[i]) {
			w->note[i] = (uint8_t)id;
			nt->given[id / 64] |= 1ull << id % 64;
			return;
		}
}

/* A SYN's options: the first tag, next to the label. */
static void synopt_tag(struct tf_row *w, const struct tf_rec *r)
{
	char buf[TF_OPTS_MAX];

	if (tf_opts_str(buf, &r->r, r->dash, TF_OPTS_LADDER))
		tag_add(w, buf);
}

/* ... and their note, after the SYN's others. */
static void synopt_note(struct noter *nt, struct tf_row *w,
			const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;

	if (!tf_has_opts(x, r->dash))
		return;
	if ((x->opt.bits & ~TCPFLOW_OPT_SEEN) == 0)
		note_add(nt, w, N_SYN_NOOPT);
	else if (x->flags & TCPFLOW_F_ACK)
		note_add(nt, w, N_SYNOPT_ACK);
	else
		note_add(nt, w, N_SYNOPT);
}

/* A line being built: visible width kept apart from colour bytes. */
struct lb {
	char buf[2048];
	size_t n, col;
	int color;
};

static void lb_mem(struct lb *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->n)
		n = sizeof(l->buf) - 1 - l->n;
	memcpy(l->buf + l->n, s, n);
	l->n += n;
	l->col += n;
}

static void lb_str(struct lb *l, const char *s)
{
	lb_mem(l, s, strlen(s));
}

static void lb_pad(struct lb *l, char c, size_t n)
{
	while (n-- && l->n < sizeof(l->buf) - 1) {
		l->buf[l->n++] = c;
		l->col++;
	}
}

static void lb_to(struct lb *l, size_t col)
{
	if (l->col < col)
		lb_pad(l, ' ', col - l->col);
}


static void lb_color(struct lb *l, enum tf_color c)
{
	size_t n = strlen(tf_ansi(c));

	if (!l->color || n > sizeof(l->buf) - 1 - l->n)
		return;
	memcpy(l->buf + l->n, tf_ansi(c), n);
	l->n += n;
}

static void lb_emit(struct lb *l, struct obuf *ob)
{
	while (l->n && l->buf[l->n - 1] == ' ')
		l->n--;
	ob_mem(ob, l->buf, l->n);
	ob_ch(ob, '\n');
	l->n = l->col = 0;
}

void tf_ms_str(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%llu.%03llu", (unsigned long long)(ns / 1000000),
		 (unsigned long long)(ns / 1000 % 1000));
}

/* The time column: ms from @base, or with -T the time of day. */
static void time_cell(char *buf, size_t size, uint64_t ts, uint64_t base)
{
	if (tf_wall_on())
		tf_wall_str(buf, size, ts);
	else
		tf_ms_str(buf, size, ts - base);
}

/* Its heading, right-aligned in @tw columns: "ms", or -T's date. */
static void time_heading(struct lb *l, size_t tw, uint64_t base)
{
	char h[32] = "ms";
	size_t n = 2;

	if (tf_wall_on())
		n = tf_wall_date(h, sizeof(h), base);
	lb_pad(l, ' ', tw > n ? tw - n : 0);
	lb_str(l, h);
}

static enum tf_color seg_color(const struct tcpflow_record *x)
{
	if (x->flags & TCPFLOW_F_RST)
		return TF_C_RST;
	if (x->flags & TCPFLOW_F_SYN)
		return TF_C_SYN;
	if (x->flags & TCPFLOW_F_FIN)
		return TF_C_FIN;
	if (x->len)
		return TF_C_DATA;
	return TF_C_RESET;
}

static void seg_label(char *buf, size_t size, const struct tcpflow_record *x,
		      uint32_t seq, uint32_t ack)
{
	char fl[12];
	int n;

	tf_flags_str(fl, x->flags);
	n = snprintf(buf, size, "[%s] seq=%u", fl, seq);
	if (n > 0 && (size_t)n < size && (x->flags & TCPFLOW_F_ACK))
		n += snprintf(buf + n, size - (size_t)n, " ack=%u", ack);
	if (n > 0 && (size_t)n < size && x->len)
		snprintf(buf + n, size - (size_t)n, " len=%u", x->len);
}

struct ctx {
	const struct tf_trace *t;
	const struct tf_opts *o;
	struct tf_rows *rows;
};

/* Per conversation, what the notes need to know. */
struct convstate {
	uint8_t last[2];	/* state last shown on each side */
	uint8_t shown[2];
	uint8_t fin[2];		/* side sent a FIN: 1 first, 2 second */
	uint32_t fin_seq[2];
	int nfin, estab, synack, ack3, syn[2];
	int bare_syn[2], simopen;	/* a SYN without ACK from each side */
	uint32_t synack_seq;
	unsigned int synack_side;	/* who sent the SYN-ACK */
	uint64_t tw_start[2];	/* when each side entered TIME_WAIT */
	uint8_t in_tw[2];
	uint8_t estab_side[2];	/* side reached ESTABLISHED */
	uint8_t synack_sent[2];	/* side sent a SYN-ACK */
	uint8_t fin_acked[2];	/* side's FIN acked: 1 by an ACK, 2 by a FIN */
	uint8_t closed_from[2];	/* full sock went X -> CLOSE: X */
	uint8_t fw2_timeout[2];	/* side's FIN_WAIT2 timed out */
	uint8_t ack_fate[2];	/* side's last pure ACK: 1 lost, 2 arrived */
	uint8_t in_flags[2], in_any[2], in_retrans[2];	/* last arrow in */
	uint32_t in_seq[2], syn_seq[2], syn_len[2];	/* bare SYN's */
	uint32_t top_ack[2], ndup[2];	/* pure ACKs not moving top_ack */
	uint32_t hi_end[2];	/* side's highest seq + len (+ SYN, FIN) */
	uint32_t hi_start[2];	/* and the seq of the data segment ending it */
	uint8_t hi_set[2];
	uint8_t acked_data[2];	/* side acked past the other's SYN */
	uint8_t last_rtx[2];	/* side's last segment with data: a resend */
	int simclose;
};

static void state_row(struct ctx *c, struct convstate *cs, struct noter *nt,
		      const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	unsigned int s = r->side;
	struct tf_row *w = row_add(c->rows);
	const char *o = tf_state_name(x->old_state);
	const char *n = tf_state_name(x->new_state);

	if (!w)
		return;
	w->ts = x->ts_ns;
	w->kind = TF_ROW_STATE;
	w->side = (uint8_t)s;
	if (x->why == TCPFLOW_WHY_REARM) {
		uint8_t f = cs->in_flags[s];

		/* what tcp_timewait_state_process() saw last */
		snprintf(w->text, sizeof(w->text), "%s (restarted)", n);
		if (!cs->in_any[s])
			note_add(nt, w, N_REARM_UNSEEN);
		else if (f & TCPFLOW_F_FIN)
			note_add(nt, w, N_REARM);
		else if (f == TCPFLOW_F_ACK && cs->fin[!s] &&
			 cs->in_seq[s] == cs->fin_seq[!s] + 1)
			note_add(nt, w, N_REARM_ACK);
		else
			note_add(nt, w, N_REARM_OOW);
	} else if ((cs->shown[s] && cs->last[s] == x->old_state) ||
		   (!cs->shown[s] && x->old_state == TF_ST_CLOSE)) {
		snprintf(w->text, sizeof(w->text), "%s", n);
	} else {
		snprintf(w->text, sizeof(w->text), "%s -> %s", o, n);
	}
	if (x->old_state == TF_ST_TIME_WAIT && x->new_state == TF_ST_CLOSE &&
	    (!(r->dash & TF_DASH(TF_K_DUR)) || cs->in_tw[s])) {
		char tag[TF_ROW_TAG];
		uint64_t d = x->dur_ns;

		/* Killed: how long it lasted, not since the last rearm. */
		if (x->why == TCPFLOW_WHY_KILL && cs->in_tw[s] &&
		    x->ts_ns >= cs->tw_start[s])
			d = x->ts_ns - cs->tw_start[s];
		snprintf(tag, sizeof(tag), "[TIME_WAIT %llu.%03llu s]",
			 (unsigned long long)(d / 1000000000),
			 (unsigned long long)(d / 1000000 % 1000));
		tag_add(w, tag);
	}
	if (x->why == TCPFLOW_WHY_EXPIRE && x->old_state == TF_ST_FIN_WAIT2) {
		tag_add(w, "[FIN_WAIT2 timeout]");
		note_add(nt, w, N_FW2_TIMEOUT);
		cs->fw2_timeout[s] = 1;
	}
	if (x->sock == TCPFLOW_SK_FULL && x->new_state == TF_ST_CLOSE)
		cs->closed_from[s] = x->old_state;
	if (x->why == TCPFLOW_WHY_KILL) {
		static const char *const kt[] = {
			[TF_CA_NONE] = "[killed]",
			[TF_CA_SYN] = "[killed by a new SYN]",
			[TF_CA_RST] = "[killed by an RST]",
			[TF_CA_RST_SENT] = "[killed: sent RST]",
			[TF_CA_REUSE] = "[killed: 4-tuple reused]",
			[TF_CA_OTHER] = "[killed: no segment]",
		};
		static const uint8_t kn[] = {
			[TF_CA_NONE] = N_KILL_OTHER,
			[TF_CA_SYN] = N_KILL_SYN,
			[TF_CA_RST] = N_KILL_RST,
			[TF_CA_RST_SENT] = N_KILL_RST_SENT,
			[TF_CA_REUSE] = N_KILL_REUSE,
			[TF_CA_OTHER] = N_KILL_OTHER,
		};
		unsigned int ca = r->cause <= TF_CA_OTHER ? r->cause : 0;

		tag_add(w, kt[ca]);
		/* the FIN_WAIT2 substate: no TIME_WAIT to speak of */
		if (x->old_state == TF_ST_FIN_WAIT2 && ca == TF_CA_RST)
			note_add(nt, w, N_KILL_FW2_RST);
		else if (x->old_state == TF_ST_FIN_WAIT2 &&
			 ca != TF_CA_RST_SENT)
			note_add(nt, w, N_KILL_FW2_OTHER);
		else
			note_add(nt, w, (enum note)kn[ca]);
	}
	/* what arrives from now on is what TIME_WAIT answers, or rearms on */
	if (x->new_state == TF_ST_TIME_WAIT && x->why != TCPFLOW_WHY_REARM)
		cs->in_any[s] = 0;
	if (x->new_state == TF_ST_TIME_WAIT && x->why != TCPFLOW_WHY_REARM &&
	    !cs->in_tw[s]) {
		cs->in_tw[s] = 1;
		cs->tw_start[s] = x->ts_ns;
	}
	if (x->new_state == TF_ST_CLOSE && x->old_state == TF_ST_TIME_WAIT)
		cs->in_tw[s] = 0;

	switch (x->new_state) {
	case TF_ST_ESTABLISHED:
		if (!cs->estab)
			note_add(nt, w, N_ESTAB);
		cs->estab = 1;
		cs->estab_side[s] = 1;
		break;
	case TF_ST_FIN_WAIT2:
		/* the ACK of our FIN came in the peer's FIN: no waiting */
		if (x->sock == TCPFLOW_SK_FULL)
			note_add(nt, w, cs->fin_acked[s] == 2 ? N_FW2_BRIEF :
				 N_FIN_WAIT2);
		break;
	case TF_ST_CLOSING:
		note_add(nt, w, N_CLOSING);
		break;
	case TF_ST_TIME_WAIT:
		if (x->why != TCPFLOW_WHY_REARM)
			note_add(nt, w, N_TIME_WAIT);
		break;
	case TF_ST_CLOSE:
		if (x->old_state == TF_ST_TIME_WAIT &&
		    x->why == TCPFLOW_WHY_EXPIRE)
			note_add(nt, w, N_TW_END);
		break;
	case TF_ST_CLOSE_WAIT:
		note_add(nt, w, N_CLOSE_WAIT);
		break;
	case TF_ST_LAST_ACK:
		note_add(nt, w, N_LAST_ACK);
		break;
	case TF_ST_NEW_SYN_RECV:
		note_add(nt, w, N_NEWSYN);
		break;
	}
	cs->last[s] = x->new_state;
	cs->shown[s] = 1;
}

static uint32_t seg_end(const struct tcpflow_record *x)
{
	return x->seq + x->len + !!(x->flags & TCPFLOW_F_SYN) +
	       !!(x->flags & TCPFLOW_F_FIN);
}

/* The highest sequence side s has sent; was its last data a resend. */
static void seg_end_track(struct convstate *cs, unsigned int s,
			  const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	uint32_t end = seg_end(x);

	if (!x->len && !(x->flags & (TCPFLOW_F_SYN | TCPFLOW_F_FIN)))
		return;
	if (!cs->hi_set[s] || (int32_t)(end - cs->hi_end[s]) > 0) {
		cs->hi_end[s] = end;
		cs->hi_start[s] = x->seq;
		cs->hi_set[s] = 1;
	}
	if (x->len)
		cs->last_rtx[s] = !!(r->mark & TF_MK_RETRANS);
}

/*
 * A resend with no duplicate ACKs before it.  Linux's tail loss probe
 * (tcp_send_loss_probe()) sends the highest segment again when no ACK
 * has come for its probe timeout (about two round trips), and only
 * outside loss recovery, never from below the last segment's start; the
 * retransmission timer (tcp_retransmit_timer()) sends the first unacked
 * one (collapsed with the ones after it where they fit), and the recovery
 * after it goes on from there in order.  So a resent tail with unacked
 * data below it, right after new data (not after another resend), is a
 * probe; a resend of the first unacked byte from below the last segment's
 * start is the timer's.  A lone outstanding segment is both head and
 * tail: either could have sent it, and the note names both.
 */
static enum note resend_kind(const struct convstate *cs, unsigned int s,
			     const struct tcpflow_record *x)
{
	int tail = cs->hi_set[s] && seg_end(x) == cs->hi_end[s];
	int acked = cs->in_any[s] && (cs->in_flags[s] & TCPFLOW_F_ACK);
	uint32_t una = cs->top_ack[!s];

	if (!x->len || (x->flags & TCPFLOW_F_SYN) || !acked)
		return N_RETRANS;
	if (tail && (int32_t)(x->seq - una) > 0 && !cs->last_rtx[s])
		return N_RETRANS_TLP;
	if (x->seq == una && (int32_t)(x->seq - cs->hi_start[s]) < 0)
		return N_RETRANS_RTO;
	return N_RETRANS;
}

static void arrow_row(struct ctx *c, const struct tf_group *g,
		      struct convstate *cs, struct noter *nt,
		      const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	unsigned int s = tf_sender(r);
	uint32_t seq = x->seq, ack = x->ack;
	uint8_t f = x->flags;
	struct tf_row *w = row_add(c->rows);
	int old_syn = 0;

	if (!w)
		return;
	if (!c->o->absolute) {
		seq -= g->base[s];
		ack -= g->base[!s];
	}
	w->ts = x->ts_ns;
	w->kind = TF_ROW_ARROW;
	w->side = (uint8_t)s;
	w->color = (uint8_t)seg_color(x);
	w->lost = !!(r->mark & TF_MK_NOTRECV);
	w->open = !!(r->mark & TF_MK_NOTTRACED);
	seg_label(w->text, sizeof(w->text), x, seq, ack);
	synopt_tag(w, r);
	if (r->mark & TF_MK_RETRANS)
		tag_add(w, "[retransmission]");
	if (r->mark & TF_MK_DUPACK)
		tag_add(w, "[dup ack]");
	if (r->mark & TF_MK_NOTRECV)
		tag_add(w, "[not received]");
	/* a receiver never traced at all: its header line says so once */
	if ((r->mark & TF_MK_NOTTRACED) && g->traced[!s])
		tag_add(w, "[not traced]");

	if (f & TCPFLOW_F_RST) {
		if (!cs->synack_sent[s] && !cs->estab_side[s] && cs->syn[!s] &&
		    (f & TCPFLOW_F_ACK) && x->ack == cs->syn_seq[!s] + 1)
			note_add(nt, w, N_RST_SYN);	/* refused */
		else if (cs->synack && cs->synack_sent[!s] &&
			 !cs->estab_side[s] && !cs->synack_sent[s])
			note_add(nt, w, N_RST_SYNACK);
		else if (cs->synack_sent[s] && !cs->estab_side[s] &&
			 !cs->acked_data[s])
			note_add(nt, w, N_RST_LISTEN);
		else if (cs->fw2_timeout[s] ||
			 (!(f & TCPFLOW_F_ACK) && cs->fin[!s] &&
			  cs->closed_from[s] == TF_ST_FIN_WAIT2))
			note_add(nt, w, N_RST_LATE);
		else if (cs->closed_from[s] == TF_ST_ESTABLISHED ||
			 cs->closed_from[s] == TF_ST_CLOSE_WAIT)
			note_add(nt, w, N_RST_ABORT);
		else if (cs->closed_from[s] == TF_ST_LAST_ACK)
			note_add(nt, w, N_RST_GONE);	/* no TIME_WAIT */
		else
			note_add(nt, w, N_RST);
	} else if (r->mark & TF_MK_RETRANS) {
		if ((f & TCPFLOW_F_SYN) && (f & TCPFLOW_F_ACK) &&
		    cs->in_any[s] && cs->in_retrans[s] &&
		    (cs->in_flags[s] & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
		    TCPFLOW_F_SYN)
			note_add(nt, w, N_RETRANS_DUPSYN);
		else if ((f & TCPFLOW_F_SYN) && (f & TCPFLOW_F_ACK) &&
			 x->sock == TCPFLOW_SK_REQ && cs->estab_side[!s])
			note_add(nt, w, N_HALFOPEN);
		/* a SYN is never a loss probe: tcp_connect() armed the
		 * retransmission timer (a simultaneous open's SYN-ACK is
		 * still on it); a server's SYN-ACK has its request's timer */
		else if ((f & TCPFLOW_F_SYN) &&
			 (!(f & TCPFLOW_F_ACK) || cs->simopen))
			note_add(nt, w, N_RETRANS_SYN);
		else if (f & TCPFLOW_F_SYN)
			note_add(nt, w, N_RETRANS_SYNACK);
		else if (x->len && cs->ndup[!s] >= 3)
			note_add(nt, w, N_RETRANS_FAST);
		else
			note_add(nt, w, resend_kind(cs, s, x));
	} else if (r->cause == TF_CA_SYN && x->sock == TCPFLOW_SK_TW) {
		note_add(nt, w, N_TW_SYN);	/* not this conversation's SYN */
	} else if ((f & TCPFLOW_F_SYN) && !(f & TCPFLOW_F_ACK) &&
		   cs->in_tw[!s]) {
		/* an old SYN TIME_WAIT refuses: no handshake of its own;
		 * the ACK that answers it says so (N_TW_ACK_SYN) */
		old_syn = 1;
	} else if ((f & TCPFLOW_F_SYN) && !(f & TCPFLOW_F_ACK)) {
		if (cs->bare_syn[!s] && !cs->synack) {
			cs->simopen = 1;
			note_add(nt, w, N_SIMOPEN);
		} else {
			note_add(nt, w, s ? N_SYN_SERVER : N_SYN);
		}
		if (!c->o->absolute)
			note_add(nt, w, N_REL);
		cs->bare_syn[s] = 1;
		cs->syn_seq[s] = x->seq;
		cs->syn_len[s] = x->len;
	} else if (f & TCPFLOW_F_SYN) {
		if (cs->simopen)
			note_add(nt, w, N_SIMSYNACK);
		/* Fast Open: a SYN with data seen, and acked with it */
		else if (cs->bare_syn[!s] && cs->syn_len[!s] &&
			 x->ack == cs->syn_seq[!s] + 1 + cs->syn_len[!s])
			note_add(nt, w, N_SYNACK_TFO);
		else
			note_add(nt, w, N_SYNACK);
		cs->synack = 1;
		cs->synack_seq = x->seq;
		cs->synack_side = s;
		cs->synack_sent[s] = 1;
	} else if (f & TCPFLOW_F_FIN) {
		int acks_fin = cs->fin[!s] && (f & TCPFLOW_F_ACK) &&
			       x->ack == cs->fin_seq[!s] + 1;

		if (!cs->fin[s]) {
			cs->fin[s] = (uint8_t)++cs->nfin;
			cs->fin_seq[s] = x->seq + x->len;
			if (cs->nfin == 1) {
				note_add(nt, w, N_FIN1);
			} else if (!acks_fin) {
				/* sent before the other's FIN arrived */
				cs->simclose = 1;
				note_add(nt, w, N_SIMFIN);
			} else {
				note_add(nt, w, cs->fin_acked[!s] ? N_FIN2 :
					 N_FIN2_ACK);
			}
		}
		if (acks_fin && !cs->fin_acked[!s])
			cs->fin_acked[!s] = 2;
	} else if (x->len) {
		note_add(nt, w, cs->fin[!s] ? N_HALF : N_DATA);
	} else if ((r->mark & TF_MK_DUPACK) && cs->last[s] == TF_ST_TIME_WAIT) {
		uint8_t in = cs->in_flags[s];

		/* what the timewait sock answers */
		if (cs->in_any[s] && (in & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
		    TCPFLOW_F_SYN)
			note_add(nt, w, N_TW_ACK_SYN);
		else if (cs->in_any[s] && !(in & TCPFLOW_F_FIN))
			note_add(nt, w, N_TW_ACK_OOW);
		else if (cs->ack_fate[s] == 1)
			note_add(nt, w, N_TW_ACK);
		else if (cs->ack_fate[s] == 2)
			note_add(nt, w, N_TW_ACK_LATE);
		else
			note_add(nt, w, N_TW_ACK_UNKNOWN);
	} else if (cs->synack && !cs->ack3 && (f & TCPFLOW_F_ACK) &&
		   x->ack == cs->synack_seq + 1) {
		cs->ack3 = 1;
		/* x and y: the handshake's SYN must be in the trace; a
		 * Fast Open ACK's seq is past the SYN's data */
		if (!cs->simopen && cs->bare_syn[s])
			note_add(nt, w, cs->syn_len[s] && x->seq ==
				 cs->syn_seq[s] + 1 + cs->syn_len[s] ?
				 N_ACK3_TFO : N_ACK3);
	} else if ((f & TCPFLOW_F_ACK) && cs->fin[!s] &&
		   x->ack == cs->fin_seq[!s] + 1) {
		if (cs->simclose)
			note_add(nt, w, N_SIMACK);
		else
			note_add(nt, w, cs->fin[!s] == 1 ? N_FINACK :
				 N_LASTACK);
		if (!cs->fin_acked[!s])
			cs->fin_acked[!s] = 1;
	}
	if ((f & TCPFLOW_F_ACK) && !x->len &&
	    !(f & (TCPFLOW_F_SYN | TCPFLOW_F_FIN | TCPFLOW_F_RST)))
		cs->ack_fate[s] = (r->mark & TF_MK_NOTRECV) ? 1 :
				  r->twin >= 0 ? 2 : 0;
	if ((f & TCPFLOW_F_ACK) && !x->len &&
	    !(f & (TCPFLOW_F_SYN | TCPFLOW_F_FIN | TCPFLOW_F_RST)) &&
	    x->ack == cs->top_ack[s])
		cs->ndup[s]++;
	else if ((f & TCPFLOW_F_ACK) && x->ack != cs->top_ack[s])
		cs->ndup[s] = 0;
	if (f & TCPFLOW_F_ACK)
		cs->top_ack[s] = x->ack;
	seg_end_track(cs, s, r);
	if ((f & TCPFLOW_F_ACK) && cs->syn[!s] &&
	    (int32_t)(x->ack - (cs->syn_seq[!s] + 1)) > 0)
		cs->acked_data[s] = 1;
	cs->in_flags[!s] = f;
	cs->in_seq[!s] = x->seq;
	cs->in_any[!s] = 1;
	cs->in_retrans[!s] = !!(r->mark & TF_MK_RETRANS);
	if (x->len && cs->fin[!s])
		note_add(nt, w, N_HALF);
	if (r->mark & TF_MK_NOTRECV)
		note_add(nt, w, N_NOTRECV);
	if (f & TCPFLOW_F_SYN) {
		if (!old_syn)
			synopt_note(nt, w, r);
		cs->syn[s] = 1;
	}
}

void tf_side_info(const struct tf_trace *t, const struct tf_group *g,
		  unsigned int s, int safe, char *buf, size_t size)
{
	if (g->conn[s] >= 0) {
		const struct tf_conn *cn = &t->conn[g->conn[s]];
		const struct tcpflow_record *x = &t->rec[cn->first].r;
		int n = snprintf(buf, size, "conn %llu  netns %u",
				 (unsigned long long)cn->id, x->netns);

		if (cn->owner >= 0 && n > 0 && (size_t)n < size) {
			char comm[TF_COMM_MAX];

			x = &t->rec[cn->owner].r;
			if (safe)
				tf_comm_str(comm, x->comm);
			else
				snprintf(comm, sizeof(comm), "%s", x->comm);
			snprintf(buf + n, size - (size_t)n, "  %s[%u]", comm,
				 x->pid);
		}
	} else if (g->traced[s]) {
		const uint32_t *idx = t->order + g->off;
		int nosock = 0;

		for (uint32_t k = 0; k < g->nrec; k++)
			if (t->rec[idx[k]].side == s &&
			    t->rec[idx[k]].r.sock == TCPFLOW_SK_NONE)
				nosock = 1;
		snprintf(buf, size, "%s", nosock ?
			 "(no socket: the kernel answered for it)" :
			 "(only its listener's records)");
	} else {
		snprintf(buf, size, "(not traced)");
	}
}

/*
 * Text in pieces two spaces apart, from column @col on: a piece that
 * would go past @width (0: no limit) starts a new line, @indent in.
 */
static void flow_pieces(struct obuf *ob, const char *p, size_t col,
			unsigned int width, size_t indent)
{
	size_t sep = 0;

	while (*p) {
		const char *e = strstr(p, "  ");
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (sep && width && col + sep + len > width) {
			ob_ch(ob, '\n');
			ob_pad(ob, ' ', indent);
			col = indent;
		} else {
			ob_pad(ob, ' ', sep);	/* as it was: columns line up */
			col += sep;
		}
		ob_mem(ob, p, len);
		col += len;
		p += len;
		for (sep = 0; *p == ' '; p++)
			sep++;
	}
}

/* The header: who is on each side. */
static void side_line(const struct tf_trace *t, const struct tf_group *g,
		      unsigned int s, size_t epw, unsigned int width,
		      struct obuf *ob)
{
	char ep[TF_EP_MAX], info[160];
	size_t n = tf_endpoint_str(ep, g->af, g->addr[s], g->port[s]);
	char line[TF_EP_MAX + 200];

	tf_side_info(t, g, s, 0, info, sizeof(info));
	/* pieces: "client EP", "conn N", "netns N", "comm[pid]" */
	snprintf(line, sizeof(line), "%s %s%*s  %s", s ? "server" : "client",
		 ep, (int)(epw > n ? epw - n : 0), "", info);
	ob_str(ob, "  ");
	flow_pieces(ob, line, 2, width, 9);
	ob_ch(ob, '\n');
}

/*
 * A comment line under its row (the narrow layout): between the rails,
 * wrapped at spaces to fit the arrow column.
 */
static void under_row(struct lb *l, struct obuf *ob, size_t rail, size_t aw,
		      const char *s, enum tf_color color)
{
	size_t room = aw > 4 ? aw - 3 : 1;

	while (*s) {
		size_t n = strlen(s);

		if (n > room) {
			size_t cut = room;

			while (cut > 0 && s[cut] != ' ')
				cut--;
			n = cut ? cut : room;
		}
		lb_pad(l, ' ', rail);
		lb_str(l, "|  ");
		lb_color(l, color);
		lb_mem(l, s, n);
		lb_color(l, TF_C_RESET);
		lb_to(l, rail + 1 + aw);
		lb_str(l, "|");
		lb_emit(l, ob);
		s += n;
		while (*s == ' ')
			s++;
	}
}

static void print_rows(const struct tf_trace *t, const struct tf_group *g,
		       const struct tf_rows *rs, unsigned int width,
		       struct obuf *ob)
{
	size_t lw = 6, rw = 6, aw = 30, tw = tf_wall_on() ? 15 : 9, cw = 0;
	size_t lab = 0;
	struct lb l = { .color = ob->color };
	char ep[2][TF_EP_MAX];
	int narrow = 0;

	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];
		size_t len = strlen(w->text);

		if (w->kind == TF_ROW_ARROW) {
			if (len + 10 > aw)
				aw = len + 10;
			if (len > lab)
				lab = len;
		} else if (w->side) {
			if (len > rw)
				rw = len;
		} else if (len > lw) {
			lw = len;
		}
		if (strlen(w->tag) > cw)
			cw = strlen(w->tag);
		for (int k = 0; k < TF_ROW_NOTES && w->note[k]; k++)
			for (int j = 0; j < TF_NOTE_LINES && notes[w->note[k]][j]; j++)
				if (strlen(notes[w->note[k]][j]) > cw)
					cw = strlen(notes[w->note[k]][j]);
	}
	/*
	 * Too wide for the terminal (--width, COLUMNS, the tty): the right
	 * end's states move into the arrow column, against its rail, and the
	 * tags and notes under their row, between the rails; the time
	 * column shrinks to its longest value, the arrows to what fits.
	 */
	if (width && tw + 2 + lw + 2 + aw + 2 + rw + (cw ? 2 + cw : 0) > width) {
		size_t need = lab + 10 > rw + 2 ? lab + 10 : rw + 2;

		narrow = 1;
		tw = 2;
		for (size_t i = 0; i < rs->n; i++) {
			char ms[32];

			time_cell(ms, sizeof(ms), rs->r[i].ts, rs->base);
			if (strlen(ms) > tw)
				tw = strlen(ms);
		}
		aw = width > tw + 2 + lw + 3 ? width - (tw + 2 + lw + 3) : 0;
		if (aw > 60)
			aw = 60;
		if (aw < need)
			aw = need;
	}

	tf_endpoint_str(ep[0], g->af, g->addr[0], g->port[0]);
	tf_endpoint_str(ep[1], g->af, g->addr[1], g->port[1]);
	lb_color(&l, TF_C_HEAD);
	lb_str(&l, "conversation ");
	{
		char num[24];

		tf_u64_str(num, g->number);
		lb_str(&l, num);
	}
	if (g->host) {		/* a merged stream's (docs/fleet.md) */
		char hl[TF_HOST_LABEL_MAX];

		lb_str(&l, " on ");
		lb_str(&l, tf_host_label(&t->hosts, g->host, hl));
	}
	lb_str(&l, ": ");
	lb_str(&l, ep[0]);
	{
		const char *ends = g->conn[0] >= 0 && g->conn[1] >= 0 ?
				   "both ends traced)" : "one end traced)";
		/* "(IPv6, " + ends; a line too long breaks before "(" */
		size_t tail = 7 + strlen(ends);

		if (width && l.col + 3 + strlen(ep[1]) > width) {
			lb_color(&l, TF_C_RESET);
			lb_emit(&l, ob);
			lb_color(&l, TF_C_HEAD);
			lb_str(&l, "  ");
		}
		lb_str(&l, " > ");
		lb_str(&l, ep[1]);
		if (width && l.col + 1 + tail > width) {
			lb_color(&l, TF_C_RESET);
			lb_emit(&l, ob);
			lb_color(&l, TF_C_HEAD);
			lb_str(&l, " ");
		}
		lb_str(&l, g->af == 6 ? " (IPv6, " : " (IPv4, ");
		lb_str(&l, ends);
	}
	lb_color(&l, TF_C_RESET);
	lb_emit(&l, ob);
	{
		size_t epw = strlen(ep[0]) > strlen(ep[1]) ?
			     strlen(ep[0]) : strlen(ep[1]);

		side_line(t, g, 0, epw, width, ob);
		side_line(t, g, 1, epw, width, ob);
	}
	ob_ch(ob, '\n');

	/* column heading */
	time_heading(&l, tw, rs->base);
	lb_to(&l, tw + 2 + lw - 6);
	lb_str(&l, "client");
	lb_to(&l, narrow ? tw + 2 + lw + 2 + aw - 6 : tw + 2 + lw + 2 + aw + 2);
	lb_str(&l, "server");
	lb_emit(&l, ob);

	for (size_t i = 0; i < rs->n; i++) {
		const struct tf_row *w = &rs->r[i];
		const char *nl[TF_ROW_NOTES * TF_NOTE_LINES + 1];
		const char *cl[TF_ROW_NOTES * TF_NOTE_LINES + 2];
		size_t nn = 0, nc = 0, len = strlen(w->text);
		char ms[32];

		for (int k = 0; k < TF_ROW_NOTES && w->note[k]; k++)
			for (int j = 0; j < TF_NOTE_LINES && notes[w->note[k]][j]; j++)
				nl[nn++] = notes[w->note[k]][j];

		time_cell(ms, sizeof(ms), w->ts, rs->base);
		lb_pad(&l, ' ', tw > strlen(ms) ? tw - strlen(ms) : 0);
		lb_str(&l, ms);
		lb_str(&l, "  ");
		if (w->kind == TF_ROW_STATE && !w->side && len) {
			lb_pad(&l, ' ', lw - len);
			lb_color(&l, TF_C_STATE);
			lb_str(&l, w->text);
			lb_color(&l, TF_C_RESET);
		} else {
			lb_pad(&l, ' ', lw);
		}
		lb_str(&l, " |");
		if (w->kind == TF_ROW_ARROW) {
			size_t left = (aw - len - 2) / 2;
			size_t right = aw - len - 2 - left;
			int rtl = w->side == 1;

			lb_color(&l, (enum tf_color)w->color);
			if (rtl) {
				if (w->lost) {
					lb_pad(&l, ' ', 3);
					lb_str(&l, "x");
					lb_pad(&l, '-', left - 4);
				} else if (w->open) {
					lb_pad(&l, ' ', 3);
					lb_pad(&l, '-', left - 3);
				} else {
					lb_str(&l, "<");
					lb_pad(&l, '-', left - 1);
				}
			} else {
				lb_pad(&l, '-', left);
			}
			lb_str(&l, " ");
			lb_str(&l, w->text);
			lb_str(&l, " ");
			if (rtl) {
				lb_pad(&l, '-', right);
			} else if (w->lost) {
				lb_pad(&l, '-', right - 4);
				lb_str(&l, "x");
				lb_pad(&l, ' ', 3);
			} else if (w->open) {
				lb_pad(&l, '-', right - 3);
				lb_pad(&l, ' ', 3);
			} else {
				lb_pad(&l, '-', right - 1);
				lb_str(&l, ">");
			}
			lb_color(&l, TF_C_RESET);
		} else if (narrow && w->kind == TF_ROW_STATE && w->side && len) {
			lb_pad(&l, ' ', aw - len - 1);
			lb_color(&l, TF_C_STATE);
			lb_str(&l, w->text);
			lb_color(&l, TF_C_RESET);
			lb_str(&l, " ");
		} else {
			lb_pad(&l, ' ', aw);
		}
		lb_str(&l, "| ");
		if (narrow) {
			lb_emit(&l, ob);
			if (w->tag[0])
				under_row(&l, ob, tw + 2 + lw + 1, aw, w->tag,
					  TF_C_TAG);
			for (size_t k = 0; k < nn; k++)
				under_row(&l, ob, tw + 2 + lw + 1, aw, nl[k],
					  TF_C_NOTE);
			continue;
		}
		if (w->kind == TF_ROW_STATE && w->side && len) {
			lb_color(&l, TF_C_STATE);
			lb_str(&l, w->text);
			lb_color(&l, TF_C_RESET);
		}
		/*
		 * The comment column: tags first (like Wireshark's), then
		 * the notes, one per line, each line next to the rails.
		 */
		if (w->tag[0])
			cl[nc++] = w->tag;
		for (size_t k = 0; k < nn; k++)
			cl[nc++] = nl[k];
		for (size_t k = 0; k < nc; k++) {
			if (k) {
				lb_emit(&l, ob);
				lb_pad(&l, ' ', tw + 2 + lw);
				lb_str(&l, " |");
				lb_pad(&l, ' ', aw);
				lb_str(&l, "|");
			}
			lb_to(&l, tw + 2 + lw + 2 + aw + 2 + rw + 2);
			lb_color(&l, k == 0 && w->tag[0] ? TF_C_TAG : TF_C_NOTE);
			lb_str(&l, cl[k]);
			lb_color(&l, TF_C_RESET);
		}
		lb_emit(&l, ob);
	}
}

int tf_ladder_rows(const struct tf_trace *t, const struct tf_opts *o,
		   const struct tf_group *g, struct tf_rows *rs)
{
	struct ctx ctx = { .t = t, .o = o, .rows = rs }, *c = &ctx;
	const uint32_t *idx = t->order + g->off;
	struct convstate cs;
	struct noter nt = { .on = o->explain };
	uint64_t base = UINT64_MAX;

	memset(&cs, 0, sizeof(cs));
	rs->n = 0;
	rs->oom = 0;
	for (uint32_t k = 0; k < g->nrec; k++)
		if (t->rec[idx[k]].r.ts_ns < base)
			base = t->rec[idx[k]].r.ts_ns;
	for (uint32_t k = 0; k < g->nrec; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];
		int shown = tf_rec_in_window(t, r, c->o);
		size_t before = rs->n;

		if (r->mark & (TF_MK_SKIP | TF_MK_HIDDEN))
			continue;
		if (r->r.event == TCPFLOW_EV_STATE)
			state_row(c, &cs, &nt, r);
		else
			arrow_row(c, g, &cs, &nt, r);
		if (!shown)
			rs->n = before; /* outside --since/--until */
		for (size_t q = before; q < rs->n; q++)
			rs->r[q].rec = (int32_t)idx[k];
	}
	for (unsigned int s = 0; s < 2; s++) {
		struct tf_row *w;

		if (!cs.shown[s] || cs.last[s] != TF_ST_TIME_WAIT)
			continue;
		w = row_add(c->rows);
		if (!w)
			break;
		w->ts = tf_tend(t, g->host);
		w->kind = TF_ROW_STATE;
		w->side = (uint8_t)s;
		w->rec = -1;
		snprintf(w->tag, sizeof(w->tag),
			 "(TIME_WAIT, still waiting at end of trace)");
	}
	rs->base = base;
	return rs->oom ? -1 : 0;
}

void tf_rows_free(struct tf_rows *rs)
{
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

/* Listener and no-socket groups: a plain list, no ladder to draw. */
static void list_group(const struct tf_trace *t, const struct tf_opts *o,
		       const struct tf_group *g, struct obuf *ob)
{
	const uint32_t *idx = t->order + g->off;
	uint64_t base = t->rec[idx[0]].r.ts_ns;
	char ep[TF_EP_MAX], ep2[TF_EP_MAX];
	const struct tcpflow_record *x0 = &t->rec[idx[0]].r;

	char head[TF_EP_MAX + TF_HOST_LABEL_MAX + 120];
	char hl[TF_HOST_LABEL_MAX], on[TF_HOST_LABEL_MAX + 4] = "";
	int n;

	if (g->host)
		snprintf(on, sizeof(on), " on %s",
			 tf_host_label(&t->hosts, g->host, hl));
	if (g->kind == TF_G_LISTENER) {
		const struct tf_conn *cn = &t->conn[g->conn[1]];

		tf_endpoint_str(ep, g->af, g->addr[1], g->port[1]);
		n = snprintf(head, sizeof(head), "listener %s%s  conn %llu  "
			     "netns %u", ep, on, (unsigned long long)cn->id,
			     x0->netns);
		if (cn->owner >= 0 && n > 0 && (size_t)n < sizeof(head))
			snprintf(head + n, sizeof(head) - (size_t)n,
				 "  %s[%u]", t->rec[cn->owner].r.comm,
				 t->rec[cn->owner].r.pid);
	} else {
		tf_endpoint_str(ep, x0->af, x0->laddr, x0->lport);
		snprintf(head, sizeof(head), "no socket at %s%s: a reset for "
			 "a segment nobody owned  netns %u", ep, on, x0->netns);
	}
	ob_color(ob, TF_C_HEAD);
	flow_pieces(ob, head, 0, o->width, 2);
	ob_color(ob, TF_C_RESET);
	{
		struct lb hl = { .color = 0 };

		ob_str(ob, "\n\n");
		time_heading(&hl, tf_wall_on() ? 15 : 9, base);
		lb_emit(&hl, ob);
	}
	for (uint32_t k = 0; k < g->nrec; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];
		const struct tcpflow_record *x = &r->r;
		char ms[32], lab[TF_ROW_TEXT];

		if (!tf_rec_in_window(t, r, o))
			continue;
		time_cell(ms, sizeof(ms), x->ts_ns, base);
		ob_printf(ob, "%*s  ", tf_wall_on() ? 15 : 9, ms);
		if (x->event == TCPFLOW_EV_STATE) {
			ob_color(ob, TF_C_STATE);
			ob_printf(ob, "%s -> %s", tf_state_name(x->old_state),
				  tf_state_name(x->new_state));
			ob_color(ob, TF_C_RESET);
			ob_ch(ob, '\n');
			continue;
		}
		seg_label(lab, sizeof(lab), x, x->seq, x->ack);
		tf_endpoint_str(ep2, x->af, x->raddr, x->rport);
		ob_color(ob, seg_color(x));
		ob_printf(ob, "%s %s %s %s", tf_event_name(x->event), lab,
			  x->event == TCPFLOW_EV_RX ? "from" : "to", ep2);
		ob_color(ob, TF_C_RESET);
		ob_ch(ob, '\n');
	}
}

int tf_view_ladder(const struct tf_trace *t, const struct tf_opts *o,
		   struct obuf *ob)
{
	struct tf_rows rs = { 0 };
	uint8_t *sel = tf_select_groups(t, o);
	int first = 1, ret = 0;

	if (!sel)
		return -1;
	for (size_t j = 0; j < t->ngroup; j++) {
		const struct tf_group *g = &t->group[j];

		if (!sel[j] || !g->nrec)
			continue;
		if (!first)
			ob_ch(ob, '\n');
		first = 0;
		if (g->kind != TF_G_CONV)
			list_group(t, o, g, ob);
		else if (tf_ladder_rows(t, o, g, &rs))
			ret = -1;
		else
			print_rows(t, g, &rs, o->width, ob);
	}
	tf_rows_free(&rs);
	free(sel);
	return ret;
}
