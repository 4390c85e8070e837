// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow.bpf.c - the records of tcpflow.ko from BPF, for hosts that
 * cannot load a module.  CO-RE; attaches only to tracepoints (tp_btf),
 * which work where kprobes and fentry do not.
 *
 * Where each record comes from (compare module/hooks.c):
 *
 *   sock:inet_sock_set_state   every full-socket state change, listen()
 *                              and the passive child's birth included
 *                              (the kernel reports the child as
 *                              LISTEN -> SYN_RECV; we report it as the
 *                              module does, NEW_SYN_RECV -> SYN_RECV,
 *                              with the request sock's addresses and id)
 *   net:net_dev_start_xmit     every segment sent; skb->sk says by whom:
 *                              a full sock, a request sock (SYN-ACK), a
 *                              timewait sock (its ACK or RST) or the
 *                              per-CPU control sock (RST for a segment
 *                              nobody owns: sock=none); when it names no
 *                              socket of the connection's own (a control
 *                              sock's reply before Linux 6.12, a qdisc's
 *                              orphan) the conns map does: reply_owner()
 *   net:netif_receive_skb      every segment received; the socket is not
 *                              known yet, so the 4-tuple is looked up in
 *                              the conns map this program keeps (request,
 *                              full and timewait socks), then in the
 *                              listeners map
 *   timer:timer_start          a timewait sock's timer armed: TIME_WAIT
 *                              (or FIN_WAIT2 substate) begins, or is
 *                              rearmed, or FIN_WAIT2 became TIME_WAIT;
 *                              a request sock's timer armed: it was just
 *                              queued (LISTEN -> NEW_SYN_RECV)
 *   timer:timer_expire_entry   the timewait timer ran out (why=expire)
 *   timer:timer_cancel         ... or was cancelled from
 *                              inet_twsk_deschedule_put (why=kill)
 *   skb:consume_skb, kfree_skb the end of a received segment's trip: a
 *                              timewait sock that got one is looked at
 *                              again (a rearm that moved no timer bucket
 *                              shows only in timer->expires)
 *   irq:softirq_entry, _exit   process context or not, for who=cur
 *   tcp:tcp_retransmit_synack  a request sock's cookie can be set
 *   iter/tcp                   once at start: the sockets already there
 *
 * tf_state, tf_timer_start and tf_timer_cancel have a twin on their
 * tracepoint that takes a run the kernel skipped because it came nested
 * in the first on one CPU (nest, below).
 *
 * The request sock's birth (LISTEN -> NEW_SYN_RECV) has no tracepoint of
 * its own: it is seen when its timer is first armed, or (without the
 * timer function's address) when it sends its SYN-ACK.
 *
 * Linux 6.1's verifier takes no ring-buffer memory as a map key or
 * value: keys and values go through the stack.  Everything read from a
 * kernel struct goes through CO-RE, so a build on a newer kernel's BTF
 * loads on 6.1.
 *
 * Ids are socket cookies (bpf_get_socket_cookie(), the number the module
 * and ss -e show).  The kernel copies a request sock's cookie into its
 * child and a full socket's into its timewait sock.  A request sock is
 * seen mostly as skb->sk, which the cookie helper does not take: while
 * its cookie is unset it carries a placeholder, which a link message
 * turns into its child's cookie for userspace (link_ids(), pending).
 * Sockets already there when we start are walked once (tf_seed(),
 * bpf_iter).  docs/bpf.md lists what this cannot see that the module can.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define __KERNEL__		/* the ABI header takes its types from us */
#include "tcpflow_abi.h"
#undef __KERNEL__
#include "tcpflow_bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TF_AF_INET	2
#define TF_AF_INET6	10
#define TF_ETH_P_IP	0x0800
#define TF_ETH_P_IPV6	0x86DD
#define TF_IPPROTO_TCP	6
#define TF_SOCK_STREAM	1
#define TF_SOCK_RAW	3

/* include/net/tcp_states.h */
#define ST_ESTABLISHED	1
#define ST_SYN_SENT	2
#define ST_SYN_RECV	3
#define ST_FIN_WAIT2	5
#define ST_TIME_WAIT	6
#define ST_CLOSE	7
#define ST_LISTEN	10
#define ST_NEW_SYN_RECV	12

/* Set by tcpflow-bpf before load. */
const volatile __u8 cfg_segmode = TCPFLOW_SEG_DEFAULT;
const volatile __u8 cfg_has_port = 0;
const volatile __u16 cfg_port = 0;
const volatile __u64 cfg_tw_timer_fn = 0;	/* &tw_timer_handler */
const volatile __u64 cfg_req_timer_fn = 0;	/* &reqsk_timer_handler */
const volatile __u64 cfg_kill_lo = 0;		/* inet_twsk_deschedule_put */
const volatile __u64 cfg_kill_hi = 0;
/*
 * Wake the reader only once this many bytes wait in the ring buffer (0:
 * at every record, for -f), and then at every further quarter of it
 * (ring_submit()).  A wake-up per record, a switch to the reader and
 * back for each, cost a connection about a sixth of its rate on one CPU
 * (docs/cost.md).
 */
const volatile __u64 cfg_wake_bytes = 0;

/* A connection as seen from one end: network namespace and 4-tuple. */
struct tkey {
	__u32 netns;
	__u16 lport;
	__u16 rport;
	__u8 af;
	__u8 pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
};

struct cval {
	__u64 conn;
	__u64 sk;		/* the kernel socket, as a number: never read */
	__u64 parent;		/* listener's id, for request socks and children */
	__u8 kind;		/* enum tcpflow_sock */
	__u8 state;		/* state, or a timewait sock's substate */
	__u8 pad[6];
};

struct lkey {
	__u32 netns;
	__u16 lport;
	__u8 af;
	__u8 pad;
	__u8 addr[16];
};

struct lval {
	__u64 conn;
	__u8 v6only;
	__u8 pad[7];
};

struct twval {
	__u64 conn;
	__u64 expires;		/* tw_timer.expires when last looked at */
	__u64 armed_ns;		/* when the timer was last (re)armed; 0: unknown */
	__u8 substate;
	__u8 pad[7];
};

struct owner {
	__u32 pid;
	char comm[TCPFLOW_COMM_LEN];
};

/* The segment being received on this CPU, until its skb is freed. */
struct lastrx {
	__u64 skb;
	__u64 conn;
	__u64 parent;
	__u64 tw;
	struct tkey key;
	__u8 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCPFLOW_BPF_RINGBUF_DEFAULT);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} missed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tkey);
	__type(value, struct cval);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lkey);
	__type(value, struct lval);
} listeners SEC(".maps");

/*
 * Passive child (by socket address) -> the placeholder id of its request
 * sock, until the child's cookie can be asked for (its next state
 * change): see child_birth().
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} pending SEC(".maps");

/* Passive child born but not yet reported: its addresses come later. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct tcpflow_record);
} births SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct twval);
} tws SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lastrx);
} lastrxs SEC(".maps");

/* 1 while this CPU serves a softirq. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} softirq SEC(".maps");

/*
 * One level of nesting.  The kernel does not run a BPF program inside
 * itself on one CPU: when its tracepoint fires while the program is
 * running there, that run is skipped and counted as a recursion miss
 * (the header's missed=).  It happens to the hooks that also run in
 * process context with softirqs enabled: an interrupt comes during
 * tf_state's run for a close(), and the softirqs run at its end process
 * another socket's ACK, whose state change is skipped (natively under
 * a timewait churn, 20 to 370 of 30,000 state changes).  So each has a
 * twin on the same tracepoint, with a run counter of its own: the first
 * does the work unless it is running already on this CPU (depth is 1
 * while it does), the twin only then, when the kernel has just skipped
 * the first, and counts it (taken).  A second level of nesting is still
 * skipped: userspace counts the first's recursion misses less what its
 * twin took as missed (count_missed()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPFLOW_BPF_NEST_N);
	__type(key, __u32);
	__type(value, struct tcpflow_bpf_nest);
} nest SEC(".maps");

/* ---- helpers ----------------------------------------------------------- */

/*
 * Process context, as the module's is_process_context(): not serving a
 * softirq.  preempt_count is out of reach (per-CPU data has no kallsyms
 * entry on kernels without CONFIG_KALLSYMS_ALL), so the softirq
 * tracepoints keep a per-CPU flag.  TCP does not run in hard irq or NMI.
 */
static __always_inline bool in_process_context(void)
{
	__u32 zero = 0;
	__u32 *in = bpf_map_lookup_elem(&softirq, &zero);

	return in && !*in;
}

static __always_inline void count_missed(void)
{
	__u32 zero = 0;
	__u64 *m = bpf_map_lookup_elem(&missed, &zero);

	if (m)
		(*m)++;
}

/*
 * Two comms equal (no memcmp in BPF): 16 bytes as four 32-bit words, the
 * alignment struct owner gives them (after its pid).
 */
_Static_assert(TCPFLOW_COMM_LEN == 16, "same_comm() compares 16 bytes");

static __always_inline bool same_comm(const char *a, const char *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* pid, comm and who, as the module's emit() does. */
/*
 * Map keys and values are copied to the stack first: Linux 6.1's
 * verifier takes no ring-buffer memory (@r) as a map key or value.
 */
static __always_inline void fill_who(struct tcpflow_record *r, __u64 owner_conn)
{
	__u64 conn = r->conn;
	struct owner *o;

	if (in_process_context()) {
		struct owner me = {};

		r->who = TCPFLOW_WHO_CUR;
		me.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(me.comm, sizeof(me.comm));
		r->pid = me.pid;
		__builtin_memcpy(r->comm, me.comm, sizeof(r->comm));
		if (r->event != TCPFLOW_EV_STATE || !conn)
			return;
		/* An LRU map's update is its dearest call: only a change. */
		o = bpf_map_lookup_elem(&owners, &conn);
		if (!o || o->pid != me.pid || !same_comm(o->comm, me.comm))
			bpf_map_update_elem(&owners, &conn, &me, BPF_ANY);
		return;
	}
	o = bpf_map_lookup_elem(&owners, &conn);
	if (!o && owner_conn)
		o = bpf_map_lookup_elem(&owners, &owner_conn);
	if (o) {
		r->who = TCPFLOW_WHO_OWNER;
		r->pid = o->pid;
		__builtin_memcpy(r->comm, o->comm, sizeof(r->comm));
	}
}

static __always_inline void key_to_rec(struct tcpflow_record *r,
				       const struct tkey *k)
{
	r->netns = k->netns;
	r->af = k->af;
	r->lport = k->lport;
	r->rport = k->rport;
	__builtin_memcpy(r->laddr, k->laddr, 16);
	__builtin_memcpy(r->raddr, k->raddr, 16);
}

static __always_inline bool filtered_out(const struct tkey *k)
{
	return cfg_has_port && k->lport != cfg_port && k->rport != cfg_port;
}

/*
 * A zeroed record for connection @k, straight in the ring buffer (128
 * bytes are too many for the BPF stack), or NULL: filtered out, or the
 * ring is full (counted as missed).  Records leave in the order they
 * were reserved.
 */
/*
 * Submitted with no wake-up until an eighth of the ring waits
 * (cfg_wake_bytes), then a forced one each time another 32nd of the ring
 * fills (about 900 records at 4M): the kernel's own wake-up (flags 0)
 * comes only for a record the reader has caught up with, never once
 * records wait, so a reader left to its poll timeout lost most of a fast
 * churn's records (tcpflow-bpf's 200 ms, 15 MB at 75 MB/s, against a
 * 4 MiB ring).  A wake-up that is already pending costs one cmpxchg, and
 * a 32nd of the ring is crossed by one record of a CPU's run, or by
 * another's if two race past it.
 */
#define TF_RB_REC (sizeof(struct tcpflow_record) + 8)	/* with its header */

static __always_inline void ring_submit(void *r)
{
	__u64 flags = 0, avail, step;

	if (cfg_wake_bytes) {
		avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		step = cfg_wake_bytes / 4;
		/* step is a power of two: crossing a multiple of it */
		if (avail < cfg_wake_bytes || avail < TF_RB_REC ||
		    (avail ^ (avail - TF_RB_REC)) < step)
			flags = BPF_RB_NO_WAKEUP;
		else
			flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(r, flags);
}

static __always_inline struct tcpflow_record *rec_new(const struct tkey *k)
{
	struct tcpflow_record *r;

	if (filtered_out(k))
		return NULL;
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_missed();
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	key_to_rec(r, k);
	return r;
}

static __always_inline void rec_send(struct tcpflow_record *r, __u64 owner_conn)
{
	fill_who(r, owner_conn);
	r->ts_ns = bpf_ktime_get_ns();
	r->cpu = bpf_get_smp_processor_id();
	ring_submit(r);
}

static const struct tcpflow_record zero_rec;

static __always_inline bool v4mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return !lo && mid == bpf_htonl(0x0000ffff);
}

/* The 4-tuple of any kind of socket, as rec_sock() in the module. */
static __always_inline void skc_tuple_af(const struct sock_common *skc,
					 struct tkey *k, __u16 family)
{
	k->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	k->lport = BPF_CORE_READ(skc, skc_num);
	k->rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (family == TF_AF_INET6) {
		bpf_probe_read_kernel(k->raddr, 16, &skc->skc_v6_daddr);
		if (!v4mapped(k->raddr)) {
			k->af = 6;
			bpf_probe_read_kernel(k->laddr, 16,
					      &skc->skc_v6_rcv_saddr);
			return;
		}
		__builtin_memset(k->raddr, 0, 16);
	}
	/* The rest of the addresses is part of the map key: zero it. */
	k->af = 4;
	__builtin_memset(k->laddr, 0, 16);
	__builtin_memset(k->raddr, 0, 16);
	bpf_probe_read_kernel(k->laddr, 4, &skc->skc_rcv_saddr);
	bpf_probe_read_kernel(k->raddr, 4, &skc->skc_daddr);
}

static __always_inline void skc_tuple(const struct sock_common *skc,
				      struct tkey *k)
{
	skc_tuple_af(skc, k, BPF_CORE_READ(skc, skc_family));
}

/*
 * A request sock's: its skc_family is its listener's, so an IPv4 SYN to
 * a dual-stack listener makes an AF_INET6 request sock whose IPv6
 * addresses were never written.  Its ops know what it really is.
 */
static __always_inline void req_tuple(struct request_sock *req, struct tkey *k)
{
	skc_tuple_af(&req->__req_common, k, BPF_CORE_READ(req, rsk_ops, family));
}

/* Where a listener is found: its port and bound address. */
static __always_inline void skc_lkey(const struct sock_common *skc,
				     struct lkey *l, __u8 *v6only)
{
	__u16 family = BPF_CORE_READ(skc, skc_family);

	l->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	l->lport = BPF_CORE_READ(skc, skc_num);
	*v6only = 0;
	if (family == TF_AF_INET6) {
		bpf_probe_read_kernel(l->addr, 16, &skc->skc_v6_rcv_saddr);
		if (!v4mapped(l->addr)) {
			l->af = 6;
			*v6only = BPF_CORE_READ_BITFIELD_PROBED(skc,
								skc_ipv6only);
			return;
		}
		__builtin_memset(l->addr, 0, 16);
	}
	l->af = 4;
	bpf_probe_read_kernel(l->addr, 4, &skc->skc_rcv_saddr);
}

/*
 * skc_tuple() of a socket the tracepoint handed over (a BTF pointer):
 * its fields are read directly, a load each, where skc_tuple_af() calls
 * bpf_probe_read_kernel() for each (which a pointer made by arithmetic,
 * such as tw_of_timer()'s, or one kept in a map, needs: to the verifier
 * that is a number).  The same fields, the same result.
 */
static __always_inline void sk_tuple_direct(struct sock *sk, struct tkey *k)
{
	struct sock_common *skc = &sk->__sk_common;

	k->netns = skc->skc_net.net->ns.inum;
	k->lport = skc->skc_num;
	k->rport = bpf_ntohs(skc->skc_dport);
	if (skc->skc_family == TF_AF_INET6) {
		__builtin_memcpy(k->raddr, &skc->skc_v6_daddr, 16);
		if (!v4mapped(k->raddr)) {
			k->af = 6;
			__builtin_memcpy(k->laddr, &skc->skc_v6_rcv_saddr, 16);
			return;
		}
	}
	k->af = 4;
	__builtin_memset(k->laddr, 0, 16);
	__builtin_memset(k->raddr, 0, 16);
	__builtin_memcpy(k->laddr, &skc->skc_rcv_saddr, 4);
	__builtin_memcpy(k->raddr, &skc->skc_daddr, 4);
}

/*
 * The same for a full socket: at CLOSE the kernel has already let go of
 * the port (inet_put_port() zeroes skc_num before the tracepoint), but
 * inet_sport still has it.
 */
static __always_inline void sk_tuple(struct sock *sk, struct tkey *k)
{
	sk_tuple_direct(sk, k);
	if (!k->lport)
		k->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk,
						   inet_sport));
}

static __always_inline struct lval *find_listener(const struct tkey *k)
{
	struct lkey l = { .netns = k->netns, .lport = k->lport, .af = k->af };
	struct lval *v;

	__builtin_memcpy(l.addr, k->laddr, 16);
	v = bpf_map_lookup_elem(&listeners, &l);
	if (v)
		return v;
	__builtin_memset(l.addr, 0, 16);
	v = bpf_map_lookup_elem(&listeners, &l);
	if (v || k->af == 6)
		return v;
	/* A dual-stack [::] listener takes IPv4 too. */
	l.af = 6;
	v = bpf_map_lookup_elem(&listeners, &l);
	return v && !v->v6only ? v : NULL;
}

/*
 * Placeholder ids, for request socks whose cookie is unset: no pointer to
 * one that the cookie helper takes exists before its SYN-ACK is sent
 * again (tcp_retransmit_synack) or its child's first state change after
 * its birth; then link_ids() says which cookie it was (tcpflow_bpf.h).
 */
static __u64 next_id;

static __always_inline __u64 synth_id(void)
{
	return TCPFLOW_BPF_CONN_SYNTH | __sync_fetch_and_add(&next_id, 1);
}

static __always_inline bool is_synth(__u64 conn)
{
	return conn & TCPFLOW_BPF_CONN_SYNTH;
}

/* Tell userspace placeholder @from is cookie @to. */
static __always_inline void link_ids(const struct tkey *k, __u64 from, __u64 to)
{
	struct tcpflow_record *r;

	if (filtered_out(k))
		return;
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_missed();
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	key_to_rec(r, k);
	r->event = TCPFLOW_BPF_EV_LINK;
	r->conn = from;
	r->dur_ns = to;
	ring_submit(r);
}

/*
 * The id of a full socket: its cookie.  bpf_get_socket_cookie() sets an
 * unset cookie but takes only a trusted socket (a tracepoint's argument,
 * not skb->sk, an RCU pointer the verifier refuses).  Every full socket
 * has one by the time it sends: set at its first state change, or by
 * tf_seed() for those already there; a passive child's is its request
 * sock's, copied by the kernel, or set at its first state change after
 * its birth (until then it carries the request sock's placeholder).
 */
static __always_inline __u64 full_conn(struct sock *sk)
{
	return bpf_get_socket_cookie(sk);
}

static __always_inline __u64 sk_conn_nogen(struct sock *sk)
{
	__u64 skp = (__u64)sk;
	__u64 conn = sk->__sk_common.skc_cookie.counter;
	__u64 *p;

	if (conn)
		return conn;
	p = bpf_map_lookup_elem(&pending, &skp);
	return p ? *p : 0;
}

/* ---- segments ---------------------------------------------------------- */

struct pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;
	__u32 ack;
	__u32 len;
	__u16 sport;
	__u16 dport;
	__u16 win;
	__u8 af;
	__u8 flags;
	struct tcpflow_synopt opt;	/* a SYN's (parse_synopt()) */
};

struct tcphdr_raw {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
};

/*
 * A SYN's options at @opt, @len bytes (at most 40): the module's
 * rec_synopt(), read a piece at a time from the packet (no variable
 * index into the stack, which older verifiers refuse).
 */
static __always_inline void parse_synopt(const __u8 *opt, __u32 len,
					 struct tcpflow_synopt *o)
{
	__u32 off = 0;

	o->bits = TCPFLOW_OPT_SEEN;
	if (len > 40)
		return;
	for (int k = 0; k < 40; k++) {
		__u8 kl[2];

		if (off >= len)
			break;
		if (bpf_probe_read_kernel(kl, 1, opt + off))
			break;
		if (kl[0] == 0)		/* end of options */
			break;
		if (kl[0] == 1) {	/* nop */
			off++;
			continue;
		}
		if (off + 2 > len || bpf_probe_read_kernel(kl, 2, opt + off))
			break;
		if (kl[1] < 2 || off + kl[1] > len)
			break;
		if (kl[0] == 2 && kl[1] == 4) {
			__be16 v;

			if (!bpf_probe_read_kernel(&v, 2, opt + off + 2)) {
				o->mss = bpf_ntohs(v);
				o->bits |= TCPFLOW_OPT_MSS;
			}
		} else if (kl[0] == 3 && kl[1] == 3) {
			__u8 v;

			if (!bpf_probe_read_kernel(&v, 1, opt + off + 2)) {
				o->ws = v;
				o->bits |= TCPFLOW_OPT_WS;
			}
		} else if (kl[0] == 4 && kl[1] == 2) {
			o->bits |= TCPFLOW_OPT_SACK;
		} else if (kl[0] == 8 && kl[1] == 10) {
			__be32 v;

			if (!bpf_probe_read_kernel(&v, 4, opt + off + 2)) {
				o->tsval = bpf_ntohl(v);
				o->bits |= TCPFLOW_OPT_TS;
			}
		}
		off += kl[1];
	}
}

/*
 * Parse the IPv4 or IPv6 and TCP headers at @nh.  @l3len is how many
 * bytes of the skb there are from @nh on, for lengths the IP header
 * leaves at 0 (BIG TCP).  IPv6 extension headers are not followed.
 */
static __always_inline int parse(const void *nh, __u16 proto, __u32 l3len,
				 struct pkt *p)
{
	struct tcphdr_raw th;
	__u32 hlen, tot;

	if (proto == bpf_htons(TF_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), nh))
			return -1;
		if ((*(__u8 *)&ip >> 4) != 4 || ip.protocol != TF_IPPROTO_TCP ||
		    (ip.frag_off & bpf_htons(0x1fff)))
			return -1;
		hlen = (*(__u8 *)&ip & 0xf) * 4;
		if (hlen < 20)
			return -1;
		tot = bpf_ntohs(ip.tot_len);
		p->af = 4;
		__builtin_memset(p->saddr, 0, 16);
		__builtin_memset(p->daddr, 0, 16);
		__builtin_memcpy(p->saddr, &ip.saddr, 4);
		__builtin_memcpy(p->daddr, &ip.daddr, 4);
	} else if (proto == bpf_htons(TF_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), nh))
			return -1;
		if (ip6.nexthdr != TF_IPPROTO_TCP)
			return -1;
		hlen = 40;
		tot = bpf_ntohs(ip6.payload_len);
		if (tot)
			tot += 40;
		p->af = 6;
		bpf_probe_read_kernel(p->saddr, 16, &ip6.saddr);
		bpf_probe_read_kernel(p->daddr, 16, &ip6.daddr);
		if (v4mapped(p->saddr) && v4mapped(p->daddr)) {
			p->af = 4;
			__builtin_memcpy(p->saddr, p->saddr + 12, 4);
			__builtin_memcpy(p->daddr, p->daddr + 12, 4);
			__builtin_memset(p->saddr + 4, 0, 12);
			__builtin_memset(p->daddr + 4, 0, 12);
		}
	} else {
		return -1;
	}
	if (bpf_probe_read_kernel(&th, sizeof(th), nh + hlen))
		return -1;
	if (!tot)
		tot = l3len;
	if ((th.flags & TCPFLOW_F_SYN) && (th.doff_res >> 4) > 5)
		parse_synopt((const __u8 *)nh + hlen + 20,	/* th: 16 of 20 */
			     (th.doff_res >> 4) * 4 - 20, &p->opt);
	else if (th.flags & TCPFLOW_F_SYN)
		p->opt.bits = TCPFLOW_OPT_SEEN;
	hlen += (th.doff_res >> 4) * 4;
	p->len = tot > hlen ? tot - hlen : 0;
	p->sport = bpf_ntohs(th.source);
	p->dport = bpf_ntohs(th.dest);
	p->seq = bpf_ntohl(th.seq);
	p->ack = bpf_ntohl(th.ack_seq);
	p->win = bpf_ntohs(th.window);
	p->flags = th.flags;
	return 0;
}

/* The module's want_segment(). */
static __always_inline bool want_segment(__u8 kind, __u8 state, __u8 flags,
					 __u32 len, bool third_ack)
{
	if (cfg_segmode == TCPFLOW_SEG_ALL)
		return true;
	if (cfg_segmode == TCPFLOW_SEG_NONE)
		return false;
	if (flags & (TCPFLOW_F_SYN | TCPFLOW_F_FIN | TCPFLOW_F_RST))
		return true;
	if (kind != TCPFLOW_SK_FULL || state != ST_ESTABLISHED)
		return true;
	return third_ack && !len;
}

static __always_inline void seg_rec(struct tcpflow_record *r, __u8 ev,
				    const struct pkt *p)
{
	r->event = ev;
	r->flags = p->flags;
	r->seq = p->seq;
	r->ack = p->ack;
	r->win = p->win;
	r->len = p->len;
	if (p->flags & TCPFLOW_F_SYN)
		r->opt = p->opt;
}

/* ---- timewait socks ---------------------------------------------------- */

static __always_inline struct inet_timewait_sock *tw_of_timer(void *timer)
{
	return (void *)timer - bpf_core_field_offset(struct inet_timewait_sock,
						     tw_timer);
}

static __always_inline __u64 tw_conn(struct inet_timewait_sock *tw,
				     const struct tkey *k)
{
	struct cval *e = bpf_map_lookup_elem(&conns, k);
	__u64 conn;

	/* The full socket's id, as we knew it. */
	if (e && e->kind != TCPFLOW_SK_REQ)
		return e->conn;
	/* inet_twsk_alloc() copied the full socket's cookie. */
	conn = BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	return conn;
}

static __always_inline void tw_state(const struct tkey *k, __u64 conn,
				     __u8 old, __u8 new, __u8 why, __u64 dur,
				     __u64 owner_conn)
{
	struct tcpflow_record *r = rec_new(k);

	if (!r)
		return;
	r->event = TCPFLOW_EV_STATE;
	r->sock = TCPFLOW_SK_TW;
	r->conn = conn;
	r->old_state = old;
	r->new_state = new;
	r->why = why;
	r->dur_ns = dur;
	rec_send(r, owner_conn);
}

/*
 * TIME_WAIT begins: the timer of a timewait sock we do not know was
 * armed.  The full socket it replaces is still in FIN_WAIT2 or CLOSING.
 */
static __always_inline void tw_birth(struct inet_timewait_sock *tw)
{
	struct twval t = {};
	struct tkey k = {};
	struct cval *e, ne = {};
	__u64 twp = (__u64)tw;
	__u8 old = ST_FIN_WAIT2;
	__u64 parent = 0;

	skc_tuple(&tw->__tw_common, &k);
	t.substate = BPF_CORE_READ(tw, tw_substate);
	t.expires = BPF_CORE_READ(tw, tw_timer.expires);
	t.armed_ns = bpf_ktime_get_ns();
	e = bpf_map_lookup_elem(&conns, &k);
	if (e && e->kind == TCPFLOW_SK_FULL) {
		old = e->state;
		parent = e->parent;
	}
	t.conn = tw_conn(tw, &k);
	bpf_map_update_elem(&tws, &twp, &t, BPF_ANY);
	ne.conn = t.conn;
	ne.sk = twp;
	ne.parent = parent;
	ne.kind = TCPFLOW_SK_TW;
	ne.state = t.substate;
	bpf_map_update_elem(&conns, &k, &ne, BPF_ANY);

	tw_state(&k, t.conn, old, t.substate, TCPFLOW_WHY_NONE, 0, parent);
}

/*
 * Look at a known timewait sock again: a new substate (FIN_WAIT2 got
 * its FIN) or a new expiry (the timer was rearmed) is reported.
 * Returns the substate.
 */
static __always_inline __u8 tw_check(struct inet_timewait_sock *tw,
				     struct tkey *k, __u64 *conn)
{
	__u64 twp = (__u64)tw;
	struct twval *t;
	struct cval *e;
	__u8 old, why;
	__u8 sub = BPF_CORE_READ(tw, tw_substate);
	__u64 exp = BPF_CORE_READ(tw, tw_timer.expires);

	skc_tuple(&tw->__tw_common, k);
	t = bpf_map_lookup_elem(&tws, &twp);
	if (!t) {
		/* Born before we started: take it as it is, quietly. */
		struct twval nt = { .substate = sub, .expires = exp };

		nt.conn = tw_conn(tw, k);
		*conn = nt.conn;
		bpf_map_update_elem(&tws, &twp, &nt, BPF_ANY);
		return sub;
	}
	*conn = t->conn;
	old = t->substate;
	if (sub != old)
		why = TCPFLOW_WHY_NONE;		/* FIN_WAIT2 got its FIN */
	else if (exp != t->expires)
		why = TCPFLOW_WHY_REARM;
	else
		return sub;
	t->substate = sub;
	t->expires = exp;
	t->armed_ns = bpf_ktime_get_ns();
	e = bpf_map_lookup_elem(&conns, k);
	if (e && e->kind == TCPFLOW_SK_TW && e->conn == *conn)
		e->state = sub;
	tw_state(k, *conn, old, sub, why, 0, e ? e->parent : 0);
	return sub;
}

/* TIME_WAIT (or the FIN_WAIT2 substate) is over. */
static __always_inline void tw_end(struct inet_timewait_sock *tw, __u8 why)
{
	__u64 twp = (__u64)tw;
	struct tkey k = {};
	struct twval *t;
	struct cval *e;
	__u64 conn, parent = 0, dur = 0;
	__u8 sub = BPF_CORE_READ(tw, tw_substate);

	skc_tuple(&tw->__tw_common, &k);
	t = bpf_map_lookup_elem(&tws, &twp);
	conn = t ? t->conn : tw_conn(tw, &k);
	if (sub == ST_TIME_WAIT)
		dur = t && t->armed_ns ? bpf_ktime_get_ns() - t->armed_ns :
					 TCPFLOW_BPF_DUR_UNKNOWN;
	e = bpf_map_lookup_elem(&conns, &k);
	if (e && e->kind == TCPFLOW_SK_TW && e->conn == conn) {
		parent = e->parent;
		bpf_map_delete_elem(&conns, &k);
	}
	bpf_map_delete_elem(&tws, &twp);
	tw_state(&k, conn, sub, ST_CLOSE, why, dur, parent);
}

/* ---- passive children -------------------------------------------------- */

static __always_inline void child_known(__u64 skp, const struct tkey *k,
					__u64 conn, __u64 parent)
{
	struct cval ne = {
		.conn = conn, .sk = skp, .parent = parent,
		.kind = TCPFLOW_SK_FULL, .state = ST_SYN_RECV,
	};

	if (is_synth(conn))
		bpf_map_update_elem(&pending, &skp, &conn, BPF_ANY);
	bpf_map_update_elem(&conns, k, &ne, BPF_ANY);
}

static __always_inline void birth_rec(struct tcpflow_record *r, __u64 conn)
{
	r->event = TCPFLOW_EV_STATE;
	r->sock = TCPFLOW_SK_FULL;
	r->conn = conn;
	r->old_state = ST_NEW_SYN_RECV;
	r->new_state = ST_SYN_RECV;
}

/*
 * inet_csk_clone_lock() reports the child as LISTEN -> SYN_RECV while it
 * still has the listener's addresses.  It runs inside the receipt of the
 * handshake's last ACK, which we saw at netif_receive_skb on this CPU
 * and matched to its request sock: that gives the addresses and the id.
 * Otherwise (a batch of received segments parsed before any of them was
 * processed), the record waits in births for the child's next event,
 * when the child has its own addresses.
 */
static __always_inline void child_birth(struct sock *sk)
{
	__u32 zero = 0;
	struct lastrx *lr = bpf_map_lookup_elem(&lastrxs, &zero);
	struct tcpflow_record *r;
	__u64 skp = (__u64)sk;
	struct lval *lv;
	struct lkey l = {};
	__u64 parent = 0;
	__u8 v6only;

	skc_lkey(&sk->__sk_common, &l, &v6only);
	lv = bpf_map_lookup_elem(&listeners, &l);
	if (lv)
		parent = lv->conn;
	bpf_map_delete_elem(&births, &skp);
	if (lr && lr->skb && lr->kind == TCPFLOW_SK_REQ &&
	    lr->key.netns == l.netns && lr->key.lport == l.lport) {
		struct tkey k = lr->key;

		/*
		 * The child's id is its request sock's.  Its cookie cannot be
		 * asked for here: inet_csk_clone_lock() reports the state
		 * before it writes the request sock's cookie into the child
		 * (which before that holds the listener's, copied with the
		 * rest, on 6.1), and would overwrite one set now.  A request
		 * sock with a cookie already gives it to its child; one with a
		 * placeholder waits for the child's next state change.
		 */
		__u64 conn = lr->conn;

		if (!parent)
			parent = lr->parent;
		child_known(skp, &k, conn, parent);
		r = rec_new(&k);
		if (!r)
			return;
		birth_rec(r, conn);
		rec_send(r, parent);
		return;
	}
	if (bpf_map_update_elem(&births, &skp, &zero_rec, BPF_ANY))
		return;
	r = bpf_map_lookup_elem(&births, &skp);
	if (!r)
		return;
	birth_rec(r, 0);
	r->event = 0;		/* who, as now; no owner to learn */
	fill_who(r, parent);
	r->event = TCPFLOW_EV_STATE;
	r->ts_ns = bpf_ktime_get_ns();
	r->cpu = bpf_get_smp_processor_id();
	r->dur_ns = parent;	/* parked here until reported */
}

/* A child whose birth is not reported yet: report it if it now can be. */
static __always_inline void child_resolve(struct sock *sk)
{
	__u64 skp = (__u64)sk;
	struct tcpflow_record *b = bpf_map_lookup_elem(&births, &skp);
	struct tcpflow_record *r;
	struct tkey k = {};
	struct cval *e;
	__u64 parent, conn;

	if (!b)
		return;
	sk_tuple_direct(sk, &k);
	if (!k.rport)
		return;
	parent = b->dur_ns;
	/* read first: one load for two kinds of pointer fails the verifier */
	conn = sk->__sk_common.skc_cookie.counter;
	e = bpf_map_lookup_elem(&conns, &k);
	if (e && e->kind == TCPFLOW_SK_REQ)
		conn = e->conn;
	if (!conn)
		conn = synth_id();	/* its cookie: at its state change */
	child_known(skp, &k, conn, parent);
	r = rec_new(&k);
	if (r) {
		__u64 ts = b->ts_ns;

		__builtin_memcpy(r, b, sizeof(*r));
		key_to_rec(r, &k);
		r->conn = conn;
		r->dur_ns = 0;
		r->ts_ns = ts;
		ring_submit(r);
	}
	bpf_map_delete_elem(&births, &skp);
}

/* ---- programs ---------------------------------------------------------- */

/*
 * The first of a hook and its twin (see nest above): @run is the hook's
 * body, an expression.
 */
#define TF_FIRST(slot, run)						\
	do {								\
		__u32 k_ = (slot);					\
		struct tcpflow_bpf_nest *n_ = bpf_map_lookup_elem(&nest, &k_);	\
									\
		if (n_)							\
			n_->depth = 1;					\
		run;							\
		if (n_)							\
			n_->depth = 0;					\
	} while (0)

#define TF_TWIN(slot, run)						\
	do {								\
		__u32 k_ = (slot);					\
		struct tcpflow_bpf_nest *n_ = bpf_map_lookup_elem(&nest, &k_);	\
									\
		if (n_ && n_->depth) {					\
			n_->taken++;					\
			run;						\
		}							\
	} while (0)

static __always_inline int state_run(struct sock *sk, int oldstate,
				     int newstate)
{
	struct tcpflow_record *r;
	__u64 skp = (__u64)sk;
	struct tkey k = {};
	struct cval *e;
	__u64 conn, parent = 0;

	if (sk->sk_protocol != TF_IPPROTO_TCP)
		return 0;
	if (oldstate == ST_LISTEN && newstate == ST_SYN_RECV) {
		child_birth(sk);
		return 0;
	}
	if (oldstate == ST_CLOSE &&
	    (newstate == ST_SYN_SENT || newstate == ST_LISTEN)) {
		/* A new socket, maybe where an old one was. */
		bpf_map_delete_elem(&births, &skp);
		bpf_map_delete_elem(&pending, &skp);
	} else {
		child_resolve(sk);
	}
	conn = full_conn(sk);
	sk_tuple(sk, &k);
	{
		/* A passive child's first state change: its cookie now. */
		__u64 *p = bpf_map_lookup_elem(&pending, &skp);

		if (p) {
			__u64 ph = *p;

			e = bpf_map_lookup_elem(&conns, &k);
			if (e && e->conn == ph)
				e->conn = conn;
			link_ids(&k, ph, conn);
			bpf_map_delete_elem(&pending, &skp);
		}
	}
	e = NULL;
	if (k.lport && k.rport) {
		/* kept for the end: nothing between changes conns */
		e = bpf_map_lookup_elem(&conns, &k);
		if (e && e->conn == conn)
			parent = e->parent;
	}
	r = rec_new(&k);
	if (r) {
		r->event = TCPFLOW_EV_STATE;
		r->sock = TCPFLOW_SK_FULL;
		r->conn = conn;
		r->old_state = oldstate;
		r->new_state = newstate;
		rec_send(r, parent);
	}

	if (newstate == ST_LISTEN || oldstate == ST_LISTEN) {
		struct lkey l = {};
		struct lval lv = { .conn = conn };

		skc_lkey(&sk->__sk_common, &l, &lv.v6only);
		l.lport = k.lport;
		if (newstate == ST_LISTEN)
			bpf_map_update_elem(&listeners, &l, &lv, BPF_ANY);
		else
			bpf_map_delete_elem(&listeners, &l);
		return 0;
	}
	if (!k.lport || !k.rport)
		return 0;
	if (newstate == ST_CLOSE) {
		if (e && e->kind == TCPFLOW_SK_FULL && e->conn == conn)
			bpf_map_delete_elem(&conns, &k);
	} else if (e && e->conn == conn && e->kind == TCPFLOW_SK_FULL) {
		e->state = newstate;
		e->sk = skp;
	} else {
		struct cval ne = { .conn = conn, .sk = skp, .parent = parent,
				   .kind = TCPFLOW_SK_FULL,
				   .state = newstate };

		bpf_map_update_elem(&conns, &k, &ne, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tf_state, struct sock *sk, int oldstate, int newstate)
{
	TF_FIRST(TCPFLOW_BPF_NEST_STATE, state_run(sk, oldstate, newstate));
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tf_state_twin, struct sock *sk, int oldstate, int newstate)
{
	TF_TWIN(TCPFLOW_BPF_NEST_STATE, state_run(sk, oldstate, newstate));
	return 0;
}

/* The listener's id, for the 4-tuple of one of its connections. */
static __always_inline __u64 listener_of(const struct tkey *k)
{
	struct tkey lk = *k;
	struct lval *lv;

	lk.rport = 0;
	lv = find_listener(&lk);
	return lv ? lv->conn : 0;
}

/*
 * A request sock is born (LISTEN -> NEW_SYN_RECV), or was already known:
 * returns its id.  @cookie: its skc_cookie, read from it.
 */
static __always_inline __u64 req_new(__u64 reqp, __u64 cookie,
				     const struct tkey *k, __u64 owner_conn)
{
	struct cval *e = bpf_map_lookup_elem(&conns, k);
	struct tcpflow_record *r;
	__u64 conn = cookie;

	if (e && e->kind == TCPFLOW_SK_REQ && e->sk == reqp)
		return e->conn;		/* a SYN-ACK sent again, a rearm */
	/*
	 * Unless someone asked for this cookie already (ss -e, the module,
	 * tf_seed()), it is unset and cannot be set from here: a
	 * placeholder until its SYN-ACK is sent again or its child first
	 * changes state (link_ids()).
	 */
	if (!conn)
		conn = synth_id();
	{
		struct cval ne = { .conn = conn, .sk = reqp,
				   .parent = owner_conn,
				   .kind = TCPFLOW_SK_REQ,
				   .state = ST_NEW_SYN_RECV };

		bpf_map_update_elem(&conns, k, &ne, BPF_ANY);
	}
	r = rec_new(k);
	if (r) {
		r->event = TCPFLOW_EV_STATE;
		r->sock = TCPFLOW_SK_REQ;
		r->conn = conn;
		r->old_state = ST_LISTEN;
		r->new_state = ST_NEW_SYN_RECV;
		rec_send(r, owner_conn);
	}
	return conn;
}

/*
 * A request sock's SYN-ACK: its birth, unless its timer told of it
 * already (reqsk_timer_handler not in /proc/kallsyms).
 */
static __always_inline __u64 req_seen(struct sock *sk, const struct tkey *k,
				      __u64 *owner_conn)
{
	*owner_conn = listener_of(k);
	return req_new((__u64)sk,
		       BPF_CORE_READ(sk, __sk_common.skc_cookie.counter), k,
		       *owner_conn);
}

/*
 * A request sock's timer is armed when the request sock is queued
 * (inet_csk_reqsk_queue_hash_add(), where the module sees its birth),
 * before its first SYN-ACK; again at each SYN-ACK retransmit.
 */
static __always_inline void req_timer(struct timer_list *timer)
{
	struct request_sock *req = (void *)timer -
		bpf_core_field_offset(struct request_sock, rsk_timer);
	struct tkey k = {};

	req_tuple(req, &k);
	req_new((__u64)req,
		BPF_CORE_READ(req, __req_common.skc_cookie.counter), &k,
		listener_of(&k));
}

/*
 * Who sent a segment whose skb names no socket of its own: @k is its
 * 4-tuple, from the sender's side.
 *
 *  - A qdisc that holds packets (netem) orphans what a request sock or
 *    a timewait sock sent (skb_orphan_partial() keeps only full
 *    sockets): skb->sk is NULL by the time it leaves.
 *  - Before Linux 6.12 a timewait sock's ACK and RST, and a listener's
 *    replies for its request socks, are sent by the per-CPU control
 *    sock; so are resets on behalf of a full socket.
 *
 * The conns map knows the 4-tuple's socket.  A request sock sends only
 * SYN-ACKs itself; anything else on its 4-tuple is its listener
 * answering (an ACK to a retransmitted SYN, a reset for a bad ACK),
 * which the module records on the listener.  Returns false when no
 * socket of ours has the 4-tuple.
 */
static __always_inline bool reply_owner(const struct tkey *k, __u8 flags,
					__u8 *kind, __u8 *state, __u64 *conn,
					__u64 *owner_conn)
{
	struct cval *e = bpf_map_lookup_elem(&conns, k);
	__u8 ekind, estate;
	__u64 esk, econn, eparent;

	if (!e)
		return false;
	ekind = e->kind;
	estate = e->state;
	esk = e->sk;
	econn = e->conn;
	eparent = e->parent;
	if (ekind == TCPFLOW_SK_TW) {
		struct tkey twk = {};

		*kind = TCPFLOW_SK_TW;
		*conn = econn;
		*state = estate;
		/* Still ours? It may have been killed and freed by now. */
		if (bpf_map_lookup_elem(&tws, &esk))
			*state = tw_check((struct inet_timewait_sock *)esk,
					  &twk, conn);
		return true;
	}
	if (ekind == TCPFLOW_SK_REQ) {
		if (flags & TCPFLOW_F_SYN) {
			*kind = TCPFLOW_SK_REQ;
			*conn = econn;
			*state = ST_NEW_SYN_RECV;
			*owner_conn = eparent;
			return true;
		}
		*conn = listener_of(k);
		if (!*conn)
			return false;
		*kind = TCPFLOW_SK_FULL;
		*state = ST_LISTEN;
		return true;
	}
	if (ekind == TCPFLOW_SK_FULL) {
		*kind = TCPFLOW_SK_FULL;
		*conn = econn;
		*state = estate;
		*owner_conn = eparent;
		return true;
	}
	return false;
}

/* A full socket's segment: keep its 4-tuple findable for the receiver. */
static __always_inline __u64 full_seen(struct sock *sk, const struct tkey *k,
				       __u8 state, __u64 *parent)
{
	__u64 conn;
	struct cval *e;

	child_resolve(sk);
	conn = sk_conn_nogen(sk);
	e = bpf_map_lookup_elem(&conns, k);
	if (e && e->conn == conn)
		*parent = e->parent;
	if (state == ST_CLOSE || state == ST_LISTEN)
		return conn;
	if (e && e->conn == conn && e->kind == TCPFLOW_SK_FULL) {
		e->state = state;
	} else {
		struct cval ne = { .conn = conn, .sk = (__u64)sk,
				   .kind = TCPFLOW_SK_FULL, .state = state };

		bpf_map_update_elem(&conns, k, &ne, BPF_ANY);
	}
	return conn;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(tf_tx, struct sk_buff *skb, struct net_device *dev)
{
	struct tcpflow_record *r;
	struct tkey k = {};
	struct pkt p = {};
	struct sock *sk;
	unsigned char *head;
	__u64 conn = 0, owner_conn = 0;
	__u32 l3len;
	__u16 proto = skb->protocol;
	__u16 nh = skb->network_header;
	__u8 kind, state;
	bool third_ack = false;

	if (proto != bpf_htons(TF_ETH_P_IP) && proto != bpf_htons(TF_ETH_P_IPV6))
		return 0;
	head = skb->head;
	l3len = skb->len - (__u32)(head + nh - skb->data);
	if (parse(head + nh, proto, l3len, &p))
		return 0;

	k.netns = dev->nd_net.net->ns.inum;
	k.af = p.af;
	k.lport = p.sport;
	k.rport = p.dport;
	__builtin_memcpy(k.laddr, p.saddr, 16);
	__builtin_memcpy(k.raddr, p.daddr, 16);

	sk = skb->sk;		/* a BTF pointer: bpf_get_socket_cookie() takes it */
	if (!sk) {
		/*
		 * Orphaned by a qdisc, or sent by IPv6's control sock, which
		 * does not own what it sends (see reply_owner()).  Else: a
		 * SYN-ACK with a syncookie (not seen), a segment forwarded
		 * from another device (not ours), or IPv6's reply for
		 * nobody (sock=none, as IPv4's).
		 */
		if (!reply_owner(&k, p.flags, &kind, &state, &conn,
				 &owner_conn)) {
			if ((p.flags & TCPFLOW_F_SYN) || skb->skb_iif)
				return 0;
			kind = TCPFLOW_SK_NONE;
			state = ST_CLOSE;
			conn = 0;
			owner_conn = 0;
		}
		goto record;
	}

	state = sk->__sk_common.skc_state;
	if (state == ST_TIME_WAIT) {
		struct tkey twk = {};

		kind = TCPFLOW_SK_TW;
		state = tw_check((struct inet_timewait_sock *)sk, &twk, &conn);
	} else if (state == ST_NEW_SYN_RECV) {
		if (p.flags & TCPFLOW_F_SYN) {
			kind = TCPFLOW_SK_REQ;
			conn = req_seen(sk, &k, &owner_conn);
		} else {
			/* The listener answering for it (reply_owner()). */
			conn = listener_of(&k);
			kind = TCPFLOW_SK_FULL;
			state = ST_LISTEN;
		}
	} else {
		__u16 type = sk->sk_type;

		if (sk->sk_protocol != TF_IPPROTO_TCP)
			return 0;
		if (type == TF_SOCK_RAW) {
			/*
			 * The per-CPU control sock: a reply on behalf of a
			 * socket we know (before 6.12), or for nobody.
			 */
			if (!BPF_CORE_READ_BITFIELD(sk, sk_kern_sock))
				return 0;
			if (!reply_owner(&k, p.flags, &kind, &state, &conn,
					 &owner_conn)) {
				kind = TCPFLOW_SK_NONE;
				state = ST_CLOSE;
				conn = 0;
				owner_conn = 0;
			}
		} else if (type == TF_SOCK_STREAM) {
			kind = TCPFLOW_SK_FULL;
			conn = full_seen(sk, &k, state, &owner_conn);
			third_ack = !BPF_CORE_READ((struct tcp_sock *)sk,
						   bytes_received);
		} else {
			return 0;
		}
	}
record:
	if (!want_segment(kind, state, p.flags, p.len, third_ack))
		return 0;
	r = rec_new(&k);
	if (!r)
		return 0;
	r->sock = kind;
	r->conn = conn;
	r->new_state = state;
	seg_rec(r, TCPFLOW_EV_TX, &p);
	rec_send(r, owner_conn);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(tf_rx, struct sk_buff *skb)
{
	struct tcpflow_record *r;
	struct tkey k = {};
	struct pkt p = {};
	struct cval *e;
	struct lastrx *lr;
	__u32 zero = 0;
	__u64 conn, parent = 0, tw = 0;
	__u16 proto = skb->protocol;
	__u8 kind, state;

	if (proto != bpf_htons(TF_ETH_P_IP) && proto != bpf_htons(TF_ETH_P_IPV6))
		return 0;
	/* The stack has pulled the link header: data is the IP header. */
	if (parse(skb->data, proto, skb->len, &p))
		return 0;
	k.netns = skb->dev->nd_net.net->ns.inum;
	k.af = p.af;
	k.lport = p.dport;
	k.rport = p.sport;
	__builtin_memcpy(k.laddr, p.daddr, 16);
	__builtin_memcpy(k.raddr, p.saddr, 16);

	e = bpf_map_lookup_elem(&conns, &k);
	if (e) {
		kind = e->kind;
		state = e->state;
		conn = e->conn;
		parent = e->parent;
		if (kind == TCPFLOW_SK_TW)
			tw = e->sk;
	} else {
		struct lval *lv = find_listener(&k);

		if (!lv)
			return 0;	/* nobody's: the reply is sock=none */
		kind = TCPFLOW_SK_FULL;
		state = ST_LISTEN;
		conn = lv->conn;
	}
	lr = bpf_map_lookup_elem(&lastrxs, &zero);
	if (lr) {
		lr->skb = (__u64)skb;
		lr->conn = conn;
		lr->parent = parent;
		lr->tw = tw;
		lr->kind = kind;
		lr->key = k;
	}
	if (!want_segment(kind, state, p.flags, p.len, false))
		return 0;
	r = rec_new(&k);
	if (!r)
		return 0;
	r->sock = kind;
	r->conn = conn;
	r->new_state = state;
	seg_rec(r, TCPFLOW_EV_RX, &p);
	rec_send(r, parent);
	return 0;
}

/* The received segment is done with: see what it did to a timewait sock. */
static __always_inline void rx_done(void *skb)
{
	__u32 zero = 0;
	struct lastrx *lr = bpf_map_lookup_elem(&lastrxs, &zero);
	struct tkey k = {};
	__u64 conn, twp;

	if (!lr || lr->skb != (__u64)skb)
		return;
	lr->skb = 0;
	twp = lr->tw;
	/* Still ours? It may have been killed and freed by now. */
	if (lr->kind == TCPFLOW_SK_TW && twp &&
	    bpf_map_lookup_elem(&tws, &twp))
		tw_check((struct inet_timewait_sock *)twp, &k, &conn);
}

SEC("tp_btf/consume_skb")
int BPF_PROG(tf_consume_skb, struct sk_buff *skb)
{
	rx_done(skb);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(tf_kfree_skb, struct sk_buff *skb)
{
	rx_done(skb);
	return 0;
}

static __always_inline int timer_start_run(struct timer_list *timer)
{
	struct inet_timewait_sock *tw;
	struct tkey k = {};
	__u64 twp, conn;
	__u64 fn = (__u64)timer->function;

	if (cfg_req_timer_fn && fn == cfg_req_timer_fn) {
		req_timer(timer);
		return 0;
	}
	if (!cfg_tw_timer_fn || fn != cfg_tw_timer_fn)
		return 0;
	tw = tw_of_timer(timer);
	twp = (__u64)tw;
	if (!bpf_map_lookup_elem(&tws, &twp))
		tw_birth(tw);
	else
		tw_check(tw, &k, &conn);
	return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(tf_timer_start, struct timer_list *timer)
{
	TF_FIRST(TCPFLOW_BPF_NEST_TIMER_START, timer_start_run(timer));
	return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(tf_timer_start_twin, struct timer_list *timer)
{
	TF_TWIN(TCPFLOW_BPF_NEST_TIMER_START, timer_start_run(timer));
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(tf_timer_expire, struct timer_list *timer)
{
	if (!cfg_tw_timer_fn ||
	    (__u64)timer->function != cfg_tw_timer_fn)
		return 0;
	tw_end(tw_of_timer(timer), TCPFLOW_WHY_EXPIRE);
	return 0;
}

static __always_inline int timer_cancel_run(void *ctx,
					    struct timer_list *timer)
{
	__u64 stack[TCPFLOW_BPF_STACK_DEPTH];
	long n;
	int i;

	if (!cfg_tw_timer_fn || !cfg_kill_lo ||
	    (__u64)timer->function != cfg_tw_timer_fn)
		return 0;
	/* Also cancelled on the way to expiry and when rearmed: find out. */
	n = bpf_get_stack(ctx, stack, sizeof(stack), 0);
	for (i = 0; i < TCPFLOW_BPF_STACK_DEPTH; i++) {
		if (i * 8 >= n)
			break;
		if (stack[i] >= cfg_kill_lo && stack[i] < cfg_kill_hi) {
			tw_end(tw_of_timer(timer), TCPFLOW_WHY_KILL);
			break;
		}
	}
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tf_timer_cancel, struct timer_list *timer)
{
	TF_FIRST(TCPFLOW_BPF_NEST_TIMER_CANCEL, timer_cancel_run(ctx, timer));
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tf_timer_cancel_twin, struct timer_list *timer)
{
	TF_TWIN(TCPFLOW_BPF_NEST_TIMER_CANCEL, timer_cancel_run(ctx, timer));
	return 0;
}

/* Softirqs do not nest on one CPU: a flag is enough. */
static __always_inline void softirq_set(__u32 v)
{
	__u32 zero = 0;
	__u32 *in = bpf_map_lookup_elem(&softirq, &zero);

	if (in)
		*in = v;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(tf_softirq_entry, unsigned int vec)
{
	softirq_set(1);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(tf_softirq_exit, unsigned int vec)
{
	softirq_set(0);
	return 0;
}

/*
 * A request sock's SYN-ACK sent again: the one place it is a pointer
 * the cookie helper takes.  Its cookie, set now, is its child's too.
 */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tf_synack_again, struct sock *lsk, struct request_sock *req)
{
	struct tkey k = {};
	struct cval *e;
	__u64 cookie, old;

	req_tuple(req, &k);
	e = bpf_map_lookup_elem(&conns, &k);
	if (!e || e->kind != TCPFLOW_SK_REQ || e->sk != (__u64)req ||
	    !is_synth(e->conn))
		return 0;
	cookie = bpf_get_socket_cookie(req);
	old = e->conn;
	e->conn = cookie;
	link_ids(&k, old, cookie);
	return 0;
}

/* ---- sockets that were there before us --------------------------------- */

/*
 * bpf_iter over the TCP hash tables of one network namespace (the one
 * tcpflow-bpf is in when it creates the iterator; it visits each):
 * listeners first, then every full, request and timewait sock.  Each is
 * put in the maps as if we had seen it born, unless we have seen it
 * already (BPF_NOEXIST: the programs are attached by now, and what they
 * saw is newer), and gets its cookie set here: this pointer is one the
 * cookie helper takes, which a request or timewait sock's never is
 * elsewhere, and the kernel copies a request sock's cookie into its
 * child and a full socket's into its timewait sock.  One line per
 * socket with a file, "cookie inode", lets userspace find its owner.
 */
SEC("iter/tcp")
int tf_seed(struct bpf_iter__tcp *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct sock_common *skc = ctx->sk_common;
	struct tkey k = {};
	struct cval ne = {};
	__u64 skp, conn;
	__u8 state;

	if (!skc)
		return 0;
	skp = (__u64)skc;
	state = BPF_CORE_READ(skc, skc_state);
	conn = bpf_get_socket_cookie(skc);
	ne.conn = conn;
	ne.sk = skp;
	if (state == ST_LISTEN) {
		struct lkey l = {};
		struct lval lv = { .conn = conn };

		skc_lkey(skc, &l, &lv.v6only);
		bpf_map_update_elem(&listeners, &l, &lv, BPF_NOEXIST);
	} else if (state == ST_TIME_WAIT) {
		struct inet_timewait_sock *tw = (void *)skc;
		struct twval t = { .conn = conn };

		skc_tuple(skc, &k);
		t.substate = BPF_CORE_READ(tw, tw_substate);
		t.expires = BPF_CORE_READ(tw, tw_timer.expires);
		bpf_map_update_elem(&tws, &skp, &t, BPF_NOEXIST);
		ne.kind = TCPFLOW_SK_TW;
		ne.state = t.substate;
		bpf_map_update_elem(&conns, &k, &ne, BPF_NOEXIST);
		return 0;
	} else if (state == ST_NEW_SYN_RECV) {
		req_tuple((struct request_sock *)skc, &k);
		ne.kind = TCPFLOW_SK_REQ;
		ne.state = state;
		ne.parent = listener_of(&k);
		bpf_map_update_elem(&conns, &k, &ne, BPF_NOEXIST);
		return 0;
	} else {
		sk_tuple((struct sock *)skc, &k);
		if (k.lport && k.rport) {
			ne.kind = TCPFLOW_SK_FULL;
			ne.state = state;
			bpf_map_update_elem(&conns, &k, &ne, BPF_NOEXIST);
		}
	}
	{
		struct socket *so = BPF_CORE_READ((struct sock *)skc, sk_socket);
		__u64 ino;

		if (!so)
			return 0;
		ino = BPF_CORE_READ((struct socket_alloc *)so, vfs_inode.i_ino);
		BPF_SEQ_PRINTF(seq, "%llu %llu\n", conn, ino);
	}
	return 0;
}
