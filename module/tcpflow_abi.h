/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tcpflow_abi.h - what the kernel module and the userspace tools agree on.
 *
 * The module keeps struct tcpflow_record in its ring and prints each one
 * as a line of text in /proc/tcpflow; tcpflow-show parses those lines back
 * into the same struct.  Names and letters used in the text live here so
 * that both sides spell them the same way.  The text format is versioned
 * (TCPFLOW_FMT_MAJOR.TCPFLOW_FMT_MINOR); see docs/proc.md, "The /proc/tcpflow
 * format".  A reader refuses another major version; a minor version only
 * adds keys, which older readers skip.
 */
#ifndef TCPFLOW_ABI_H
#define TCPFLOW_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <linux/types.h>	/* the same __u8..__u64 as the kernel's */
#endif

#define TCPFLOW_FMT_MAJOR 1
#define TCPFLOW_FMT_MINOR 2

/* What happened. */
enum tcpflow_event {
	TCPFLOW_EV_STATE = 1,	/* a socket changed state */
	TCPFLOW_EV_RX = 2,	/* a segment arrived at a socket */
	TCPFLOW_EV_TX = 3,	/* a segment left on behalf of a socket */
	TCPFLOW_EV_MAX
};

/* Which kind of kernel socket the event belongs to. */
enum tcpflow_sock {
	TCPFLOW_SK_NONE = 0,	/* none: a segment nobody owns, its reset */
	TCPFLOW_SK_FULL = 1,	/* struct tcp_sock */
	TCPFLOW_SK_REQ = 2,	/* request sock of a listener (NEW_SYN_RECV) */
	TCPFLOW_SK_TW = 3,	/* timewait mini-socket */
	TCPFLOW_SK_MAX
};

/* Where pid and comm come from. */
enum tcpflow_who {
	TCPFLOW_WHO_NONE = 0,	/* softirq, owner not known yet: "-" */
	TCPFLOW_WHO_CUR = 1,	/* the task running the event (process context) */
	TCPFLOW_WHO_OWNER = 2,	/* the connection's owner, learned earlier */
	TCPFLOW_WHO_MAX
};

/* Why, for events that have a reason worth telling. */
enum tcpflow_why {
	TCPFLOW_WHY_NONE = 0,
	TCPFLOW_WHY_EXPIRE = 1,	/* TIME_WAIT (or FIN_WAIT2 substate) timer ran out */
	TCPFLOW_WHY_KILL = 2,	/* timewait sock removed early (reuse, netns exit) */
	/*
	 * TIME_WAIT timer restarted: tcp_timewait_state_process() got a FIN
	 * again, an in-window bare ACK, or an out-of-window or PAWS-failing
	 * segment with ACK (the rx record just before says which).
	 */
	TCPFLOW_WHY_REARM = 3,
	TCPFLOW_WHY_MAX
};

/* Kernel TCP states (include/net/tcp_states.h); same numbers. */
#define TCPFLOW_STATE_MAX 14	/* 1..13 valid, 0 means "none" */

/* TCP header flag bits, as on the wire (byte 13 of the header). */
#define TCPFLOW_F_FIN 0x01
#define TCPFLOW_F_SYN 0x02
#define TCPFLOW_F_RST 0x04
#define TCPFLOW_F_PSH 0x08
#define TCPFLOW_F_ACK 0x10
#define TCPFLOW_F_URG 0x20
#define TCPFLOW_F_ECE 0x40
#define TCPFLOW_F_CWR 0x80

/* Segment modes: which segments the module records. */
enum tcpflow_segmode {
	TCPFLOW_SEG_NONE = 0,		/* state changes only */
	TCPFLOW_SEG_DEFAULT = 1,	/* handshake, teardown, reset */
	TCPFLOW_SEG_ALL = 2,		/* every segment, data too */
	TCPFLOW_SEG_MAX
};

#define TCPFLOW_COMM_LEN 16

/*
 * The options of a segment with SYN that say what the connection may use
 * (format 1.2): MSS (RFC 9293 3.7.1), window scale and timestamps (RFC
 * 7323), SACK permitted (RFC 2018), as on the wire.  TCPFLOW_OPT_SEEN:
 * the options were read (a SYN); with no other bit, the SYN had none.
 */
#define TCPFLOW_OPT_MSS		0x01
#define TCPFLOW_OPT_WS		0x02
#define TCPFLOW_OPT_SACK	0x04
#define TCPFLOW_OPT_TS		0x08
#define TCPFLOW_OPT_SEEN	0x80

struct tcpflow_synopt {
	__u16 mss;		/* TCPFLOW_OPT_MSS */
	__u8 ws;		/* TCPFLOW_OPT_WS: the shift count, as sent */
	__u8 bits;		/* TCPFLOW_OPT_* */
	__u32 tsval;		/* TCPFLOW_OPT_TS */
};

/*
 * One record.  Fixed-width fields only; 128 bytes, two cache lines.
 * Addresses are in network byte order; a v4 or v4-mapped address takes
 * the first 4 bytes of the array and af is 4.
 */
struct tcpflow_record {
	__u64 n;		/* record number, from 1, global */
	__u64 ts_ns;		/* CLOCK_MONOTONIC, ns */
	__u64 conn;		/* connection id (socket cookie lineage) */
	union {
		/* ev=state, TIME_WAIT -> CLOSE: ns since last (re)armed */
		__u64 dur_ns;
		/* ev=rx/tx with SYN (format 1.2) */
		struct tcpflow_synopt opt;
	};
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 netns;		/* inode number of the network namespace */
	__u32 pid;		/* 0 with who == TCPFLOW_WHO_NONE */
	__u32 seq;
	__u32 ack;
	__u32 len;		/* payload bytes */
	__u16 lport;		/* host byte order */
	__u16 rport;
	__u16 win;		/* window field as on the wire (unscaled) */
	__u16 cpu;
	__u8 event;		/* enum tcpflow_event */
	__u8 sock;		/* enum tcpflow_sock */
	__u8 af;		/* 4 or 6 */
	__u8 old_state;		/* state events: before */
	__u8 new_state;		/* state events: after; segments: socket's state */
	__u8 flags;		/* TCPFLOW_F_* (segments) */
	__u8 who;		/* enum tcpflow_who */
	__u8 why;		/* enum tcpflow_why */
	char comm[TCPFLOW_COMM_LEN];
	/*
	 * Isolation (read time, not printed as keys): the namespace of the
	 * event beyond its inode number, which the kernel reuses, and the
	 * process as its own pid namespace numbers it.
	 */
	__u32 net_cookie;	/* low 32 bits of the netns's net_cookie */
	__u32 vpid;		/* pid in pidns, its innermost namespace */
	__u32 pidns;		/* inode number of that pid namespace */
};

/* Text names, indexed by the enums above. */
#define TCPFLOW_EVENT_NAMES { "-", "state", "rx", "tx" }
#define TCPFLOW_SOCK_NAMES { "none", "full", "req", "tw" }
#define TCPFLOW_WHO_NAMES { "-", "cur", "owner" }
#define TCPFLOW_WHY_NAMES { "-", "expire", "kill", "rearm" }
#define TCPFLOW_SEGMODE_NAMES { "none", "default", "all" }
#define TCPFLOW_STATE_NAMES { "-", "ESTABLISHED", "SYN_SENT", "SYN_RECV", \
	"FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", \
	"LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE" }

/*
 * Flag letters in tcpdump's order (print-tcp.c): F S R P . U E W.
 * A segment with no flag at all prints as "none", like tcpdump.
 */
#define TCPFLOW_FLAG_BITS { TCPFLOW_F_FIN, TCPFLOW_F_SYN, TCPFLOW_F_RST, \
	TCPFLOW_F_PSH, TCPFLOW_F_ACK, TCPFLOW_F_URG, TCPFLOW_F_ECE, \
	TCPFLOW_F_CWR }
#define TCPFLOW_FLAG_LETTERS "FSRP.UEW"

/*
 * The opts= value of a record (format 1.2), the same text from the
 * module and tcpflow-bpf: a SYN's options in a fixed order,
 * "mss:1460,ws:7,sack,ts:4242" (ts: its TSval), "none" for a SYN
 * without them, "-" for any other record.  @buf: TCPFLOW_OPTS_TEXT bytes.
 */
#define TCPFLOW_OPTS_TEXT 48

static inline char *tcpflow_put_u32(char *p, __u32 v)
{
	char d[10];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = d[--n];
	return p;
}

static inline char *tcpflow_put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static inline void tcpflow_opts_text(char *buf,
				     const struct tcpflow_record *r)
{
	const struct tcpflow_synopt *o = &r->opt;
	char *p = buf;

	if (r->event == TCPFLOW_EV_STATE || !(r->flags & TCPFLOW_F_SYN) ||
	    !(o->bits & TCPFLOW_OPT_SEEN)) {
		tcpflow_put_str(buf, "-")[0] = '\0';
		return;
	}
	if (o->bits & TCPFLOW_OPT_MSS)
		p = tcpflow_put_u32(tcpflow_put_str(p, ",mss:"), o->mss);
	if (o->bits & TCPFLOW_OPT_WS)
		p = tcpflow_put_u32(tcpflow_put_str(p, ",ws:"), o->ws);
	if (o->bits & TCPFLOW_OPT_SACK)
		p = tcpflow_put_str(p, ",sack");
	if (o->bits & TCPFLOW_OPT_TS)
		p = tcpflow_put_u32(tcpflow_put_str(p, ",ts:"), o->tsval);
	*p = '\0';
	if (p == buf) {
		tcpflow_put_str(buf, "none")[0] = '\0';
		return;
	}
	for (p = buf; p[1]; p++)	/* drop the first comma */
		p[0] = p[1];
	*p = '\0';
}

#endif /* TCPFLOW_ABI_H */
