/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcpflow.h - internal interfaces between the module's files.
 *
 * main.c    parameters, init and exit
 * ring.c    the lock-free record ring (hot path: tcpflow_ring_write())
 * owner.c   which process owns a connection, learned in process context
 * hooks.c   the hooks on the TCP paths; build records
 * procfs.c  /proc/tcpflow: text at read time, commands on write
 */
#ifndef TCPFLOW_H
#define TCPFLOW_H

#include <linux/types.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>
#include "tcpflow_abi.h"

struct in6_addr;

/* Runtime configuration, replaced as a whole under RCU by writes. */
struct tcpflow_cfg {
	u8 segmode;		/* enum tcpflow_segmode */
	bool has_port;
	bool has_addr;
	bool has_netns;
	u8 addr_af;		/* 4 or 6 */
	u16 port;
	u32 netns;		/* inode number ... */
	u32 net_cookie;		/* ... and cookie (low 32 bits) */
	u8 addr[16];
	struct rcu_head rcu;
};

extern struct tcpflow_cfg __rcu *tcpflow_cfg;

/* ring.c */
int tcpflow_ring_init(unsigned int capacity);
void tcpflow_ring_exit(void);
u64 tcpflow_ring_write(const struct tcpflow_record *r);

enum tcpflow_fetch {
	TCPFLOW_FETCH_OK,	/* record copied */
	TCPFLOW_FETCH_NOTYET,	/* not written yet (or being written) */
	TCPFLOW_FETCH_GONE,	/* overwritten before we got it */
};

enum tcpflow_fetch tcpflow_fetch(u64 n, struct tcpflow_record *out);

struct tcpflow_ring_stats {
	u64 capacity;
	u64 first;		/* oldest readable record number */
	u64 next;		/* number the next record will get */
	u64 overwritten;
	unsigned long missed;	/* the hooks' (tcpflow_ring_missed_from) */
};

void tcpflow_ring_stats(struct tcpflow_ring_stats *st);
void tcpflow_ring_on_commit(void (*fn)(const struct tcpflow_record *r));
void tcpflow_ring_missed_from(unsigned long (*fn)(void));
void tcpflow_ring_clear(void);

/* owner.c */
int tcpflow_owner_init(unsigned int slots);
void tcpflow_owner_exit(void);
void tcpflow_owner_learn(u64 conn);
void tcpflow_owner_set(const struct tcpflow_record *r);
bool tcpflow_owner_get(u64 conn, struct tcpflow_record *r);
void tcpflow_task_now(struct tcpflow_record *r);

/*
 * Test-only (built with TCPFLOW_TESTING=1 TCPFLOW_FLOOR=1, never in a
 * normal build): the same hooks, armed the same way, whose handlers
 * return at once and record nothing.  scripts/bench loads it to measure
 * what the hooking alone costs.
 */
#ifdef TCPFLOW_FLOOR
#define tcpflow_floor()	true
#else
#define tcpflow_floor()	false
#endif

/* hooks.c */
int tcpflow_hooks_init(void);
void tcpflow_hooks_exit(void);

/* procfs.c */
int tcpflow_proc_init(void);
void tcpflow_proc_exit(void);
int tcpflow_parse_segmode(const char *s, u8 *mode);

extern const char *const tcpflow_segmode_names[TCPFLOW_SEG_MAX];

#endif /* TCPFLOW_H */
