# SPDX-License-Identifier: GPL-2.0
"""scripts/protocheck: the hooked functions' prototypes in BTF against what
module/hooks.c reads.

Run against this machine's /sys/kernel/btf/vmlinux (given with --btf: the
module is built for another kernel here).  Mismatches are made by editing
a copy of module/ the way a kernel change would have to be followed, and
running the checker on the copy; its BTF reader is compared with
bpftool's dump of the same file.  make and DKMS are run with a kernel
tree that says it is the running kernel's (its utsrelease.h), so that
they check for real."""
import os
import platform
import re
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECKER = os.path.join(TOP, "scripts", "protocheck")
BTF = "/sys/kernel/btf/vmlinux"
# The static functions module/compat.h says it cannot check.
STATIC = ["tw_timer_handler", "inet_twsk_kill", "tcp_v6_do_rcv",
          "tcp_v4_send_synack", "tcp_v6_send_synack", "tcp_v4_send_reset",
          "tcp_v4_send_ack", "tcp_v6_send_response"]


def have_btf():
    return os.access(BTF, os.R_OK)


def kdir_with_tcp_ao():
    """Installed headers of a kernel with TCP-AO (Linux 6.7 and later)."""
    for rel in sorted(os.listdir("/lib/modules")):
        d = os.path.join("/lib/modules", rel, "build")
        try:
            with open(os.path.join(d, "include", "generated",
                                   "utsrelease.h")) as f:
                m = re.search(r'"(\d+)\.(\d+)', f.read())
        except OSError:
            continue
        if m and (int(m.group(1)), int(m.group(2))) >= (6, 7):
            return d
    return None


def run(*args, cwd=None):
    p = subprocess.run(["python3", CHECKER] + list(args), cwd=cwd,
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


@unittest.skipUnless(have_btf(), "no %s here" % BTF)
class Protocheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tcpflow-protocheck-")
        self.src = os.path.join(self.tmp, "module")
        shutil.copytree(os.path.join(TOP, "module"), self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def edit(self, name, old, new, count=1):
        path = os.path.join(self.src, name)
        with open(path) as f:
            text = f.read()
        self.assertEqual(text.count(old), count, "%s: %r" % (name, old))
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def check(self, *extra):
        return run("--btf", BTF, "--src", self.src, *extra)

    def mismatch(self, out, fn, handler, read, kernel):
        """One mismatch of fn: the read and the kernel's prototype on its
        first line, what the handler reads on the next."""
        lines = out.splitlines()
        first = [i for i, ln in enumerate(lines)
                 if ln.startswith("protocheck: %s: handler %s" %
                                  (fn, handler))]
        self.assertEqual(len(first), 1, out)
        ln = lines[first[0]]
        self.assertIn(read + ", the kernel has: ", ln)
        self.assertRegex(ln.split("the kernel has: ")[1],
                         r"^\w[\w ]*[ *]%s\(.*\)$" % fn)
        self.assertIn(kernel, ln)
        self.assertRegex(lines[first[0] + 1],
                         r"^protocheck:   what \w+ reads: %s\(.*\)" % fn)

    def test_this_kernel(self):
        """The module as it is reads what this kernel has; the static
        functions compat.h cannot check are checked here."""
        rc, out = self.check("-v")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"protocheck: \d+ hooked functions read as")
        ok = re.findall(r"^protocheck: ok: (\w+):", out, re.M)
        for fn in STATIC:
            self.assertIn(fn, ok, out)

    def test_moved_argument(self):
        """send_synack_pre takes req from the wrong position: both
        functions it hooks fail, each with both prototypes."""
        self.edit("hooks.c", "(struct request_sock *)arg(regs, 3)",
                  "(struct request_sock *)arg(regs, 2)")
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        for fn in ("tcp_v4_send_synack", "tcp_v6_send_synack"):
            self.mismatch(out, fn, "send_synack_pre",
                          "reads arg 2 as struct request_sock *",
                          "struct flowi *fl, struct request_sock *req")
        self.assertIn("what send_synack_pre reads: tcp_v4_send_synack("
                      "const struct sock *, ?, struct request_sock *, ...)",
                      out)
        self.assertNotIn("tcp_set_state:", out)

    def test_through_a_helper(self):
        """v6_do_rcv_pre hands regs to do_rcv_pre: a read moved there is
        tcp_v6_do_rcv's mismatch too, and a position past the last
        parameter is one."""
        self.edit("hooks.c", "const struct sk_buff *skb = (const struct "
                  "sk_buff *)arg(regs, 1);\n\n\trx_skb(&sk->",
                  "const struct sk_buff *skb = (const struct "
                  "sk_buff *)arg(regs, 5);\n\n\trx_skb(&sk->")
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "tcp_v4_do_rcv", "do_rcv_pre",
                      "reads arg 5 as const struct sk_buff *",
                      "struct sk_buff *skb)")
        self.mismatch(out, "tcp_v6_do_rcv",
                      "v6_do_rcv_pre (through do_rcv_pre)",
                      "reads arg 5 as const struct sk_buff *",
                      "struct sk_buff *skb)")

    def test_other_struct(self):
        self.edit("hooks.c",
                  "static void graft_pre(struct tcpflow_fregs *regs)"
                  "\n{\n\tconst struct sock *sk = (const struct sock *)",
                  "static void graft_pre(struct tcpflow_fregs *regs)"
                  "\n{\n\tconst struct sock *sk = (const struct socket *)")
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "security_sock_graft", "graft_pre",
                      "reads arg 0 as const struct socket *",
                      "struct sock *sk, struct socket *")

    def test_integer_where_a_pointer_is(self):
        """An uncast read is a number: tw (a pointer) is not one."""
        self.edit("hooks.c", "if (!arg(regs, 2) || !tw_is_tcp(tw))",
                  "if (!arg(regs, 0) || !tw_is_tcp(tw))")
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "__inet_twsk_schedule", "twsk_schedule_pre",
                      "reads arg 0 as an integer",
                      "(struct inet_timewait_sock *tw")

    def test_proto_is_position(self):
        """ip_send_unicast_reply's arg position is chosen by
        TCPFLOW_PROTO_IS() on the kernel's prototype: with the two
        positions swapped, the read lands on a number either way."""
        self.edit("compat.h", "TCPFLOW_UNICAST_REPLY_ORIG_SK) ? 6 : 5)",
                  "TCPFLOW_UNICAST_REPLY_ORIG_SK) ? 5 : 6)")
        rc, out = self.check()
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "ip_send_unicast_reply", "v4_unicast_reply_pre",
                      "as const struct ip_reply_arg *",
                      "const struct ip_reply_arg *")

    def test_ifdef_position(self):
        """TCPFLOW_V6_RESPONSE_RST is 8 where the kernel's headers define
        TCP_AO_ADD_KEY: made 13 (a pointer on a TCP-AO kernel), it fails
        with --kdir of such headers; without --kdir both definitions are
        possible, and a note says so."""
        self.edit("compat.h", "#define TCPFLOW_V6_RESPONSE_RST 8",
                  "#define TCPFLOW_V6_RESPONSE_RST 13")
        rc, out = self.check()
        self.assertIn("TCPFLOW_V6_RESPONSE_RST depends on TCP_AO_ADD_KEY "
                      "(no --kdir to look it up)", out)
        kdir = kdir_with_tcp_ao()
        if not kdir:
            self.skipTest("no kernel headers of Linux 6.7 or later")
        if tuple(map(int, re.findall(r"\d+", platform.release())[:2])) < \
                (6, 7):
            self.skipTest("this kernel has no TCP-AO: arg 13 is a number")
        rc, out = self.check("--kdir", kdir)
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "tcp_v6_send_response", "v6_send_response_pre",
                      "reads arg 13 as an integer", "tcp_v6_send_response(")

    def test_missing_function_is_a_note(self):
        self.edit("hooks.c", 'HOOK("tw_timer_handler", tw_timer_pre)',
                  'HOOK("tcpflow_no_such_function", tw_timer_pre)')
        rc, out = self.check("-v")
        self.assertEqual(rc, 0, out)
        self.assertIn("protocheck: note: tcpflow_no_such_function is not in "
                      "this BTF", out)
        self.assertIn("protocheck: ok: inet_twsk_kill:", out)

    def test_fallback_name(self):
        """compat.h's fallback table: where the first name is not in BTF,
        the one the module tries next is checked."""
        self.edit("hooks.c", 'HOOK("__inet_csk_reqsk_queue_drop"',
                  'HOOK("tcpflow_gone_drop"')
        self.edit("compat.h", '{ "__inet_csk_reqsk_queue_drop", '
                  '"inet_csk_reqsk_queue_drop" }',
                  '{ "tcpflow_gone_drop", "inet_csk_reqsk_queue_drop" }')
        rc, out = self.check("-v")
        self.assertEqual(rc, 0, out)
        self.assertIn("tcpflow_gone_drop is not in this BTF: checked "
                      "inet_csk_reqsk_queue_drop", out)
        self.assertIn("protocheck: ok: inet_csk_reqsk_queue_drop: "
                      "reqsk_drop_pre", out)

    def image(self, compress):
        """A kernel image as x86's bzImage is laid out: a setup stub, then
        the vmlinux ELF compressed, then more: here a small ELF given this
        machine's BTF as its .BTF section (objcopy)."""
        elf = os.path.join(self.tmp, "vmlinux")
        subprocess.run(["objcopy", "--add-section", ".BTF=" + BTF,
                        shutil.which("true"), elf], check=True)
        packed = subprocess.run(compress + ["-c", elf], check=True,
                                capture_output=True).stdout
        img = os.path.join(self.tmp, "vmlinuz")
        with open(img, "wb") as f:
            f.write(os.urandom(20000) + packed + os.urandom(4000))
        return img

    def test_vmlinuz(self):
        """--vmlinuz reads the BTF inside a compressed kernel image, xz
        (Debian up to 6.1), zstd (6.12 on) or gzip: the same functions
        checked as with the raw BTF file; an image with none is exit 2."""
        rc, want = self.check("-v")
        self.assertEqual(rc, 0, want)
        want = re.findall(r"^protocheck: ok: .*$", want, re.M)
        self.assertTrue(want)
        for compress in (["xz", "-T1"], ["zstd", "-q"], ["gzip"]):
            if not shutil.which(compress[0]):
                continue
            img = self.image(compress)
            rc, out = run("--vmlinuz", img, "--src", self.src, "-v")
            self.assertEqual(rc, 0, out)
            self.assertIn("read as the BTF in %s has them" % img, out)
            self.assertEqual(re.findall(r"^protocheck: ok: .*$", out, re.M),
                             want, compress[0])
        with open(img, "wb") as f:
            f.write(os.urandom(50000))
        rc, out = run("--vmlinuz", img, "--src", self.src)
        self.assertEqual(rc, 2, out)
        self.assertIn("no vmlinux with a .BTF section found inside", out)

    def test_sysroot(self):
        """A kernel tree in a chroot (scripts/matrix's trixie and
        bullseye trees): its headers' Makefile names the common headers
        by an absolute path, which --sysroot puts under the tree.  The
        #ifdef TCP_AO_ADD_KEY of test_ifdef_position, with the macro
        only in those common headers: seen with --sysroot, not without."""
        if tuple(map(int, re.findall(r"\d+", platform.release())[:2])) < \
                (6, 7):
            self.skipTest("this kernel has no TCP-AO: arg 13 is a number")
        self.edit("compat.h", "#define TCPFLOW_V6_RESPONSE_RST 8",
                  "#define TCPFLOW_V6_RESPONSE_RST 13")
        root = os.path.join(self.tmp, "tree")
        common = os.path.join(root, "usr/src/hdrs-common")
        os.makedirs(os.path.join(common, "include/uapi/linux"))
        with open(os.path.join(common, "include/uapi/linux/tcp.h"), "w") as f:
            f.write("#define TCP_AO_ADD_KEY\t\t38\n")
        kdir = os.path.join(root, "usr/src/hdrs-amd64")
        os.makedirs(os.path.join(kdir, "include/generated"))
        with open(os.path.join(kdir, "Makefile"), "w") as f:
            f.write("include /usr/src/hdrs-common/Makefile\n")
        rc, out = self.check("--kdir", kdir)
        self.assertEqual(rc, 0, out)
        rc, out = self.check("--kdir", kdir + "-gone", "--sysroot", root)
        self.assertEqual(rc, 2, out)
        self.assertIn("-gone: no such directory", out)
        rc, out = self.check("--kdir", kdir, "--sysroot", root)
        self.assertEqual(rc, 1, out)
        self.mismatch(out, "tcp_v6_send_response", "v6_send_response_pre",
                      "reads arg 13 as an integer", "tcp_v6_send_response(")

    def test_regs_it_cannot_follow(self):
        """regs handed to something protocheck cannot read: it says so
        (exit 2) rather than pass what it did not see."""
        self.edit("hooks.c", "\tdo_rcv_pre(regs);\n",
                  "\tdo_rcv_pre(regs);\n\tkernel_thing(regs);\n")
        rc, out = self.check()
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"hooks\.c:\d+: cannot tell what "
                         r"v6_do_rcv_pre reads")


@unittest.skipUnless(have_btf() and shutil.which("bpftool"),
                     "needs %s and bpftool" % BTF)
class BtfReader(unittest.TestCase):
    def test_same_as_bpftool(self):
        """Every function's prototype, as protocheck's reader has it, is
        bpftool's: the same type ids of the return and each parameter,
        with the same names, and those types of the same kind and name."""
        import importlib.machinery
        import importlib.util
        loader = importlib.machinery.SourceFileLoader("protocheck", CHECKER)
        spec = importlib.util.spec_from_loader("protocheck", loader)
        pc = importlib.util.module_from_spec(spec)
        loader.exec_module(pc)
        btf = pc.Btf(BTF)
        dump = subprocess.run(["bpftool", "btf", "dump", "file", BTF,
                               "format", "raw"], capture_output=True,
                              text=True, check=True).stdout
        kinds = {}
        protos = {}
        funcs = {}
        cur = None
        for ln in dump.splitlines():
            m = re.match(r"\[(\d+)\] (\w+) '([^']*)'(.*)", ln)
            if m:
                tid, kind, name = int(m.group(1)), m.group(2), m.group(3)
                kinds[tid] = (kind, "" if name == "(anon)" else name)
                cur = None
                t = re.search(r"\b(?:ret_)?type_id=(\d+)", m.group(4))
                if kind == "FUNC":
                    funcs.setdefault(name, []).append(int(t.group(1)))
                elif kind == "FUNC_PROTO":
                    cur = protos[tid] = [int(t.group(1))]
                continue
            m = re.match(r"\t'([^']*)' type_id=(\d+)", ln)
            if m and cur is not None:
                cur.append((m.group(1), int(m.group(2))))
        self.assertGreater(len(funcs), 1000)
        self.assertEqual(sorted(funcs), sorted(btf.funcs))
        kind_names = {pc.INT: "INT", pc.PTR: "PTR", pc.STRUCT: "STRUCT",
                      pc.UNION: "UNION", pc.ENUM: "ENUM", pc.FWD: "FWD",
                      pc.TYPEDEF: "TYPEDEF", pc.CONST: "CONST",
                      pc.VOLATILE: "VOLATILE", pc.FUNC_PROTO: "FUNC_PROTO",
                      pc.ENUM64: "ENUM64", pc.TYPE_TAG: "TYPE_TAG"}
        for name, ids in funcs.items():
            self.assertEqual(ids, btf.funcs[name], name)
            for proto in ids:
                ret, params = protos[proto][0], protos[proto][1:]
                self.assertEqual(btf.ret(proto), ret, name)
                mine = [("(anon)" if n == "" else n, t)
                        for n, t in btf.params(proto) if n is not None]
                theirs = [(n, t) for n, t in params if t or n != "(anon)"]
                self.assertEqual(mine, theirs, name)
                for _, t in [(None, ret)] + params:
                    if t == 0:
                        continue
                    kind = btf.types[t][0]
                    self.assertEqual(
                        (kind_names.get(kind, kinds[t][0]), btf.name(t)),
                        kinds[t], "%s: type %d" % (name, t))


class Skips(unittest.TestCase):
    def test_other_kernel(self):
        """Headers of a kernel that is not running: one line, exit 0."""
        tmp = tempfile.mkdtemp(prefix="tcpflow-protocheck-")
        try:
            os.makedirs(os.path.join(tmp, "include", "generated"))
            with open(os.path.join(tmp, "include", "generated",
                                   "utsrelease.h"), "w") as f:
                f.write('#define UTS_RELEASE "0.1-not-running"\n')
            rc, out = run("--kdir", tmp)
        finally:
            shutil.rmtree(tmp)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.splitlines(), [
            "protocheck: skipped: building for 0.1-not-running, this "
            "machine runs %s: only the running kernel's BTF is at hand" %
            platform.release()])


@unittest.skipUnless(have_btf(), "no %s here" % BTF)
class Builds(unittest.TestCase):
    """make, make install and a DKMS build check before they build, given
    a kernel tree of the running release.  The tree has no Makefile: had
    the kernel's build run, it would say so."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tcpflow-protocheck-")
        self.kdir = os.path.join(self.tmp, "kdir")
        os.makedirs(os.path.join(self.kdir, "include", "generated"))
        with open(os.path.join(self.kdir, "include", "generated",
                               "utsrelease.h"), "w") as f:
            f.write('#define UTS_RELEASE "%s"\n' % platform.release())
        self.tree = os.path.join(self.tmp, "tree")
        os.makedirs(os.path.join(self.tree, "scripts"))
        for f in ("Makefile", "Kbuild", "dkms.conf", "scripts/protocheck"):
            shutil.copy(os.path.join(TOP, f), os.path.join(self.tree, f))
        shutil.copytree(os.path.join(TOP, "module"),
                        os.path.join(self.tree, "module"))
        # DKMS's make, standing in for the kernel's build
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin)
        with open(os.path.join(self.bin, "make"), "w") as f:
            f.write('#!/bin/sh\necho "make $*" >> "%s/made"\n' % self.tmp)
        os.chmod(os.path.join(self.bin, "make"), 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def break_hooks(self):
        path = os.path.join(self.tree, "module", "hooks.c")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("(struct request_sock *)arg(regs, 3)",
                                 "(struct request_sock *)arg(regs, 2)"))

    def make(self, target):
        p = subprocess.run(["make", "-C", self.tree, target,
                            "KDIR=" + self.kdir,
                            "INSTALL_MOD_PATH=" + self.tmp],
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def test_make_checks_first(self):
        rc, out = self.make("protocheck")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"protocheck: \d+ hooked functions read as "
                         r"%s's BTF has them" % re.escape(platform.release()))
        self.break_hooks()
        for target in ("protocheck", "module", "install"):
            rc, out = self.make(target)
            self.assertNotEqual(rc, 0, target + ": " + out)
            self.assertIn("protocheck: tcp_v4_send_synack: handler "
                          "send_synack_pre reads arg 2", out)
            self.assertNotIn("Entering directory '%s'" % self.kdir, out)
            self.assertNotIn("no makefile found", out)

    def dkms_make(self):
        """dkms.conf's MAKE[0] as dkms 3.0 runs it: the file sourced with
        its variables set, the values sourced again in double quotes
        (safe_source), then eval'd in the build directory."""
        script = r'''
set -e
kernelver="$1" arch=x86_64 kernel_source_dir="$2" dkms_tree="$3"
tmp=$(mktemp)
( exec >"$tmp"; . ./dkms.conf >/dev/null
  for i in "${!MAKE[@]}"; do echo "MAKE[$i]=\"${MAKE[$i]}\""; done )
. "$tmp"; rm -f "$tmp"
eval "{ ${MAKE[0]}; }"
'''
        env = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"])
        p = subprocess.run(["bash", "-c", script, "dkms",
                            platform.release(), self.kdir, "/var/lib/dkms"],
                           cwd=self.tree, env=env, capture_output=True,
                           text=True)
        made = os.path.join(self.tmp, "made")
        with open(made) if os.path.exists(made) else open(os.devnull) as f:
            return p.returncode, p.stdout + p.stderr, f.read()

    def test_dkms_checks_first(self):
        rc, out, made = self.dkms_make()
        self.assertEqual(rc, 0, out)
        self.assertIn("hooked functions read as", out)
        self.assertEqual(made.split(), [
            "make", "-C", self.kdir,
            "M=/var/lib/dkms/tcpflow/0.1/build",
            "KERNELRELEASE=" + platform.release(), "modules"])
        os.unlink(os.path.join(self.tmp, "made"))
        self.break_hooks()
        rc, out, made = self.dkms_make()
        self.assertNotEqual(rc, 0, out)
        self.assertIn("protocheck: tcp_v4_send_synack: handler "
                      "send_synack_pre reads arg 2", out)
        self.assertEqual(made, "")


if __name__ == "__main__":
    unittest.main()
