// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * idmap.c - tcpflow-bpf's links, placeholder id -> cookie, in two
 * generations (idmap.h).
 */
#include <stdlib.h>

#include "idmap.h"

static size_t slot(const struct idmap_gen *g, uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ULL) >> 40 & (g->cap - 1);
}

static uint64_t *gen_find(const struct idmap_gen *g, uint64_t key)
{
	size_t i;

	if (!g->cap)
		return NULL;
	for (i = slot(g, key); g->key[i]; i = (i + 1) & (g->cap - 1))
		if (g->key[i] == key)
			return &g->val[i];
	return NULL;
}

static void gen_free(struct idmap_gen *g)
{
	free(g->key);
	free(g->val);
	*g = (struct idmap_gen){ 0 };
}

static int gen_put(struct idmap_gen *g, uint64_t key, uint64_t val)
{
	uint64_t *v = gen_find(g, key);
	size_t i;

	if (v) {
		*v = val;
		return 0;
	}
	if (2 * (g->n + 1) > g->cap) {
		struct idmap_gen big = { .cap = g->cap ? 2 * g->cap : 1024 };

		big.key = calloc(big.cap, sizeof(*big.key));
		big.val = calloc(big.cap, sizeof(*big.val));
		if (!big.key || !big.val) {
			gen_free(&big);
			return -1;
		}
		for (i = 0; i < g->cap; i++)
			if (g->key[i])
				gen_put(&big, g->key[i], g->val[i]);
		gen_free(g);
		*g = big;
	}
	for (i = slot(g, key); g->key[i]; i = (i + 1) & (g->cap - 1))
		;
	g->key[i] = key;
	g->val[i] = val;
	g->n++;
	return 0;
}

uint64_t *idmap_find(const struct idmap *m, uint64_t key)
{
	uint64_t *v = gen_find(&m->gen[0], key);

	return v ? v : gen_find(&m->gen[1], key);
}

int idmap_put(struct idmap *m, uint64_t key, uint64_t val, uint64_t now)
{
	if (!m->started) {
		m->since = now;
		m->started = 1;
	} else if (now - m->since >= IDMAP_KEEP_NS) {
		/*
		 * The generation before goes: its links came at least one
		 * generation ago.  The current one becomes it, unless it is
		 * that old itself (no link came for a generation).
		 */
		gen_free(&m->gen[1]);
		m->gen[1] = m->gen[0];
		m->gen[0] = (struct idmap_gen){ 0 };
		if (now - m->since >= 2 * IDMAP_KEEP_NS)
			gen_free(&m->gen[1]);
		m->since = now;
	}
	return gen_put(&m->gen[0], key, val);
}

size_t idmap_size(const struct idmap *m)
{
	return m->gen[0].n + m->gen[1].n;
}

void idmap_free(struct idmap *m)
{
	gen_free(&m->gen[0]);
	gen_free(&m->gen[1]);
}
