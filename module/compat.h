/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - what tcpflow assumes about the kernel it is built against.
 *
 * The probes read their arguments by position (regs_get_kernel_argument),
 * so a hooked function whose parameters changed would be misread, not
 * rejected.  Every hooked function the kernel declares in a header is
 * checked here against the prototype the handler was written for: a kernel
 * that changed one fails to build, naming it.  The static functions
 * (tw_timer_handler, tcp_v6_do_rcv, tcp_v4_send_synack, tcp_v6_send_synack,
 * tcp_v4_send_reset, tcp_v4_send_ack, tcp_v6_send_response) have no
 * declaration to check; their prototypes are those of Linux 6.1, and
 * a missing symbol fails the load with its name.
 */
#ifndef TCPFLOW_COMPAT_H
#define TCPFLOW_COMPAT_H

#include <linux/build_bug.h>
#include <net/inet6_connection_sock.h>
#include <net/inet_connection_sock.h>
#include <net/inet_timewait_sock.h>
#include <net/ip.h>
#include <net/tcp.h>

#define TCPFLOW_CHECK_PROTO(fn, proto)					\
	static_assert(__builtin_types_compatible_p(typeof(fn), proto),	\
		      "tcpflow: the prototype of " #fn " changed; "	\
		      "its probe in hooks.c must follow")

TCPFLOW_CHECK_PROTO(tcp_set_state, void (struct sock *, int));
TCPFLOW_CHECK_PROTO(inet_csk_listen_start, int (struct sock *));
TCPFLOW_CHECK_PROTO(inet_csk_accept,
		    struct sock *(struct sock *, int, int *, bool));
TCPFLOW_CHECK_PROTO(inet_csk_reqsk_queue_hash_add,
		    bool (struct sock *, struct request_sock *, unsigned long));
TCPFLOW_CHECK_PROTO(inet_csk_reqsk_queue_drop,
		    bool (struct sock *, struct request_sock *));
TCPFLOW_CHECK_PROTO(inet_csk_clone_lock,
		    struct sock *(const struct sock *,
				  const struct request_sock *, const gfp_t));
TCPFLOW_CHECK_PROTO(inet_twsk_hashdance,
		    void (struct inet_timewait_sock *, struct sock *,
			  struct inet_hashinfo *));
TCPFLOW_CHECK_PROTO(__inet_twsk_schedule,
		    void (struct inet_timewait_sock *, int, bool));
TCPFLOW_CHECK_PROTO(inet_twsk_deschedule_put,
		    void (struct inet_timewait_sock *));
TCPFLOW_CHECK_PROTO(tcp_v4_do_rcv, int (struct sock *, struct sk_buff *));
TCPFLOW_CHECK_PROTO(tcp_check_req,
		    struct sock *(struct sock *, struct sk_buff *,
				  struct request_sock *, bool, bool *));
TCPFLOW_CHECK_PROTO(tcp_timewait_state_process,
		    enum tcp_tw_status (struct inet_timewait_sock *,
					struct sk_buff *,
					const struct tcphdr *));
TCPFLOW_CHECK_PROTO(__ip_queue_xmit,
		    int (struct sock *, struct sk_buff *, struct flowi *, __u8));
#if IS_ENABLED(CONFIG_IPV6)
TCPFLOW_CHECK_PROTO(inet6_csk_xmit,
		    int (struct sock *, struct sk_buff *, struct flowi *));
#endif

#endif /* TCPFLOW_COMPAT_H */
