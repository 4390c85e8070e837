// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * model.c - from records to connections and conversations.
 *
 * A connection is everything with one conn id (request sock, full sock,
 * timewait sock).  A conversation is what a student draws on the board:
 * the client end and the server end of one connection.  When both ends
 * are local (loopback, two network namespaces) they are two connections
 * with mirrored 4-tuples, and we join them here; the SYN that reached a
 * listener (recorded on the LISTEN socket, before the request sock had
 * an id) and resets sent with no socket at all are attached by 4-tuple
 * and sequence number.  Then, per conversation: which side is which,
 * each side's initial sequence number, and which tx on one end is the
 * rx on the other, so that every segment is drawn once.
 *
 * A merged stream (many hosts' records, docs/fleet.md) is one trace per
 * host, side by side: records are grouped by host first (stably, so each
 * host's stay in their order), and every key (conn id, 4-tuple, netns)
 * is a key within one host.  Two hosts' connections never join, even
 * with the same ids and addresses: they are different kernels.
 *
 * All tables are arrays indexed by record or connection number; nothing
 * is allocated per record.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "show.h"

void tf_trace_init(struct tf_trace *t)
{
	memset(t, 0, sizeof(*t));
}

void tf_trace_free(struct tf_trace *t)
{
	if (t->rec)
		munmap(t->rec, t->cap * sizeof(*t->rec));
	free(t->conn);
	free(t->group);
	free(t->order);
	free(t->ht0);
	free(t->htend);
	tf_hosts_free(&t->hosts);
	memset(t, 0, sizeof(*t));
}

/*
 * The record array is mmap()ed and grown with mremap(): no copy when it
 * doubles, and huge pages where the kernel gives them on request (THP
 * "madvise", Debian's default), since first touching millions of fresh
 * records in 4 KiB pages costs more than parsing them.
 */
struct tf_rec *tf_trace_add(struct tf_trace *t)
{
	if (t->nrec == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		void *r;

		if (cap > SIZE_MAX / 2 / sizeof(*t->rec))
			return NULL;
		if (t->rec)
			r = mremap(t->rec, t->cap * sizeof(*t->rec),
				   cap * sizeof(*t->rec), MREMAP_MAYMOVE);
		else
			r = mmap(NULL, cap * sizeof(*t->rec),
				 PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r == MAP_FAILED)
			return NULL;
		madvise(r, cap * sizeof(*t->rec), MADV_HUGEPAGE);
		t->rec = r;
		t->cap = cap;
	}
	return &t->rec[t->nrec++];
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_addr(uint64_t h, const uint8_t *a)
{
	uint64_t w[2];

	memcpy(w, a, 16);
	return mix64(h ^ w[0]) ^ mix64(h + w[1]);
}

static size_t pow2_above(size_t n)
{
	size_t c = 16;

	while (c < n * 2)
		c *= 2;
	return c;
}

/* conn id -> index, open addressing */
struct conn_map {
	int32_t *slot;
	size_t mask;
};

static int conn_lookup(struct tf_trace *t, struct conn_map *m, uint64_t id,
		       uint16_t host, uint32_t rec)
{
	size_t i = mix64(id ^ (uint64_t)host << 48) & m->mask;

	for (;; i = (i + 1) & m->mask) {
		int32_t s = m->slot[i];

		if (s < 0)
			break;
		if (t->conn[s].id == id && t->conn[s].host == host)
			return s;
	}
	/* New: the map and t->conn were sized for one conn per record. */
	struct tf_conn *c = &t->conn[t->nconn];

	memset(c, 0, sizeof(*c));
	c->id = id;
	c->host = host;
	c->first = c->tuple = rec;
	c->group = c->peer = c->tnext = c->owner = -1;
	m->slot[i] = (int32_t)t->nconn;
	return (int)t->nconn++;
}

static int is_listen_rec(const struct tf_rec *r)
{
	if (r->r.sock != TCPFLOW_SK_FULL)
		return 0;
	if (r->r.event == TCPFLOW_EV_STATE)
		return r->r.new_state == TF_ST_LISTEN ||
		       r->r.old_state == TF_ST_LISTEN;
	return r->r.new_state == TF_ST_LISTEN;
}


/*
 * The same ISN, as far as two ends know it: equal when both took it from
 * the SYN; a guess (ack - 1) may be above it by the SYN's data.
 */
static int isn_match(uint32_t a, int how_a, uint32_t b, int how_b)
{
	if (how_a == 2 && how_b == 2)
		return a == b;
	if (how_a == 2)
		return b - a < 65536;
	if (how_b == 2)
		return a - b < 65536;
	return a == b;
}

static void learn_conn(struct tf_conn *c, const struct tf_rec *r,
		       uint32_t idx)
{
	const struct tcpflow_record *x = &r->r;
	uint8_t syn = x->flags & TCPFLOW_F_SYN, ack = x->flags & TCPFLOW_F_ACK;
	uint8_t role = TF_ROLE_UNKNOWN;

	c->last = idx;
	c->nrec++;
	/*
	 * connect()'s CLOSE -> SYN_SENT comes before the kernel picks the
	 * local port (lport=0): name the connection by a record that has it.
	 */
	if (!c->tuple_full && x->lport && (x->rport || is_listen_rec(r))) {
		c->tuple = idx;
		c->tuple_full = 1;
	}
	if (c->owner < 0 && x->who != TCPFLOW_WHO_NONE &&
	    !(r->dash & TF_DASH(TF_K_COMM)))
		c->owner = (int32_t)idx;
	if (is_listen_rec(r))
		c->listener = 1;

	if (x->sock == TCPFLOW_SK_REQ)
		role = TF_ROLE_SERVER;
	if (x->event == TCPFLOW_EV_STATE) {
		if (x->new_state == TF_ST_SYN_SENT)
			role = TF_ROLE_CLIENT;
		else if (x->new_state == TF_ST_NEW_SYN_RECV ||
			 x->new_state == TF_ST_SYN_RECV)
			role = TF_ROLE_SERVER;
	} else if (syn) {
		int tx = x->event == TCPFLOW_EV_TX;

		/* A SYN alone opens; a SYN-ACK answers. */
		role = (tx == !ack) ? TF_ROLE_CLIENT : TF_ROLE_SERVER;
		/*
		 * 2: from the SYN itself; 1: a guess from the SYN-ACK's ack,
		 * ack - 1, which Fast Open data in the SYN makes too high.
		 */
		if (tx) {
			if (!c->has_isn_tx || (c->has_isn_tx == 1 &&
			    isn_match(c->isn_tx, 1, x->seq, 2))) {
				c->isn_tx = x->seq;
				c->has_isn_tx = 2;
			}
			if (ack && !c->has_isn_rx) {
				c->isn_rx = x->ack - 1;
				c->has_isn_rx = 1;
			}
		} else {
			if (!c->has_isn_rx || (c->has_isn_rx == 1 &&
			    isn_match(c->isn_rx, 1, x->seq, 2))) {
				c->isn_rx = x->seq;
				c->has_isn_rx = 2;
			}
			if (ack && !c->has_isn_tx) {
				c->isn_tx = x->ack - 1;
				c->has_isn_tx = 1;
			}
		}
	}
	if (!c->role && role)
		c->role = role;
}

static uint64_t tuple_hash(unsigned int af, const uint8_t *la, uint16_t lp,
			   const uint8_t *ra, uint16_t rp)
{
	uint64_t h = mix64(af * 0x10001ULL + ((uint64_t)lp << 16 | rp));

	return hash_addr(hash_addr(h, la), ra);
}

static const struct tcpflow_record *conn_rec(const struct tf_trace *t,
					     const struct tf_conn *c)
{
	return &t->rec[c->tuple].r;
}

static uint64_t ts_of(const struct tf_trace *t, uint32_t idx)
{
	return t->rec[idx].r.ts_ns;
}

static uint64_t absdiff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/*
 * Join each connection with the one whose 4-tuple mirrors its own: the
 * same initial sequence numbers when both know them, else overlapping
 * in time (a new connection on the same 4-tuple gets a new id, so the
 * same mirror may come up more than once in a long trace).
 */
static int pair_conns(struct tf_trace *t)
{
	size_t nb = pow2_above(t->nconn);
	int32_t *head = malloc(nb * sizeof(*head));

	if (!head)
		return -1;
	memset(head, 0xff, nb * sizeof(*head));
	for (size_t i = 0; i < t->nconn; i++) {
		struct tf_conn *c = &t->conn[i];
		const struct tcpflow_record *r = conn_rec(t, c);
		size_t b;

		if (c->listener)
			continue;
		b = tuple_hash(r->af, r->laddr, r->lport, r->raddr,
			       r->rport) & (nb - 1);
		c->tnext = head[b];
		head[b] = (int32_t)i;
	}
	for (size_t i = 0; i < t->nconn; i++) {
		struct tf_conn *a = &t->conn[i];
		const struct tcpflow_record *ra = conn_rec(t, a);
		uint64_t a0 = ts_of(t, a->first), a1 = ts_of(t, a->last);
		int32_t best = -1;
		uint64_t best_dist = UINT64_MAX;
		int best_isn = -1;
		size_t b;

		if (a->listener || a->peer >= 0)
			continue;
		b = tuple_hash(ra->af, ra->raddr, ra->rport, ra->laddr,
			       ra->lport) & (nb - 1);
		for (int32_t j = head[b]; j >= 0; j = t->conn[j].tnext) {
			struct tf_conn *c = &t->conn[j];
			const struct tcpflow_record *rc = conn_rec(t, c);
			uint64_t c0 = ts_of(t, c->first), c1 = ts_of(t, c->last);
			int isn = 0;

			if ((size_t)j == i || c->peer >= 0 || c->host != a->host ||
			    rc->af != ra->af ||
			    rc->lport != ra->rport || rc->rport != ra->lport ||
			    memcmp(rc->laddr, ra->raddr, 16) ||
			    memcmp(rc->raddr, ra->laddr, 16))
				continue;
			if (a->has_isn_tx && c->has_isn_rx) {
				if (!isn_match(a->isn_tx, a->has_isn_tx,
					       c->isn_rx, c->has_isn_rx))
					continue;
				isn += 1 + (a->isn_tx == c->isn_rx);
			}
			if (a->has_isn_rx && c->has_isn_tx) {
				if (!isn_match(a->isn_rx, a->has_isn_rx,
					       c->isn_tx, c->has_isn_tx))
					continue;
				isn += 1 + (a->isn_rx == c->isn_tx);
			}
			if (!isn && (a0 > c1 || c0 > a1))
				continue;	/* not at the same time */
			if (isn > best_isn ||
			    (isn == best_isn && absdiff(a0, c0) < best_dist)) {
				best = j;
				best_isn = isn;
				best_dist = absdiff(a0, c0);
			}
		}
		if (best >= 0) {
			a->peer = best;
			t->conn[best].peer = (int32_t)i;
		}
	}
	free(head);
	return 0;
}

static void set_endpoints(struct tf_trace *t, struct tf_group *g)
{
	for (int s = 0; s < 2; s++) {
		const struct tcpflow_record *r;

		if (g->conn[s] >= 0) {
			r = conn_rec(t, &t->conn[g->conn[s]]);
			memcpy(g->addr[s], r->laddr, 16);
			g->port[s] = r->lport;
			g->af = r->af;
		} else if (g->conn[!s] >= 0) {
			r = conn_rec(t, &t->conn[g->conn[!s]]);
			memcpy(g->addr[s], r->raddr, 16);
			g->port[s] = r->rport;
			g->af = r->af;
		}
	}
}

/* Who is the client: evidence first, then the usual port habits. */
static void assign_roles(struct tf_trace *t, struct tf_group *g, int32_t a,
			 int32_t b)
{
	struct tf_conn *ca = &t->conn[a];
	const struct tcpflow_record *r = conn_rec(t, ca);
	int a_server;

	if (ca->role)
		a_server = ca->role == TF_ROLE_SERVER;
	else if (b >= 0 && t->conn[b].role)
		a_server = t->conn[b].role == TF_ROLE_CLIENT;
	else
		a_server = r->lport < r->rport;
	g->conn[a_server] = a;
	g->conn[!a_server] = b;
}

static int ip_any(const uint8_t *a)
{
	static const uint8_t zero[16];

	return !memcmp(a, zero, 16);
}

struct ep_index {
	int32_t *head, *next;
	size_t mask;
	uint64_t *t0, *t1;	/* time span of each group */
};

static uint64_t ep_hash(unsigned int af, const uint8_t *caddr, uint16_t cport,
			uint16_t sport)
{
	return hash_addr(mix64(af + ((uint64_t)cport << 8) +
			       ((uint64_t)sport << 24)), caddr);
}

/*
 * Find the conversation a listener's or a no-socket record belongs to:
 * client endpoint cad:cp, server port sp (and address sad unless it is
 * the wildcard a listener may be bound to).  A SYN must carry the
 * client's ISN; otherwise the nearest conversation in time wins.
 */
static int32_t ep_find(const struct tf_trace *t, const struct ep_index *x,
		       const struct tf_rec *r, const uint8_t *cad, uint16_t cp,
		       const uint8_t *sad, uint16_t sp)
{
	size_t b = ep_hash(r->r.af, cad, cp, sp) & x->mask;
	uint64_t ts = r->r.ts_ns, best_d = UINT64_MAX;
	int syn = (r->r.flags & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
		  TCPFLOW_F_SYN;
	int32_t best = -1;

	for (int32_t j = x->head[b]; j >= 0; j = x->next[j]) {
		const struct tf_group *g = &t->group[j];
		uint64_t d;

		if (g->host != r->host || g->af != r->r.af ||
		    g->port[0] != cp || g->port[1] != sp ||
		    memcmp(g->addr[0], cad, 16) ||
		    (!ip_any(sad) && memcmp(g->addr[1], sad, 16)))
			continue;
		if (syn) {
			const struct tf_conn *c0 = g->conn[0] >= 0 ?
				&t->conn[g->conn[0]] : NULL;
			const struct tf_conn *c1 = g->conn[1] >= 0 ?
				&t->conn[g->conn[1]] : NULL;

			if (c0 && c0->has_isn_tx &&
			    !isn_match(c0->isn_tx, c0->has_isn_tx, r->r.seq, 2))
				continue;
			if (c1 && c1->has_isn_rx &&
			    !isn_match(c1->isn_rx, c1->has_isn_rx, r->r.seq, 2))
				continue;
		}
		d = ts < x->t0[j] ? x->t0[j] - ts :
		    ts > x->t1[j] ? ts - x->t1[j] : 0;
		if (d < best_d) {
			best_d = d;
			best = j;
		}
	}
	return best;
}

static int attach_strays(struct tf_trace *t)
{
	struct ep_index x;
	size_t ng = t->ngroup;

	x.mask = pow2_above(ng) - 1;
	x.head = malloc((x.mask + 1) * sizeof(*x.head));
	x.next = malloc((ng + 1) * sizeof(*x.next));
	x.t0 = malloc((ng + 1) * sizeof(*x.t0));
	x.t1 = malloc((ng + 1) * sizeof(*x.t1));
	if (!x.head || !x.next || !x.t0 || !x.t1) {
		free(x.head);
		free(x.next);
		free(x.t0);
		free(x.t1);
		return -1;
	}
	memset(x.head, 0xff, (x.mask + 1) * sizeof(*x.head));
	for (size_t j = 0; j < ng; j++) {
		struct tf_group *g = &t->group[j];
		size_t b;

		x.next[j] = -1;
		x.t0[j] = UINT64_MAX;
		x.t1[j] = 0;
		if (g->kind != TF_G_CONV)
			continue;
		for (int s = 0; s < 2; s++) {
			const struct tf_conn *c;

			if (g->conn[s] < 0)
				continue;
			c = &t->conn[g->conn[s]];
			if (ts_of(t, c->first) < x.t0[j])
				x.t0[j] = ts_of(t, c->first);
			if (ts_of(t, c->last) > x.t1[j])
				x.t1[j] = ts_of(t, c->last);
		}
		b = ep_hash(g->af, g->addr[0], g->port[0], g->port[1]) &
		    x.mask;
		x.next[j] = x.head[b];
		x.head[b] = (int32_t)j;
	}

	for (size_t i = 0; i < t->nrec; i++) {
		struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *q = &r->r;
		int32_t g = -1;
		uint8_t side = 1;

		if (r->r.sock == TCPFLOW_SK_NONE) {
			/* Usually the server end refusing a SYN. */
			g = ep_find(t, &x, r, q->raddr, q->rport, q->laddr,
				    q->lport);
			if (g < 0) {
				g = ep_find(t, &x, r, q->laddr, q->lport,
					    q->raddr, q->rport);
				side = 0;
			}
			if (g < 0) {
				struct tf_group *ng = &t->group[t->ngroup];

				memset(ng, 0, sizeof(*ng));
				ng->kind = TF_G_NOSOCK;
				ng->conn[0] = ng->conn[1] = -1;
				ng->af = q->af;
				ng->host = r->host;
				ng->first = (uint32_t)i;
				g = (int32_t)t->ngroup++;
				side = 0;
			} else {
				r->mark |= TF_MK_ATTACHED;
			}
		} else if (t->conn[r->cx].listener && tf_is_seg(r)) {
			g = ep_find(t, &x, r, q->raddr, q->rport, q->laddr,
				    q->lport);
			if (g < 0)
				continue;	/* stays with the listener */
			r->mark |= TF_MK_ATTACHED;
		} else {
			continue;
		}
		r->group = g;
		r->side = side;
	}
	free(x.head);
	free(x.next);
	free(x.t0);
	free(x.t1);
	return 0;
}

static int cmp_first(const void *a, const void *b, void *arg)
{
	const struct tf_group *g = arg;
	uint32_t x = g[*(const uint32_t *)a].first;
	uint32_t y = g[*(const uint32_t *)b].first;

	return x < y ? -1 : x > y;
}

/* Number groups in the order of their first record, and index records. */
static int order_groups(struct tf_trace *t)
{
	size_t ng = t->ngroup;
	uint32_t *perm = malloc((ng + 1) * sizeof(*perm));
	uint32_t *rank = malloc((ng + 1) * sizeof(*rank));
	struct tf_group *sorted = malloc((ng + 1) * sizeof(*sorted));
	uint32_t *fill;

	t->order = malloc((t->nrec + 1) * sizeof(*t->order));
	if (!perm || !rank || !sorted || !t->order)
		goto nomem;
	for (size_t j = 0; j < ng; j++) {
		t->group[j].first = UINT32_MAX;
		t->group[j].nrec = 0;
	}
	for (size_t i = 0; i < t->nrec; i++) {
		struct tf_group *g = &t->group[t->rec[i].group];

		if (g->first == UINT32_MAX)
			g->first = (uint32_t)i;
		g->nrec++;
	}
	for (size_t j = 0; j < ng; j++)
		perm[j] = (uint32_t)j;
	qsort_r(perm, ng, sizeof(*perm), cmp_first, t->group);
	for (size_t j = 0, nconv = 0; j < ng; j++) {
		sorted[j] = t->group[perm[j]];
		sorted[j].number = sorted[j].kind == TF_G_CONV ?
				   (uint32_t)++nconv : 0;
		rank[perm[j]] = (uint32_t)j;
	}
	memcpy(t->group, sorted, ng * sizeof(*sorted));
	for (size_t i = 0; i < t->nconn; i++)
		if (t->conn[i].group >= 0)
			t->conn[i].group = (int32_t)rank[t->conn[i].group];
	for (size_t i = 0; i < t->nrec; i++)
		t->rec[i].group = (int32_t)rank[t->rec[i].group];

	/* Counting sort: each group's records, in input order. */
	fill = rank;
	for (size_t j = 0, off = 0; j < ng; j++) {
		t->group[j].off = (uint32_t)off;
		fill[j] = (uint32_t)off;
		off += t->group[j].nrec;
	}
	for (size_t i = 0; i < t->nrec; i++)
		t->order[fill[t->rec[i].group]++] = (uint32_t)i;
	free(perm);
	free(rank);
	free(sorted);
	return 0;
nomem:
	free(perm);
	free(rank);
	free(sorted);
	return -1;
}

struct segent {
	uint32_t seq, ack, len, idx;
	uint8_t flags, sender;
};

static int cmp_seg(const void *a, const void *b)
{
	const struct segent *x = a, *y = b;

#define CMP(f) if (x->f != y->f) return x->f < y->f ? -1 : 1
	CMP(sender);
	CMP(flags);
	CMP(seq);
	CMP(ack);
	CMP(len);
	CMP(idx);
#undef CMP
	return 0;
}

/* Relative numbers start at the side's SYN, like Wireshark. */
static void find_bases(struct tf_trace *t, struct tf_group *g,
		       const uint32_t *idx, uint32_t n)
{
	int have[2] = { 0, 0 };

	for (int pass = 0; pass < 3; pass++) {
		for (uint32_t k = 0; k < n; k++) {
			const struct tf_rec *r = &t->rec[idx[k]];
			unsigned int s;

			if (!tf_is_seg(r))
				continue;
			s = tf_sender(r);
			if (pass == 0 && !have[s] &&
			    (r->r.flags & TCPFLOW_F_SYN)) {
				g->base[s] = r->r.seq;
				have[s] = 1;
			} else if (pass == 1 && !have[s]) {
				/* no SYN seen: take the first as ISN + 1 */
				g->base[s] = r->r.seq - 1;
				have[s] = 1;
			} else if (pass == 2 && !have[!s] &&
				   (r->r.flags & TCPFLOW_F_ACK)) {
				g->base[!s] = r->r.ack - 1;
				have[!s] = 1;
			}
		}
	}
}

static int same_key(const struct segent *a, const struct segent *b)
{
	return a->sender == b->sender && a->flags == b->flags &&
	       a->seq == b->seq && a->ack == b->ack && a->len == b->len;
}

static void pair(struct tf_trace *t, uint32_t a, uint32_t b)
{
	t->rec[a].twin = (int32_t)b;
	t->rec[b].twin = (int32_t)a;
	t->rec[a > b ? a : b].mark |= TF_MK_SKIP;	/* drawn once, earlier */
}

/*
 * Among sends and receipts of one identical segment (a retransmission,
 * a duplicate ACK), pair the closest first: a lost copy then stays
 * unpaired, not the one that made it.
 */
static void pair_run(struct tf_trace *t, struct segent *tx, uint32_t ntx,
		     struct segent *rx, uint32_t nrx)
{
	if (ntx > 64 || nrx > 64) {	/* long runs: in order, good enough */
		for (uint32_t k = 0; k < ntx && k < nrx; k++)
			pair(t, tx[k].idx, rx[k].idx);
		return;
	}
	for (;;) {
		uint64_t best_d = UINT64_MAX;
		uint32_t bi = 0, bj = 0;

		for (uint32_t i = 0; i < ntx; i++) {
			if (t->rec[tx[i].idx].twin >= 0)
				continue;
			for (uint32_t j = 0; j < nrx; j++) {
				uint64_t d;

				if (t->rec[rx[j].idx].twin >= 0)
					continue;
				d = absdiff(tx[i].idx, rx[j].idx);
				if (d < best_d) {
					best_d = d;
					bi = i;
					bj = j;
				}
			}
		}
		if (best_d == UINT64_MAX)
			return;
		pair(t, tx[bi].idx, rx[bj].idx);
	}
}

/*
 * Pair each tx with the rx of the same segment at the other end (same
 * sender, flags, seq, ack, len).  Order in the trace is no guide on its
 * own: on loopback the rx may be recorded before the tx returns.
 */
static int match_segments(struct tf_trace *t, const uint32_t *idx,
			  uint32_t n, struct segent *tx, struct segent *rx)
{
	uint32_t ntx = 0, nrx = 0, i = 0, j = 0;

	for (uint32_t k = 0; k < n; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];
		struct segent e;

		if (!tf_is_seg(r))
			continue;
		e.seq = r->r.seq;
		e.ack = r->r.ack;
		e.len = r->r.len;
		e.flags = r->r.flags;
		e.sender = (uint8_t)tf_sender(r);
		e.idx = idx[k];
		if (r->r.event == TCPFLOW_EV_TX)
			tx[ntx++] = e;
		else
			rx[nrx++] = e;
	}
	if (!ntx || !nrx)
		return 0;
	qsort(tx, ntx, sizeof(*tx), cmp_seg);
	qsort(rx, nrx, sizeof(*rx), cmp_seg);
	while (i < ntx && j < nrx) {
		uint32_t i2 = i, j2 = j;

		if (!same_key(&tx[i], &rx[j])) {
			if (cmp_seg(&tx[i], &rx[j]) < 0)
				i++;
			else
				j++;
			continue;
		}
		while (i2 < ntx && same_key(&tx[i2], &tx[i]))
			i2++;
		while (j2 < nrx && same_key(&rx[j2], &rx[j]))
			j2++;
		pair_run(t, tx + i, i2 - i, rx + j, j2 - j);
		i = i2;
		j = j2;
	}
	return 0;
}

static int seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* No record lost between input records a < b (numbers without a gap). */
static int no_gap(const struct tf_trace *t, uint32_t a, uint32_t b)
{
	return t->rec[b].r.n - t->rec[a].r.n == (uint64_t)(b - a);
}

struct netns_first {
	uint32_t netns, idx;	/* a netns, its first record */
	uint16_t host;		/* ... on this host */
};

/* Scratch arrays for mark_unreceived(), one entry per record of a group. */
struct unrecv {
	uint32_t *lo, *hi;	/* where the segment may have arrived */
	uint32_t *maxack;	/* highest ack the other side sends after */
	uint32_t *rstseq;	/* seq of its next RST without ACK, + 1 */
	uint32_t *est[2];	/* side in full-sock ESTABLISHED, counted */
	uint32_t *pos;		/* record index -> position in the group */
};

/*
 * A sent segment nobody recorded receiving is "lost" only when the
 * receiving end was traced then, and would have recorded it:
 * - traced then: it has a record of this conversation (or of its netns)
 *   before the send, and records the arrival of a segment sent after it
 *   (or, if none, any later arrival); no record is missing in between
 *   (record numbers without a gap, the module missed no probe hit);
 * - would have recorded it: the segment mode keeps its arrivals in every
 *   state the receiver was in from the arrival of the segment sent
 *   before it to the arrival of the one sent after (would_record()).
 * Not traced then: TF_MK_NOTTRACED (the arrow ends open).  Traced, but
 * not recorded in that mode (a pure ACK reaching ESTABLISHED under
 * segments=default): nothing is said.  Acked by the other end: arrived.
 */
static void mark_unreceived(struct tf_trace *t, const struct tf_group *g,
			    const uint32_t *idx, uint32_t n,
			    const struct unrecv *u,
			    const struct netns_first *nf, size_t nnf)
{
	uint32_t top[2] = { 0, 0 }, cnt[2] = { 0, 0 }, last[2], next[2];
	uint32_t netns[2] = { 0, 0 };
	int have_netns[2] = { 0, 0 }, seen[2] = { 0, 0 };
	uint8_t est[2] = { 0, 0 };

	for (uint32_t k = 0; k < n; k++)
		u->pos[idx[k]] = k;
	/* Forward: ESTABLISHED counts; the arrival of the last segment sent
	 * before each tx (its twin), or the tx itself. */
	last[0] = last[1] = 0;
	for (uint32_t k = 0; k < n; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];

		if (!have_netns[r->side]) {
			netns[r->side] = r->r.netns;
			have_netns[r->side] = 1;
		}
		if (!(r->mark & TF_MK_HIDDEN))
			est[r->side] = r->r.sock == TCPFLOW_SK_FULL &&
				       r->r.new_state == TF_ST_ESTABLISHED;
		cnt[0] += est[0];
		cnt[1] += est[1];
		u->est[0][k] = cnt[0];
		u->est[1][k] = cnt[1];
		if (r->r.event != TCPFLOW_EV_TX)
			continue;
		u->lo[k] = last[r->side] > k ? last[r->side] : k;
		if (r->twin >= 0)
			last[r->side] = u->pos[r->twin];
	}
	/* Backward: the arrival of the next segment sent after it, or the
	 * receiver's next arrival; the highest ack the receiver sends. */
	next[0] = next[1] = UINT32_MAX;
	{
		uint32_t nrx[2] = { UINT32_MAX, UINT32_MAX };
		uint32_t rst[2] = { 0, 0 };

		for (uint32_t k = n; k-- > 0;) {
			const struct tf_rec *r = &t->rec[idx[k]];
			unsigned int s = tf_sender(r);

			if (tf_is_seg(r) && (r->r.flags & TCPFLOW_F_ACK) &&
			    r->r.ack - g->base[!s] > top[s])
				top[s] = r->r.ack - g->base[!s];
			/* RFC 9293 3.10.7.1: no connection, an ACK came:
			 * <SEQ=SEG.ACK><CTL=RST> */
			if (tf_is_seg(r) && (r->r.flags & (TCPFLOW_F_RST |
			    TCPFLOW_F_ACK)) == TCPFLOW_F_RST)
				rst[s] = r->r.seq + 1;
			u->maxack[k] = top[!r->side];
			u->rstseq[k] = rst[!r->side];
			if (r->r.event == TCPFLOW_EV_RX)
				nrx[r->side] = k;
			if (r->r.event != TCPFLOW_EV_TX)
				continue;
			u->hi[k] = next[r->side] != UINT32_MAX ?
				   next[r->side] : nrx[!r->side];
			if (r->twin >= 0)
				next[r->side] = u->pos[r->twin];
		}
	}
	for (uint32_t k = 0; k < n; k++) {
		struct tf_rec *r = &t->rec[idx[k]];
		const struct tcpflow_record *x = &r->r;
		unsigned int s = r->side, o = !r->side;
		uint32_t end, lo, hi;
		int before, after, fsr;

		seen[s] = 1;
		if (x->event != TCPFLOW_EV_TX || r->twin >= 0 ||
		    (r->mark & TF_MK_SKIP) || r->cause == TF_CA_SYN)
			continue;
		/*
		 * Acked by the other end (its SYN-ACK, its RST to a SYN): it
		 * arrived.  Only what takes sequence space is ever acked.
		 */
		end = x->seq + x->len + !!(x->flags & TCPFLOW_F_SYN) +
		      !!(x->flags & TCPFLOW_F_FIN);
		if (end != x->seq && !(x->flags & TCPFLOW_F_RST) &&
		    end - g->base[s] <= u->maxack[k])
			continue;
		/* answered by a reset made from its ack: it arrived */
		if ((x->flags & TCPFLOW_F_ACK) && u->rstseq[k] == x->ack + 1)
			continue;
		before = seen[o];
		for (size_t j = 0; !before && have_netns[o] && j < nnf; j++)
			before = nf[j].netns == netns[o] &&
				 nf[j].host == g->host && nf[j].idx < idx[k];
		lo = u->lo[k];
		hi = u->hi[k];
		after = hi != UINT32_MAX && hi > lo && !t->hdr.missed &&
			no_gap(t, idx[k] < idx[lo] ? idx[k] : idx[lo], idx[hi]);
		if (!before || !after) {
			r->mark |= TF_MK_NOTTRACED;
			continue;
		}
		fsr = x->flags & (TCPFLOW_F_SYN | TCPFLOW_F_FIN | TCPFLOW_F_RST);
		/* ESTABLISHED at some point from lo to hi: maybe not kept */
		if (fsr || !strcmp(t->hdr.segments, "all") ||
		    u->est[o][hi] == (lo ? u->est[o][lo - 1] : 0))
			r->mark |= TF_MK_NOTRECV;
	}
}

/* Retransmissions, duplicate ACKs. */
static void mark_segments(struct tf_trace *t, const uint32_t *idx,
			  uint32_t n)
{
	uint32_t next[2] = { 0, 0 }, last_seq[2] = { 0, 0 };
	uint32_t last_ack[2] = { 0, 0 };
	int have_next[2] = { 0, 0 }, have_last[2] = { 0, 0 };
	uint32_t tw_old[2] = { 0, 0 };
	int bare_syn[2] = { 0, 0 };	/* sent a SYN, no SYN-ACK yet */
	uint32_t isn[2] = { 0, 0 };	/* the seq of each side's SYNs */

	for (uint32_t k = 0; k < n; k++) {
		struct tf_rec *r = &t->rec[idx[k]];
		const struct tcpflow_record *x = &r->r;
		unsigned int s;
		uint32_t end;

		if (x->event == TCPFLOW_EV_STATE) {
			/*
			 * When a timewait sock takes over, the full sock
			 * reports OLD -> CLOSE as it is freed: not a close
			 * of the connection, so the ladder leaves it out.
			 */
			if (x->sock == TCPFLOW_SK_TW && x->old_state < 32)
				tw_old[r->side] |= 1u << x->old_state;
			/* an orphan's FIN_WAIT2 moving to a tw sock */
			if (x->sock == TCPFLOW_SK_TW && !x->why &&
			    x->old_state == x->new_state)
				r->mark |= TF_MK_HIDDEN;
			else if (x->sock == TCPFLOW_SK_FULL &&
				 x->new_state == TF_ST_CLOSE &&
				 x->old_state < 32 &&
				 (tw_old[r->side] & (1u << x->old_state)))
				r->mark |= TF_MK_HIDDEN;
			continue;
		}
		if (r->mark & TF_MK_SKIP)
			continue;
		s = tf_sender(r);
		end = x->seq + x->len + !!(x->flags & TCPFLOW_F_SYN) +
		      !!(x->flags & TCPFLOW_F_FIN);
		if (x->flags & TCPFLOW_F_RST) {
			/* a reset carries no data worth counting */
		} else if (end != x->seq) {
			/*
			 * A simultaneous open: the side that sent a SYN and
			 * got one sends its SYN again with an ACK.  Same
			 * seq, but an answer, not a retransmission.
			 */
			int answer = (x->flags & TCPFLOW_F_SYN) &&
				     (x->flags & TCPFLOW_F_ACK) &&
				     bare_syn[s] == 1;
			/*
			 * A SYN is resent with its ISN; one with another
			 * seq is no resend of this connection's (an old
			 * SYN that meets its TIME_WAIT).
			 */
			int other_syn = (x->flags & TCPFLOW_F_SYN) &&
					(!bare_syn[s] || x->seq != isn[s]);

			if (have_next[s] && seq_before(x->seq, next[s]) &&
			    !answer && !other_syn)
				r->mark |= TF_MK_RETRANS;
			if (x->flags & TCPFLOW_F_SYN)
				isn[s] = x->seq;
			if ((x->flags & TCPFLOW_F_SYN) &&
			    !(x->flags & TCPFLOW_F_ACK) && !bare_syn[s])
				bare_syn[s] = 1;
			else if (x->flags & TCPFLOW_F_SYN)
				bare_syn[s] = 2;
			if (!have_next[s] || seq_before(next[s], end))
				next[s] = end;
			have_next[s] = 1;
		} else if (x->flags == TCPFLOW_F_ACK && have_last[s] &&
			   last_seq[s] == x->seq && last_ack[s] == x->ack) {
			r->mark |= TF_MK_DUPACK;
		}
		last_seq[s] = x->seq;
		last_ack[s] = x->ack;
		have_last[s] = 1;
	}
}

static int same_tuple(const struct tcpflow_record *a,
		      const struct tcpflow_record *b)
{
	return a->af == b->af && a->lport == b->lport &&
	       a->rport == b->rport && !memcmp(a->laddr, b->laddr, 16) &&
	       !memcmp(a->raddr, b->raddr, 16) && a->netns == b->netns;
}

/*
 * The new connection's tx of a SYN that reached the old one's timewait
 * sock (on the other host end): received, though by another conversation.
 */
static void syn_sender(struct tf_trace *t, const struct tf_rec *rx)
{
	const struct tcpflow_record *y = &rx->r;
	size_t i = (size_t)(rx - t->rec), stop = i > 4096 ? i - 4096 : 0;

	while (i-- > stop) {
		struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *x = &r->r;

		if (x->event == TCPFLOW_EV_TX && x->seq == y->seq &&
		    r->host == rx->host &&
		    (x->flags & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
		    TCPFLOW_F_SYN && x->af == y->af &&
		    x->lport == y->rport && x->rport == y->lport &&
		    !memcmp(x->laddr, y->raddr, 16) &&
		    !memcmp(x->raddr, y->laddr, 16)) {
			r->cause = TF_CA_SYN;
			return;
		}
	}
}

/*
 * Why a timewait sock was killed (why=kill, inet_twsk_deschedule_put()).
 * Linux 6.1 does it in these places, each with its own trace:
 * - tcp_v4_rcv()/tcp_v6_rcv(), TCP_TW_SYN: tcp_timewait_state_process()
 *   accepted a SYN (seq after rcv_nxt, or a newer timestamp) and a
 *   listener takes it: rx SYN on the tw sock, then the kill, same CPU;
 * - tcp_timewait_state_process(), an RST with tcp_rfc1337=0 (in window in
 *   TIME_WAIT; any acceptable one in the FIN_WAIT2 substate): rx RST;
 * - the same, TCP_TW_RST (FIN_WAIT2 substate: a SYN or new data): the tw
 *   sends an RST (tcp_v4_send_reset) and is killed;
 * - __inet_check_established()/__inet_hash_connect(): a connect() on the
 *   same host takes the 4-tuple (tcp_tw_reuse): a new conn with the same
 *   4-tuple and netns, begun before the kill;
 * - inet_twsk_purge() (netns exit), tcp_abort() (ss -K): nothing else.
 */
static void kill_causes(struct tf_trace *t)
{
	int32_t *last = malloc((t->nconn + 1) * sizeof(*last));

	if (!last)
		return;
	memset(last, 0xff, (t->nconn + 1) * sizeof(*last));
	for (size_t i = 0; i < t->nrec; i++) {
		struct tf_rec *r = &t->rec[i];
		const struct tcpflow_record *x = &r->r;
		struct tf_rec *p;

		if (r->cx < 0)
			continue;
		p = last[r->cx] >= 0 ? &t->rec[last[r->cx]] : NULL;
		last[r->cx] = (int32_t)i;
		if (x->event != TCPFLOW_EV_STATE || x->sock != TCPFLOW_SK_TW ||
		    x->why != TCPFLOW_WHY_KILL)
			continue;
		r->cause = TF_CA_OTHER;
		if (p && p->r.sock == TCPFLOW_SK_TW && tf_is_seg(p) &&
		    p->r.cpu == x->cpu) {
			uint8_t f = p->r.flags;

			if (p->r.event == TCPFLOW_EV_RX && (f & TCPFLOW_F_RST))
				r->cause = TF_CA_RST;
			else if (p->r.event == TCPFLOW_EV_RX &&
				 (f & (TCPFLOW_F_SYN | TCPFLOW_F_ACK)) ==
				 TCPFLOW_F_SYN)
				r->cause = TF_CA_SYN;
			else if (p->r.event == TCPFLOW_EV_TX &&
				 (f & TCPFLOW_F_RST))
				r->cause = TF_CA_RST_SENT;
			if (r->cause == TF_CA_SYN)
				syn_sender(t, p);
			if (r->cause != TF_CA_OTHER) {
				p->cause = r->cause;
				continue;
			}
		}
		for (size_t j = 0; j < t->nconn; j++) {
			const struct tf_conn *c = &t->conn[j];

			if ((int32_t)j == r->cx || c->listener ||
			    c->role != TF_ROLE_CLIENT ||
			    c->host != t->conn[r->cx].host ||
			    ts_of(t, c->first) > x->ts_ns ||
			    ts_of(t, c->first) <
			    ts_of(t, t->conn[r->cx].first) ||
			    !same_tuple(conn_rec(t, c), conn_rec(t,
					&t->conn[r->cx])))
				continue;
			r->cause = TF_CA_REUSE;
			break;
		}
	}
	free(last);
}

static void unrecv_free(struct unrecv *u)
{
	free(u->lo);
	free(u->hi);
	free(u->maxack);
	free(u->rstseq);
	free(u->est[0]);
	free(u->est[1]);
	free(u->pos);
}

static int analyse_convs(struct tf_trace *t)
{
	uint32_t maxn = 0;
	struct unrecv u;
	struct segent *tx, *rx;
	struct netns_first nf[64];
	size_t nnf = 0;

	/* The first record of each netns (a few; more are not looked at). */
	for (size_t i = 0; i < t->nrec; i++) {
		size_t j = 0;

		while (j < nnf && (nf[j].netns != t->rec[i].r.netns ||
				   nf[j].host != t->rec[i].host))
			j++;
		if (j == nnf && nnf < sizeof(nf) / sizeof(nf[0])) {
			nf[nnf].netns = t->rec[i].r.netns;
			nf[nnf].host = t->rec[i].host;
			nf[nnf++].idx = (uint32_t)i;
		}
	}
	for (size_t j = 0; j < t->ngroup; j++)
		if (t->group[j].nrec > maxn)
			maxn = t->group[j].nrec;
	tx = malloc((maxn + 1) * sizeof(*tx));
	rx = malloc((maxn + 1) * sizeof(*rx));
	u.lo = malloc((maxn + 1) * sizeof(*u.lo));
	u.hi = malloc((maxn + 1) * sizeof(*u.hi));
	u.maxack = malloc((maxn + 1) * sizeof(*u.maxack));
	u.rstseq = malloc((maxn + 1) * sizeof(*u.rstseq));
	u.est[0] = malloc((maxn + 1) * sizeof(*u.est[0]));
	u.est[1] = malloc((maxn + 1) * sizeof(*u.est[1]));
	u.pos = malloc((t->nrec + 1) * sizeof(*u.pos));
	if (!tx || !rx || !u.lo || !u.hi || !u.maxack || !u.rstseq || !u.est[0] ||
	    !u.est[1] || !u.pos) {
		free(tx);
		free(rx);
		unrecv_free(&u);
		return -1;
	}
	for (size_t j = 0; j < t->ngroup; j++) {
		struct tf_group *g = &t->group[j];
		const uint32_t *idx = t->order + g->off;

		if (g->kind != TF_G_CONV) {
			find_bases(t, g, idx, g->nrec);
			continue;
		}
		for (uint32_t k = 0; k < g->nrec; k++)
			g->traced[t->rec[idx[k]].side] = 1;
		find_bases(t, g, idx, g->nrec);
		match_segments(t, idx, g->nrec, tx, rx);
		mark_segments(t, idx, g->nrec);
		mark_unreceived(t, g, idx, g->nrec, &u, nf, nnf);
	}
	free(tx);
	free(rx);
	unrecv_free(&u);
	return 0;
}

/*
 * Records of a merged stream grouped by host, each host's in input
 * order (a counting sort); and each host's first and last ts.
 */
static int by_host(struct tf_trace *t)
{
	size_t nh = 0, *at;
	struct tf_rec *tmp;
	int mixed = 0;

	free(t->ht0);
	free(t->htend);
	t->ht0 = t->htend = NULL;
	t->nht = 0;
	for (size_t i = 0; i < t->nrec; i++) {
		if (t->rec[i].host >= nh)
			nh = (size_t)t->rec[i].host + 1;
		mixed |= t->rec[i].host != t->rec[0].host;
	}
	if (!mixed)
		return 0;
	t->ht0 = malloc(nh * sizeof(*t->ht0));
	t->htend = calloc(nh, sizeof(*t->htend));
	at = calloc(nh + 1, sizeof(*at));
	tmp = malloc(t->nrec * sizeof(*tmp));
	if (!t->ht0 || !t->htend || !at || !tmp) {
		free(at);
		free(tmp);
		return -1;
	}
	t->nht = nh;
	memset(t->ht0, 0xff, nh * sizeof(*t->ht0));
	for (size_t i = 0; i < t->nrec; i++) {
		const struct tf_rec *r = &t->rec[i];

		at[r->host + 1]++;
		if (t->ht0[r->host] == UINT64_MAX)	/* its first record */
			t->ht0[r->host] = r->r.ts_ns;
		if (r->r.ts_ns > t->htend[r->host])
			t->htend[r->host] = r->r.ts_ns;
	}
	for (size_t h = 0; h < nh; h++)
		at[h + 1] += at[h];
	for (size_t i = 0; i < t->nrec; i++)
		tmp[at[t->rec[i].host]++] = t->rec[i];
	memcpy(t->rec, tmp, t->nrec * sizeof(*tmp));
	free(at);
	free(tmp);
	return 0;
}

uint64_t tf_t0(const struct tf_trace *t, unsigned int host)
{
	return host < t->nht && t->ht0[host] != UINT64_MAX ? t->ht0[host] :
	       t->t0;
}

uint64_t tf_tend(const struct tf_trace *t, unsigned int host)
{
	return host < t->nht && t->htend ? t->htend[host] : t->tend;
}

int tf_t0_note(struct tf_trace *t, const struct tf_rec *r)
{
	if (r->host >= t->nht) {
		size_t nh = (size_t)r->host + 1;
		uint64_t *v = realloc(t->ht0, nh * sizeof(*v));

		if (!v)
			return -1;
		memset(v + t->nht, 0xff, (nh - t->nht) * sizeof(*v));
		t->ht0 = v;
		t->nht = nh;
	}
	if (t->ht0[r->host] == UINT64_MAX)
		t->ht0[r->host] = r->r.ts_ns;
	return 0;
}

int tf_model_build(struct tf_trace *t)
{
	struct conn_map m;
	size_t nnone = 0;

	free(t->conn);
	free(t->group);
	free(t->order);
	t->conn = NULL;
	t->group = NULL;
	t->order = NULL;
	t->nconn = t->ngroup = 0;
	t->t0 = t->tend = 0;
	if (by_host(t))
		return -1;

	m.mask = pow2_above(t->nrec) - 1;
	m.slot = malloc((m.mask + 1) * sizeof(*m.slot));
	t->conn = malloc((t->nrec + 1) * sizeof(*t->conn));
	if (!m.slot || !t->conn) {
		free(m.slot);
		return -1;
	}
	memset(m.slot, 0xff, (m.mask + 1) * sizeof(*m.slot));
	for (size_t i = 0; i < t->nrec; i++) {
		struct tf_rec *r = &t->rec[i];
		int ci;

		if (!i)		/* times count from the first record */
			t->t0 = r->r.ts_ns;
		if (r->r.ts_ns > t->tend)
			t->tend = r->r.ts_ns;
		r->cx = r->group = r->twin = -1;
		r->side = 0;
		r->mark = 0;
		r->cause = 0;
		if (r->r.sock == TCPFLOW_SK_NONE) {
			nnone++;
			continue;
		}
		ci = conn_lookup(t, &m, r->r.conn, r->host, (uint32_t)i);
		r->cx = ci;
		learn_conn(&t->conn[ci], r, (uint32_t)i);
	}
	free(m.slot);

	if (pair_conns(t))
		return -1;

	/* One group per conversation or listener, in first-seen order. */
	t->group = malloc((t->nconn + nnone + 1) * sizeof(*t->group));
	if (!t->group)
		return -1;
	for (size_t i = 0; i < t->nrec; i++) {
		struct tf_rec *r = &t->rec[i];
		struct tf_conn *c;
		struct tf_group *g;

		if (r->cx < 0)
			continue;
		c = &t->conn[r->cx];
		if (c->group < 0) {
			g = &t->group[t->ngroup];
			memset(g, 0, sizeof(*g));
			g->conn[0] = g->conn[1] = -1;
			g->host = c->host;
			c->group = (int32_t)t->ngroup++;
			if (c->listener) {
				g->kind = TF_G_LISTENER;
				g->conn[1] = r->cx;
				g->af = r->r.af;
				memcpy(g->addr[1], r->r.laddr, 16);
				g->port[1] = r->r.lport;
			} else {
				g->kind = TF_G_CONV;
				assign_roles(t, g, r->cx, c->peer);
				if (c->peer >= 0)
					t->conn[c->peer].group = c->group;
				set_endpoints(t, g);
			}
		}
		g = &t->group[c->group];
		r->group = c->group;
		r->side = g->kind == TF_G_CONV ? g->conn[1] == r->cx : 0;
	}
	if (attach_strays(t) || order_groups(t))
		return -1;
	kill_causes(t);
	return analyse_convs(t);
}

/* Filters ---------------------------------------------------------------- */

int tf_rec_in_window(const struct tf_trace *t, const struct tf_rec *r,
		     const struct tf_opts *o)
{
	uint64_t ts = r->r.ts_ns, t0 = t->nht ? tf_t0(t, r->host) : t->t0;
	uint64_t rel = ts > t0 ? ts - t0 : 0;

	if (o->has_since && (o->since_abs ? ts : rel) < o->since)
		return 0;
	if (o->has_until && (o->until_abs ? ts : rel) > o->until)
		return 0;
	return 1;
}

static int rec_has_addr(const struct tf_rec *r, const struct tf_opts *o)
{
	return r->r.af == o->addr_af &&
	       (!memcmp(r->r.laddr, o->addr, 16) ||
		!memcmp(r->r.raddr, o->addr, 16));
}

static int rec_has_state(const struct tf_rec *r, int st)
{
	if (r->r.event == TCPFLOW_EV_STATE)
		return r->r.old_state == st || r->r.new_state == st;
	return r->r.new_state == st;
}

/* The record names this process (an owner or the task at work). */
static int rec_has_proc(const struct tf_rec *r, const struct tf_opts *o)
{
	if (r->r.who == TCPFLOW_WHO_NONE)
		return 0;
	if (o->has_pid && r->r.pid != o->pid)
		return 0;
	return !o->has_comm || !strncmp(r->r.comm, o->comm, sizeof(o->comm));
}

int tf_rec_selected(const struct tf_trace *t, const struct tf_rec *r,
		    const struct tf_opts *o)
{
	if (o->has_host && !tf_host_is(&t->hosts, r->host, o->host))
		return 0;
	if (o->has_port && r->r.lport != o->port && r->r.rport != o->port)
		return 0;
	if (o->has_addr && !rec_has_addr(r, o))
		return 0;
	if (o->has_conn && r->r.conn != o->conn)
		return 0;
	if (o->has_state && !rec_has_state(r, o->state))
		return 0;
	if ((o->has_pid || o->has_comm) && !rec_has_proc(r, o))
		return 0;
	return tf_rec_in_window(t, r, o);
}

/*
 * A conversation is shown whole or not at all: it is selected when some
 * record matches each filter given (the time window is applied to the
 * records shown, by the views).
 */
int tf_group_selected(const struct tf_trace *t, const struct tf_group *g,
		      const struct tf_opts *o)
{
	int port = !o->has_port, addr = !o->has_addr, conn = !o->has_conn;
	int state = !o->has_state, win = !o->has_since && !o->has_until;
	int proc = !o->has_pid && !o->has_comm;
	const uint32_t *idx = t->order + g->off;

	if (o->has_host && !tf_host_is(&t->hosts, g->host, o->host))
		return 0;
	for (uint32_t k = 0; k < g->nrec; k++) {
		const struct tf_rec *r = &t->rec[idx[k]];

		if (!port)
			port = r->r.lport == o->port || r->r.rport == o->port;
		if (!addr)
			addr = rec_has_addr(r, o);
		if (!conn)
			conn = r->r.conn == o->conn;
		if (!state)
			state = rec_has_state(r, o->state);
		if (!win)
			win = tf_rec_in_window(t, r, o);
		if (!proc)
			proc = rec_has_proc(r, o);
		if (port && addr && conn && state && win && proc)
			return 1;
	}
	return 0;
}

uint8_t *tf_select_groups(const struct tf_trace *t, const struct tf_opts *o)
{
	uint8_t *sel = malloc(t->ngroup + 1);

	if (!sel)
		return NULL;
	for (size_t j = 0; j < t->ngroup; j++)
		sel[j] = (uint8_t)tf_group_selected(t, &t->group[j], o);
	return sel;
}
