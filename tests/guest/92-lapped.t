#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 92-lapped.t: a ring writer held up while the ring goes all the way round
# (an NMI, an SMI, a preempted vCPU) damages nothing and stalls no reader.
# Needs the test-only build of the module (TCPFLOW_TESTING=1, made by
# tests/run as tests/out/testing/tcpflow.ko), whose knob holds the next
# writer on CPU 0 up (module/ring.c: test_lap_*), either before it claims
# its slot or halfway through copying its record into it.  The ring is the
# smallest (256 records).  While CPU 0 is held, a connection loop pinned
# to CPU 1 makes records until the ring is 40 past the held writer's number
# plus its size.  Then:
#   - a reader from the oldest record to the newest reads every number,
#     as a record or in a gap line: nothing stalls it (before the fix it
#     stopped at the lapping record, whose slot the held writer took back)
#   - held halfway: the record that lapped it is given up and shown as a
#     one-record gap, the only gap in the ring; held before its claim: no
#     gap, the held writer's record is dropped (it is behind "first")
#   - no record is damaged: every segment record of the loop is a segment
#     that tcpdump saw on lo, and each connection keeps one 4-tuple
# Reloads tcpflow (like 90-params.t, whose parameters it puts back).
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
PARAMS = "/sys/module/tcpflow/parameters"
NS = "tflap"
CAP = 256
PAST = 40
SLOW = float(os.environ.get("TCPFLOW_SLOW") or 1)
KO = os.path.join(tf.OUT, "testing", "tcpflow.ko")


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(4)


def vermagic(path):
    p = subprocess.run(["modinfo", "-F", "vermagic", path],
                       capture_output=True, text=True)
    return p.stdout.split()[0] if p.stdout.split() else ""


if not os.path.exists(KO):
    skip_all("no test-only build at %s (tests/run makes it)" % KO)
if vermagic(KO) != os.uname().release:
    skip_all("%s is built for %s, this kernel is %s" % (
        KO, vermagic(KO), os.uname().release))
if len(os.sched_getaffinity(0)) < 2:
    skip_all("needs two CPUs")


def param(name, value=None):
    path = os.path.join(PARAMS, name)
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))


orig = {}
for name in ("capacity", "owners", "segments"):
    orig[name] = param(name)
orig_ko = None
for p in (os.environ.get("TCPFLOW_KO"), "/run/lab/tcpflow.ko",
          os.path.join(tf.REPO, "tcpflow.ko")):
    if p and os.path.exists(p):
        orig_ko = p
        break
if not orig_ko:
    skip_all("the loaded tcpflow.ko is not found to load it again")

# Everything of ours runs on CPU 1, but the one process that makes the
# held record.
os.sched_setaffinity(0, {1})

GEN = r"""
import os, socket, sys, threading, time
os.sched_setaffinity(0, {1})
stop_at = None
def lap_n():
    with open("/sys/module/tcpflow/parameters/test_lap_n") as f:
        return int(f.read())
def held():
    with open("/sys/module/tcpflow/parameters/test_lap_held") as f:
        return int(f.read())
def next_n():
    with open("/proc/tcpflow") as f:
        w = f.readline().split()
    return int([x for x in w if x.startswith("next=")][0][5:])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 7600))
ls.listen(64)
def serve():
    while True:
        c, _ = ls.accept()
        c.recv(16)
        c.close()
threading.Thread(target=serve, daemon=True).start()
def one():
    s = socket.socket()
    s.connect(("127.0.0.1", 7600))
    s.send(b"x")
    s.recv(16)
    s.close()
# Warm up: what a first connection sets up once (a static key flipped
# is an IPI to every CPU, CPU 0 too) is done before CPU 0 is held.
for i in range(3):
    one()
print("ready", flush=True)
sys.stdin.readline()
t0 = time.monotonic()
conns = 0
while True:
    n = lap_n()
    if n and next_n() >= n + %d + %d:
        break
    one()
    conns += 1
    if conns > 5000:
        print("gave up", flush=True)
        sys.exit(1)
print("conns %%d lap_n %%d next %%d in %%.3f s, still held %%d" %% (
    conns, lap_n(), next_n(), time.monotonic() - t0, held()), flush=True)
""" % (CAP, PAST)

TRIGGER = r"""
import os, socket
os.sched_setaffinity(0, {0})
s = socket.socket()
try:
    s.connect(("127.0.0.1", 7601))
except OSError:
    pass
"""


def load(ko, *params):
    subprocess.run(["rmmod", "tcpflow"], capture_output=True)
    p = subprocess.run(["insmod", ko] + list(params), capture_output=True,
                       text=True)
    if p.returncode:
        raise RuntimeError("insmod %s: %s" % (ko, p.stderr))


def ns_up():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    return tf.netns_inum(NS)


def read_all(proc):
    """Every line from the oldest record on; the numbers it covers."""
    hdr = proc.header()
    lines = proc.read_raw(hdr["first"]).splitlines()
    return hdr, lines


def run_case(where):
    name = "held %s" % ("halfway through its copy" if where else
                        "before it claims its slot")
    inum = ns_up()
    proc = tf.Proc()
    proc.must("filter=-\nsegments=all\nclear\n")
    pcap = os.path.join(tf.OUT, "92-lapped-%d.pcap" % where)
    dump = tf.Tcpdump(NS, "lo", pcap).start()
    gen = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", GEN],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT,
                           text=True)
    gen.stdout.readline()       # "ready": the listener is up
    param("test_lap_n", 0)
    param("test_lap_ms", int(min(5000 * SLOW, 10000)))
    param("test_lap_where", where)
    param("test_lap_cpu", 0)
    trig = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c",
                             TRIGGER])
    # The loop starts once CPU 0 holds the writer (test_lap_n is set).
    deadline = time.time() + 30 * SLOW
    while int(param("test_lap_n") or 0) == 0 and time.time() < deadline:
        time.sleep(0.001)
    gen.stdin.write("go\n")
    gen.stdin.flush()
    out = gen.stdout.read()
    in_time = out.rstrip().endswith("still held 1")
    gen.wait()
    trig.wait(timeout=60 * SLOW)
    held = int(param("test_lap_n"))
    fired = param("test_lap_cpu") == "-1"
    time.sleep(0.2)
    result = {}

    def reader():
        result["read"] = read_all(proc)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    th.join(30 * SLOW)
    packets = dump.stop()
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)

    t.ok(fired and held and gen.returncode == 0 and in_time,
         "%s: the knob held a writer on CPU 0 (record %d) while the loop "
         "on CPU 1 went round the ring" % (name, held),
         [repr(out), "fired=%s rc=%s" % (fired, gen.returncode)])
    if "read" not in result:
        t.ok(False, "%s: a read from the oldest record returns" % name)
        return
    hdr, lines = result["read"]
    t.ok(hdr["next"] >= held + CAP + PAST,
         "%s: the ring went round past the held writer (next=%d, held %d,"
         " capacity %d)" % (name, hdr["next"], held, CAP))
    seen, gaps, recs, bad = [], [], [], []
    for line in lines:
        if line.startswith("# gap"):
            w = dict(x.split("=") for x in line.split()[2:])
            gaps.append((int(w["from"]), int(w["to"])))
            seen.extend(range(int(w["from"]), int(w["to"])))
        elif line.startswith("#"):
            bad.append("unexpected comment: " + line)
        else:
            try:
                r = tf.parse_record(line)
            except ValueError as e:
                bad.append(str(e))
                continue
            recs.append(r)
            seen.append(r["n"])
    want = list(range(hdr["first"], max(seen[-1:] + [hdr["next"] - 1]) + 1))
    t.ok(seen == want and not bad,
         "%s: every number from first=%d to next=%d read once, in order "
         "(a record or a gap line): no reader stalls" % (
             name, hdr["first"], hdr["next"]),
         bad + ["read %d numbers, %s..%s; want %d" % (
             len(seen), seen[:1], seen[-1:], len(want))] +
         ["missing from %d" % next((a for a, b in zip(want, seen + [None])
                                    if a != b), -1)])
    lapper = held + CAP
    if where:
        t.ok(gaps == [(lapper, lapper + 1)],
             "%s: the record that lapped it (%d) is given up, a one-record "
             "gap, and the only gap" % (name, lapper), ["gaps: %s" % gaps])
    else:
        t.ok(gaps == [] and any(r["n"] == lapper for r in recs),
             "%s: the record that lapped it (%d) is there, no gap" % (
                 name, lapper), ["gaps: %s" % gaps])
    t.ok(not any(r["n"] == held for r in recs),
         "%s: the held record itself (%d) is not read" % (name, held))
    wire = {p.key() for p in packets}
    problems, tuples = [], {}
    mine = [r for r in recs if r["netns"] == inum]
    for r in mine:
        tup = (r["laddr"], r["lport"], r["raddr"], r["rport"])
        # A listener's records carry each conversation's tuple; a
        # socket before connect() binds it has no port yet.
        listener = "LISTEN" in (r["state"], r["old"], r["new"])
        if listener or not r["lport"]:
            pass
        elif tuples.setdefault(r["conn"], tup) != tup:
            problems.append("conn %d: %s and %s" % (r["conn"],
                                                     tuples[r["conn"]], tup))
        if r["ev"] not in ("tx", "rx"):
            continue
        src = ((r["laddr"], r["lport"]), (r["raddr"], r["rport"]))
        if r["ev"] == "rx":
            src = src[::-1]
        key = (src[0], src[1], r["flags"], r["seq"], r["ack"], r["len"])
        if key not in wire:
            problems.append("not on the wire: " + tf.fmt_rec(r))
    t.ok(len(mine) > CAP // 2 and not problems,
         "%s: %d records of the loop, each segment one tcpdump saw on lo, "
         "each connection one 4-tuple" % (name, len(mine)),
         problems + ["%d packets captured" % len(packets)])


try:
    load(KO, "capacity=%d" % CAP, "segments=all")
    for where in (1, 0):
        try:
            run_case(where)
        except Exception:
            import traceback
            t.ok(False, "case where=%d ran" % where,
                 traceback.format_exc().splitlines())
finally:
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    try:
        load(orig_ko, *["%s=%s" % kv for kv in orig.items()])
        t.ok(True, "tcpflow loaded again with its parameters")
    except RuntimeError as e:
        t.ok(False, "tcpflow loaded again with its parameters", [str(e)])
t.done()
