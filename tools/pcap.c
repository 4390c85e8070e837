// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pcap.c - --pcap FILE: each recorded segment as a synthetic IPv4/IPv6
 * packet, so Wireshark's flow graph and TCP analysis (and tshark) can
 * work on a trace.  libpcap writes the file (DLT_RAW: packets start at
 * the IP header, no link layer to invent), with nanosecond timestamps.
 *
 * FILE.pcapng: the same packets, written here (libpcap writes no pcapng),
 * each with a comment from the ladder's rows (write_pcapng()).
 *
 * A packet carries what was recorded: flags, seq, ack, window, and a
 * zero-filled payload of len bytes; addresses from the sender's point of
 * view (tx: laddr > raddr, rx: raddr > laddr).  A segment seen at both
 * ends is written once.  Checksums are valid.  No TCP options were
 * recorded, so none are written (Wireshark then takes windows unscaled).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include "ladder.h"

#define IP4_HDR 20
#define IP6_HDR 40
#define TCP_HDR 20
#define TCP_OPT_MAX 20		/* put_opts() at most */
#define MAX_PKT 65535

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The options of a record that has them (tf_has_opts()), as Linux lays them
 * out (tcp_options_write()):
 * mss, sackOK and TS (nop nop before either alone), nop and wscale.
 * Returns their length, a multiple of 4, at most TCP_OPT_MAX.
 */
static size_t put_opts(uint8_t *p, const struct tcpflow_record *x,
		       uint32_t tsecr)
{
	const struct tcpflow_synopt *o = &x->opt;
	size_t n = 0;

	if (o->bits & TCPFLOW_OPT_MSS) {
		p[n++] = 2;
		p[n++] = 4;
		put16(p + n, o->mss);
		n += 2;
	}
	if (o->bits & TCPFLOW_OPT_TS) {
		p[n++] = (o->bits & TCPFLOW_OPT_SACK) ? 4 : 1;
		p[n++] = (o->bits & TCPFLOW_OPT_SACK) ? 2 : 1;
		p[n++] = 8;
		p[n++] = 10;
		put32(p + n, o->tsval);
		put32(p + n + 4, tsecr);
		n += 8;
	} else if (o->bits & TCPFLOW_OPT_SACK) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 4;
		p[n++] = 2;
	}
	if (o->bits & TCPFLOW_OPT_WS) {
		p[n++] = 1;
		p[n++] = 3;
		p[n++] = 3;
		p[n++] = o->ws;
	}
	return n;
}

/*
 * The TSecr of a SYN-ACK record @i: what its sender had last from the
 * other end, the TSval of that end's SYN (req->ts_recent, which
 * tcp_synack_options() echoes), found among the records before it.  A
 * SYN's own TSecr is 0.  Records keep the TSval only.
 */
static uint32_t tsecr_of(const struct tf_trace *t, size_t i)
{
	const struct tf_rec *r = &t->rec[i];
	unsigned int s = tf_sender(r);

	if ((r->r.flags & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) !=
	    (TCPFLOW_F_SYN | TCPFLOW_F_ACK))
		return 0;
	for (size_t k = i, left = 4096; k-- > 0 && left--; ) {
		const struct tf_rec *q = &t->rec[k];

		if (q->group == r->group && tf_is_seg(q) &&
		    tf_sender(q) != s &&
		    (q->r.flags & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
		    TCPFLOW_F_SYN && tf_has_opts(&q->r, q->dash) &&
		    (q->r.opt.bits & TCPFLOW_OPT_TS))
			return q->r.opt.tsval;
	}
	return 0;
}

/*
 * Build the packet in pkt (zeroed payload follows the headers); returns
 * its length on the wire.  The payload being zeros, it adds nothing to
 * the checksum but its length in the pseudo-header.
 */
static size_t build(uint8_t *pkt, const struct tf_rec *r, uint16_t ip_id,
		    uint32_t tsecr)
{
	const struct tcpflow_record *x = &r->r;
	int tx = x->event == TCPFLOW_EV_TX;
	const uint8_t *src = tx ? x->laddr : x->raddr;
	const uint8_t *dst = tx ? x->raddr : x->laddr;
	uint16_t sport = tx ? x->lport : x->rport;
	uint16_t dport = tx ? x->rport : x->lport;
	size_t iph = x->af == 6 ? IP6_HDR : IP4_HDR;
	uint8_t *tcp = pkt + iph;
	size_t thl, room;
	uint32_t plen, tcplen, sum;

	memset(pkt, 0, iph + TCP_HDR + TCP_OPT_MAX);
	thl = TCP_HDR + (tf_has_opts(x, r->dash) ?
			 put_opts(tcp + TCP_HDR, x, tsecr) : 0);
	room = MAX_PKT - iph - thl;
	plen = x->len < room ? x->len : (uint32_t)room;
	tcplen = (uint32_t)thl + plen;
	if (x->af == 6) {
		pkt[0] = 0x60;
		put16(pkt + 4, (uint16_t)tcplen);
		pkt[6] = 6;		/* next header: TCP */
		pkt[7] = 64;
		memcpy(pkt + 8, src, 16);
		memcpy(pkt + 24, dst, 16);
		sum = sum16(0, src, 16);
		sum = sum16(sum, dst, 16);
	} else {
		pkt[0] = 0x45;
		put16(pkt + 2, (uint16_t)(IP4_HDR + tcplen));
		put16(pkt + 4, ip_id);
		put16(pkt + 6, 0x4000);	/* DF */
		pkt[8] = 64;
		pkt[9] = 6;
		memcpy(pkt + 12, src, 4);
		memcpy(pkt + 16, dst, 4);
		put16(pkt + 10, fold(sum16(0, pkt, IP4_HDR)));
		sum = sum16(0, src, 4);
		sum = sum16(sum, dst, 4);
	}
	sum += 6 + tcplen;		/* rest of the pseudo-header */

	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, x->seq);
	put32(tcp + 8, x->ack);
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = x->flags;
	put16(tcp + 14, x->win);
	put16(tcp + 16, fold(sum16(sum, tcp, thl)));
	return iph + tcplen;
}

/* Is record @r a packet of the file: a segment, once, selected? */
static int packet_of(const struct tf_trace *t, const struct tf_opts *o,
		     const uint8_t *sel, const struct tf_rec *r)
{
	return tf_is_seg(r) && !(r->mark & TF_MK_SKIP) && sel[r->group] &&
	       tf_rec_in_window(t, r, o);
}

/*
 * A packet's time: the time of day when the header says it (format 1.1:
 * epoch_offset), as a capture has; else ts, from boot.
 */
static uint64_t packet_ts(const struct tf_trace *t, uint64_t ts)
{
	if (t->hdr.has_epoch && (int64_t)ts + t->hdr.epoch_offset > 0)
		return (uint64_t)((int64_t)ts + t->hdr.epoch_offset);
	return ts;
}

/* ---- pcapng (-w FILE.pcapng): the same packets, each with a comment */

struct blk {
	uint8_t *b;
	size_t n, cap;
	int oom;
};

static void blk_put(struct blk *k, const void *p, size_t n)
{
	if (!n)
		return;
	if (k->n + n > k->cap) {
		size_t cap = (k->n + n) * 2 + 256;
		uint8_t *b = realloc(k->b, cap);

		if (!b) {
			k->oom = 1;
			return;
		}
		k->b = b;
		k->cap = cap;
	}
	memcpy(k->b + k->n, p, n);
	k->n += n;
}

static void blk_u16(struct blk *k, uint16_t v)
{
	blk_put(k, &v, 2);	/* host order: the section's byte-order mark says which */
}

static void blk_u32(struct blk *k, uint32_t v)
{
	blk_put(k, &v, 4);
}

static void blk_pad(struct blk *k)
{
	static const uint8_t z[4];

	blk_put(k, z, (4 - k->n % 4) % 4);
}

/* An option: code, length, value padded to 32 bits. */
static void blk_opt(struct blk *k, uint16_t code, const void *v, size_t n)
{
	if (n > 65535)
		n = 65535;
	blk_u16(k, code);
	blk_u16(k, (uint16_t)n);
	blk_put(k, v, n);
	blk_pad(k);
}

/* Start a block of @type (its length is filled in by blk_end()). */
static size_t blk_begin(struct blk *k, uint32_t type)
{
	size_t at = k->n;

	blk_u32(k, type);
	blk_u32(k, 0);
	return at;
}

static void blk_end(struct blk *k, size_t at)
{
	uint32_t len;

	blk_pad(k);
	len = (uint32_t)(k->n - at + 4);
	blk_u32(k, len);
	if (!k->oom)
		memcpy(k->b + at + 4, &len, 4);
}

static void __attribute__((format(printf, 4, 5)))
addf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (m > 0)
		*n = (size_t)m < size - *n ? *n + (size_t)m : size - 1;
}

/*
 * A packet's comment: who sent it and in which state, the state it went
 * to before its next segment, its process, and the ladder's tags and
 * teaching notes for that arrow (the rows of --explain).
 */
static void comment_of(const struct tf_trace *t, const struct tf_rows *rs,
		       size_t row, char *buf, size_t size)
{
	const struct tf_row *w = &rs->r[row];
	const struct tcpflow_record *x = &t->rec[w->rec].r;
	int tx = x->event == TCPFLOW_EV_TX;
	const char *then = NULL;
	size_t n = 0;

	for (size_t q = row + 1; q < rs->n; q++) {
		if (rs->r[q].kind == TF_ROW_ARROW)
			break;
		if (rs->r[q].side == w->side && rs->r[q].text[0])
			then = rs->r[q].text;
	}
#define ADD(...) addf(buf, size, &n, __VA_ARGS__)
	ADD("%s", w->side ? "server" : "client");
	if (tx)
		ADD(" in %s", tf_state_name(x->new_state));
	else
		ADD(" (not traced; the receiver was in %s)",
		    tf_state_name(x->new_state));
	if (then)
		ADD(", then %s", then);
	if (tx && x->pid)
		ADD("; %s[%u]", x->comm, x->pid);
	if (w->tag[0])
		ADD("; %s", w->tag);
	for (int k = 0; k < TF_ROW_NOTES && w->note[k]; k++) {
		const char *l;
		int hyphen = 0;

		ADD(";");
		/* the note's lines as one: "half-" + "closed" is one word */
		for (unsigned int j = 0; (l = tf_note_line(w->note[k], j)); j++) {
			size_t ln;

			while (*l == ' ')
				l++;
			ln = strlen(l);
			ADD("%s%s", hyphen ? "" : " ", l);
			hyphen = ln > 1 && l[ln - 1] == '-' && l[ln - 2] != ' ';
		}
	}
#undef ADD
}

static int write_pcapng(const struct tf_trace *t, const struct tf_opts *o,
			const char *path, const uint8_t *sel, uint8_t *pkt,
			FILE *err)
{
	struct tf_opts eo = *o;
	struct tf_rows rs = { 0 };
	struct blk k = { 0 };
	int32_t *row_of = malloc((t->nrec + 1) * sizeof(*row_of));
	struct tf_rows *all = calloc(t->ngroup + 1, sizeof(*all));
	char note[1024];
	size_t at;
	FILE *f = NULL;
	int ret = -1, defmode = !strcmp(t->hdr.segments, "default");

	if (!row_of || !all)
		goto out;
	/* the ladder's rows of each conversation, notes and all */
	eo.explain = 1;
	for (size_t i = 0; i < t->nrec; i++)
		row_of[i] = -1;
	for (size_t j = 0; j < t->ngroup; j++) {
		if (!sel[j] || t->group[j].kind != TF_G_CONV ||
		    !t->group[j].nrec)
			continue;
		if (tf_ladder_rows(t, &eo, &t->group[j], &rs))
			goto out;
		all[j] = rs;
		memset(&rs, 0, sizeof(rs));
		for (size_t q = 0; q < all[j].n; q++)
			if (all[j].r[q].kind == TF_ROW_ARROW &&
			    all[j].r[q].rec >= 0)
				row_of[all[j].r[q].rec] = (int32_t)q;
	}

	/* section header: what the file is, and what it lacks */
	at = blk_begin(&k, 0x0A0D0D0A);
	blk_u32(&k, 0x1A2B3C4D);
	blk_u16(&k, 1);
	blk_u16(&k, 0);
	blk_u32(&k, 0xffffffff);	/* section length: not given */
	blk_u32(&k, 0xffffffff);
	snprintf(note, sizeof(note), "tcpflow: segments recorded in the "
		 "kernel (segments=%s), rebuilt as packets: flags, seq, ack, "
		 "window and length as recorded, no TCP options, zero "
		 "payload.%s Each packet's comment: its sender's state, its "
		 "process, and tcpflow-show --explain's note.",
		 t->hdr.segments[0] ? t->hdr.segments : "?",
		 defmode ? " With segments=default, data segments and pure "
		 "ACKs of ESTABLISHED sockets were not recorded: Wireshark's "
		 "\"previous segment not captured\" and \"ACKed unseen "
		 "segment\" are those, not losses." : "");
	blk_opt(&k, 1, note, strlen(note));
	blk_opt(&k, 4, "tcpflow-show", 12);	/* shb_userappl */
	blk_opt(&k, 0, NULL, 0);
	blk_end(&k, at);

	/* one interface: raw IP, nanosecond timestamps */
	at = blk_begin(&k, 1);
	blk_u16(&k, 101);			/* LINKTYPE_RAW */
	blk_u16(&k, 0);
	blk_u32(&k, MAX_PKT);
	blk_opt(&k, 9, "\x09", 1);		/* if_tsresol: 10^-9 */
	blk_opt(&k, 0, NULL, 0);
	blk_end(&k, at);

	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *x = &r->r;
		uint64_t ts;
		size_t len;

		if (!packet_of(t, o, sel, r))
			continue;
		ts = packet_ts(t, x->ts_ns);
		len = build(pkt, r, (uint16_t)(i + 1), tsecr_of(t, i));
		at = blk_begin(&k, 6);		/* enhanced packet block */
		blk_u32(&k, 0);
		blk_u32(&k, (uint32_t)(ts >> 32));
		blk_u32(&k, (uint32_t)ts);
		blk_u32(&k, (uint32_t)len);
		blk_u32(&k, (uint32_t)len);
		blk_put(&k, pkt, len);
		blk_pad(&k);
		if (row_of[i] >= 0) {
			comment_of(t, &all[r->group], (size_t)row_of[i], note,
				   sizeof(note));
			blk_opt(&k, 1, note, strlen(note));
			blk_opt(&k, 0, NULL, 0);
		}
		blk_end(&k, at);
		memset(pkt, 0, IP6_HDR + TCP_HDR + TCP_OPT_MAX);
	}
	if (k.oom)
		goto out;
	f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!f || fwrite(k.b, 1, k.n, f) != k.n || fflush(f)) {
		fprintf(err, TF_PROG ": %s: cannot write\n", path);
		goto out;
	}
	ret = 0;
out:
	if (f && f != stdout)
		fclose(f);
	if (all)
		for (size_t j = 0; j < t->ngroup; j++)
			tf_rows_free(&all[j]);
	free(all);
	free(row_of);
	free(k.b);
	return ret;
}

static int is_pcapng(const char *path)
{
	size_t n = strlen(path);

	return n > 7 && !strcmp(path + n - 7, ".pcapng");
}

int tf_view_pcap(const struct tf_trace *t, const struct tf_opts *o,
		 const char *path, FILE *err)
{
	uint8_t *sel = tf_select_groups(t, o);
	uint8_t *pkt = calloc(1, MAX_PKT);
	pcap_t *p = NULL;
	pcap_dumper_t *d = NULL;
	uint16_t ip_id = 1;
	int ret = -1;

	if (!sel || !pkt)
		goto out;
	if (is_pcapng(path)) {
		ret = write_pcapng(t, o, path, sel, pkt, err);
		goto out;
	}
	p = pcap_open_dead_with_tstamp_precision(DLT_RAW, MAX_PKT,
						  PCAP_TSTAMP_PRECISION_NANO);
	if (!p)
		goto out;
	d = pcap_dump_open(p, path);
	if (!d) {
		fprintf(err, TF_PROG ": %s\n", pcap_geterr(p));
		goto out;
	}
	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *x = &r->r;
		struct pcap_pkthdr h;
		uint64_t ts;

		if (!packet_of(t, o, sel, r))
			continue;
		h.len = (bpf_u_int32)build(pkt, r, ip_id++, tsecr_of(t, i));
		h.caplen = h.len;
		ts = packet_ts(t, x->ts_ns);
		h.ts.tv_sec = (time_t)(ts / 1000000000);
		h.ts.tv_usec = (suseconds_t)(ts % 1000000000);
		pcap_dump((u_char *)d, &h, pkt);
		/* the next packet's payload may start where these headers were */
		memset(pkt, 0, IP6_HDR + TCP_HDR + TCP_OPT_MAX);
	}
	if (pcap_dump_flush(d)) {
		fprintf(err, TF_PROG ": %s: write error\n", path);
		goto out;
	}
	ret = 0;
out:
	if (d)
		pcap_dump_close(d);
	if (p)
		pcap_close(p);
	free(pkt);
	free(sel);
	return ret;
}
