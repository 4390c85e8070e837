// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow - trace TCP handshakes and teardowns, with seq/ack, into
 * /proc/tcpflow.
 *
 * main.c: parameters, and the order things come up and go down in.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include "tcpflow.h"

#define TCPFLOW_CAPACITY_MIN	256U
#define TCPFLOW_CAPACITY_MAX	(1U << 24)	/* 2 GiB of records */
#define TCPFLOW_OWNERS_MIN	64U
#define TCPFLOW_OWNERS_MAX	(1U << 22)

static unsigned int capacity = 1U << 18;
static unsigned int owners = 1U << 14;
static u8 segments = TCPFLOW_SEG_DEFAULT;

struct tcpflow_cfg __rcu *tcpflow_cfg;

static int set_range(const char *val, const struct kernel_param *kp,
		     unsigned int min, unsigned int max)
{
	unsigned int v;

	if (kstrtouint(val, 0, &v) || v < min || v > max) {
		pr_err("%s=%s: want a number from %u to %u\n",
		       kp->name, val, min, max);
		return -EINVAL;
	}
	*(unsigned int *)kp->arg = v;
	return 0;
}

static int set_capacity(const char *val, const struct kernel_param *kp)
{
	return set_range(val, kp, TCPFLOW_CAPACITY_MIN, TCPFLOW_CAPACITY_MAX);
}

static int set_owners(const char *val, const struct kernel_param *kp)
{
	return set_range(val, kp, TCPFLOW_OWNERS_MIN, TCPFLOW_OWNERS_MAX);
}

static int set_segments(const char *val, const struct kernel_param *kp)
{
	char word[16];

	strscpy(word, val, sizeof(word));
	if (tcpflow_parse_segmode(strim(word), kp->arg)) {
		pr_err("segments=%s: want none, default or all\n", val);
		return -EINVAL;
	}
	return 0;
}

static int get_segments(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  tcpflow_segmode_names[*(u8 *)kp->arg]);
}

static const struct kernel_param_ops capacity_ops = {
	.set = set_capacity,
	.get = param_get_uint,
};

static const struct kernel_param_ops owners_ops = {
	.set = set_owners,
	.get = param_get_uint,
};

static const struct kernel_param_ops segments_ops = {
	.set = set_segments,
	.get = get_segments,
};

module_param_cb(capacity, &capacity_ops, &capacity, 0444);
MODULE_PARM_DESC(capacity,
		 "records kept, rounded up to a power of two (256..16777216, default 262144; 128 bytes each)");
module_param_cb(owners, &owners_ops, &owners, 0444);
MODULE_PARM_DESC(owners,
		 "connections whose owning process is remembered (64..4194304, default 16384)");
module_param_cb(segments, &segments_ops, &segments, 0444);
MODULE_PARM_DESC(segments,
		 "segments recorded at load: none, default (handshake, teardown, reset) or all; change later with 'echo segments=all > /proc/tcpflow'");

static int __init tcpflow_init(void)
{
	struct tcpflow_cfg *cfg;
	int err;

	BUILD_BUG_ON(sizeof(struct tcpflow_record) != 128);

	err = tcpflow_ring_init(capacity);
	if (err)
		goto out;
	err = tcpflow_owner_init(owners);
	if (err)
		goto out_free_ring;
	err = -ENOMEM;
	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		goto out_free_owners;
	cfg->segmode = segments;
	RCU_INIT_POINTER(tcpflow_cfg, cfg);
	err = tcpflow_proc_init();
	if (err)
		goto out_free_cfg;
	err = tcpflow_hooks_init();
	if (err)
		goto out_remove_proc;

	if (tcpflow_floor())
		pr_warn("test-only floor build: hooks armed, nothing recorded\n");
	pr_info("tracing TCP into /proc/tcpflow (%u records, segments=%s)\n",
		(unsigned int)roundup_pow_of_two(capacity),
		tcpflow_segmode_names[segments]);
	return 0;

out_remove_proc:
	tcpflow_proc_exit();
out_free_cfg:
	kfree(rcu_dereference_protected(tcpflow_cfg, 1));
	RCU_INIT_POINTER(tcpflow_cfg, NULL);
out_free_owners:
	tcpflow_owner_exit();
out_free_ring:
	tcpflow_ring_exit();
out:
	pr_err("not loaded: error %d\n", err);
	return err;
}

static void __exit tcpflow_exit(void)
{
	/* No probe runs after this; then no reader; then free. */
	tcpflow_hooks_exit();
	tcpflow_proc_exit();
	synchronize_rcu();	/* cfg readers, and kfree_rcu of old cfgs */
	rcu_barrier();
	kfree(rcu_dereference_protected(tcpflow_cfg, 1));
	tcpflow_owner_exit();
	tcpflow_ring_exit();
	pr_info("unloaded\n");
}

module_init(tcpflow_init);
module_exit(tcpflow_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Trace TCP handshakes and teardowns with seq/ack into /proc/tcpflow");
MODULE_AUTHOR("tcpflow developers");
