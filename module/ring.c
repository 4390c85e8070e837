// SPDX-License-Identifier: GPL-2.0
/*
 * ring.c - where records live between the probe that writes them and the
 * reader that prints them.
 *
 * One array of 2^k records, indexed by record number.  A writer takes the
 * next number with one atomic increment and owns slot (n - 1) & mask; no
 * lock, so every CPU can write at once from softirq.  Readers never
 * consume: they copy a slot and check that its number did not change
 * while they copied (a seqcount per slot, the number itself).  When the
 * ring is full the oldest records are overwritten; each reader learns
 * exactly which numbers it missed, and the header counts them.
 */
#include <linux/atomic.h>
#include <linux/kmemleak.h>
#include <linux/log2.h>
#include <linux/seqlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "tcpflow.h"

/* Set in rec->n while the slot is being written. */
#define TCPFLOW_WRITING		BIT_ULL(63)

static struct tcpflow_record *ring;
static u64 ring_mask;
static atomic64_t ring_last = ATOMIC64_INIT(0);	/* last number given */
static atomic64_t ring_cleared = ATOMIC64_INIT(0);	/* records < this+1 cleared */
static atomic64_t ring_lost_before_clear = ATOMIC64_INIT(0);
/*
 * clear sets the two above together: a header read between the two
 * stores would count the records it forgot as overwritten (or not count
 * what was).  Readers retry around it; writers of records never take it.
 */
static DEFINE_SEQLOCK(ring_clear_lock);

int tcpflow_ring_init(unsigned int capacity)
{
	u64 cap = roundup_pow_of_two(capacity);

	ring = vzalloc(array_size(cap, sizeof(*ring)));
	if (!ring)
		return -ENOMEM;
	/*
	 * Records hold no kernel pointers: kmemleak need not scan up to
	 * 32 MiB of them.  On a kmemleak kernel a long scan keeps an RCU
	 * tasks grace period, and so rmmod (see hooks.c), waiting.
	 */
	kmemleak_no_scan(ring);
	ring_mask = cap - 1;
	return 0;
}

void tcpflow_ring_exit(void)
{
	vfree(ring);
	ring = NULL;
}

/*
 * Claim the next record number and its slot.  The caller fills the record
 * and calls tcpflow_commit(); it must not sleep in between.  Interrupts
 * are expected off (see hooks.c) so that a writer is never lapped.
 */
struct tcpflow_record *tcpflow_reserve(u64 *n)
{
	struct tcpflow_record *rec;

	*n = atomic64_inc_return(&ring_last);
	rec = &ring[(*n - 1) & ring_mask];
	WRITE_ONCE(rec->n, *n | TCPFLOW_WRITING);
	/* Readers must see "writing" before any of the new contents. */
	smp_wmb();
	return rec;
}

void tcpflow_commit(struct tcpflow_record *rec, u64 n)
{
	/* Pairs with the acquire in tcpflow_fetch(): contents, then number. */
	smp_store_release(&rec->n, n);
}

enum tcpflow_fetch tcpflow_fetch(u64 n, struct tcpflow_record *out)
{
	const struct tcpflow_record *rec = &ring[(n - 1) & ring_mask];
	u64 before, after;

	/* Pairs with the release in tcpflow_commit(). */
	before = smp_load_acquire(&rec->n);
	if (before != n)
		return (before & ~TCPFLOW_WRITING) > n ? TCPFLOW_FETCH_GONE :
							TCPFLOW_FETCH_NOTYET;
	memcpy(out, rec, sizeof(*out));
	/* The copy must be complete before we look at the number again. */
	smp_rmb();
	after = READ_ONCE(rec->n);
	if (after != n)
		return TCPFLOW_FETCH_GONE;
	out->n = n;
	return TCPFLOW_FETCH_OK;
}

static void stats_of(struct tcpflow_ring_stats *st, u64 last, u64 cleared,
		     u64 lost)
{
	u64 cap = ring_mask + 1, first = 1;

	if (last > cap)
		first = last - cap + 1;
	st->overwritten = lost;
	if (first - 1 > cleared)
		st->overwritten += first - 1 - cleared;
	if (cleared + 1 > first)
		first = cleared + 1;
	st->capacity = cap;
	st->first = first;
	st->next = last + 1;
}

void tcpflow_ring_stats(struct tcpflow_ring_stats *st)
{
	u64 last, cleared, lost;
	unsigned int seq;

	do {
		seq = read_seqbegin(&ring_clear_lock);
		last = atomic64_read(&ring_last);
		cleared = atomic64_read(&ring_cleared);
		lost = atomic64_read(&ring_lost_before_clear);
	} while (read_seqretry(&ring_clear_lock, seq));
	stats_of(st, last, cleared, lost);
}

/* Serialised by the cfg lock of the only caller (a write to /proc). */
void tcpflow_ring_clear(void)
{
	struct tcpflow_ring_stats st;

	/* What was lost stays counted: clear forgets, it does not lose. */
	write_seqlock(&ring_clear_lock);
	stats_of(&st, atomic64_read(&ring_last),
		 atomic64_read(&ring_cleared),
		 atomic64_read(&ring_lost_before_clear));
	atomic64_set(&ring_lost_before_clear, st.overwritten);
	atomic64_set(&ring_cleared, st.next - 1);
	write_sequnlock(&ring_clear_lock);
}
