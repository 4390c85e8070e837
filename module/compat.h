/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - what tcpflow assumes about the kernel it is built against,
 * and the only place where kernels differ (docs/kernels.md has the story).
 *
 * The probes read their arguments by position (regs_get_kernel_argument),
 * so a hooked function whose parameters changed would be misread, not
 * rejected.  Every hooked function the kernel declares in a header is
 * checked here against the prototypes the handler was written for: each
 * alternative below reads the same arguments at the same positions, and a
 * kernel with any other prototype fails to build, naming the function.
 * The static functions (tw_timer_handler, inet_twsk_kill, tcp_v6_do_rcv,
 * tcp_v4_send_synack, tcp_v6_send_synack, tcp_v4_send_reset,
 * tcp_v4_send_ack, tcp_v6_send_response) have no declaration to check:
 * their prototypes were compared by hand in Linux 6.1, 6.12 and 7.3, and
 * a missing symbol fails the load with its name.
 */
#ifndef TCPFLOW_COMPAT_H
#define TCPFLOW_COMPAT_H

#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/security.h>
#include <linux/preempt.h>
#include <linux/string.h>
#include <net/inet6_connection_sock.h>
#include <net/inet_connection_sock.h>
#include <net/inet_timewait_sock.h>
#include <net/ip.h>
#include <net/tcp.h>

/*
 * Named in prototypes below that later kernels have (6.1 has the enum;
 * 5.10 does not): a declaration is enough for a pointer to it.
 */
enum skb_drop_reason;

#define TCPFLOW_PROTO_IS(fn, proto)					\
	__builtin_types_compatible_p(typeof(fn), proto)

#define TCPFLOW_PROTO_MSG(fn)						\
	"tcpflow: the prototype of " #fn " changed; "			\
	"its probe in hooks.c must follow"

#define TCPFLOW_CHECK_PROTO(fn, proto)					\
	static_assert(TCPFLOW_PROTO_IS(fn, proto), TCPFLOW_PROTO_MSG(fn))

/* Any of these: the probe reads only what they have in common. */
#define TCPFLOW_CHECK_PROTO2(fn, proto1, proto2)			\
	static_assert(TCPFLOW_PROTO_IS(fn, proto1) ||			\
		      TCPFLOW_PROTO_IS(fn, proto2), TCPFLOW_PROTO_MSG(fn))

#define TCPFLOW_CHECK_PROTO3(fn, proto1, proto2, proto3)		\
	static_assert(TCPFLOW_PROTO_IS(fn, proto1) ||			\
		      TCPFLOW_PROTO_IS(fn, proto2) ||			\
		      TCPFLOW_PROTO_IS(fn, proto3), TCPFLOW_PROTO_MSG(fn))

/*
 * TIME_WAIT begins in inet_twsk_hashdance(tw, sk, hashinfo); Linux 6.11
 * (b334b924c9b7 "net: tcp/dccp: prepare for tw_timer un-pinning") renamed
 * it inet_twsk_hashdance_schedule(tw, sk, hashinfo, timeo), which also
 * arms the timer.  The probe reads tw and sk.  A kernel declares one of
 * the two; declaring both here makes the compiler check whichever it has
 * ("conflicting types" if it changed), and the probe tries the new name,
 * then the old one.
 */
void inet_twsk_hashdance(struct inet_timewait_sock *tw, struct sock *sk,
			 struct inet_hashinfo *hashinfo);
void inet_twsk_hashdance_schedule(struct inet_timewait_sock *tw,
				  struct sock *sk,
				  struct inet_hashinfo *hashinfo, int timeo);

/*
 * A request sock that goes without a child: inet_csk_reqsk_queue_drop(sk,
 * req).  The fix for a use-after-free of nreq in reqsk_timer_handler()
 * (Linux 6.13, in the 6.1 and 6.12 stable series too: Debian's 6.1.0-57
 * has it) moved its body into a static __inet_csk_reqsk_queue_drop(sk,
 * req, from_timer), which the timer calls directly when the SYN-ACK
 * retransmits run out: a probe on the exported wrapper misses those drops.
 * The probe tries the static function, then the wrapper (older kernels,
 * or one where the compiler inlined it away).  Both take sk, req first.
 */
static inline int tcpflow_register_kprobe(struct kprobe *kp)
{
	/* A hooked function, and the name to try where it does not exist. */
	static const char *const fallback[][2] = {
		{ "inet_twsk_hashdance_schedule", "inet_twsk_hashdance" },
		{ "__inet_csk_reqsk_queue_drop", "inet_csk_reqsk_queue_drop" },
	};
	int err = register_kprobe(kp);
	int i;

	for (i = 0; err == -ENOENT && i < ARRAY_SIZE(fallback); i++) {
		if (strcmp(kp->symbol_name, fallback[i][0]))
			continue;
		kp->symbol_name = fallback[i][1];
		err = register_kprobe(kp);
	}
	return err;
}

/*
 * The ftrace callback.  Linux 5.11 (d19ad0775dcd "ftrace: Have the
 * callbacks receive a struct ftrace_regs instead of pt_regs", and the
 * series around it) changed three things together, and gave x86-64
 * DYNAMIC_FTRACE_WITH_ARGS, which is what tells them apart here (Kbuild
 * asks for it from 5.11 on):
 *  - a callback gets a struct ftrace_regs, which holds the argument
 *    registers whatever the ops asks for; 5.10 hands it a struct pt_regs,
 *    NULL unless the ops asks for all the registers
 *    (FTRACE_OPS_FL_SAVE_REGS, from DYNAMIC_FTRACE_WITH_REGS; a little
 *    slower);
 *  - ftrace_test_recursion_trylock() (<linux/trace_recursion.h>) lets a
 *    callback refuse recursion itself, and count it, where ftrace does it
 *    for an ops without FTRACE_OPS_FL_RECURSION; 5.10 has no such helper,
 *    and ftrace refuses recursion for any ops without
 *    FTRACE_OPS_FL_RECURSION_SAFE, in ftrace_ops_assist_func(), which
 *    counts nothing.
 * And ftrace_regs_get_argument() came in 6.5 (7.x made struct ftrace_regs
 * opaque); before it, x86's struct ftrace_regs is a pt_regs.
 * hooks.c's handlers take a struct tcpflow_fregs (the one or the other)
 * and read arguments with tcpflow_ftrace_arg(); TCPFLOW_FTRACE_FLAGS is
 * what the ops must ask for.
 */
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#include <linux/trace_recursion.h>
#define tcpflow_fregs			ftrace_regs
#define TCPFLOW_FTRACE_FLAGS		0
#ifdef ftrace_regs_get_argument
#define tcpflow_ftrace_arg(fregs, i)	ftrace_regs_get_argument(fregs, i)
#else
#define tcpflow_ftrace_arg(fregs, i)	regs_get_kernel_argument(&(fregs)->regs, i)
#endif
#define tcpflow_recursion_trylock(ip, parent_ip)			\
	ftrace_test_recursion_trylock(ip, parent_ip)
#define tcpflow_recursion_unlock(bit)	ftrace_test_recursion_unlock(bit)
#else
#ifndef CONFIG_DYNAMIC_FTRACE_WITH_REGS
#error "tcpflow needs DYNAMIC_FTRACE_WITH_ARGS, or WITH_REGS before 5.11"
#endif
#define tcpflow_fregs			pt_regs
#define TCPFLOW_FTRACE_FLAGS		FTRACE_OPS_FL_SAVE_REGS
#define tcpflow_ftrace_arg(regs, i)	regs_get_kernel_argument(regs, i)
/* ftrace refused the recursion already (and counted nothing). */
static inline int tcpflow_recursion_trylock(unsigned long ip,
					    unsigned long parent_ip)
{
	return 0;
}

static inline void tcpflow_recursion_unlock(int bit)
{
}
#endif

/* 5.10's <linux/preempt.h> has in_irq(), the same test under its old name. */
#ifndef in_hardirq
#define in_hardirq()	in_irq()
#endif

/*
 * tcp_v6_send_response(sk, skb, seq, ack, win, tsval, tsecr, oif, ...):
 * TCP-AO (Linux 6.7; ba7783ad45c8 "net/tcp: Add AO sign to RST packets")
 * moved the key from before rst to the end, so rst went from the 10th
 * argument to the 9th.  TCP_AO_ADD_KEY came with that series.  Static:
 * no declaration to check.
 */
#ifdef TCP_AO_ADD_KEY
#define TCPFLOW_V6_RESPONSE_RST 8
#else
#define TCPFLOW_V6_RESPONSE_RST 9
#endif

/*
 * ip_send_unicast_reply(sk, skb, sopt, daddr, saddr, arg, len,
 * transmit_time, txhash); a kernel after 6.12 (7.3 has it) added orig_sk
 * second (the socket the reply is for, where sk is the per-CPU control
 * sock), which moves arg from the 6th argument to the 7th.  5.10 has no
 * txhash at the end (6.1 has).  The probe reads only arg.
 */
#define TCPFLOW_UNICAST_REPLY_510					\
	void (struct sock *, struct sk_buff *, const struct ip_options *, \
	      __be32, __be32, const struct ip_reply_arg *, unsigned int, \
	      u64)
#define TCPFLOW_UNICAST_REPLY_OLD					\
	void (struct sock *, struct sk_buff *, const struct ip_options *, \
	      __be32, __be32, const struct ip_reply_arg *, unsigned int, \
	      u64, u32)
#define TCPFLOW_UNICAST_REPLY_ORIG_SK					\
	void (struct sock *, const struct sock *, struct sk_buff *,	\
	      const struct ip_options *, __be32, __be32,		\
	      const struct ip_reply_arg *, unsigned int, u64, u32)
TCPFLOW_CHECK_PROTO3(ip_send_unicast_reply, TCPFLOW_UNICAST_REPLY_510,
		     TCPFLOW_UNICAST_REPLY_OLD, TCPFLOW_UNICAST_REPLY_ORIG_SK);
#define TCPFLOW_REPLY_ARG						\
	(TCPFLOW_PROTO_IS(ip_send_unicast_reply,			\
			  TCPFLOW_UNICAST_REPLY_ORIG_SK) ? 6 : 5)
#if IS_ENABLED(CONFIG_IPV6)
/* sk and skb are read (the reply's TCP header is built by then). */
TCPFLOW_CHECK_PROTO(ip6_xmit,
		    int (const struct sock *, struct sk_buff *, struct flowi6 *,
			 __u32, struct ipv6_txoptions *, int, u32));
#endif

TCPFLOW_CHECK_PROTO(tcp_set_state, void (struct sock *, int));
/* sk is read (a kretprobe); 5.10 passes the backlog too (6.1 does not). */
TCPFLOW_CHECK_PROTO2(inet_csk_listen_start, int (struct sock *),
		     int (struct sock *, int));
/*
 * sk and req are read.  6.19 dropped the timeout ("tcp: Remove timeout
 * arg from reqsk_queue_hash_req()" and its series).  5.10's returns
 * nothing: it inserts the request sock whatever the hash holds, and
 * tcp_conn_request() sends its SYN-ACK after it every time.
 */
TCPFLOW_CHECK_PROTO3(inet_csk_reqsk_queue_hash_add,
		     void (struct sock *, struct request_sock *, unsigned long),
		     bool (struct sock *, struct request_sock *, unsigned long),
		     bool (struct sock *, struct request_sock *));
TCPFLOW_CHECK_PROTO(inet_csk_reqsk_queue_drop,
		    bool (struct sock *, struct request_sock *));
/*
 * Two LSM entry points, real functions wherever CONFIG_SECURITY is set
 * (every distribution kernel); without it they are empty inlines and the
 * load fails naming them.
 */
TCPFLOW_CHECK_PROTO(security_inet_csk_clone,
		    void (struct sock *, const struct request_sock *));
TCPFLOW_CHECK_PROTO(security_sock_graft, void (struct sock *, struct socket *));
TCPFLOW_CHECK_PROTO(__inet_twsk_schedule,
		    void (struct inet_timewait_sock *, int, bool));
TCPFLOW_CHECK_PROTO(tcp_v4_do_rcv, int (struct sock *, struct sk_buff *));
/* sk, skb, req, fastopen are read.  drop_reason: 6.15 (e34100c2ecbb). */
TCPFLOW_CHECK_PROTO2(tcp_check_req,
		     struct sock *(struct sock *, struct sk_buff *,
				   struct request_sock *, bool, bool *),
		     struct sock *(struct sock *, struct sk_buff *,
				   struct request_sock *, bool, bool *,
				   enum skb_drop_reason *));
/*
 * tw and skb are read.  Added at the end: tw_isn in 6.10 (41eecbd712b7),
 * drop_reason in 6.16 ("tcp: add TCP_RFC7323_TW_PAWS drop reason").
 */
TCPFLOW_CHECK_PROTO3(tcp_timewait_state_process,
		     enum tcp_tw_status (struct inet_timewait_sock *,
					 struct sk_buff *,
					 const struct tcphdr *),
		     enum tcp_tw_status (struct inet_timewait_sock *,
					 struct sk_buff *,
					 const struct tcphdr *, u32 *),
		     enum tcp_tw_status (struct inet_timewait_sock *,
					 struct sk_buff *,
					 const struct tcphdr *, u32 *,
					 enum skb_drop_reason *));
TCPFLOW_CHECK_PROTO(__ip_queue_xmit,
		    int (struct sock *, struct sk_buff *, struct flowi *, __u8));
/* skb and sk are read: a SYN-ACK, its TCP header built (hooks.c). */
TCPFLOW_CHECK_PROTO(ip_build_and_send_pkt,
		    int (struct sk_buff *, const struct sock *, __be32, __be32,
			 struct ip_options_rcu *, u8));
#if IS_ENABLED(CONFIG_IPV6)
TCPFLOW_CHECK_PROTO(inet6_csk_xmit,
		    int (struct sock *, struct sk_buff *, struct flowi *));
#endif

/*
 * A network namespace's cookie, a counter the kernel never hands out
 * twice (unlike the namespace's inode number): net->net_cookie, set when
 * the namespace is made (a u64 in 6.1).  5.10's is an atomic64_t set the
 * first time someone asks, through __net_gen_cookie(), which modules
 * cannot call: a namespace's cookie could change from 0 while tcpflow
 * runs, and its readers would no longer see its records.
 * There, hash_mix stands in: 32 random bits drawn when the namespace is
 * set up, never changed; with the inode number it tells namespaces apart
 * as well (two would have to share both).
 */
#define TCPFLOW_LAZY_NET_COOKIE						\
	__builtin_types_compatible_p(typeof(((struct net *)0)->net_cookie), \
				     atomic64_t)

static inline u64 tcpflow_net_cookie(const struct net *net)
{
	return __builtin_choose_expr(TCPFLOW_LAZY_NET_COOKIE, net->hash_mix,
				     net->net_cookie);
}

#endif /* TCPFLOW_COMPAT_H */
