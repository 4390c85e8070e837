// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.c - where tcpflow listens, and why there.
 *
 * Every hook is an ftrace callback at a function's entry (all of them on
 * one ftrace_ops, so handlers run in the hooked function's own context),
 * but one kretprobe, on listen(), once per listener.  Handlers copy a
 * fixed-size record into the ring and return: no allocation, no sleeping,
 * no loop that depends on the traffic.
 *
 * State changes
 *   tcp_set_state               every full-socket transition
 *   inet_csk_listen_start (ret) CLOSE -> LISTEN; listen() stores the state
 *                               directly, tcp_set_state never sees it
 *   inet_csk_reqsk_queue_hash_add  a SYN made a request sock, which may
 *                               fail to be inserted: NEW_SYN_RECV is told
 *                               at its first SYN-ACK (below), which only
 *                               an inserted one sends
 *   __inet_csk_reqsk_queue_drop  the request sock went away without a child
 *                               (reset, or its timer gave up; older
 *                               kernels: inet_csk_reqsk_queue_drop)
 *   security_inet_csk_clone     passive child born in SYN_RECV: the last
 *                               step of inet_csk_clone_lock, which sets
 *                               the state directly (tcp_set_state never
 *                               sees it); it has the child and the request
 *   inet_twsk_hashdance_schedule  TIME_WAIT begins on the timewait sock
 *                               (inet_twsk_hashdance before 6.11)
 *   __inet_twsk_schedule        TIME_WAIT timer rearmed, or FIN_WAIT2
 *                               substate turned into TIME_WAIT
 *   inet_twsk_kill              the timewait sock ends, exactly once:
 *                               why=expire when tw_timer_handler (hooked
 *                               too, to tell) called it, else why=kill
 *                               (4-tuple reused, netns exit, ss -K)
 * Segments received (TCP_SKB_CB is filled in by then)
 *   tcp_v4_do_rcv, tcp_v6_do_rcv  full sockets, listener included, both
 *                               the softirq path and the socket backlog
 *   tcp_check_req               segments to a request sock
 *   tcp_timewait_state_process  segments to a timewait sock
 * Segments sent
 *   __ip_queue_xmit, inet6_csk_xmit  everything a full socket sends; the
 *                               TCP header is built by then
 *   tcp_v4_send_synack, tcp_v6_send_synack  SYN-ACK of a request sock
 *                               (and, at the first, its NEW_SYN_RECV)
 *   tcp_v4_send_reset, tcp_v4_send_ack, tcp_v6_send_response
 *                               replies sent without a full socket: RST
 *                               for a segment nobody owns (and, just
 *                               before, that segment: rx sock=none), the
 *                               ACK of a timewait sock or a request sock,
 *                               a listener's reset (tcp_check_req()
 *                               answers for a request sock through it)
 *   ip_send_unicast_reply, ip6_xmit  where such a reset is handed to IP:
 *                               its records are written there, the MD5
 *                               and TCP-AO checks may still drop it
 *                               after the two above
 * Owner
 *   security_sock_graft         accept() hands the child to a process
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/hash.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/kprobes.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/timekeeping.h>
#include <net/inet_connection_sock.h>
#include <net/inet_timewait_sock.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/request_sock.h>
#include <net/route.h>
#include <net/tcp.h>
#include "compat.h"
#include "tcpflow.h"

/* Argument @i (from 0) of a hooked function, as ftrace saved it. */
#define arg(fregs, i)	tcpflow_ftrace_arg(fregs, i)
/* The same, at a kretprobe's entry. */
#define karg(regs, i)	regs_get_kernel_argument(regs, i)

/*
 * Same-CPU hand-over between two hooks of one code path.  Only ids are
 * kept here, never a pointer: the socket may be gone by the next event.
 */
struct tcpflow_pcpu {
	u64 clone_conn;		/* request sock that just got a child */
	u64 tw_rx_conn;		/* timewait sock that just got a segment */
	u8 tw_rx_substate;	/* its substate before that segment */
	u64 tw_timer_conn;	/* timewait sock whose timer is running */
	u64 req_add_conn;	/* request sock being inserted */
	u64 req_add_lconn;	/* its listener */
	/*
	 * The request sock that just got a segment, and which segment (the
	 * skb's address as a number, and its ports and sequence number): a
	 * reply its listener then sends for that segment is the request's.
	 */
	u64 req_rx_conn;
	unsigned long req_rx_skb;
	u32 req_rx_ports;
	u32 req_rx_seq;
};

static DEFINE_PER_CPU(struct tcpflow_pcpu, tcpflow_pcpu);

/*
 * A reset, from where the kernel decides to send it (tcp_v4_send_reset(),
 * tcp_v6_send_response(), which know the socket) to where it is handed
 * to IP (ip_send_unicast_reply(), ip6_xmit(), which only see the packet):
 * between the two the kernel may still decide not to send it (the MD5
 * and TCP-AO checks), so the records are written at the second.  One
 * slot for each context a reset is sent from on a CPU: a task (a
 * socket's backlog), and a softirq that may interrupt it.
 */
struct tcpflow_reply {
	struct tcpflow_record rx;	/* the segment, if it reached no socket */
	struct tcpflow_record tx;	/* the reset */
	u64 owner_conn;
	bool acting;			/* acting_task() where it was decided */
	bool has_rx;
	bool armed;
	/*
	 * A SYN-ACK, from tcp_v{4,6}_send_synack(), which knows its request
	 * sock, to ip_build_and_send_pkt() or ip6_xmit(), where its header
	 * is built (its options: rec_synopt()).  It may fail in between (no
	 * route, no memory): then it was not sent, and is not recorded.
	 */
	struct tcpflow_record synack;
	u64 synack_owner;
	bool synack_armed;
};

static DEFINE_PER_CPU(struct tcpflow_reply [2], tcpflow_reply);

static struct tcpflow_reply *reply_slot(void)
{
	return &this_cpu_ptr(&tcpflow_reply)[0][in_serving_softirq() ? 1 : 0];
}

/* Resets sent whose records could not be told (see reply_sent()). */
static atomic_long_t tcpflow_replies_lost = ATOMIC_LONG_INIT(0);

/*
 * Is the running task the one acting on the socket?  In process context,
 * yes where bottom halves are on (connect, listen, accept, close,
 * sendmsg...), or where it holds @own's lock: release_sock() and
 * tcp_close() run the socket's backlog with bottom halves off.  Bottom
 * halves off and no such lock: the task runs the receive path for
 * whoever sent the packet (a tun writer such as a VPN daemon or a packet
 * injector, threaded NAPI, busy polling), and is a bystander.
 *
 * "Owned" says some task holds the lock, not which.  That is enough for
 * a full socket: the receive path does not go in while the lock is held
 * (tcp_v4_rcv() queues the segment to the backlog, and the owner runs it
 * in release_sock()).  A listener's segments go in regardless of its
 * lock, and accept() holds it for a moment before it sleeps: in that
 * moment a tun writer's SYN would be taken for the accepting task's.
 */
static bool acting_task(const struct sock *own)
{
	if (in_nmi() || in_hardirq() || in_serving_softirq())
		return false;
	if (!in_softirq())
		return true;
	return own && own->sk_state != TCP_LISTEN &&
	       sock_owned_by_user_nocheck(own);
}

/*
 * DCCP shares the connection-sock and timewait code with TCP: its
 * listeners, request socks and timewait socks come through the same
 * hooks, and are not TCP's.
 */
static bool is_tcp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM;
}

/* A timewait sock has no sk_protocol: its proto ("TCP", "TCPv6") says. */
static bool tw_is_tcp(const struct inet_timewait_sock *tw)
{
	const char *name = tw->tw_prot->name;

	return !strcmp(name, "TCP") || !strcmp(name, "TCPv6");
}

static u64 conn_of(const struct sock_common *skc)
{
	u64 cookie = atomic64_read(&skc->skc_cookie);
	u32 c[2];

	/* The kernel's socket cookie: what ss -e shows as "sk:". */
	if (likely(cookie))
		return cookie;
	/* The first time anyone asks: the kernel gives it one. */
	sock_diag_save_cookie((struct sock *)skc, c);
	return ((u64)c[1] << 32) | c[0];
}

/*
 * The namespace twice: its inode number for users (ls -l /proc/PID/ns/net),
 * which a new namespace may get again once the old one is gone, and its
 * cookie, which the kernel never hands out twice: /proc/tcpflow tells
 * namespaces apart by both (procfs.c).
 */
static void rec_net(struct tcpflow_record *r, const struct net *net)
{
	r->netns = net->ns.inum;
	r->net_cookie = (u32)tcpflow_net_cookie(net);
}

/* Fill the 4-tuple, family, netns and id from any kind of socket. */
static void rec_sock(struct tcpflow_record *r, const struct sock_common *skc,
		     u8 kind)
{
	r->sock = kind;
	rec_net(r, read_pnet(&skc->skc_net));
	r->conn = conn_of(skc);
	r->lport = skc->skc_num;
	r->rport = ntohs(skc->skc_dport);
#if IS_ENABLED(CONFIG_IPV6)
	if (skc->skc_family == AF_INET6 &&
	    !ipv6_addr_v4mapped(&skc->skc_v6_daddr)) {
		r->af = 6;
		memcpy(r->laddr, &skc->skc_v6_rcv_saddr, 16);
		memcpy(r->raddr, &skc->skc_v6_daddr, 16);
		return;
	}
#endif
	r->af = 4;
	memcpy(r->laddr, &skc->skc_rcv_saddr, 4);
	memcpy(r->raddr, &skc->skc_daddr, 4);
}

/* The namespace a packet without a socket came into (or leaves from). */
static const struct net *skb_net_of(const struct sk_buff *skb)
{
	const struct net_device *dev = skb_dst(skb) ? skb_dst(skb)->dev :
						      skb->dev;

	return dev ? dev_net(dev) : &init_net;
}

/* Fill the 4-tuple from a received packet, seen from the receiver. */
static void rec_skb_tuple(struct tcpflow_record *r, const struct sk_buff *skb)
{
	const struct tcphdr *th = tcp_hdr(skb);

	r->lport = ntohs(th->dest);
	r->rport = ntohs(th->source);
	if (skb->protocol == htons(ETH_P_IPV6)) {
		r->af = 6;
		memcpy(r->laddr, &ipv6_hdr(skb)->daddr, 16);
		memcpy(r->raddr, &ipv6_hdr(skb)->saddr, 16);
	} else {
		r->af = 4;
		memcpy(r->laddr, &ip_hdr(skb)->daddr, 4);
		memcpy(r->raddr, &ip_hdr(skb)->saddr, 4);
	}
}

static u8 kind_of(const struct sock_common *skc)
{
	switch (skc->skc_state) {
	case TCP_TIME_WAIT:
		return TCPFLOW_SK_TW;
	case TCP_NEW_SYN_RECV:
		return TCPFLOW_SK_REQ;
	default:
		return TCPFLOW_SK_FULL;
	}
}

/* The socket's state as users know it: a timewait sock has a substate. */
static u8 state_of(const struct sock_common *skc)
{
	if (skc->skc_state == TCP_TIME_WAIT)
		return ((const struct inet_timewait_sock *)skc)->tw_substate;
	return skc->skc_state;
}

static bool filter_addr_is(const struct tcpflow_cfg *cfg, const u8 *a, u8 af)
{
	return cfg->addr_af == af && !memcmp(cfg->addr, a, af == 4 ? 4 : 16);
}

static bool filtered_out(const struct tcpflow_cfg *cfg,
			 const struct tcpflow_record *r)
{
	if (cfg->has_netns && (r->netns != cfg->netns ||
				r->net_cookie != cfg->net_cookie))
		return true;
	if (cfg->has_port && r->lport != cfg->port && r->rport != cfg->port)
		return true;
	if (cfg->has_addr && !filter_addr_is(cfg, r->laddr, r->af) &&
	    !filter_addr_is(cfg, r->raddr, r->af))
		return true;
	return false;
}

/*
 * Every handler runs with interrupts off (tcpflow_ftrace(), listen_ret()):
 * that is an RCU read-side section for the cfg (writers free the old one
 * with kfree_rcu(), whose grace period waits for it), and nothing on this
 * CPU can write to the ring between reserve and commit.
 */
static const struct tcpflow_cfg *cfg_now(void)
{
	lockdep_assert_irqs_disabled();
	return rcu_dereference_sched(tcpflow_cfg);
}

/*
 * Whose event @r is: the task acting on the socket (@acting, from
 * acting_task(own): @own is the full socket the event is about, if any),
 * else the owner of @r's connection or of @owner_conn (a request sock has
 * none yet: its listener's owner is the best answer).
 */
static void set_who(struct tcpflow_record *r, u64 owner_conn, bool acting)
{
	if (acting) {
		r->who = TCPFLOW_WHO_CUR;
		tcpflow_task_now(r);
		if (r->event == TCPFLOW_EV_STATE)
			tcpflow_owner_set(r);
	} else if (tcpflow_owner_get(r->conn, r) ||
		   (owner_conn && tcpflow_owner_get(owner_conn, r))) {
		r->who = TCPFLOW_WHO_OWNER;
	}
}

/* Finish @r and put it in the ring; @acting: see set_who(). */
static void emit_as(struct tcpflow_record *r, u64 owner_conn, bool acting)
{
	const struct tcpflow_cfg *cfg = cfg_now();

	if (!cfg || filtered_out(cfg, r))
		return;

	/*
	 * Without a socket an event is nobody's: a task that runs the
	 * receive path (a tun writer) is a bystander.
	 */
	if (r->sock != TCPFLOW_SK_NONE)
		set_who(r, owner_conn, acting);
	r->cpu = raw_smp_processor_id();
	r->ts_ns = ktime_get_mono_fast_ns();

	/* 0: given up (the ring lapped this writer); readers see a gap */
	r->n = tcpflow_ring_write(r);
}

static void emit(struct tcpflow_record *r, u64 owner_conn,
		 const struct sock *own)
{
	emit_as(r, owner_conn, acting_task(own));
}

static u8 segmode(void)
{
	const struct tcpflow_cfg *cfg = cfg_now();

	return cfg ? cfg->segmode : TCPFLOW_SEG_NONE;
}

/*
 * The default segment mode keeps what the handshake and teardown are made
 * of: SYN, FIN, RST, anything on a socket that is not ESTABLISHED, and
 * the one pure ACK of an ESTABLISHED socket that belongs to the handshake:
 * the active opener's third ACK, sent just after it became ESTABLISHED,
 * before any byte came in.
 */
static bool want_segment(u8 mode, u8 kind, u8 state, u8 flags, u32 len,
			 bool third_ack)
{
	if (mode == TCPFLOW_SEG_ALL)
		return true;
	if (mode == TCPFLOW_SEG_NONE)
		return false;
	if (flags & (TCPFLOW_F_SYN | TCPFLOW_F_FIN | TCPFLOW_F_RST))
		return true;
	if (kind != TCPFLOW_SK_FULL || state != TCP_ESTABLISHED)
		return true;
	return third_ack && !len;
}

static void rec_seg(struct tcpflow_record *r, u8 ev, u8 flags, u32 seq,
		    u32 ack, u16 win, u32 len)
{
	r->event = ev;
	r->flags = flags;
	r->seq = seq;
	r->ack = ack;
	r->win = win;
	r->len = len;
}

/*
 * A SYN's options, from its header as on the wire: what tcp_parse_options()
 * reads, but only the four a handshake agrees on, and the window scale
 * as sent (the kernel caps it at 14).  Bounded by the header's 40 bytes
 * of options, which the receive path has pulled into the linear part
 * (tcp_v4_rcv()) and the send path built there.
 */
static void rec_synopt(struct tcpflow_record *r, const struct tcphdr *th)
{
	const u8 *p = (const u8 *)(th + 1);
	int len = th->doff * 4 - (int)sizeof(*th);
	struct tcpflow_synopt *o = &r->opt;

	o->bits = TCPFLOW_OPT_SEEN;
	while (len > 0) {
		u8 kind = p[0], size;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			p++;
			len--;
			continue;
		}
		if (len < 2)
			break;
		size = p[1];
		if (size < 2 || size > len)
			break;
		if (kind == TCPOPT_MSS && size == TCPOLEN_MSS) {
			o->mss = p[2] << 8 | p[3];
			o->bits |= TCPFLOW_OPT_MSS;
		} else if (kind == TCPOPT_WINDOW && size == TCPOLEN_WINDOW) {
			o->ws = p[2];
			o->bits |= TCPFLOW_OPT_WS;
		} else if (kind == TCPOPT_SACK_PERM &&
			   size == TCPOLEN_SACK_PERM) {
			o->bits |= TCPFLOW_OPT_SACK;
		} else if (kind == TCPOPT_TIMESTAMP &&
			   size == TCPOLEN_TIMESTAMP) {
			o->tsval = (u32)p[2] << 24 | p[3] << 16 | p[4] << 8 | p[5];
			o->bits |= TCPFLOW_OPT_TS;
		}
		p += size;
		len -= size;
	}
}

/* ---- state changes ---------------------------------------------------- */

static void tcp_set_state_pre(struct tcpflow_fregs *regs)
{
	struct sock *sk = (struct sock *)arg(regs, 0);
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };

	rec_sock(&r, &sk->__sk_common, TCPFLOW_SK_FULL);
	r.old_state = sk->sk_state;
	r.new_state = (u8)arg(regs, 1);
	emit(&r, 0, sk);
}

/*
 * A SYN made a request sock, which tcp_conn_request() now tries to put
 * in the established hash: the insertion fails if another CPU just put a
 * request sock for the same 4-tuple there (the same SYN, received twice
 * at once), and the loser is freed with no end.  So the request is only
 * marked here, and its NEW_SYN_RECV told when it sends its first SYN-ACK
 * (send_synack_pre()), which tcp_conn_request() does only for a request
 * sock it inserted.  (5.10 inserts every one, duplicates too, and each
 * sends its SYN-ACK: each is told.)
 */
static void reqsk_hash_add_pre(struct tcpflow_fregs *regs)
{
	const struct sock *lsk = (const struct sock *)arg(regs, 0);
	struct request_sock *req = (struct request_sock *)arg(regs, 1);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);

	if (!is_tcp(lsk))
		return;
	pc->req_add_conn = conn_of(&req->__req_common);
	pc->req_add_lconn = conn_of(&lsk->__sk_common);
}

static void reqsk_drop_pre(struct tcpflow_fregs *regs)
{
	const struct sock *lsk = (const struct sock *)arg(regs, 0);
	struct request_sock *req = (struct request_sock *)arg(regs, 1);
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };

	if (!is_tcp(lsk))
		return;
	rec_sock(&r, &req->__req_common, TCPFLOW_SK_REQ);
	/* A request that just became a child is not a drop. */
	if (r.conn == this_cpu_read(tcpflow_pcpu.clone_conn))
		return;
	r.old_state = TCP_NEW_SYN_RECV;
	r.new_state = TCP_CLOSE;
	emit(&r, conn_of(&lsk->__sk_common), NULL);
}

/*
 * The passive child is born in SYN_RECV: inet_csk_clone_lock() sets the
 * state directly, tcp_set_state() never sees it.  Its last step,
 * security_inet_csk_clone(newsk, req), has both sockets; the record is
 * built from the request sock (same 4-tuple: the child's own addresses
 * are only filled in after clone returns).  Entry hooks here and for
 * accept replaced kretprobes on inet_csk_clone_lock and inet_csk_accept,
 * which were a fifteenth of tcpflow's cost per connection.
 */
static void clone_pre(struct tcpflow_fregs *regs)
{
	struct sock *child = (struct sock *)arg(regs, 0);
	struct request_sock *req = (struct request_sock *)arg(regs, 1);
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };

	/* MPTCP's clone of its own socket comes here too, and DCCP's. */
	if (child->sk_protocol != IPPROTO_TCP)
		return;
	rec_sock(&r, &req->__req_common, TCPFLOW_SK_FULL);
	r.old_state = TCP_NEW_SYN_RECV;
	r.new_state = TCP_SYN_RECV;
	/*
	 * Give the child its request sock's cookie, so one id follows the
	 * connection from request to full to timewait sock (Debian's 6.1
	 * copies it itself, when the request had one).  The child is not
	 * hashed yet: nobody else can have read or set it.
	 */
	atomic64_cmpxchg(&child->sk_cookie, 0, r.conn);
	this_cpu_write(tcpflow_pcpu.clone_conn, r.conn);
	emit(&r, 0, NULL);
}

static void twsk_hashdance_pre(struct tcpflow_fregs *regs)
{
	struct inet_timewait_sock *tw = (struct inet_timewait_sock *)arg(regs, 0);
	const struct sock *sk = (const struct sock *)arg(regs, 1);
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };

	if (!is_tcp(sk))
		return;
	rec_sock(&r, &tw->__tw_common, TCPFLOW_SK_TW);
	r.old_state = sk->sk_state;
	r.new_state = tw->tw_substate;
	emit(&r, 0, sk);
}

static void twsk_schedule_pre(struct tcpflow_fregs *regs)
{
	struct inet_timewait_sock *tw = (struct inet_timewait_sock *)arg(regs, 0);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };

	/* The first arming is told by hashdance; DCCP's are not ours. */
	if (!arg(regs, 2) || !tw_is_tcp(tw))
		return;
	rec_sock(&r, &tw->__tw_common, TCPFLOW_SK_TW);
	r.new_state = tw->tw_substate;
	if (pc->tw_rx_conn == r.conn && pc->tw_rx_substate != r.new_state) {
		r.old_state = pc->tw_rx_substate;	/* FIN_WAIT2 got its FIN */
	} else {
		r.old_state = r.new_state;
		r.why = TCPFLOW_WHY_REARM;
	}
	emit(&r, 0, NULL);
}

static void twsk_end(struct inet_timewait_sock *tw, u8 why)
{
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE, .why = why };

	rec_sock(&r, &tw->__tw_common, TCPFLOW_SK_TW);
	r.old_state = tw->tw_substate;
	r.new_state = TCP_CLOSE;
	/* TIME_WAIT is always (re)armed for exactly TCP_TIMEWAIT_LEN. */
	if (r.old_state == TCP_TIME_WAIT) {
		unsigned long armed = tw->tw_timer.expires - TCP_TIMEWAIT_LEN;

		r.dur_ns = jiffies_to_nsecs(jiffies - armed);
	}
	emit(&r, 0, NULL);
}

/*
 * A timewait sock ends in inet_twsk_kill(), exactly once: from its timer
 * (tw_timer_handler(), expiry), or from inet_twsk_deschedule_put() when
 * del_timer_sync() (timer_shutdown_sync() since 6.11) stopped the timer
 * before it ran (4-tuple reused, netns exit, ss -K).  Telling the two
 * apart at the deschedule's entry raced with the timer firing on another
 * CPU: both told their story.  The timer marks its sock here, and the
 * kill that follows on this CPU, in the same call, is its expiry.
 */
static void tw_timer_pre(struct tcpflow_fregs *regs)
{
	struct timer_list *t = (struct timer_list *)arg(regs, 0);
	struct inet_timewait_sock *tw;

	tw = container_of(t, struct inet_timewait_sock, tw_timer);
	if (tw_is_tcp(tw))
		this_cpu_write(tcpflow_pcpu.tw_timer_conn,
			       conn_of(&tw->__tw_common));
}

static void twsk_kill_pre(struct tcpflow_fregs *regs)
{
	struct inet_timewait_sock *tw = (struct inet_timewait_sock *)arg(regs, 0);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);
	bool expired;

	if (!tw_is_tcp(tw))
		return;
	expired = pc->tw_timer_conn == conn_of(&tw->__tw_common);
	pc->tw_timer_conn = 0;
	twsk_end(tw, expired ? TCPFLOW_WHY_EXPIRE : TCPFLOW_WHY_KILL);
}

/* ---- segments received ------------------------------------------------- */

/*
 * The record is built (and zeroed) only for a segment the mode keeps: in
 * the default mode most segments are not, and the hooks see all of them.
 */
static void rx_record(const struct sock_common *skc, u8 kind, u8 state,
		      const struct sk_buff *skb, u8 flags, u32 len,
		      u64 owner_conn)
{
	const struct tcp_skb_cb *cb = TCP_SKB_CB(skb);
	struct tcpflow_record r = { };

	rec_sock(&r, skc, kind);
	/* A listener has no remote end: the segment says who is calling. */
	if (state == TCP_LISTEN)
		rec_skb_tuple(&r, skb);
	/*
	 * The backlog may have merged segments into this skb: the control
	 * block holds the merged flags and end, the header only the first.
	 */
	rec_seg(&r, TCPFLOW_EV_RX, flags, cb->seq, cb->ack_seq,
		ntohs(tcp_hdr(skb)->window), len);
	if (flags & TCPFLOW_F_SYN)
		rec_synopt(&r, tcp_hdr(skb));
	r.new_state = state;
	emit(&r, owner_conn,
	     kind == TCPFLOW_SK_FULL ? (const struct sock *)skc : NULL);
}

static void rx_skb(const struct sock_common *skc, u8 kind, u8 state,
		   const struct sk_buff *skb, u64 owner_conn)
{
	const struct tcp_skb_cb *cb = TCP_SKB_CB(skb);
	u8 flags = cb->tcp_flags;
	u32 len = cb->end_seq - cb->seq - !!(flags & TCPFLOW_F_SYN) -
		  !!(flags & TCPFLOW_F_FIN);

	if (want_segment(segmode(), kind, state, flags, len, false))
		rx_record(skc, kind, state, skb, flags, len, owner_conn);
}

static void do_rcv_pre(struct tcpflow_fregs *regs)
{
	struct sock *sk = (struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);

	rx_skb(&sk->__sk_common, TCPFLOW_SK_FULL, sk->sk_state, skb, 0);
}

static void v6_do_rcv_pre(struct tcpflow_fregs *regs)
{
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);

	/* An IPv4 packet to a v6 socket is passed on to tcp_v4_do_rcv(). */
	if (skb->protocol == htons(ETH_P_IP))
		return;
	do_rcv_pre(regs);
}

/* Which segment of which connection: for the hand-over to a reply. */
static u32 skb_ports(const struct sk_buff *skb)
{
	const struct tcphdr *th = tcp_hdr(skb);

	return (u32)ntohs(th->source) << 16 | ntohs(th->dest);
}

static void check_req_pre(struct tcpflow_fregs *regs)
{
	const struct sock *lsk = (const struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);
	struct request_sock *req = (struct request_sock *)arg(regs, 2);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);

	/* Fast Open: called on the child, already seen by do_rcv. */
	if (arg(regs, 3))
		return;
	/*
	 * tcp_check_req() answers some segments itself, through the
	 * listener: an ACK for one out of the window, a reset for a bad
	 * one (and a wrong ack number makes the listener reset it): see
	 * tx_reply().
	 */
	pc->req_rx_conn = conn_of(&req->__req_common);
	pc->req_rx_skb = (unsigned long)skb;
	pc->req_rx_ports = skb_ports(skb);
	pc->req_rx_seq = TCP_SKB_CB(skb)->seq;
	rx_skb(&req->__req_common, TCPFLOW_SK_REQ, TCP_NEW_SYN_RECV, skb,
	       conn_of(&lsk->__sk_common));
}

static void tw_rcv_pre(struct tcpflow_fregs *regs)
{
	struct inet_timewait_sock *tw = (struct inet_timewait_sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);

	pc->tw_rx_conn = conn_of(&tw->__tw_common);
	pc->tw_rx_substate = tw->tw_substate;
	rx_skb(&tw->__tw_common, TCPFLOW_SK_TW, tw->tw_substate, skb, 0);
}

/* ---- segments sent ----------------------------------------------------- */

static void tx_record(const struct sock *sk, const struct tcphdr *th,
		      u8 flags, u32 len)
{
	struct tcpflow_record r = { };

	rec_sock(&r, &sk->__sk_common, TCPFLOW_SK_FULL);
	/* After CLOSE the socket has let go of its port; the header has not. */
	r.lport = ntohs(th->source);
	r.rport = ntohs(th->dest);
	rec_seg(&r, TCPFLOW_EV_TX, flags, ntohl(th->seq), ntohl(th->ack_seq),
		ntohs(th->window), len);
	if (flags & TCPFLOW_F_SYN)
		rec_synopt(&r, th);
	r.new_state = sk->sk_state;
	emit(&r, 0, sk);
}

static void queue_xmit_pre(struct tcpflow_fregs *regs)
{
	struct sock *sk = (struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);
	const struct tcphdr *th;
	bool third_ack;
	u8 flags;
	u32 len;

	if (sk->sk_protocol != IPPROTO_TCP || sk->sk_type != SOCK_STREAM)
		return;
	th = tcp_hdr(skb);
	flags = tcp_flag_byte(th);
	len = skb->len - th->doff * 4;
	third_ack = !tcp_sk(sk)->bytes_received;
	/* As in rx_skb(): the record only for a segment the mode keeps. */
	if (want_segment(segmode(), TCPFLOW_SK_FULL, sk->sk_state, flags, len,
			 third_ack))
		tx_record(sk, th, flags, len);
}

/*
 * What tcp_make_synack() will put in the header, from the request sock.
 * The first SYN-ACK of a request sock just inserted: it is queued now.
 */
static void send_synack_pre(struct tcpflow_fregs *regs)
{
	const struct sock *lsk = (const struct sock *)arg(regs, 0);
	struct request_sock *req = (struct request_sock *)arg(regs, 3);
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);
	struct tcpflow_record r = { };
	struct tcpflow_reply *rp;
	u8 flags = TCPFLOW_F_SYN | TCPFLOW_F_ACK;

	rec_sock(&r, &req->__req_common, TCPFLOW_SK_REQ);
	if (pc->req_add_conn && pc->req_add_conn == r.conn) {
		pc->req_add_conn = 0;
		r.event = TCPFLOW_EV_STATE;
		r.old_state = TCP_LISTEN;
		r.new_state = TCP_NEW_SYN_RECV;
		emit(&r, pc->req_add_lconn, NULL);
		memset(&r, 0, sizeof(r));
		rec_sock(&r, &req->__req_common, TCPFLOW_SK_REQ);
	}
	rp = reply_slot();
	rp->synack_armed = false;
	if (segmode() == TCPFLOW_SEG_NONE)
		return;
	if (inet_rsk(req)->ecn_ok)
		flags |= TCPFLOW_F_ECE;
	rec_seg(&r, TCPFLOW_EV_TX, flags, tcp_rsk(req)->snt_isn,
		tcp_rsk(req)->rcv_nxt, min(req->rsk_rcv_wnd, 65535U), 0);
	r.new_state = TCP_NEW_SYN_RECV;
	rp->synack = r;
	rp->synack_owner = conn_of(&lsk->__sk_common);
	rp->synack_armed = true;
}

/*
 * A segment handed to IP by a listener: if it is the SYN-ACK this
 * context prepared last (same ports and sequence number), record it now,
 * with its options.  The window and ECE were taken from the request sock;
 * the header says the same.
 */
static void synack_sent(const struct tcphdr *th)
{
	struct tcpflow_reply *rp = reply_slot();

	if (!rp->synack_armed || !th->syn || !th->ack ||
	    rp->synack.lport != ntohs(th->source) ||
	    rp->synack.rport != ntohs(th->dest) ||
	    rp->synack.seq != ntohl(th->seq))
		return;
	rp->synack_armed = false;
	rec_synopt(&rp->synack, th);
	emit(&rp->synack, rp->synack_owner, NULL);
}

/* IPv4 sends a SYN-ACK (DCCP its response) here, its header built. */
static void v4_build_xmit_pre(struct tcpflow_fregs *regs)
{
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 0);
	const struct sock *sk = (const struct sock *)arg(regs, 1);

	if (sk && sk->sk_protocol == IPPROTO_TCP)
		synack_sent(tcp_hdr(skb));
}

/*
 * A reply built from a received segment (@skb) on behalf of @sk, which
 * may be NULL (no socket: the reset for a closed port), a timewait sock,
 * or a listener answering for one of its request socks.  Fills @r and
 * returns whose connection owns it (for set_who()); @own is the full
 * socket it is about, if any.
 */
static u64 reply_record(struct tcpflow_record *r, const struct sock *sk,
			const struct sk_buff *skb, u8 flags, u32 seq, u32 ack,
			u16 win, const struct sock **own)
{
	struct tcpflow_pcpu *pc = this_cpu_ptr(&tcpflow_pcpu);
	u8 state = TCP_CLOSE;

	memset(r, 0, sizeof(*r));
	if (sk) {
		rec_sock(r, &sk->__sk_common, kind_of(&sk->__sk_common));
		state = state_of(&sk->__sk_common);
	} else {
		r->sock = TCPFLOW_SK_NONE;
		rec_net(r, skb_net_of(skb));
	}
	/*
	 * A listener (a dual-stack one too) has no remote end of its own:
	 * its reply goes to the segment's sender, in the segment's family.
	 * If that segment was a request sock's, the reply is the request's.
	 */
	if (!sk || state == TCP_LISTEN) {
		rec_skb_tuple(r, skb);
		if (sk && pc->req_rx_conn &&
		    pc->req_rx_skb == (unsigned long)skb &&
		    pc->req_rx_ports == skb_ports(skb) &&
		    pc->req_rx_seq == TCP_SKB_CB(skb)->seq) {
			r->conn = pc->req_rx_conn;
			r->sock = TCPFLOW_SK_REQ;
			state = TCP_NEW_SYN_RECV;
		}
	}
	rec_seg(r, TCPFLOW_EV_TX, flags, seq, ack, win, 0);
	r->new_state = state;
	*own = r->sock == TCPFLOW_SK_FULL ? sk : NULL;
	return sk ? conn_of(&sk->__sk_common) : 0;
}

static void tx_reply(const struct sock *sk, const struct sk_buff *skb,
		     u8 flags, u32 seq, u32 ack, u16 win)
{
	struct tcpflow_record r;
	const struct sock *own;
	u64 owner_conn;

	if (segmode() == TCPFLOW_SEG_NONE)
		return;
	owner_conn = reply_record(&r, sk, skb, flags, seq, ack, win, &own);
	emit(&r, owner_conn, own);
}

/*
 * A segment that reaches no socket: recorded (rx, sock=none) just before
 * the reset that answers it, so that the reset has its cause.  Recorded
 * only where the kernel sends that reset.
 */
static void nosock_record(struct tcpflow_record *r, const struct sk_buff *skb)
{
	const struct tcphdr *th = tcp_hdr(skb);

	memset(r, 0, sizeof(*r));
	rec_skb_tuple(r, skb);
	r->sock = TCPFLOW_SK_NONE;
	rec_net(r, skb_net_of(skb));
	rec_seg(r, TCPFLOW_EV_RX, tcp_flag_byte(th), ntohl(th->seq),
		ntohl(th->ack_seq), ntohs(th->window),
		skb->len - th->doff * 4);
	if (th->syn)
		rec_synopt(r, th);
	r->new_state = TCP_CLOSE;
}

/*
 * The kernel means to reset the segment @skb that @sk (or no socket) got:
 * keep the records until it really sends the reset (reply_sent()).
 */
static void reset_decided(const struct sock *sk, const struct sk_buff *skb,
			  u8 flags, u32 seq, u32 ack)
{
	struct tcpflow_reply *rp = reply_slot();
	const struct sock *own;

	rp->armed = false;
	if (segmode() == TCPFLOW_SEG_NONE)
		return;
	rp->has_rx = !sk;
	if (!sk)
		nosock_record(&rp->rx, skb);
	rp->owner_conn = reply_record(&rp->tx, sk, skb, flags, seq, ack, 0,
				      &own);
	rp->acting = acting_task(own);
	rp->armed = true;
}

/*
 * A reply handed to IP, its TCP header @th built: if it is the reset this
 * context decided last (same ports, sequence and ack numbers), its records
 * are true now.  Anything else leaves the slot empty: a reset decided and
 * then not sent (the slot is stale), or a reset whose decision was not
 * seen here (a task that moved to another CPU in between): that one is
 * counted in "missed".
 */
static void reply_sent(const struct tcphdr *th)
{
	struct tcpflow_reply *rp;

	if (!th->rst)
		return;
	rp = reply_slot();
	if (!rp->armed) {
		if (segmode() != TCPFLOW_SEG_NONE)
			atomic_long_inc(&tcpflow_replies_lost);
		return;
	}
	rp->armed = false;
	if (rp->tx.lport != ntohs(th->source) ||
	    rp->tx.rport != ntohs(th->dest) || rp->tx.seq != ntohl(th->seq) ||
	    rp->tx.ack != ntohl(th->ack_seq)) {
		atomic_long_inc(&tcpflow_replies_lost);
		return;
	}
	if (rp->has_rx)
		emit_as(&rp->rx, 0, false);
	emit_as(&rp->tx, rp->owner_conn, rp->acting);
}

/* tcp_v4_send_reset() builds its reset from the offending segment. */
static void v4_send_reset_pre(struct tcpflow_fregs *regs)
{
	const struct sock *sk = (const struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);
	const struct tcphdr *th = tcp_hdr(skb);
	const struct rtable *rt = skb_rtable(skb);
	u32 ack;

	/* The same early returns as tcp_v4_send_reset() before its MD5. */
	if (th->rst || (!sk && (!rt || rt->rt_type != RTN_LOCAL)))
		return;
	if (th->ack) {
		reset_decided(sk, skb, TCPFLOW_F_RST, ntohl(th->ack_seq), 0);
		return;
	}
	ack = ntohl(th->seq) + th->syn + th->fin + skb->len - th->doff * 4;
	reset_decided(sk, skb, TCPFLOW_F_RST | TCPFLOW_F_ACK, 0, ack);
}

static void v4_send_ack_pre(struct tcpflow_fregs *regs)
{
	tx_reply((const struct sock *)arg(regs, 0),
		 (const struct sk_buff *)arg(regs, 1), TCPFLOW_F_ACK,
		 arg(regs, 2), arg(regs, 3), arg(regs, 4));
}

/*
 * ip_send_unicast_reply(): tcp_v4_send_reset() and tcp_v4_send_ack() hand
 * their reply to IP here, the TCP header in @arg's iov (position: see
 * compat.h).
 */
static void v4_unicast_reply_pre(struct tcpflow_fregs *regs)
{
	const struct ip_reply_arg *ra =
		(const struct ip_reply_arg *)arg(regs, TCPFLOW_REPLY_ARG);

	reply_sent((const struct tcphdr *)ra->iov[0].iov_base);
}

/*
 * IPv6 resets and replies both come here; rst's position: see compat.h.
 * The MD5 checks of tcp_v6_send_reset() come before it, but it may still
 * fail to send (no memory, no route), and TCP-AO signs in it: a reset is
 * recorded when it reaches ip6_xmit().
 */
static void v6_send_response_pre(struct tcpflow_fregs *regs)
{
	const struct sock *sk = (const struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);
	bool rst = arg(regs, TCPFLOW_V6_RESPONSE_RST) & 1;

	if (!rst) {
		tx_reply(sk, skb, TCPFLOW_F_ACK, arg(regs, 2), arg(regs, 3),
			 arg(regs, 4));
		return;
	}
	reset_decided(sk, skb, TCPFLOW_F_RST |
		      (tcp_hdr(skb)->ack ? 0 : TCPFLOW_F_ACK),
		      arg(regs, 2), arg(regs, 3));
}

/*
 * Everything IPv6 sends with a socket comes here; tcp_v6_send_response()
 * sends with its namespace's control sock.
 */
static void v6_xmit_pre(struct tcpflow_fregs *regs)
{
#if IS_ENABLED(CONFIG_IPV6)
	const struct sock *sk = (const struct sock *)arg(regs, 0);
	const struct sk_buff *skb = (const struct sk_buff *)arg(regs, 1);

	if (!sk)
		return;
	if (sk == sock_net(sk)->ipv6.tcp_sk)
		reply_sent(tcp_hdr(skb));
	else if (sk->sk_protocol == IPPROTO_TCP && sk->sk_state == TCP_LISTEN)
		synack_sent(tcp_hdr(skb));	/* tcp_v6_send_synack() */
#endif
}

/* listen() is a state change that tcp_set_state() never sees. */
static int listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (tcpflow_floor())
		return 0;
	*(struct sock **)ri->data = (struct sock *)karg(regs, 0);
	return 0;
}

static int listen_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = *(struct sock **)ri->data;
	struct tcpflow_record r = { .event = TCPFLOW_EV_STATE };
	unsigned long flags;

	if (tcpflow_floor() || regs_return_value(regs) || !is_tcp(sk))
		return 0;
	local_irq_save(flags);	/* see tcpflow_ftrace() */
	rec_sock(&r, &sk->__sk_common, TCPFLOW_SK_FULL);
	r.old_state = TCP_CLOSE;
	r.new_state = TCP_LISTEN;
	emit(&r, 0, sk);
	local_irq_restore(flags);
	return 0;
}

/* ---- owner ------------------------------------------------------------- */

/*
 * accept() hands the child to a process: inet_accept() grafts it onto
 * the new struct socket, and sock_graft() calls security_sock_graft()
 * (a real function, where sock_graft() itself is inline).  Every other
 * protocol's accept comes here too.  MPTCP grafts its TCP subflows
 * without it (mptcp_sock_graft()): a subflow's owner is whichever task
 * first changes its state in process context.
 */
static void graft_pre(struct tcpflow_fregs *regs)
{
	const struct sock *sk = (const struct sock *)arg(regs, 0);

	if ((sk->sk_family != AF_INET && sk->sk_family != AF_INET6) ||
	    sk->sk_protocol != IPPROTO_TCP || !acting_task(sk))
		return;
	tcpflow_owner_learn(conn_of(&sk->__sk_common));
}

/* ---- registration ------------------------------------------------------ */

/*
 * The function-entry hooks.  They share one ftrace_ops: the kernel
 * patches every hooked function's fentry call in one code update, where
 * a kprobe each (as tcpflow used to have) cost an update each: on a
 * debug kernel under emulation, those updates were most of the time an
 * insmod or rmmod took (docs/reliability.md).
 */
typedef void (*tcpflow_hook_fn)(struct tcpflow_fregs *fregs);

struct tcpflow_hook {
	const char *name;
	tcpflow_hook_fn fn;
	unsigned long ip;	/* its fentry call, where ftrace calls us */
};

#define HOOK(sym, f) { .name = sym, .fn = f }

static struct tcpflow_hook tcpflow_hooks[] = {
	HOOK("tcp_set_state", tcp_set_state_pre),
	HOOK("inet_csk_reqsk_queue_hash_add", reqsk_hash_add_pre),
	HOOK("__inet_csk_reqsk_queue_drop", reqsk_drop_pre),
	HOOK("inet_twsk_hashdance_schedule", twsk_hashdance_pre),
	HOOK("__inet_twsk_schedule", twsk_schedule_pre),
	HOOK("tw_timer_handler", tw_timer_pre),
	HOOK("inet_twsk_kill", twsk_kill_pre),
	HOOK("tcp_v4_do_rcv", do_rcv_pre),
	HOOK("tcp_v6_do_rcv", v6_do_rcv_pre),
	HOOK("tcp_check_req", check_req_pre),
	HOOK("tcp_timewait_state_process", tw_rcv_pre),
	HOOK("__ip_queue_xmit", queue_xmit_pre),
	HOOK("inet6_csk_xmit", queue_xmit_pre),
	HOOK("tcp_v4_send_synack", send_synack_pre),
	HOOK("tcp_v6_send_synack", send_synack_pre),
	HOOK("tcp_v4_send_reset", v4_send_reset_pre),
	HOOK("tcp_v4_send_ack", v4_send_ack_pre),
	HOOK("tcp_v6_send_response", v6_send_response_pre),
	HOOK("ip_send_unicast_reply", v4_unicast_reply_pre),
	HOOK("ip6_xmit", v6_xmit_pre),
	HOOK("ip_build_and_send_pkt", v4_build_xmit_pre),
	HOOK("security_inet_csk_clone", clone_pre),
	HOOK("security_sock_graft", graft_pre),
};

/*
 * Which hook an ip is: open addressing on hash_long(ip), filled at load
 * before the hooks are armed and only read after.  Holds index + 1, 0 is
 * an empty slot; never full, so a lookup ends at an empty slot at the
 * latest.  (A linear scan of tcpflow_hooks[] cost a tenth of tcpflow's
 * whole cost per connection.)
 */
#define TCPFLOW_HOOK_HASH_BITS	6
static u8 tcpflow_hook_hash[1 << TCPFLOW_HOOK_HASH_BITS];
static_assert(ARRAY_SIZE(tcpflow_hooks) < ARRAY_SIZE(tcpflow_hook_hash) / 2);

static unsigned int hook_slot(unsigned long ip)
{
	return hash_long(ip, TCPFLOW_HOOK_HASH_BITS);
}

static unsigned int hook_next(unsigned int h)
{
	return (h + 1) & (ARRAY_SIZE(tcpflow_hook_hash) - 1);
}

static void tcpflow_hash_hooks(void)
{
	unsigned int i, h;

	memset(tcpflow_hook_hash, 0, sizeof(tcpflow_hook_hash));
	for (i = 0; i < ARRAY_SIZE(tcpflow_hooks); i++) {
		for (h = hook_slot(tcpflow_hooks[i].ip); tcpflow_hook_hash[h];
		     h = hook_next(h))
			;
		tcpflow_hook_hash[h] = i + 1;
	}
}

/* Hook hits dropped because another hook was running on that CPU. */
static atomic_long_t tcpflow_hooks_recursed = ATOMIC_LONG_INIT(0);

/*
 * Every hook runs with interrupts off.  ftrace refuses a call that comes
 * while a hook is running in the same context on that CPU (recursion,
 * counted in "missed"; on 5.10 ftrace refuses it before us, uncounted:
 * compat.h); a hook in process context that an interrupt
 * broke into would let the softirq run on the interrupt's way out, and
 * lose that softirq's records (the ACK it sends, the segment it
 * receives).  Interrupts are off from here to the end of the hook.
 */
static void notrace tcpflow_ftrace(unsigned long ip, unsigned long parent_ip,
				   struct ftrace_ops *ops,
				   struct tcpflow_fregs *fregs)
{
	unsigned long flags;
	unsigned int h, k;
	int bit;

	if (tcpflow_floor())
		return;
	bit = tcpflow_recursion_trylock(ip, parent_ip);
	if (bit < 0) {
		atomic_long_inc(&tcpflow_hooks_recursed);
		return;
	}
	local_irq_save(flags);
	for (h = hook_slot(ip); (k = tcpflow_hook_hash[h]); h = hook_next(h)) {
		if (tcpflow_hooks[k - 1].ip == ip) {
			tcpflow_hooks[k - 1].fn(fregs);
			break;
		}
	}
	local_irq_restore(flags);
	tcpflow_recursion_unlock(bit);
}

/*
 * No FTRACE_OPS_FL_RECURSION: tcpflow_ftrace() guards itself.  Without
 * FTRACE_OPS_FL_SAVE_REGS ftrace saves only what the arguments need (5.10
 * saves none without it: TCPFLOW_FTRACE_FLAGS, compat.h).
 * FTRACE_OPS_FL_PERMANENT: with sysctl kernel.ftrace_enabled=0 ftrace
 * would take the ops and never call them (nor the kretprobes, which sit
 * on the same fentry sites through ftrace): tcpflow would load and
 * record nothing.  With the flag the load fails instead (-EBUSY), and
 * while tcpflow is loaded that sysctl cannot be set to 0.
 */
static struct ftrace_ops tcpflow_ops = {
	.func = tcpflow_ftrace,
	.flags = FTRACE_OPS_FL_PERMANENT | TCPFLOW_FTRACE_FLAGS,
};

static struct kretprobe tcpflow_kretprobes[] = {
	{
		.kp.symbol_name = "inet_csk_listen_start",
		.entry_handler = listen_entry,
		.handler = listen_ret,
		.data_size = sizeof(struct sock *),
		.maxactive = 16,
	},
};

/* The header's missed= (through tcpflow_ring_missed_from()). */
static unsigned long tcpflow_hooks_missed(void)
{
	unsigned long missed = atomic_long_read(&tcpflow_hooks_recursed) +
			       atomic_long_read(&tcpflow_replies_lost);
	int i;

	for (i = 0; i < ARRAY_SIZE(tcpflow_kretprobes); i++)
		missed += tcpflow_kretprobes[i].nmissed +
			  tcpflow_kretprobes[i].kp.nmissed;
	return missed;
}

/*
 * Where each hooked function's fentry call is.  kallsyms_lookup_name() is
 * not for modules; a kprobe registered disabled is looked up the same way
 * as an armed one (fallback names and all: compat.h) but patches nothing.
 * For a function that ftrace can trace its address is that call.
 */
static struct kprobe tcpflow_lookup[ARRAY_SIZE(tcpflow_hooks)];

static int tcpflow_resolve(void)
{
	struct kprobe *kps[ARRAY_SIZE(tcpflow_hooks)];
	int i, err = 0;

	for (i = 0; i < ARRAY_SIZE(tcpflow_hooks); i++) {
		struct kprobe *kp = &tcpflow_lookup[i];

		memset(kp, 0, sizeof(*kp));
		kp->symbol_name = tcpflow_hooks[i].name;
		kp->flags = KPROBE_FLAG_DISABLED;
		err = tcpflow_register_kprobe(kp);
		if (err) {
			pr_err("cannot attach to %s: error %d\n",
			       tcpflow_hooks[i].name, err);
			break;
		}
		tcpflow_hooks[i].name = kp->symbol_name;
		tcpflow_hooks[i].ip = (unsigned long)kp->addr;
		kps[i] = kp;
	}
	/* Batched: one synchronize_rcu() for all of them. */
	if (i)
		unregister_kprobes(kps, i);
	return err;
}

/*
 * The ops' filter: the hooked functions' fentry calls, one
 * ftrace_set_filter_ip() each (ftrace_set_filter_ips(), all at once, is
 * 6.0's).  The ops is not registered yet: each call only changes the
 * filter, and register_ftrace_function() patches them all in one update.
 */
static int tcpflow_set_filter(void)
{
	int i, err;

	for (i = 0; i < ARRAY_SIZE(tcpflow_hooks); i++) {
		err = ftrace_set_filter_ip(&tcpflow_ops, tcpflow_hooks[i].ip,
					   0, 0);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Frees the filter, the ops not registered: an empty filter set with
 * reset makes ftrace swap in its shared empty hash and free the old one.
 * (ftrace_free_filter() does the same, but modules have it only since
 * 6.2, 8be9fbd5345d, and the 6.1 stable series.)
 */
static void tcpflow_free_filter(void)
{
	ftrace_set_filter(&tcpflow_ops, NULL, 0, 1);
}

int tcpflow_hooks_init(void)
{
	int i, err;

	err = tcpflow_resolve();
	if (err)
		return err;
	tcpflow_hash_hooks();
	err = tcpflow_set_filter();
	if (err) {
		pr_err("cannot hook the functions with ftrace: error %d\n",
		       err);
		goto out_free_filter;
	}
	for (i = 0; i < ARRAY_SIZE(tcpflow_kretprobes); i++) {
		err = register_kretprobe(&tcpflow_kretprobes[i]);
		if (err) {
			pr_err("cannot attach to %s: error %d\n",
			       tcpflow_kretprobes[i].kp.symbol_name, err);
			goto out_unregister_kretprobes;
		}
	}
	err = register_ftrace_function(&tcpflow_ops);
	if (err == -EBUSY) {
		pr_err("cannot register the ftrace hooks: ftrace is off (sysctl kernel.ftrace_enabled=0)\n");
		goto out_unregister_kretprobes;
	}
	if (err) {
		pr_err("cannot register the ftrace hooks: error %d\n", err);
		goto out_unregister_kretprobes;
	}
	tcpflow_ring_missed_from(tcpflow_hooks_missed);
	return 0;

out_unregister_kretprobes:
	while (i--)
		unregister_kretprobe(&tcpflow_kretprobes[i]);
out_free_filter:
	tcpflow_free_filter();
	return err;
}

void tcpflow_hooks_exit(void)
{
	struct kretprobe *rps[ARRAY_SIZE(tcpflow_kretprobes)];
	int i;

	tcpflow_ring_missed_from(NULL);
	/*
	 * Waits until no CPU can be in tcpflow_ftrace() any more: for ops
	 * in a module, on a preemptible kernel (Debian's), that includes an
	 * RCU tasks grace period, which ends once every task that was
	 * runnable has slept or gone to user space.  A kernel thread that
	 * runs long without sleeping (kmemleak's scan on a debug kernel
	 * under emulation: many minutes) holds rmmod up that long.
	 */
	unregister_ftrace_function(&tcpflow_ops);
	tcpflow_free_filter();
	/* Batched: one synchronize_rcu() for all of them. */
	for (i = 0; i < ARRAY_SIZE(rps); i++)
		rps[i] = &tcpflow_kretprobes[ARRAY_SIZE(rps) - 1 - i];
	unregister_kretprobes(rps, ARRAY_SIZE(rps));
}
