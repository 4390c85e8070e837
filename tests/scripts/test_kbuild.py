# SPDX-License-Identifier: GPL-2.0
"""Kbuild: a kernel tcpflow cannot work on is refused in one line that
names what is missing, before any compiler runs.

Builds a copy of Kbuild and module/ against the installed headers (the
ones `make` uses), with the kernel's own configuration values overridden
on make's command line as another kernel would have them."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def kdir():
    kver = subprocess.run(["make", "-s", "-C", TOP, "--no-print-directory",
                           "-f", "Makefile", "print-kver"],
                          capture_output=True, text=True).stdout.strip()
    for d in ([os.path.join("/lib/modules", kver, "build")] if kver else []) \
            + sorted(glob.glob("/lib/modules/*/build")):
        if os.path.isdir(d):
            return d
    return None


class KbuildRefuses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kdir = kdir()
        if not cls.kdir:
            raise unittest.SkipTest("no kernel headers (scripts/deps)")
        cls.tmp = tempfile.mkdtemp(prefix="tcpflow-kbuild-")
        shutil.copy(os.path.join(TOP, "Kbuild"), cls.tmp)
        os.mkdir(os.path.join(cls.tmp, "module"))
        for f in glob.glob(os.path.join(TOP, "module", "*.[ch]")):
            shutil.copy(f, os.path.join(cls.tmp, "module"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def build(self, *overrides):
        p = subprocess.run(["make", "-C", self.kdir, "M=" + self.tmp] +
                           list(overrides) + ["modules"],
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def refused(self, want, *overrides):
        rc, out = self.build(*overrides)
        self.assertNotEqual(rc, 0, out)
        lines = [ln for ln in out.splitlines() if "tcpflow: needs" in ln]
        self.assertEqual(len(lines), 1, out)
        self.assertIn(want, lines[0])
        # no compiler ran: no object was made and no compiler error said
        self.assertFalse(re.search(r"\berror:", out), out)
        self.assertEqual(glob.glob(os.path.join(self.tmp, "module",
                                                "*.o")), [], out)

    def test_old_kernel(self):
        self.refused("tcpflow: needs Linux 5.10 or later", "VERSION=5",
                     "PATCHLEVEL=4")

    def test_old_kernel_4x(self):
        self.refused("tcpflow: needs Linux 5.10 or later", "VERSION=4",
                     "PATCHLEVEL=19")

    def test_no_function_tracer(self):
        self.refused("tcpflow: needs CONFIG_FUNCTION_TRACER",
                     "CONFIG_FUNCTION_TRACER=")

    def test_no_kprobes(self):
        self.refused("tcpflow: needs CONFIG_KPROBES", "CONFIG_KPROBES=")

    def test_no_ftrace_args(self):
        self.refused("tcpflow: needs CONFIG_DYNAMIC_FTRACE_WITH_ARGS",
                     "CONFIG_DYNAMIC_FTRACE_WITH_ARGS=")

    def test_no_ftrace_regs_on_5_10(self):
        # 5.10 has no WITH_ARGS; its hooks read the registers ftrace
        # saves for an ops with FTRACE_OPS_FL_SAVE_REGS (compat.h)
        self.refused("tcpflow: needs CONFIG_DYNAMIC_FTRACE_WITH_REGS",
                     "VERSION=5", "PATCHLEVEL=10",
                     "CONFIG_DYNAMIC_FTRACE_WITH_ARGS=",
                     "CONFIG_DYNAMIC_FTRACE_WITH_REGS=")


if __name__ == "__main__":
    unittest.main()
