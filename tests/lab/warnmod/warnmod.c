// SPDX-License-Identifier: GPL-2.0
/*
 * warnmod: a module whose only job is to make the kernel unhappy on
 * purpose, so tests/lab/run can check that scripts/lab notices.
 *
 *   insmod warnmod.ko           WARN_ON(1) in init, then loads fine
 *   insmod warnmod.ko warn=0    loads quietly (checks insmod + --params)
 */
#include <linux/module.h>
#include <linux/bug.h>

static bool warn = true;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "trigger a WARN_ON in init (default: yes)");

static int __init warnmod_init(void)
{
	WARN_ON(warn);
	return 0;
}

static void __exit warnmod_exit(void)
{
}

module_init(warnmod_init);
module_exit(warnmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab self-test: trigger a kernel WARN on load");
