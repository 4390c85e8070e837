/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tcpflow_bpf.h - what tcpflow.bpf.c and tcpflow-bpf.c agree on beyond
 * module/tcpflow_abi.h.  Constants, and one map value of __u32 and __u64
 * (the BPF side has them from vmlinux.h, userspace from <linux/types.h>).
 *
 * The ring buffer carries struct tcpflow_record as it is; n is 0 there
 * (userspace numbers the records in the order it reads them).
 */
#ifndef TCPFLOW_BPF_H
#define TCPFLOW_BPF_H

#include <linux/types.h>	/* empty on the BPF side: tools/bpf/shim */

/* dur_ns of a TIME_WAIT -> CLOSE record whose arming was not seen. */
#define TCPFLOW_BPF_DUR_UNKNOWN (~0ULL)

/*
 * A request sock whose cookie is unset carries a placeholder id with this
 * bit set until its real one is known: then a link message (event
 * TCPFLOW_BPF_EV_LINK, conn = the placeholder, dur_ns = the cookie) tells
 * userspace, which writes the cookie in its place.  Never printed.
 */
#define TCPFLOW_BPF_CONN_SYNTH (1ULL << 63)
#define TCPFLOW_BPF_EV_LINK 0x80

/*
 * A request sock that died before its cookie was known never had one:
 * its records get this + the placeholder's counter, an id of our own
 * that a double holds exactly and no cookie reaches in practice (cookies
 * count from 1; 2^52 of them is 142 years at a million sockets a second).
 */
#define TCPFLOW_BPF_CONN_NOCOOKIE (1ULL << 52)

/*
 * The hooks that have a twin for one level of nesting (tcpflow.bpf.c,
 * the nest map): their slots in it.  Userspace counts the runs the
 * kernel skipped that no twin took as missed.
 */
#define TCPFLOW_BPF_NEST_STATE 0	/* tf_state, tf_state_twin */
#define TCPFLOW_BPF_NEST_TIMER_START 1	/* tf_timer_start, ..._twin */
#define TCPFLOW_BPF_NEST_TIMER_CANCEL 2	/* tf_timer_cancel, ..._twin */
#define TCPFLOW_BPF_NEST_N 3

/*
 * A slot of the nest map, per CPU: depth is 1 while the first of a hook
 * runs, taken counts the runs its twin took.
 */
struct tcpflow_bpf_nest {
	__u32 depth;
	__u32 pad;
	__u64 taken;
};

/* Default ring buffer size in bytes (a power of two, at least a page). */
#define TCPFLOW_BPF_RINGBUF_DEFAULT (4U << 20)

/* Frames of kernel stack looked at to tell a timewait kill. */
#define TCPFLOW_BPF_STACK_DEPTH 16

#endif /* TCPFLOW_BPF_H */
