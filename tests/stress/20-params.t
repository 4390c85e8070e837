#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 20-params.t: module parameters at and beyond their limits.
#   - capacity 256..16777216, owners 64..4194304, segments none|default|all
#   - one past each limit, zero, negative, overflowing, non-numeric, hex
#     just below the limit, empty: insmod fails with EINVAL, a kernel log
#     line names the parameter, and nothing is left behind (no
#     /proc/tcpflow, no module, no kprobe, no function hooked by ftrace)
#   - the limits themselves load (capacity=256, owners=64 and
#     owners=4194304; capacity=16777216 only where there is memory for
#     its 2 GiB ring, else skipped and said why), the header and
#     /sys/module/tcpflow/parameters show what was asked (capacity rounded
#     up to a power of two), and the module unloads cleanly
#   - a hook that cannot attach (ftrace turned off): the load fails after
#     the ring and the kretprobes were set up, and leaves nothing behind
# Leaves tcpflow loaded with the parameters it had.
import errno
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

t, ko, orig = lib.start()
KPROBES = "/sys/kernel/debug/kprobes/list"
if not os.path.exists(KPROBES):
    os.system("mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null")


def kprobe_count():
    try:
        with open(KPROBES) as f:
            return sum(1 for _ in f)
    except OSError:
        return None


ENABLED = [p + "/enabled_functions" for p in ("/sys/kernel/tracing",
                                             "/sys/kernel/debug/tracing")]


def hooked_count():
    """Functions ftrace calls anything for (enabled_functions; tcpflow's
    hooks are there while it is loaded, named tcpflow_ftrace [tcpflow])."""
    for path in ENABLED:
        try:
            with open(path) as f:
                return sum(1 for _ in f)
        except OSError:
            continue
    return None


if lib.loaded():
    t.ok(lib.rmmod() == 0 and not os.path.exists(lib.PROC),
         "rmmod tcpflow (it was loaded: %s)" % " ".join(orig))
probes_before = kprobe_count()
hooked_before = hooked_count()


def load(params):
    k = lib.Kmsg()
    err = lib.insmod(ko, params)
    time.sleep(0.05)
    msgs = k.lines()
    k.close()
    return err, msgs


def leftovers():
    out = []
    if os.path.exists(lib.PROC):
        out.append("/proc/tcpflow exists")
    if os.path.exists("/sys/module/tcpflow"):
        out.append("/sys/module/tcpflow exists")
    n = kprobe_count()
    if n is not None and n != probes_before:
        out.append("%d kprobes registered, %d before" % (n, probes_before))
    n = hooked_count()
    if n is not None and n != hooked_before:
        out.append("ftrace calls something at %d functions, %d before" %
                   (n, hooked_before))
    return out


BAD = [("capacity", v) for v in ("255", "0", "1", "-1", "16777217",
                                 "33554432", "4294967295", "4294967296",
                                 "99999999999999999999", "0xff", "0377",
                                 "256x", "abc", "", "2.5e3")]
BAD += [("owners", v) for v in ("63", "0", "-1", "4194305", "4294967296",
                                "0x3f", "x", "")]
BAD += [("segments", v) for v in ("x", "", "ALL", "all2", "nonee", "-",
                                  "1", "defaultx")]
for name, val in BAD:
    p = "%s=%s" % (name, val)
    err, msgs = load([p])
    named = [m for m in msgs if "tcpflow" in m and name in m]
    left = leftovers()
    t.ok(err == errno.EINVAL and named and not left,
         "insmod tcpflow %s fails with EINVAL, the kernel log names %s, "
         "nothing is left behind" % (p, name),
         ["insmod: %s" % (errno.errorcode.get(err, err) if err else
                          "loaded!")] + ["kmsg: " + m for m in msgs] + left)
    if err == 0:
        lib.rmmod()

# An unknown parameter is ignored (the kernel says so); the module loads.
err, msgs = load(["nosuchparam=1"])
t.ok(err == 0 and any("nosuchparam" in m for m in msgs),
     "an unknown parameter is named in the kernel log and ignored",
     ["insmod: %s" % errno.errorcode.get(err, err)] + msgs)
if err == 0:
    lib.rmmod()

GOOD = [(["capacity=256"], 256, "default"),
        (["capacity=257"], 512, "default"),
        (["capacity=0x100"], 256, "default"),
        (["capacity=65536", "segments=none"], 65536, "none"),
        (["capacity=1000", "segments=all"], 1024, "all"),
        (["owners=64", "segments=default"], None, "default"),
        (["owners=4194304", "capacity=256"], 256, "default"),
        (["capacity=1048576"], 1048576, "default")]
# 16777216 records of 128 bytes: a 2 GiB ring.  Only where it fits.
avail = lib.mem_available_kib()
if avail > 3 * 1024 * 1024:
    GOOD.append((["capacity=16777216"], 16777216, "default"))
else:
    t.skip("insmod tcpflow capacity=16777216 loads", "its ring is 2 GiB, "
           "this machine has %d MiB available" % (avail // 1024))

for params, cap, seg in GOOD:
    err, msgs = load(params)
    h, vals = {}, {}
    if err == 0:
        h = lib.header()
        for n in ("capacity", "owners", "segments"):
            with open(os.path.join(lib.PARAMS, n)) as f:
                vals[n] = f.read().strip()
    problems = []
    if err:
        problems.append("insmod: %s" % errno.errorcode.get(err, err))
        problems += ["kmsg: " + m for m in msgs]
    else:
        if cap is not None and h.get("capacity") != cap:
            problems.append("header capacity=%s, want %d" % (
                h.get("capacity"), cap))
        if h.get("segments") != seg or vals.get("segments") != seg:
            problems.append("segments: header %s, parameter %s, want %s" % (
                h.get("segments"), vals.get("segments"), seg))
        for p in params:
            k, _, v = p.partition("=")
            if k in ("capacity", "owners") and vals.get(k) != str(int(v, 0)):
                problems.append("parameter %s reads %s" % (k, vals.get(k)))
        rerr = lib.rmmod()
        if rerr:
            problems.append("rmmod: %s" % errno.errorcode.get(rerr, rerr))
        problems += leftovers()
    t.problems(problems, "insmod tcpflow %s loads (capacity %s, segments=%s) "
               "and unloads cleanly" % (" ".join(params), cap or "default",
                                        seg))

# A hook that cannot attach: with kernel.ftrace_enabled=0 ftrace refuses
# tcpflow's ftrace_ops (it is PERMANENT) after the module's ring, owner
# table, /proc/tcpflow and kretprobes exist, so init unwinds all of them.  Repeated, so
# that a leak on that path adds up for kmemleak's scan at the end.
FTRACE_ENABLED = "/proc/sys/kernel/ftrace_enabled"
FAILED_LOADS = 10
problems = []
with open(FTRACE_ENABLED, "w") as f:
    f.write("0\n")
try:
    for i in range(FAILED_LOADS):
        err, msgs = load([])
        if err != errno.EBUSY:
            problems.append("load %d: %s, want EBUSY" % (
                i, errno.errorcode.get(err, err) if err else "loaded!"))
            if err == 0:
                lib.rmmod()
        if not any("tcpflow" in m and "ftrace_enabled" in m for m in msgs):
            problems += ["load %d: no kernel line names ftrace_enabled" % i] \
                + ["kmsg: " + m for m in msgs]
        problems += ["load %d: %s" % (i, x) for x in leftovers()]
        if problems:
            break
finally:
    with open(FTRACE_ENABLED, "w") as f:
        f.write("1\n")
t.problems(problems, "with kernel.ftrace_enabled=0, %d loads fail with "
           "EBUSY, the kernel log says ftrace is off, and nothing is left "
           "behind (no kprobe, no function hooked)" % FAILED_LOADS)

err, msgs = load(orig)
t.ok(err == 0 and os.path.exists(lib.PROC),
     "tcpflow loaded again with its parameters (%s)" % " ".join(orig),
     ["insmod: %s" % errno.errorcode.get(err, err)] + msgs)
t.done()
