# SPDX-License-Identifier: GPL-2.0
"""make demo's route: the module here where it can be loaded, else the lab
guest; after the guest, its last line names the BPF route.

`make demo` ends in `scripts/demo handshake` (make -n demo says so), which
chooses its route from what this machine has: root, /proc/modules, the
running kernel's build tree in /lib/modules and CONFIG_KPROBES=y in its
/boot/config.  Each test runs scripts/demo in a mount namespace of its own
(unshare) where those files are made to say one thing or the other
(tmpfs over /lib/modules, /boot, /proc, /sys/kernel/btf), and where
scripts/lab is a stub bind-mounted over the real one that records its
arguments instead of booting a guest, and insmod (in PATH) one that
records them and fails.  Nothing is loaded or booted; the namespace goes
with the test.

- The module can be loaded here: scripts/demo goes to insmod tcpflow.ko
  (or asks for `make` when there is none) and never calls scripts/lab.
- It cannot (no build tree): scripts/lab runs scripts/demo --in-guest
  handshake, and the last line, after the guest, is
  `demo: here, ... : scripts/demo --bpf handshake` where this machine has
  BTF and tools/bpf/tcpflow-bpf; with no BTF that line is not there."""
import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BPF_LINE = ("demo: here, in about a second, without a guest (BPF, no "
            "module): scripts/demo --bpf handshake")


def unshare():
    """The command that makes a mount namespace here, or None."""
    if not shutil.which("unshare"):
        return None
    argv = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        argv[1:1] = ["--map-root-user"]
    p = subprocess.run(argv + ["mount", "-t", "tmpfs", "none", "/mnt"],
                       capture_output=True)
    return argv if p.returncode == 0 else None


class MakeDemo(unittest.TestCase):
    def test_make_demo_is_scripts_demo_handshake(self):
        p = subprocess.run(["make", "-s", "-n", "demo"], cwd=TOP,
                           capture_output=True, text=True, timeout=120)
        cmds = [ln for ln in p.stdout.splitlines()
                if not ln.startswith("make")]
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(cmds[-1:], ["scripts/demo handshake"],
                         "make demo's last command, with no route: the "
                         "machine's own choice")


class DemoRoute(unittest.TestCase):
    def setUp(self):
        self.ns = unshare()
        if not self.ns:
            self.skipTest("no mount namespace here (unshare)")
        self.d = tempfile.mkdtemp(prefix="tf-demo-route-")
        self.addCleanup(shutil.rmtree, self.d)
        os.mkdir(os.path.join(self.d, "bin"))
        for name in ("lab", "bin/insmod"):
            path = os.path.join(self.d, name)
            with open(path, "w") as f:
                f.write('#!/bin/sh\necho "$*" >> "%s.args"\necho "%s stub '
                        'ran"\nexit %d\n' % (path, os.path.basename(name),
                                             0 if name == "lab" else 1))
            os.chmod(path, 0o755)

    def args(self, name):
        try:
            with open(os.path.join(self.d, name + ".args")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def demo(self, setup):
        """scripts/demo handshake in a mount namespace after the shell
        lines `setup`; (exit status, output lines: stdout and stderr)."""
        script = "set -e\n%s\nmount --bind %s %s\nset +e\n" \
                 "PATH=%s:$PATH scripts/demo handshake 2>&1\n" % (
                     setup, shlex.quote(os.path.join(self.d, "lab")),
                     shlex.quote(os.path.join(TOP, "scripts", "lab")),
                     shlex.quote(os.path.join(self.d, "bin")))
        env = dict(os.environ, NO_COLOR="1")
        env.pop("TCPFLOW_DEMO_COLOR", None)
        p = subprocess.run(self.ns + ["bash", "-c", script], cwd=TOP,
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        return p.returncode, p.stdout.splitlines()

    def no_module(self, btf):
        """No build tree for the running kernel; BTF there or not."""
        return ("[ ! -d /lib/modules ] || mount -t tmpfs none /lib/modules\n"
                "mount -t tmpfs none /sys/kernel/btf\n" +
                (": > /sys/kernel/btf/vmlinux\n" if btf else ""))

    def test_module_route_where_it_can_load(self):
        rc, out = self.demo(
            "mount -t tmpfs none /lib/modules\n"
            "mkdir -p /lib/modules/$(uname -r)/build\n"
            "mount -t tmpfs none /boot\n"
            "echo CONFIG_KPROBES=y > /boot/config-$(uname -r)\n"
            "if [ ! -e /proc/modules ]; then mount -t tmpfs none /proc; "
            ": > /proc/modules; fi\n"
            "grep -q '^tcpflow ' /proc/modules && exit 99\n")
        self.assertNotEqual(rc, 99, "tcpflow is loaded here: not tested")
        self.assertEqual(self.args("lab"), [], "it booted the guest:\n" +
                         "\n".join(out))
        ko = os.path.join(TOP, "tcpflow.ko")
        if os.path.exists(ko):
            self.assertEqual(self.args("bin/insmod"), [ko],
                             "it did not load tcpflow.ko here:\n" +
                             "\n".join(out))
        else:
            self.assertIn("demo: build it first: make", out)
        self.assertNotEqual(rc, 0, "insmod failed, the demo did not")

    def test_guest_route_and_its_last_line(self):
        if not os.access(os.path.join(TOP, "tools", "bpf", "tcpflow-bpf"),
                         os.X_OK):
            self.skipTest("tools/bpf/tcpflow-bpf is not built")
        rc, out = self.demo(self.no_module(btf=True))
        self.assertEqual(self.args("bin/insmod"), [])
        self.assertEqual(self.args("lab"), [
            "run --env TCPFLOW_DEMO_COLOR=never -- scripts/demo --in-guest "
            "--af 4 handshake"], "\n".join(out))
        self.assertEqual(rc, 0, "\n".join(out))
        self.assertIn("lab stub ran", out)
        self.assertEqual(out[-1:], [BPF_LINE], "not the last line, after "
                         "the guest:\n" + "\n".join(out))
        self.assertGreater(out.index(BPF_LINE), out.index("lab stub ran"))

    def test_guest_route_without_btf_names_no_bpf_route(self):
        rc, out = self.demo(self.no_module(btf=False))
        self.assertEqual(len(self.args("lab")), 1, "\n".join(out))
        self.assertEqual(rc, 0, "\n".join(out))
        self.assertFalse([ln for ln in out if "--bpf" in ln],
                         "the BPF route named where there is no BTF")


if __name__ == "__main__":
    unittest.main()
