# SPDX-License-Identifier: GPL-2.0
"""
tests/stress/lib.py: what the stress tests (tests/stress/*.t) share.
Python 3 standard library only; runs in the lab guest (or on any machine
that can load tcpflow.ko) as root.  Self-contained on purpose: the stress
tests must keep working whatever happens to the guest suite's helpers.

  TAP        ok/not ok lines, "# " diagnostics, exit 0/1/4
  Module     load and unload tcpflow.ko with the finit_module and
             delete_module system calls (what insmod and rmmod make),
             and read the kernel log lines each caused
  header(), parse_header(), parse_record(), read_all()
             /proc/tcpflow
  read_pcap()  a pcap file (tcpdump -w) as a list of TCP packets
  Kmsg       the kernel log from a mark on; bad() finds oops, WARN, KASAN,
             lockdep, kmemleak lines
"""

import ctypes
import ctypes.util
import errno
import os
import re
import socket
import struct
import sys
import time

PROC = "/proc/tcpflow"
PARAMS = "/sys/module/tcpflow/parameters"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TCPFLOW_REPO") or os.path.abspath(
    os.path.join(HERE, "..", ".."))

# The lab's list (scripts/kernel-problems.re): any of these in the kernel
# log is a failure.
with open(os.path.join(REPO, "scripts", "kernel-problems.re")) as _f:
    BAD_RE = re.compile(_f.read().strip())


# The guest suite's TAP and parsers (tests/guest/lib/tcpflow.py).
sys.path.insert(0, os.path.join(REPO, "tests", "guest", "lib"))
from tcpflow import TAP, flag_letters, parse_header  # noqa: E402,F401


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


INT_KEYS = ("n", "ts", "cpu", "netns", "conn", "af", "lport", "rport",
            "seq", "ack", "win", "len", "pid", "dur")
RECORD_KEYS = ("n", "ts", "cpu", "netns", "conn", "ev", "sock", "af",
               "laddr", "lport", "raddr", "rport", "old", "new", "state",
               "flags", "seq", "ack", "win", "len", "pid", "comm", "who",
               "why", "dur")


def parse_record(line):
    d = {}
    keys = []
    for word in line.split():
        k, sep, v = word.partition("=")
        if not sep:
            raise ValueError("not key=value: %r" % word)
        keys.append(k)
        d[k] = (None if v == "-" else int(v)) if k in INT_KEYS else v
    if tuple(keys[:len(RECORD_KEYS)]) != RECORD_KEYS:
        raise ValueError("keys %s" % " ".join(keys))
    return d


GAP_RE = re.compile(r"^# gap from=(\d+) to=(\d+)$")


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


# ----------------------------------------------------------------- packets

class Packet:
    __slots__ = ("ts", "src", "sport", "dst", "dport", "flags", "seq", "ack",
                 "len")

    def __str__(self):
        return "%s:%d > %s:%d %s seq=%d ack=%d len=%d" % (
            self.src, self.sport, self.dst, self.dport, self.flags, self.seq,
            self.ack, self.len)


def read_pcap(path):
    """A pcap file (link type Ethernet, as tcpdump writes for lo) -> TCP
    packets over IPv4 and IPv6, in capture order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    for endian in ("<", ">"):
        magic = struct.unpack(endian + "I", data[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        raise ValueError("%s: not a pcap file" % path)
    div = 1e9 if magic == 0xa1b23c4d else 1e6
    if struct.unpack(endian + "I", data[20:24])[0] != 1:
        raise ValueError("%s: not Ethernet" % path)
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII",
                                              data[off:off + 16])
        off += 16
        fr = data[off:off + incl]
        off += incl
        if len(fr) < 14:
            continue
        etype = struct.unpack("!H", fr[12:14])[0]
        if etype == 0x0800 and fr[23] == 6:
            ihl = (fr[14] & 0x0f) * 4
            src = socket.inet_ntop(socket.AF_INET, fr[26:30])
            dst = socket.inet_ntop(socket.AF_INET, fr[30:34])
            iplen = struct.unpack("!H", fr[16:18])[0] or orig - 14
            l4, l4len = 14 + ihl, iplen - ihl
        elif etype == 0x86dd and fr[20] == 6:
            src = socket.inet_ntop(socket.AF_INET6, fr[22:38])
            dst = socket.inet_ntop(socket.AF_INET6, fr[38:54])
            l4, l4len = 54, struct.unpack("!H", fr[18:20])[0]
        else:
            continue
        sport, dport, seq, ack, offflags = struct.unpack(
            "!HHIIH", fr[l4:l4 + 14])
        p = Packet()
        p.ts = sec + frac / div
        p.src, p.sport, p.dst, p.dport = src, sport, dst, dport
        p.flags = flag_letters(offflags & 0xff)
        p.seq, p.ack = seq, ack
        p.len = l4len - (offflags >> 12) * 4
        out.append(p)
    return out


# ------------------------------------------------------------------ misc

def netns_inum(pid="self"):
    return os.stat("/proc/%s/ns/net" % pid).st_ino


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemAvailable:"):
                return int(ln.split()[1])
    return 0
