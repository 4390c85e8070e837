// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * json.c - --json: JSON lines, one object per record, every key of the
 * text format under a stable name (tools/README.md lists them).  A value
 * that the text gives as '-' is null.  seq and ack are absolute and
 * unsigned, as on the wire; relative numbers are the ladder's business.
 */
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define KEY(ob, k) ob_mem(ob, "\"" k "\":", sizeof(k) + 2)

static void jstr(struct obuf *ob, const char *s)
{
	ob_ch(ob, '"');
	ob_str(ob, s);
	ob_ch(ob, '"');
}

/* comm holds raw bytes: escape controls, quote, backslash, non-ASCII. */
static void jcomm(struct obuf *ob, const char *comm)
{
	static const char hex[] = "0123456789abcdef";

	ob_ch(ob, '"');
	for (size_t i = 0; i < TCPFLOW_COMM_LEN && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				      hex[c & 15] };

			ob_mem(ob, e, 6);
		} else {
			ob_ch(ob, (char)c);
		}
	}
	ob_ch(ob, '"');
}

static void jnum(struct obuf *ob, const struct tf_rec *r, int key,
		 uint64_t v)
{
	if (r->dash & TF_DASH(key))
		ob_mem(ob, "null", 4);
	else
		ob_u64(ob, v);
}

static void jstate(struct obuf *ob, const struct tf_rec *r, int key,
		   unsigned int st)
{
	if ((r->dash & TF_DASH(key)) || !st)
		ob_mem(ob, "null", 4);
	else
		jstr(ob, tf_state_name(st));
}

static void jaddr(struct obuf *ob, const struct tf_rec *r, int key,
		  const uint8_t *a)
{
	char buf[TF_ADDR_MAX];

	if (r->dash & TF_DASH(key)) {
		ob_mem(ob, "null", 4);
		return;
	}
	ob_ch(ob, '"');
	ob_mem(ob, buf, tf_addr_str(buf, r->r.af, a));
	ob_ch(ob, '"');
}

void tf_json_rec(struct obuf *ob, const struct tf_trace *t,
		 const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	int seg = tf_is_seg(r), st = x->event == TCPFLOW_EV_STATE;
	char fl[12];

	ob_reserve_fast(ob, 1024);
	ob_ch(ob, '{');
	KEY(ob, "n");
	ob_u64(ob, x->n);
	ob_mem(ob, ",", 1);
	KEY(ob, "ts_ns");
	ob_u64(ob, x->ts_ns);
	ob_mem(ob, ",", 1);
	KEY(ob, "cpu");
	jnum(ob, r, TF_K_CPU, x->cpu);
	ob_mem(ob, ",", 1);
	KEY(ob, "conn");
	ob_u64(ob, x->conn);
	ob_mem(ob, ",", 1);
	KEY(ob, "conv");
	if (t && r->group >= 0 && (size_t)r->group < t->ngroup &&
	    t->group[r->group].number)
		ob_u64(ob, t->group[r->group].number);
	else
		ob_mem(ob, "null", 4);
	ob_mem(ob, ",", 1);
	KEY(ob, "netns");
	jnum(ob, r, TF_K_NETNS, x->netns);
	ob_mem(ob, ",", 1);
	KEY(ob, "family");
	ob_u64(ob, x->af);
	ob_mem(ob, ",", 1);
	KEY(ob, "event");
	jstr(ob, tf_event_name(x->event));
	ob_mem(ob, ",", 1);
	KEY(ob, "sock");
	jstr(ob, tf_sock_name(x->sock));
	ob_mem(ob, ",", 1);
	KEY(ob, "laddr");
	jaddr(ob, r, TF_K_LADDR, x->laddr);
	ob_mem(ob, ",", 1);
	KEY(ob, "lport");
	jnum(ob, r, TF_K_LPORT, x->lport);
	ob_mem(ob, ",", 1);
	KEY(ob, "raddr");
	jaddr(ob, r, TF_K_RADDR, x->raddr);
	ob_mem(ob, ",", 1);
	KEY(ob, "rport");
	jnum(ob, r, TF_K_RPORT, x->rport);
	ob_mem(ob, ",", 1);
	KEY(ob, "old");
	jstate(ob, r, TF_K_OLD, st ? x->old_state : 0);
	ob_mem(ob, ",", 1);
	KEY(ob, "new");
	jstate(ob, r, TF_K_NEW, st ? x->new_state : 0);
	ob_mem(ob, ",", 1);
	KEY(ob, "state");
	jstate(ob, r, TF_K_STATE, seg ? x->new_state : 0);
	ob_mem(ob, ",", 1);
	KEY(ob, "flags");
	if ((r->dash & TF_DASH(TF_K_FLAGS)) || !seg) {
		ob_mem(ob, "null", 4);
	} else {
		ob_ch(ob, '"');
		ob_mem(ob, fl, tf_flags_str(fl, x->flags));
		ob_ch(ob, '"');
	}
	ob_mem(ob, ",", 1);
	KEY(ob, "seq");
	jnum(ob, r, TF_K_SEQ, x->seq);
	ob_mem(ob, ",", 1);
	KEY(ob, "ack");
	jnum(ob, r, TF_K_ACK, x->ack);
	ob_mem(ob, ",", 1);
	KEY(ob, "win");
	jnum(ob, r, TF_K_WIN, x->win);
	ob_mem(ob, ",", 1);
	KEY(ob, "len");
	jnum(ob, r, TF_K_LEN, x->len);
	ob_mem(ob, ",", 1);
	KEY(ob, "pid");
	jnum(ob, r, TF_K_PID, x->pid);
	ob_mem(ob, ",", 1);
	KEY(ob, "comm");
	if (r->dash & TF_DASH(TF_K_COMM))
		ob_mem(ob, "null", 4);
	else
		jcomm(ob, x->comm);
	ob_mem(ob, ",", 1);
	KEY(ob, "who");
	if (x->who)
		jstr(ob, tf_who_name(x->who));
	else
		ob_mem(ob, "null", 4);
	ob_mem(ob, ",", 1);
	KEY(ob, "why");
	if (x->why)
		jstr(ob, tf_why_name(x->why));
	else
		ob_mem(ob, "null", 4);
	ob_mem(ob, ",", 1);
	KEY(ob, "dur_ns");
	jnum(ob, r, TF_K_DUR, x->dur_ns);
	ob_mem(ob, "}\n", 2);
}

int tf_view_json(const struct tf_trace *t, const struct tf_opts *o,
		 struct obuf *ob)
{
	uint8_t *sel = tf_select_groups(t, o);

	if (!sel)
		return -1;
	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];

		if (sel[r->group] && tf_rec_in_window(t, r, o))
			tf_json_rec(ob, t, r);
	}
	free(sel);
	return 0;
}
