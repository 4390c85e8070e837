// SPDX-License-Identifier: GPL-2.0
/*
 * atomic-bench.c - what the one shared counter that numbers tcpflow's
 * records (module/ring.c's ring_last) costs on this machine's real cores,
 * outside any emulator: part of `scripts/bench --scaling`.
 *
 *   atomic-bench [SECONDS]
 *
 * For 1 and 2 threads, each pinned to its own CPU, every thread does
 * atomic fetch-and-add in a loop for SECONDS (default 1):
 *   shared   all threads on one counter (ring_last: one cache line that
 *            moves between the cores at every increment from another one)
 *   own      each thread on its own counter, on its own cache line (what
 *            a per-CPU counter would cost)
 * and prints one line per case:
 *   threads=T counter=shared|own ns_per_op=X ops_per_s=Y
 * ns_per_op is each thread's time per increment (the loop's own cost
 * included, the same in both cases).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAXT 2

struct line {
	alignas(64) atomic_ulong n;
};

static struct line shared;
static struct line own[MAXT];
static atomic_int go, stop;
static double seconds = 1.0;

struct arg {
	int cpu;
	atomic_ulong *ctr;
	unsigned long ops;
};

static void *worker(void *p)
{
	struct arg *a = p;
	cpu_set_t set;
	unsigned long ops = 0;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		fprintf(stderr, "atomic-bench: cannot pin to CPU %d\n", a->cpu);
	while (!atomic_load_explicit(&go, memory_order_acquire))
		;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++)
			atomic_fetch_add_explicit(a->ctr, 1,
						  memory_order_seq_cst);
		ops += 1024;
	}
	a->ops = ops;
	return NULL;
}

static void one(int threads, int is_shared)
{
	pthread_t t[MAXT];
	struct arg a[MAXT];
	struct timespec d = { (time_t)seconds,
			      (long)((seconds - (time_t)seconds) * 1e9) };
	unsigned long total = 0;

	atomic_store(&go, 0);
	atomic_store(&stop, 0);
	for (int i = 0; i < threads; i++) {
		a[i].cpu = i;
		a[i].ctr = is_shared ? &shared.n : &own[i].n;
		a[i].ops = 0;
		if (pthread_create(&t[i], NULL, worker, &a[i])) {
			perror("atomic-bench: pthread_create");
			exit(1);
		}
	}
	atomic_store_explicit(&go, 1, memory_order_release);
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += a[i].ops;
	}
	printf("threads=%d counter=%s ns_per_op=%.2f ops_per_s=%.0f\n",
	       threads, is_shared ? "shared" : "own",
	       seconds * 1e9 * threads / (double)total, total / seconds);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seconds = atof(argv[1]);
	if (seconds <= 0 || seconds > 60) {
		fprintf(stderr, "usage: atomic-bench [SECONDS (0-60)]\n");
		return 2;
	}
	for (int threads = 1; threads <= MAXT; threads++) {
		one(threads, 1);
		one(threads, 0);
	}
	return 0;
}
