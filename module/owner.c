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
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "tcpflow.h"

struct owner_slot {
	raw_spinlock_t lock;
	u32 pid;
	u64 conn;
	u32 vpid;
	u32 pidns;
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

/*
 * The pid twice: as the initial pid namespace numbers the process, and as
 * its own (innermost) namespace does, with that namespace's inode number.
 * A reader in a container is shown the second where the namespace is its
 * own, and "-" otherwise (procfs.c): which pid namespace a reader is in is
 * known only at read time.
 */
static void task_ids(u32 *pid, u32 *vpid, u32 *pidns)
{
	struct pid_namespace *ns = task_active_pid_ns(current);

	*pid = task_tgid_nr(current);
	*vpid = task_tgid_vnr(current);
	/* None once the task's pid is gone (the very end of its exit). */
	*pidns = ns ? ns->ns.inum : 0;
}

/* The running task into @r.  Process context only. */
void tcpflow_task_now(struct tcpflow_record *r)
{
	task_ids(&r->pid, &r->vpid, &r->pidns);
	memcpy(r->comm, current->comm, TCPFLOW_COMM_LEN);
}

/* Record current as the owner of @conn.  Process context only. */
void tcpflow_owner_learn(u64 conn)
{
	struct owner_slot *s = owner_slot(conn);

	lockdep_assert_irqs_disabled();
	if (!conn)
		return;
	raw_spin_lock(&s->lock);
	s->conn = conn;
	task_ids(&s->pid, &s->vpid, &s->pidns);
	memcpy(s->comm, current->comm, TCPFLOW_COMM_LEN);
	raw_spin_unlock(&s->lock);
}

/* @conn's owner into @r's pid, vpid, pidns and comm, if it is known. */
bool tcpflow_owner_get(u64 conn, struct tcpflow_record *r)
{
	struct owner_slot *s = owner_slot(conn);
	bool found;

	lockdep_assert_irqs_disabled();
	if (!conn)
		return false;
	raw_spin_lock(&s->lock);
	found = s->conn == conn;
	if (found) {
		r->pid = s->pid;
		r->vpid = s->vpid;
		r->pidns = s->pidns;
		memcpy(r->comm, s->comm, TCPFLOW_COMM_LEN);
	}
	raw_spin_unlock(&s->lock);
	return found;
}
