// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pcap.c - --pcap FILE: each recorded segment as a synthetic IPv4/IPv6
 * packet, so Wireshark's flow graph and TCP analysis (and tshark) can
 * work on a trace.  libpcap writes the file (DLT_RAW: packets start at
 * the IP header, no link layer to invent), with nanosecond timestamps.
 *
 * A packet carries what was recorded: flags, seq, ack, window, and a
 * zero-filled payload of len bytes; addresses from the sender's point of
 * view (tx: laddr > raddr, rx: raddr > laddr).  A segment seen at both
 * ends is written once.  Checksums are valid.  No TCP options were
 * recorded, so none are written (Wireshark then takes windows unscaled).
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include "show.h"

#define IP4_HDR 20
#define IP6_HDR 40
#define TCP_HDR 20
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
 * Build the packet in pkt (zeroed payload follows the headers); returns
 * its length on the wire.  The payload being zeros, it adds nothing to
 * the checksum but its length in the pseudo-header.
 */
static size_t build(uint8_t *pkt, const struct tcpflow_record *x,
		    uint16_t ip_id)
{
	int tx = x->event == TCPFLOW_EV_TX;
	const uint8_t *src = tx ? x->laddr : x->raddr;
	const uint8_t *dst = tx ? x->raddr : x->laddr;
	uint16_t sport = tx ? x->lport : x->rport;
	uint16_t dport = tx ? x->rport : x->lport;
	size_t iph = x->af == 6 ? IP6_HDR : IP4_HDR;
	size_t room = MAX_PKT - iph - TCP_HDR;
	uint32_t plen = x->len < room ? x->len : (uint32_t)room;
	uint32_t tcplen = TCP_HDR + plen, sum;
	uint8_t *tcp = pkt + iph;

	memset(pkt, 0, iph + TCP_HDR);
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
	tcp[12] = (TCP_HDR / 4) << 4;
	tcp[13] = x->flags;
	put16(tcp + 14, x->win);
	put16(tcp + 16, fold(sum16(sum, tcp, TCP_HDR)));
	return iph + tcplen;
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

		if (!tf_is_seg(r) || (r->mark & TF_MK_SKIP) ||
		    !sel[r->group] || !tf_rec_in_window(t, r, o))
			continue;
		h.len = (bpf_u_int32)build(pkt, x, ip_id++);
		h.caplen = h.len;
		/*
		 * The time of day when the header says it (format 1.1:
		 * epoch_offset), as a capture has; else ts, from boot.
		 */
		ts = x->ts_ns;
		if (t->hdr.has_epoch && (int64_t)ts + t->hdr.epoch_offset > 0)
			ts = (uint64_t)((int64_t)ts + t->hdr.epoch_offset);
		h.ts.tv_sec = (time_t)(ts / 1000000000);
		h.ts.tv_usec = (suseconds_t)(ts % 1000000000);
		pcap_dump((u_char *)d, &h, pkt);
		/* the next packet's payload may start where these headers were */
		memset(pkt, 0, IP6_HDR + TCP_HDR);
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
