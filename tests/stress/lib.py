# SPDX-License-Identifier: GPL-2.0
"""
tests/stress/lib.py: what the stress tests (tests/stress/*.t) share.
Python 3 standard library only; runs in the lab guest (or on any machine
that can load tcpflow.ko) as root.  Apart from the guest suite's TAP and
the project's reader of the format (tools/tcpflow_format.py), its own
helpers on purpose: the stress tests must keep working whatever happens
to the guest suite's scenes and checks.

  TAP        ok/not ok lines, "# " diagnostics, exit 0/1/4
  Module     load and unload tcpflow.ko with the finit_module and
             delete_module system calls (what insmod and rmmod make),
             and read the kernel log lines each caused
  header(), parse_header(), parse_record(), read_all()
             /proc/tcpflow (the parsers are tools/tcpflow_format.py's;
             parse_record() here wants every key, in order)
  read_pcap()  a pcap file (tcpdump -w) as a list of TCP packets (the
             same file's)
  Kmsg       the kernel log from a mark on; bad() finds oops, WARN, KASAN,
             lockdep, kmemleak lines
"""

import ctypes
import ctypes.util
import errno
import os
import re
import sys
import time

PROC = "/proc/tcpflow"
PARAMS = "/sys/module/tcpflow/parameters"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TCPFLOW_REPO") or os.path.abspath(
    os.path.join(HERE, "..", ".."))

# The lab's list (scripts/lab.d/kernel-problems.re): any of these in the kernel
# log is a failure.
with open(os.path.join(REPO, "scripts", "lab.d", "kernel-problems.re")) as _f:
    BAD_RE = re.compile(_f.read().strip())


# The guest suite's TAP (tests/guest/lib/tcpflow.py), and the project's
# reader of the records and of pcap files (tools/tcpflow_format.py).
sys.path.insert(0, os.path.join(REPO, "tests", "guest", "lib"))
sys.path.insert(0, os.path.join(REPO, "tools"))
from tcpflow import TAP  # noqa: E402
import tcpflow_format as fmt  # noqa: E402
from tcpflow_format import GAP_RE, parse_header, read_pcap  # noqa: E402,F401


def need_root(t):
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (run in the lab guest: scripts/lab "
              "run -- tests/stress/run)")
        sys.exit(4)


def start():
    """A stress test's opening: its TAP, the tcpflow.ko to load, and the
    parameters tcpflow is loaded with now.  Skips the file (exit 4)
    without root or without a module."""
    t = TAP()
    need_root(t)
    ko = module_path()
    if not ko:
        print("1..0 # SKIP no tcpflow.ko (set TCPFLOW_KO)")
        sys.exit(4)
    return t, ko, current_params()


# ------------------------------------------------------------- kernel log

class Kmsg:
    """/dev/kmsg from now on (or from the start with all=True)."""

    def __init__(self, all=False):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        if not all:
            os.lseek(self.fd, 0, os.SEEK_END)

    def lines(self):
        out = []
        while True:
            try:
                b = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue    # overwritten while we looked: read on
            if not b:
                break
            txt = b.decode(errors="replace")
            # "prio,seq,ts,flags;message\n continuation lines"
            head, _, msg = txt.partition(";")
            out.append(msg.split("\n")[0])
        return out

    def close(self):
        os.close(self.fd)


def bad_lines(lines):
    return [ln for ln in lines if BAD_RE.search(ln)]


# ----------------------------------------------------------------- module

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_finit_module = 313     # x86_64
SYS_delete_module = 176


def module_path():
    for p in (os.environ.get("TCPFLOW_KO"), "/run/lab/tcpflow.ko",
              os.path.join(REPO, "tcpflow.ko")):
        if p and os.path.exists(p):
            return p
    return None


def loaded():
    try:
        with open("/proc/modules") as f:
            return any(ln.startswith("tcpflow ") for ln in f)
    except OSError:
        return False


def current_params():
    """The parameters the loaded module has, as insmod words."""
    out = []
    for name in ("capacity", "owners", "segments"):
        try:
            with open(os.path.join(PARAMS, name)) as f:
                out.append("%s=%s" % (name, f.read().strip()))
        except OSError:
            pass
    return out


def insmod(ko, params=()):
    """finit_module(ko, params): 0 or an errno."""
    fd = os.open(ko, os.O_RDONLY | os.O_CLOEXEC)
    try:
        arg = " ".join(params).encode()
        r = _libc.syscall(ctypes.c_long(SYS_finit_module), ctypes.c_int(fd),
                          ctypes.c_char_p(arg), ctypes.c_int(0))
        return 0 if r == 0 else ctypes.get_errno()
    finally:
        os.close(fd)


def rmmod(name="tcpflow", tries=50):
    """delete_module(name, O_NONBLOCK): 0 or an errno (EBUSY/EAGAIN are
    retried for a while: a module still referenced)."""
    err = 0
    for _ in range(tries):
        r = _libc.syscall(ctypes.c_long(SYS_delete_module),
                          ctypes.c_char_p(name.encode()),
                          ctypes.c_int(os.O_NONBLOCK))
        if r == 0:
            return 0
        err = ctypes.get_errno()
        if err not in (errno.EBUSY, errno.EAGAIN):
            return err
        time.sleep(0.1)
    return err


def ensure_loaded(ko, params=()):
    if loaded():
        return 0
    return insmod(ko, params)


# ------------------------------------------------------------ /proc/tcpflow


def parse_record(line):
    """One record line -> dict; ValueError unless it has every key of the
    format, in the format's order (the stress tests read the module's
    text under load: a line cut or spliced must not pass)."""
    return fmt.parse_record(line, strict=True, keep_line=False)


def header(fd=None):
    """The header, as a dict: pread at 0 of fd, or of a fresh open.  The
    tests compare headers as the module's state, so epoch_offset (format
    1.1: a reading of two clocks, which drift apart by themselves) is
    left out."""
    own = fd is None
    if own:
        fd = os.open(PROC, os.O_RDONLY)
    try:
        b = os.pread(fd, 1024, 0).decode()
    finally:
        if own:
            os.close(fd)
    h = parse_header(b.split("\n", 1)[0])
    h.pop("epoch_offset", None)
    return h


EPOCH_RE = re.compile(r"epoch_offset=-?\d*")


def stable(text):
    """text with the header's epoch_offset (a clock reading, different at
    each read) made the same, so that two reads compare as the module's
    text."""
    return EPOCH_RE.sub("epoch_offset=N", text)


def read_all(offset=0, fd=None, bufsize=65536):
    """The text from record number offset on, to the end."""
    own = fd is None
    if own:
        fd = os.open(PROC, os.O_RDONLY)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        while True:
            b = os.read(fd, bufsize)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode()
    finally:
        if own:
            os.close(fd)


def write_cmd(text, fd=None):
    """Write text to /proc/tcpflow: 0, or the errno."""
    own = fd is None
    if own:
        fd = os.open(PROC, os.O_WRONLY)
    try:
        os.write(fd, text if isinstance(text, bytes) else text.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        if own:
            os.close(fd)


def fmt_rec(r):
    s = "n=%s %s %s conn=%s %s:%s>%s:%s" % (
        r["n"], r["ev"], r["sock"], r["conn"], r["laddr"], r["lport"],
        r["raddr"], r["rport"])
    if r["ev"] == "state":
        s += " %s>%s" % (r["old"], r["new"])
    else:
        s += " %s %s seq=%s ack=%s len=%s" % (r["state"], r["flags"],
                                              r["seq"], r["ack"], r["len"])
    return s


# ------------------------------------------------------------------ misc

def netns_inum(pid="self"):
    return os.stat("/proc/%s/ns/net" % pid).st_ino


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemAvailable:"):
                return int(ln.split()[1])
    return 0
