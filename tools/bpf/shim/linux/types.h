/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Empty stand-in for <linux/types.h> on the BPF side: tcpflow.bpf.c
 * includes module/tcpflow_abi.h with __KERNEL__ defined, and vmlinux.h
 * already has every type that header wants.  Only the BPF compile puts
 * this directory on its include path.
 */
