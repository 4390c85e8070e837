// SPDX-License-Identifier: GPL-2.0
/*
 * ring.c - where records live between the probe that writes them and the
 * reader that prints them.
 *
 * One array of 2^k records, indexed by record number.  A writer takes the
 * next number with one atomic increment and then claims slot (n - 1) & mask
 * with a compare-and-exchange on the number the slot holds; no lock, so
 * every CPU can write at once from softirq.  Readers never consume: they
 * copy a slot and check that its number did not change while they copied
 * (a seqcount per slot, the number itself).  When the ring is full the
 * oldest records are overwritten; each reader learns exactly which
 * numbers it missed, and the header counts them.
 *
 * A writer can be held up between taking its number and committing (an
 * NMI, an SMI, a vCPU the host preempted) while the ring goes all the way
 * round.  Two rules keep that from damaging anything:
 *   - only a slot whose last writer has finished is claimed.  A writer
 *     that finds the slot still being written by an older number (it has
 *     lapped that writer) gives its own record up: it marks the slot
 *     "lost" with its number, so readers skip that number (a one-record
 *     gap) instead of waiting for it, and the held-up writer's late
 *     stores land in a record nobody will read;
 *   - a writer that finds a newer number in its slot has been lapped:
 *     its record is already behind the oldest readable one, counted as
 *     overwritten, and is dropped unwritten.
 * The held-up writer's commit sees that the slot is no longer its own and
 * leaves the "lost" mark in place.
 */
#include <linux/atomic.h>
#include <linux/kmemleak.h>
#include <linux/log2.h>
#include <linux/percpu.h>
#include <linux/seqlock.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "tcpflow.h"

/* Set in rec->n while the slot is being written. */
#define TCPFLOW_WRITING		BIT_ULL(63)
/* Set in rec->n: that number's writer gave its record up (see above). */
#define TCPFLOW_LOST		BIT_ULL(62)
#define TCPFLOW_NUMBER(v)	((v) & ~(TCPFLOW_WRITING | TCPFLOW_LOST))

static struct tcpflow_record *ring;
static u64 ring_mask;
static atomic64_t ring_cleared = ATOMIC64_INIT(0);	/* records < this+1 cleared */
static atomic64_t ring_lost_before_clear = ATOMIC64_INIT(0);
/*
 * clear sets the two above together: a header read between the two
 * stores would count the records it forgot as overwritten (or not count
 * what was).  Readers retry around it; writers of records never take it.
 */
static DEFINE_SEQLOCK(ring_clear_lock);

#ifdef TCPFLOW_PERCPU_NUMBER
/*
 * Test-only (Kbuild's TCPFLOW_PERCPU, make module-percpu): each CPU
 * numbers its own records, k * nr_cpu_ids + cpu + 1 for its k-th, so no
 * cache line is written by every CPU; what per-CPU rings would save
 * (scripts/bench --scaling compares it with the shared ring_last).  The
 * numbers are unique but not in order and have gaps: only the header's
 * count (the sum) means anything, not the records a reader is given.
 */
static DEFINE_PER_CPU(u64, ring_last_cpu);

static u64 ring_number(void)
{
	return (this_cpu_inc_return(ring_last_cpu) - 1) * nr_cpu_ids +
		smp_processor_id() + 1;
}

static u64 ring_last_read(void)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(ring_last_cpu, cpu);
	return sum;
}
#else
static atomic64_t ring_last = ATOMIC64_INIT(0);	/* last number given */

static u64 ring_number(void)
{
	return atomic64_inc_return(&ring_last);
}

static u64 ring_last_read(void)
{
	return atomic64_read(&ring_last);
}
#endif

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

#ifdef TCPFLOW_TESTING
/*
 * Test-only (built with TCPFLOW_TESTING=1, never in a normal build): hold
 * the next writer on CPU test_lap_cpu up for test_lap_ms, after it has
 * taken its number and before it claims its slot (test_lap_where=0), or
 * halfway through copying its record into the slot (1).  The number it
 * held is left in test_lap_n; test_lap_held is 1 while it is held.
 * tests/guest/92-lapped.t drives it.
 */
#include <linux/delay.h>
#include <linux/moduleparam.h>
#include <linux/smp.h>

static int test_lap_cpu = -1;
static unsigned int test_lap_ms;
static unsigned int test_lap_where;
static unsigned long long test_lap_n;
static int test_lap_held;
module_param(test_lap_cpu, int, 0600);
module_param(test_lap_ms, uint, 0600);
module_param(test_lap_where, uint, 0600);
module_param(test_lap_n, ullong, 0600);
module_param(test_lap_held, int, 0400);

static bool test_lap(u64 n, unsigned int where)
{
	int cpu = smp_processor_id();

	if (READ_ONCE(test_lap_where) != where ||
	    READ_ONCE(test_lap_cpu) != cpu ||
	    cmpxchg(&test_lap_cpu, cpu, -1) != cpu)
		return false;
	WRITE_ONCE(test_lap_n, n);
	WRITE_ONCE(test_lap_held, 1);
	mdelay(min(READ_ONCE(test_lap_ms), 10000U));
	WRITE_ONCE(test_lap_held, 0);
	return true;
}
#else
static inline bool test_lap(u64 n, unsigned int where)
{
	return false;
}
#endif

/*
 * Claim slot for number @n.  Returns false if the record is to be given
 * up.  Each retry means another writer changed the slot: lock-free, and
 * a slot sees at most one change per writer that lapped this one.
 */
static bool claim(struct tcpflow_record *rec, u64 n)
{
	u64 v = READ_ONCE(rec->n), old;

	for (;;) {
		if (TCPFLOW_NUMBER(v) > n)
			return false;	/* lapped: we are behind "first" */
		if (v & TCPFLOW_WRITING) {
			/* Its writer is held up: give ours up, say so. */
			old = cmpxchg(&rec->n, v,
				      n | TCPFLOW_WRITING | TCPFLOW_LOST);
			if (old == v)
				return false;
		} else {
			old = cmpxchg(&rec->n, v, n | TCPFLOW_WRITING);
			if (old == v)
				return true;
		}
		v = old;
	}
}

/*
 * The reader side (procfs.c) hears of each record through ring_committed,
 * and the header's missed count comes from the hooks through ring_missed:
 * each side registers its function here at init, so that the module's
 * dependencies run one way, hooks -> ring <- procfs.  main.c inits procfs
 * before the hooks and takes the hooks out first, so no writer runs while
 * ring_committed changes.
 */
static void (*ring_committed)(const struct tcpflow_record *r);
static unsigned long (*ring_missed)(void);

void tcpflow_ring_on_commit(void (*fn)(const struct tcpflow_record *r))
{
	WRITE_ONCE(ring_committed, fn);
}

void tcpflow_ring_missed_from(unsigned long (*fn)(void))
{
	WRITE_ONCE(ring_missed, fn);
}

/*
 * Put a copy of @r in the ring as the next record; it gets its number
 * there (r->n is not read).  Returns the number, or 0 if the record was
 * given up because the ring lapped this writer (counted: see above).
 * Called with interrupts off (see hooks.c); never sleeps.
 */
static_assert(offsetof(struct tcpflow_record, n) == 0);

static u64 ring_put(const struct tcpflow_record *r)
{
	const size_t body = sizeof(r->n);	/* n is the first field */
	const size_t half = body + (sizeof(*r) - body) / 2;
	struct tcpflow_record *rec;
	u64 n, v;

	n = ring_number();
	rec = &ring[(n - 1) & ring_mask];
	test_lap(n, 0);
	if (!claim(rec, n))
		return 0;
	/*
	 * The claim (a full barrier) made "writing" visible before any of
	 * the new contents.  The number is not copied: the slot's is ours.
	 */
	memcpy((u8 *)rec + body, (const u8 *)r + body, half - body);
	test_lap(n, 1);
	memcpy((u8 *)rec + half, (const u8 *)r + half, sizeof(*r) - half);
	/* Pairs with the acquire in tcpflow_fetch(): contents, then number. */
	v = cmpxchg_release(&rec->n, n | TCPFLOW_WRITING, n);
	if (v == (n | TCPFLOW_WRITING))
		return n;
	/*
	 * A later writer gave its record up while we held the slot: leave
	 * its "lost" mark, without "writing".  Ours is behind "first".
	 */
	for (;;) {
		u64 old = cmpxchg_release(&rec->n, v, v & ~TCPFLOW_WRITING);

		if (old == v)
			return 0;
		v = old;
	}
}

/*
 * ring_put(), then tell the reader side: a record given up (0) leaves a
 * gap that its readers are woken to see, like a record.
 */
u64 tcpflow_ring_write(const struct tcpflow_record *r)
{
	void (*committed)(const struct tcpflow_record *r);
	u64 n = ring_put(r);

	committed = READ_ONCE(ring_committed);
	if (committed)
		committed(r);
	return n;
}

enum tcpflow_fetch tcpflow_fetch(u64 n, struct tcpflow_record *out)
{
	const struct tcpflow_record *rec = &ring[(n - 1) & ring_mask];
	u64 before, after;

	/* Pairs with the release in tcpflow_ring_write(). */
	before = smp_load_acquire(&rec->n);
	if (before != n) {
		/* A newer number, or ours given up: never to be read. */
		if (TCPFLOW_NUMBER(before) > n ||
		    before == (n | TCPFLOW_LOST) ||
		    before == (n | TCPFLOW_WRITING | TCPFLOW_LOST))
			return TCPFLOW_FETCH_GONE;
		return TCPFLOW_FETCH_NOTYET;
	}
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
	unsigned long (*missed)(void);
	u64 last, cleared, lost;
	unsigned int seq;

	do {
		seq = read_seqbegin(&ring_clear_lock);
		last = ring_last_read();
		cleared = atomic64_read(&ring_cleared);
		lost = atomic64_read(&ring_lost_before_clear);
	} while (read_seqretry(&ring_clear_lock, seq));
	stats_of(st, last, cleared, lost);
	missed = READ_ONCE(ring_missed);
	st->missed = missed ? missed() : 0;
}

/* Serialised by the cfg lock of the only caller (a write to /proc). */
void tcpflow_ring_clear(void)
{
	struct tcpflow_ring_stats st;

	/* What was lost stays counted: clear forgets, it does not lose. */
	write_seqlock(&ring_clear_lock);
	stats_of(&st, ring_last_read(),
		 atomic64_read(&ring_cleared),
		 atomic64_read(&ring_lost_before_clear));
	atomic64_set(&ring_lost_before_clear, st.overwritten);
	atomic64_set(&ring_cleared, st.next - 1);
	write_sequnlock(&ring_clear_lock);
}
