// SPDX-License-Identifier: GPL-2.0
/*
 * owner.c - which process a connection belongs to.
 *
 * Most TCP events run in softirq, where "current" is whoever happened to
 * be interrupted; printing its pid, as tcpstates does, names the wrong
 * process.  So the process is learned when the connection is touched in
 * process context (connect, accept, close, shutdown: they all change
 * state or hand the socket over there) and carried on later records.
 *
 * A direct-mapped table keyed by connection id, fixed at load time: a
 * newer connection that hashes to the same slot takes it over, so memory
 * stays bounded and stale entries need no cleanup (ids are never reused).
 */
#include <linux/hash.h>
#include <linux/kmemleak.h>
#include <linux/log2.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "tcpflow.h"

struct owner_slot {
	raw_spinlock_t lock;
	u32 pid;
	u64 conn;
	char comm[TCPFLOW_COMM_LEN];
};

static struct owner_slot *owners;
static unsigned int owner_bits;

int tcpflow_owner_init(unsigned int slots)
{
	unsigned int i, n = roundup_pow_of_two(slots);

	owners = vzalloc(array_size(n, sizeof(*owners)));
	if (!owners)
		return -ENOMEM;
	kmemleak_no_scan(owners);	/* no pointers in it (see ring.c) */
	for (i = 0; i < n; i++)
		raw_spin_lock_init(&owners[i].lock);
	owner_bits = ilog2(n);
	return 0;
}

void tcpflow_owner_exit(void)
{
	vfree(owners);
	owners = NULL;
}

static struct owner_slot *owner_slot(u64 conn)
{
	return &owners[hash_64(conn, owner_bits)];
}

/*
 * Both are called from tcpflow's hooks only, which run with interrupts
 * off: no interrupt on this CPU can come in and want the same slot.
 */

/* Record current as the owner of @conn.  Process context only. */
void tcpflow_owner_learn(u64 conn)
{
	struct owner_slot *s = owner_slot(conn);

	lockdep_assert_irqs_disabled();
	if (!conn)
		return;
	raw_spin_lock(&s->lock);
	s->conn = conn;
	s->pid = task_tgid_nr(current);
	memcpy(s->comm, current->comm, TCPFLOW_COMM_LEN);
	raw_spin_unlock(&s->lock);
}

bool tcpflow_owner_get(u64 conn, u32 *pid, char *comm)
{
	struct owner_slot *s = owner_slot(conn);
	bool found;

	lockdep_assert_irqs_disabled();
	if (!conn)
		return false;
	raw_spin_lock(&s->lock);
	found = s->conn == conn;
	if (found) {
		*pid = s->pid;
		memcpy(comm, s->comm, TCPFLOW_COMM_LEN);
	}
	raw_spin_unlock(&s->lock);
	return found;
}
