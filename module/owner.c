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
#include <linux/sched/signal.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "tcpflow.h"

/*
 * Writers take the lock and bump seq around their change; readers take
 * nothing and read again if seq moved (read_seqcount_retry()).  Readers
 * are the many (every record made in softirq asks), writers one per
 * process-context state change, and the lock pair every reader took
 * showed in the cost of a record (docs/cost.md, "What a record costs").
 * Every caller runs with interrupts off, so a reader never spins on a
 * writer of its own CPU.
 */
struct owner_slot {
	raw_spinlock_t lock;
	seqcount_raw_spinlock_t seq;
	u64 conn;
	u32 pid;
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
	for (i = 0; i < n; i++) {
		raw_spin_lock_init(&owners[i].lock);
		seqcount_raw_spinlock_init(&owners[i].seq, &owners[i].lock);
	}
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
	/*
	 * What task_active_pid_ns() and task_tgid_vnr() return, read in
	 * place: for current, in a hook (interrupts off, so the struct pids
	 * cannot be freed under us), neither needs their RCU section or a
	 * call, which every record made in process context paid
	 * (docs/cost.md, "What a record costs").
	 */
	struct pid *tg = task_tgid(current);
	struct pid_namespace *ns = ns_of_pid(task_pid(current));

	*pid = task_tgid_nr(current);
	*vpid = 0;
	/* None once the task's pid is gone (the very end of its exit). */
	*pidns = ns ? ns->ns.inum : 0;
	if (ns && tg && ns->level <= tg->level &&
	    tg->numbers[ns->level].ns == ns)
		*vpid = tg->numbers[ns->level].nr;
}

/* The running task into @r.  Process context only. */
void tcpflow_task_now(struct tcpflow_record *r)
{
	task_ids(&r->pid, &r->vpid, &r->pidns);
	memcpy(r->comm, current->comm, TCPFLOW_COMM_LEN);
}

/*
 * @r's task (tcpflow_task_now() has just filled it in) as the owner of
 * its connection, without asking the pid namespaces again.
 */
void tcpflow_owner_set(const struct tcpflow_record *r)
{
	struct owner_slot *s = owner_slot(r->conn);

	lockdep_assert_irqs_disabled();
	if (!r->conn)
		return;
	raw_spin_lock(&s->lock);
	write_seqcount_begin(&s->seq);
	s->conn = r->conn;
	s->pid = r->pid;
	s->vpid = r->vpid;
	s->pidns = r->pidns;
	memcpy(s->comm, r->comm, TCPFLOW_COMM_LEN);
	write_seqcount_end(&s->seq);
	raw_spin_unlock(&s->lock);
}

/* Record current as the owner of @conn.  Process context only. */
void tcpflow_owner_learn(u64 conn)
{
	struct tcpflow_record r = { .conn = conn };

	tcpflow_task_now(&r);
	tcpflow_owner_set(&r);
}

/* @conn's owner into @r's pid, vpid, pidns and comm, if it is known. */
bool tcpflow_owner_get(u64 conn, struct tcpflow_record *r)
{
	struct owner_slot *s = owner_slot(conn);
	unsigned int seq;
	bool found;

	lockdep_assert_irqs_disabled();
	if (!conn)
		return false;
	do {
		seq = read_seqcount_begin(&s->seq);
		found = s->conn == conn;
		if (found) {
			r->pid = s->pid;
			r->vpid = s->vpid;
			r->pidns = s->pidns;
			memcpy(r->comm, s->comm, TCPFLOW_COMM_LEN);
		}
	} while (read_seqcount_retry(&s->seq, seq));
	return found;
}
