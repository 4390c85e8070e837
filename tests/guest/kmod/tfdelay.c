// SPDX-License-Identifier: GPL-2.0
/*
 * tfdelay.c - a test-only module that widens one of the kernel's own race
 * windows, so that a guest test can make a race happen on purpose.
 *
 * It puts a kprobe on the entry of @func (a comma-separated list: each
 * of them this kernel has, one kprobe each) and, when that is called from
 * @caller (one of a comma-separated list of function names) on CPU @cpu
 * (-1: any), busy-waits @ms milliseconds there, @count times at most.  It
 * knows nothing of tcpflow, so the same test makes the same race against
 * any build of tcpflow.ko, old or new.  tests/guest/38-reqsk-dup.t:
 *
 *   func=inet_ehash_insert caller=inet_csk_reqsk_queue_hash_add
 *     a request sock waits before it is hashed, while the same SYN on the
 *     other CPU makes and hashes its own: the first then fails to insert
 *
 * tests/guest/62-tw-end-once.t:
 *
 *   func=timer_shutdown_sync,timer_delete_sync,del_timer_sync
 *   caller=inet_twsk_deschedule_put
 *     an RST that found a timewait sock waits before it deletes the
 *     sock's timer (6.10 and later shut it down; 6.1's del_timer_sync()
 *     is timer_delete_sync(); 5.10 has only del_timer_sync()), while the
 *     timer fires on the other CPU
 *
 * @func must be one ftrace can trace: then the kprobe rides on its fentry
 * call and the wait runs with interrupts on.  On an int3 kprobe they are
 * off, jiffies may stop (this CPU may be the one that counts them) and no
 * timer would fire meanwhile: such a hit is not held, only counted in
 * irqs_off.  hits counts the waits done.  Built by 'make module-testing' into
 * tests/out/testing/tfdelay/; never installed, never in a normal build.
 */
#include <linux/delay.h>
#include <linux/irqflags.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

static char *func;
static char *caller;
static int cpu = -1;
static unsigned int ms = 100;
static atomic_t count = ATOMIC_INIT(1);
static atomic_t hits = ATOMIC_INIT(0);
static atomic_t irqs_off = ATOMIC_INIT(0);

module_param(func, charp, 0400);
MODULE_PARM_DESC(func, "the functions whose entry waits (comma-separated)");
module_param(caller, charp, 0400);
MODULE_PARM_DESC(caller, "only when called from one of these (comma-separated)");
module_param(cpu, int, 0600);
MODULE_PARM_DESC(cpu, "only on this CPU (-1: any)");
module_param(ms, uint, 0600);
MODULE_PARM_DESC(ms, "how long to wait (at most 2000)");
module_param_named(count, count.counter, int, 0600);
MODULE_PARM_DESC(count, "how many waits are left");
module_param_named(hits, hits.counter, int, 0400);
MODULE_PARM_DESC(hits, "waits done");
module_param_named(irqs_off, irqs_off.counter, int, 0400);
MODULE_PARM_DESC(irqs_off, "hits not held: interrupts were off");

/* Is @ret inside one of the functions named in @caller? */
static bool from_caller(unsigned long ret)
{
	char name[KSYM_SYMBOL_LEN];
	const char *p = caller;
	size_t len;

	if (!p || !*p)
		return true;
	sprint_symbol_no_offset(name, ret);
	while (*p) {
		len = strcspn(p, ",");
		if (len == strlen(name) && !strncmp(p, name, len))
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

static int pre(struct kprobe *kp, struct pt_regs *regs)
{
	int want = READ_ONCE(cpu);
	u64 t0, wait;

	if (want >= 0 && want != smp_processor_id())
		return 0;
	/* at the entry, the stack's top is the return address */
	if (!from_caller(regs_get_kernel_stack_nth(regs, 0)))
		return 0;
	if (irqs_disabled()) {
		atomic_inc(&irqs_off);
		return 0;
	}
	if (atomic_dec_if_positive(&count) < 0)
		return 0;
	atomic_inc(&hits);
	/*
	 * By the clock, not mdelay(): under QEMU's TCG a calibrated delay
	 * loop can run hundreds of times short.
	 */
	t0 = ktime_get_mono_fast_ns();
	wait = (u64)min(READ_ONCE(ms), 2000U) * NSEC_PER_MSEC;
	while (ktime_get_mono_fast_ns() - t0 < wait)
		udelay(10);
	/*
	 * When, on which CPU, and the first argument as %p hashes it, which
	 * is how the trace events print it (timer:timer_expire_entry's
	 * timer=): a test can tell what ran elsewhere meanwhile.
	 */
	pr_info("tfdelay: %s held on CPU %d, mono %llu to %llu ns, arg0 %p\n",
		kp->symbol_name, smp_processor_id(), t0,
		ktime_get_mono_fast_ns(),
		(void *)regs_get_kernel_argument(regs, 0));
	return 0;
}

#define TFDELAY_MAX_FUNCS 4

static struct kprobe kps[TFDELAY_MAX_FUNCS];
static char names[TFDELAY_MAX_FUNCS][KSYM_NAME_LEN];
static int nkps;

static void tfdelay_unregister(void)
{
	while (nkps > 0)
		unregister_kprobe(&kps[--nkps]);
}

static int __init tfdelay_init(void)
{
	const char *p = func;
	size_t len;
	int err, i = 0;

	if (!p || !*p) {
		pr_err("tfdelay: func= is required\n");
		return -EINVAL;
	}
	while (*p) {
		len = strcspn(p, ",");
		if (!len || len >= KSYM_NAME_LEN || i == TFDELAY_MAX_FUNCS) {
			pr_err("tfdelay: func= takes up to %d names\n",
			       TFDELAY_MAX_FUNCS);
			tfdelay_unregister();
			return -EINVAL;
		}
		memcpy(names[i], p, len);
		names[i][len] = '\0';
		p += len;
		if (*p == ',')
			p++;
		/* a kprobe that failed to register may keep what it found */
		memset(&kps[nkps], 0, sizeof(kps[nkps]));
		kps[nkps].symbol_name = names[i++];
		kps[nkps].pre_handler = pre;
		err = register_kprobe(&kps[nkps]);
		if (err == -ENOENT)	/* not in this kernel */
			continue;
		if (err) {
			pr_err("tfdelay: cannot probe %s: %d\n",
			       kps[nkps].symbol_name, err);
			tfdelay_unregister();
			return err;
		}
		pr_info("tfdelay: %s waits %u ms when called from %s\n",
			kps[nkps].symbol_name, ms, caller ? caller : "anywhere");
		nkps++;
	}
	if (!nkps) {
		pr_err("tfdelay: none of %s is in this kernel\n", func);
		return -ENOENT;
	}
	return 0;
}

static void __exit tfdelay_exit(void)
{
	tfdelay_unregister();
}

module_init(tfdelay_init);
module_exit(tfdelay_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("test-only: widen one kernel race window (tcpflow's tests)");
