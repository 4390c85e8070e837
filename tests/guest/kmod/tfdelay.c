// SPDX-License-Identifier: GPL-2.0
/*
 * tfdelay.c - a test-only module that widens one of the kernel's own race
 * windows, so that a guest test can make a race happen on purpose.
 *
 * It puts a kprobe on the entry of @func and, when that is called from
 * @caller (one of a comma-separated list of function names) on CPU @cpu
 * (-1: any), busy-waits @ms milliseconds there, @count times at most.  It
 * knows nothing of tcpflow, so the same test makes the same race against
 * any build of tcpflow.ko, old or new.  tests/guest/38-reqsk-dup.t:
 *
 *   func=inet_ehash_insert caller=inet_csk_reqsk_queue_hash_add
 *     a request sock waits before it is hashed, while the same SYN on the
 *     other CPU makes and hashes its own: the first then fails to insert
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

static char *func;
static char *caller;
static int cpu = -1;
static unsigned int ms = 100;
static atomic_t count = ATOMIC_INIT(1);
static atomic_t hits = ATOMIC_INIT(0);
static atomic_t irqs_off = ATOMIC_INIT(0);

module_param(func, charp, 0400);
MODULE_PARM_DESC(func, "the function whose entry waits");
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
	mdelay(min(READ_ONCE(ms), 2000U));
	return 0;
}

static struct kprobe kp = { .pre_handler = pre };

static int __init tfdelay_init(void)
{
	int err;

	if (!func || !*func) {
		pr_err("tfdelay: func= is required\n");
		return -EINVAL;
	}
	kp.symbol_name = func;
	err = register_kprobe(&kp);
	if (err) {
		pr_err("tfdelay: cannot probe %s: %d\n", func, err);
		return err;
	}
	pr_info("tfdelay: %s waits %u ms when called from %s\n", func, ms,
		caller ? caller : "anywhere");
	return 0;
}

static void __exit tfdelay_exit(void)
{
	unregister_kprobe(&kp);
}

module_init(tfdelay_init);
module_exit(tfdelay_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("test-only: widen one kernel race window (tcpflow's tests)");
