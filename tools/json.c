// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * json.c - --json: JSON lines, one object per record, every key of the
 * text format under a stable name (tools/README.md lists them).  A value
 * that the text gives as '-' is null.  seq and ack are absolute and
 * unsigned, as on the wire; relative numbers are the ladder's business.
 * A record read from a host's log entry (jsonin.c) ends with its "host"
 * and "boot", so that the output reads back as the same merged stream.
 *
 * Each object is written straight into the output buffer (one reserve,
 * then plain stores): this view is meant to keep up with a million
 * records a second.
 */
#include <stdlib.h>
#include <string.h>
#include "show.h"

/* an object's worst case: about 700 bytes, and a host and boot id of
   TF_HOST_NAME_MAX and 64 bytes, each byte escaped as \\ or \" at worst */
#define JSON_MAX (1024 + 2 * TF_HOST_NAME_MAX + 2 * 64)

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
	return p + tf_u64_str(p, v);
}

static char *put_null(char *p)
{
	return PUT(p, "null");
}

static char *put_num(char *p, const struct tf_rec *r, int key, uint64_t v)
{
	return (r->dash & TF_DASH(key)) ? put_null(p) : put_u64(p, v);
}

static char *put_name(char *p, const char *s)
{
	size_t n = strlen(s);

	*p++ = '"';
	p = put(p, s, n);
	*p++ = '"';
	return p;
}

/* A SYN's options (1.2): {"mss":1460,"ws":7,"sack":true,"ts":4242}. */
static char *put_opts(char *p, const struct tf_rec *r)
{
	const struct tcpflow_record *x = &r->r;
	const struct tcpflow_synopt *o = &x->opt;

	if (!tf_has_opts(x, r->dash))
		return put_null(p);
	p = PUT(p, "{\"mss\":");
	p = (o->bits & TCPFLOW_OPT_MSS) ? put_u64(p, o->mss) : put_null(p);
	p = PUT(p, ",\"ws\":");
	p = (o->bits & TCPFLOW_OPT_WS) ? put_u64(p, o->ws) : put_null(p);
	p = PUT(p, ",\"sack\":");
	p = (o->bits & TCPFLOW_OPT_SACK) ? PUT(p, "true") : PUT(p, "false");
	p = PUT(p, ",\"ts\":");
	p = (o->bits & TCPFLOW_OPT_TS) ? put_u64(p, o->tsval) : put_null(p);
	*p++ = '}';
	return p;
}

static char *put_state(char *p, const struct tf_rec *r, int key,
		       unsigned int st)
{
	return (r->dash & TF_DASH(key)) || !st ? put_null(p) :
	       put_name(p, tf_state_name(st));
}

static char *put_addr(char *p, const struct tf_rec *r, int key,
		      const uint8_t *a)
{
	if (r->dash & TF_DASH(key))
		return put_null(p);
	*p++ = '"';
	p += tf_addr_str(p, r->r.af, a);
	*p++ = '"';
	return p;
}

/* comm holds raw bytes: escape controls, quote, backslash, non-ASCII. */
static char *put_comm(char *p, const char *comm)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (size_t i = 0; i < TCPFLOW_COMM_LEN && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			p = PUT(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	return p;
}

/* A host name or boot id: printable ASCII (jsonin.c checked it). */
static char *put_text(char *p, const char *s)
{
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	return p;
}

void tf_json_rec(struct obuf *ob, const struct tf_rec *r,
		 const struct tf_hosts *h)
{
	const struct tcpflow_record *x = &r->r;
	int seg = tf_is_seg(r), st = x->event == TCPFLOW_EV_STATE;
	char *p;

	ob_reserve_fast(ob, JSON_MAX);
	p = ob->buf + ob->len;
	p = PUT(p, "{\"n\":");
	p = put_u64(p, x->n);
	p = PUT(p, ",\"ts_ns\":");
	p = put_u64(p, x->ts_ns);
	p = PUT(p, ",\"cpu\":");
	p = put_num(p, r, TF_K_CPU, x->cpu);
	p = PUT(p, ",\"conn\":");
	p = put_u64(p, x->conn);
	p = PUT(p, ",\"netns\":");
	p = put_num(p, r, TF_K_NETNS, x->netns);
	p = PUT(p, ",\"family\":");
	p = put_u64(p, x->af);
	p = PUT(p, ",\"event\":");
	p = put_name(p, tf_event_name(x->event));
	p = PUT(p, ",\"sock\":");
	p = put_name(p, tf_sock_name(x->sock));
	p = PUT(p, ",\"laddr\":");
	p = put_addr(p, r, TF_K_LADDR, x->laddr);
	p = PUT(p, ",\"lport\":");
	p = put_num(p, r, TF_K_LPORT, x->lport);
	p = PUT(p, ",\"raddr\":");
	p = put_addr(p, r, TF_K_RADDR, x->raddr);
	p = PUT(p, ",\"rport\":");
	p = put_num(p, r, TF_K_RPORT, x->rport);
	p = PUT(p, ",\"old\":");
	p = put_state(p, r, TF_K_OLD, st ? x->old_state : 0);
	p = PUT(p, ",\"new\":");
	p = put_state(p, r, TF_K_NEW, st ? x->new_state : 0);
	p = PUT(p, ",\"state\":");
	p = put_state(p, r, TF_K_STATE, seg ? x->new_state : 0);
	p = PUT(p, ",\"flags\":");
	if ((r->dash & TF_DASH(TF_K_FLAGS)) || !seg) {
		p = put_null(p);
	} else {
		*p++ = '"';
		p += tf_flags_str(p, x->flags);
		*p++ = '"';
	}
	p = PUT(p, ",\"seq\":");
	p = put_num(p, r, TF_K_SEQ, x->seq);
	p = PUT(p, ",\"ack\":");
	p = put_num(p, r, TF_K_ACK, x->ack);
	p = PUT(p, ",\"win\":");
	p = put_num(p, r, TF_K_WIN, x->win);
	p = PUT(p, ",\"len\":");
	p = put_num(p, r, TF_K_LEN, x->len);
	p = PUT(p, ",\"pid\":");
	p = put_num(p, r, TF_K_PID, x->pid);
	p = PUT(p, ",\"comm\":");
	p = (r->dash & TF_DASH(TF_K_COMM)) ? put_null(p) : put_comm(p, x->comm);
	p = PUT(p, ",\"who\":");
	p = x->who ? put_name(p, tf_who_name(x->who)) : put_null(p);
	p = PUT(p, ",\"why\":");
	p = x->why ? put_name(p, tf_why_name(x->why)) : put_null(p);
	p = PUT(p, ",\"dur_ns\":");
	p = put_num(p, r, TF_K_DUR, x->dur_ns);
	p = PUT(p, ",\"opts\":");
	p = put_opts(p, r);
	/* a record of a merged stream (docs/fleet.md): where it came from */
	if (r->host && h && r->host < h->n) {
		const struct tf_host *e = &h->v[r->host];

		p = PUT(p, ",\"host\":");
		p = put_text(p, e->name);
		p = PUT(p, ",\"boot\":");
		p = e->boot ? put_text(p, e->boot) : put_null(p);
	}
	p = PUT(p, "}\n");
	ob->len = (size_t)(p - ob->buf);
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
			tf_json_rec(ob, r, &t->hosts);
	}
	free(sel);
	return 0;
}
