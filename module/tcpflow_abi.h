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
#define TCPFLOW_FMT_MINOR 1

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
 * One record.  Fixed-width fields only; 128 bytes, two cache lines.
 * Addresses are in network byte order; a v4 or v4-mapped address takes
 * the first 4 bytes of the array and af is 4.
 */
struct tcpflow_record {
	__u64 n;		/* record number, from 1, global */
	__u64 ts_ns;		/* CLOCK_MONOTONIC, ns */
	__u64 conn;		/* connection id (socket cookie lineage) */
	__u64 dur_ns;		/* TIME_WAIT -> CLOSE: ns since last (re)armed */
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

#endif /* TCPFLOW_ABI_H */
