/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * idmap.h - tcpflow-bpf's table of links, placeholder id -> cookie
 * (tcpflow_bpf.h, TCPFLOW_BPF_EV_LINK).
 *
 * A link is needed only briefly: the BPF side writes the cookie into its
 * own maps when it sends the link, so later records carry the cookie;
 * what still carries the placeholder is read before the link or within
 * microseconds after it (another CPU's record), and a record waits for
 * its link at most HOLD_NS (2 s) in tcpflow-bpf's queue.  So links are
 * kept in two generations of IDMAP_KEEP_NS each: a link lives between
 * one and two generations after it came, and the table holds only the
 * links of the last two (it used to keep every link for as long as
 * tcpflow-bpf ran: unbounded under -f on a busy server).
 */
#ifndef TCPFLOW_IDMAP_H
#define TCPFLOW_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#define IDMAP_KEEP_NS (30ULL * 1000000000ULL)

/* One generation: open addressing; a placeholder (a key) is never 0. */
struct idmap_gen {
	uint64_t *key, *val;
	size_t cap, n;
};

struct idmap {
	struct idmap_gen gen[2];	/* [0] the current, [1] the one before */
	uint64_t since;			/* when gen[0] began (mono ns) */
	int started;			/* since is set */
};

/* The cookie of @key, or NULL. */
uint64_t *idmap_find(const struct idmap *m, uint64_t key);
/* Link @key to @val at @now (mono ns); -1 when out of memory. */
int idmap_put(struct idmap *m, uint64_t key, uint64_t val, uint64_t now);
/* Links held, in both generations. */
size_t idmap_size(const struct idmap *m);
void idmap_free(struct idmap *m);

#endif /* TCPFLOW_IDMAP_H */
