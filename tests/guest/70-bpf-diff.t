#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 70-bpf-diff.t: tcpflow.ko and tcpflow-bpf, two independent
# implementations, trace the same scenarios at the same time and must
# give the same records: the same segments (direction, socket kind, the
# socket's state, flags, seq, ack, length, per end) and the same state
# transitions, socket by socket, in the same order, with the same
# connection ids.  The only differences allowed are the ones docs/bpf.md
# documents; each is spelled out below (ALLOWED DIFFERENCES) with the
# docs/bpf.md section it comes from, applies only where its condition
# holds, and what it excused is printed as "# " diagnostics.  Nothing
# else is ignored.
#
# The module's records come from /proc/tcpflow (cleared after tcpflow-bpf
# started), tcpflow-bpf's from its output file; the scenarios are
# scripts/scenarios/'s, across the veth pair (namespaces client and
# server) and on loopback, IPv4 and IPv6.  Phase 1 runs the default
# segment mode; phase 2 runs segments=all on a data exchange.  Both
# outputs are left in $TCPFLOW_TEST_OUT (70-bpf-diff-*.txt).
#
# Exit 4 (skipped) when tools/bpf/tcpflow-bpf was not built
# (make -C tools/bpf, on a host with BTF, bpftool and clang), when the
# running kernel has no BTF to load it with (the debug kernel of make
# check-debug is built without BPF), or when tcpflow-bpf says, in one
# line and with exit status 3, that the kernel is older than it needs
# (5.10, the bullseye series of scripts/matrix) and uname agrees.
import os
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TCPFLOW_REPO") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
BIN = os.path.join(REPO, "tools", "bpf", "tcpflow-bpf")
PROC = "/proc/tcpflow"
OUT = os.environ.get("TCPFLOW_TEST_OUT")
TRACEFS = "/sys/kernel/tracing"
NAME = "70-bpf-diff"

sys.stdout.reconfigure(line_buffering=True)


# --------------------------------------------------------------------- TAP

class TAP:
    def __init__(self):
        self.n = self.failed = 0

    def diag(self, lines):
        for line in lines:
            for s in str(line).splitlines() or [""]:
                print("# " + s)

    def ok(self, cond, name, diag=(), limit=60):
        self.n += 1
        name = name.replace("#", "\\#")
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name))
        if not cond:
            self.failed += 1
            diag = list(diag)
            self.diag(diag[:limit])
            if len(diag) > limit:
                self.diag(["... and %d more" % (len(diag) - limit)])
        return cond

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(4)


t = TAP()
if os.geteuid() != 0:
    skip_all("needs root (run it in the lab guest)")
if not os.path.exists(PROC):
    skip_all("/proc/tcpflow missing: tcpflow.ko not loaded")
if not os.access(BIN, os.X_OK):
    skip_all("tools/bpf/tcpflow-bpf not built (make -C tools/bpf)")
if not os.path.exists("/sys/kernel/btf/vmlinux"):
    skip_all("this kernel has no BTF (/sys/kernel/btf/vmlinux): "
             "tcpflow-bpf cannot load on it")

sys.path.insert(0, os.path.join(REPO, "scripts"))
try:
    import scenarios as sc
except Exception as e:  # the library is part of the suite: a failure
    print("Bail out! cannot import scripts/scenarios/: %r" % e)
    t.failed += 1
    t.done()


# ----------------------------------------------------------------- records

# The project's reader of the format (tools/tcpflow_format.py).
sys.path.insert(0, os.path.join(REPO, "tools"))
from tcpflow_format import parse_header, parse_record  # noqa: E402


def parse_text(text):
    """(header dict, records, comment lines) of a /proc/tcpflow text."""
    header, recs, comments = {}, [], []
    for line in text.splitlines():
        if line.startswith("# tcpflow ") and not header:
            header = parse_header(line)
        elif line.startswith("#"):
            comments.append(line)
        elif line.strip():
            recs.append(parse_record(line))
    return header, recs, comments


def proc_text():
    fd = os.open(PROC, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def proc_write(text):
    fd = os.open(PROC, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def fmt(r):
    s = "n=%s %s %s conn=%s %s:%s>%s:%s" % (
        r["n"], r["ev"], r["sock"], r["conn"], r["laddr"], r["lport"],
        r["raddr"], r["rport"])
    if r["ev"] == "state":
        s += " %s>%s" % (r["old"], r["new"])
        if r["why"] != "-":
            s += " why=%s dur=%s" % (r["why"], r["dur"])
    else:
        s += " state=%s %s seq=%s ack=%s len=%s" % (
            r["state"], r["flags"], r["seq"], r["ack"], r["len"])
    return s + " who=%s pid=%s" % (r["who"], r["pid"])


def save(name, text):
    if not OUT:
        return
    try:
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, "%s-%s.txt" % (NAME, name)), "w") as f:
            f.write(text)
    except OSError:
        pass


# -------------------------------------------------------------- tcpflow-bpf

# What tcpflow-bpf says once attached (a refusal may say "tracing" too).
START = b"tcpflow-bpf: tracing, "


class Bpf:
    """tcpflow-bpf writing to path until stop().  The constructor returns
    once it has attached (it says "tcpflow-bpf: tracing, ..." on stderr
    then); ok tells."""

    def __init__(self, path, args):
        self.path = path
        self.proc = subprocess.Popen(
            [BIN, "-o", path] + args, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = b""
        deadline = time.time() + 180   # the verifier is slow under TCG
        while START not in self.err:
            if self.proc.poll() is not None or time.time() > deadline:
                break
            r, _, _ = select.select([self.proc.stderr], [], [], 1)
            if r:
                b = os.read(self.proc.stderr.fileno(), 4096)
                if not b:
                    break
                self.err += b
        self.ok = START in self.err and self.proc.poll() is None

    def stop(self):
        """SIGINT it; returns (exit status, its stderr, its output)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.err += err or b""
        try:
            with open(self.path) as f:
                text = f.read()
        except OSError:
            text = ""
        return self.proc.returncode, self.err.decode(errors="replace"), text


# ------------------------------------------------------------- comparison

def in_run(r, run):
    return r["netns"] in run.netns.values() and \
        run.port in (r["lport"], r["rport"])


def seg_key(r):
    """What must be the same for a segment: direction (tx/rx, and the
    end, from the grouping), socket kind, the socket's state, flags,
    seq, ack, payload length, and a SYN's options (format 1.2)."""
    return (r["ev"], r["sock"], r["state"], r["flags"], r["seq"], r["ack"],
            r["len"], r.get("opts", "-"))


def state_key(r):
    return ("state", r["sock"], r["old"], r["new"], r["why"])


def key(r):
    return state_key(r) if r["ev"] == "state" else seg_key(r)


def stories(recs, run):
    """{(end, label): [record, ...]} with labels as scripts/scenarios/
    gives them (L the listener, - no socket, 1, 2, ... by first
    appearance on that end), and {(end, label): conn}."""
    story, conns = sc.trace_story(recs, run)
    return ({k: [r for _, r in v] for k, v in story.items()}, conns)


# ---- ALLOWED DIFFERENCES (docs/bpf.md) ------------------------------------
#
# Each function takes the module's and tcpflow-bpf's stories of one
# socket (end, label), the run and ctx (the module's records of the whole
# run: "mod", and its stories: "stories"), and returns the stories with
# the documented difference taken out, plus a note per record taken out
# (shown as a diagnostic, so a reader sees what was excused and why).
# Two more are part of the comparison itself: held_ok() (segments held
# in a qdisc) and dur_close() (TIME_WAIT's dur).  Not compared at all:
# n, ts, cpu (the order of the records is), pid, comm and who
# (docs/bpf.md, "Processes" and "Segments": a held segment leaves from
# softirq), win.

def allow_req_end(who, mod, bpf, run, ctx):
    """docs/bpf.md, "Request socks": the end of a request sock that never
    got a child (sock=req NEW_SYN_RECV -> CLOSE) has no tracepoint;
    tcpflow-bpf does not record it.  Module-only, exactly that record."""
    notes, keep = [], []
    for r in mod:
        if r["ev"] == "state" and r["sock"] == "req" and \
                r["old"] == "NEW_SYN_RECV" and r["new"] == "CLOSE" and \
                not any(key(b) == key(r) for b in bpf):
            notes.append("request sock's end, module only: " + fmt(r))
        else:
            keep.append(r)
    return keep, bpf, notes


def allow_lost_tx(who, mod, bpf, run, ctx):
    """docs/bpf.md, "Segments": a segment sent but dropped before the
    device (here: by the scenario's nftables OUTPUT rule) is recorded by
    the module only.  Which ones were dropped is the scenario's own word:
    its expectation marks them `lost`; the module's story of this socket
    must match the expectation for the exception to apply (so the
    position of each lost segment is known)."""
    lost = [i for i, e in enumerate(expect_of(run).get(who, [])) if e.lost]
    if not lost:
        return mod, bpf, []
    exp = expect_of(run)[who]
    got = sc.trace_story(ctx["mod"], run)[0].get(who, [])
    # Positionally, as scenarios.match_expectation() compares.
    for i, e in enumerate(exp):
        if i >= len(got) or not exp_matches(e, got[i][0]):
            return mod, bpf, ["NOT excused: no lost segment can be told: "
                              "the module's record %d of this socket is "
                              "not the expectation's (%s)" % (i + 1, e.text)]
    drop = {got[i][1]["n"] for i in lost}
    keep = [r for r in mod if r["n"] not in drop]
    notes = ["dropped by the firewall before the device, module only: " +
             fmt(r) for r in mod if r["n"] in drop]
    return keep, bpf, notes


def allow_reuse_syn(who, mod, bpf, run, ctx):
    """docs/bpf.md, "Segments": a SYN that meets a timewait sock and kills
    it (4-tuple reuse) is then taken by the listener: the module records
    it twice (rx at the timewait sock, rx at the listener), tcpflow-bpf
    once, at the timewait sock (it sees each segment once, at the
    device).  Only on the listener, only a SYN that the timewait sock's
    story of the same run received just before its why=kill end."""
    if who[1] != "L":
        return mod, bpf, []
    killed = set()
    for (end, label), recs in ctx["stories"].items():
        if end != who[0]:
            continue
        for i, r in enumerate(recs):
            if r["ev"] == "rx" and r["sock"] == "tw" and r["flags"] == "S" \
                    and i + 1 < len(recs) and recs[i + 1]["why"] == "kill":
                killed.add((r["raddr"], r["rport"], r["seq"]))
    notes, keep = [], []
    nb = sum(1 for b in bpf if b["ev"] == "rx" and b["flags"] == "S")
    nm = sum(1 for r in mod if r["ev"] == "rx" and r["flags"] == "S")
    extra = nm - nb
    for r in mod:
        if extra > 0 and r["ev"] == "rx" and r["flags"] == "S" and \
                (r["raddr"], r["rport"], r["seq"]) in killed:
            extra -= 1
            notes.append("SYN that killed a timewait sock, again at the "
                         "listener, module only: " + fmt(r))
        else:
            keep.append(r)
    return keep, bpf, notes


def allow_nosock_rx(who, mod, bpf, run, ctx):
    """docs/bpf.md, "Segments": the segment that reached no socket (rx,
    sock=none), which the module records just before the reset it
    provokes; tcpflow-bpf records the reset only.  Module-only, only an rx
    sock=none record followed in the module's story by a tx sock=none
    reset of the same 4-tuple."""
    if who[1] != "-":
        return mod, bpf, []
    notes, keep = [], []
    for i, r in enumerate(mod):
        nxt = mod[i + 1] if i + 1 < len(mod) else None
        if r["ev"] == "rx" and r["sock"] == "none" and nxt and \
                nxt["ev"] == "tx" and nxt["sock"] == "none" and \
                "R" in nxt["flags"] and \
                (nxt["lport"], nxt["rport"]) == (r["lport"], r["rport"]) and \
                not any(key(b) == key(r) for b in bpf):
            notes.append("the segment that reached no socket, module "
                         "only: " + fmt(r))
        else:
            keep.append(r)
    return keep, bpf, notes


ALLOWED = (allow_req_end, allow_lost_tx, allow_reuse_syn, allow_nosock_rx)


def held_ok(m, b, mstory, run):
    """docs/bpf.md, "Segments", held on the way: scripts/scenarios/'s
    hosts delay every segment in a netem qdisc (Hosts.delay_ms on every
    link, more where a scenario adds its own), and tcpflow-bpf records a
    segment when it leaves the qdisc, later than the module, with the
    socket's state then.  So (the caller compares tx records as a
    sequence of their own, apart from the rest): tcpflow-bpf's record is
    not earlier than the module's and at most the hold later, and its
    state is the module's or one the socket reached (per the module's
    state records of that socket) in between.  Returns a problem or
    None."""
    if b["ts"] < m["ts"] - 10**6 or b["ts"] > m["ts"] + hold_ns(run):
        return "tcpflow-bpf saw it %+.1f ms after the module; the hold " \
            "is at most %d ms" % ((b["ts"] - m["ts"]) / 1e6,
                                  hold_ns(run) // 10**6)
    if b["state"] == m["state"]:
        return None
    reached = [r["new"] for r in mstory if r["ev"] == "state" and
               r["sock"] == m["sock"] and m["ts"] <= r["ts"] <= b["ts"]]
    if b["state"] in reached:
        return None
    return "state %s: not the module's (%s) nor one the socket reached " \
        "while it was held (%s)" % (b["state"], m["state"],
                                    ", ".join(reached) or "none")


def hold_ns(run):
    """The longest a segment of this run can wait in a qdisc, with room
    for a slow guest (TCG)."""
    ms = run.notes.get("hold_ms", 0)
    return (ms + 1000) * 10**6


def dur_close(m, b):
    """docs/bpf.md, "TIME_WAIT": tcpflow-bpf measures dur with the
    monotonic clock from when it saw the timer armed; the module computes
    it from jiffies: they differ by up to a jiffy, plus the time between
    the two probes, plus what the guest's jiffies lag behind its
    monotonic clock when QEMU's vCPUs are starved (14 ms seen while the
    host built a kernel).  A wrong dur is off by far more than that."""
    if m["dur"] is None or b["dur"] is None:
        return m["dur"] == b["dur"]
    return abs(m["dur"] - b["dur"]) <= JIFFY_NS + 50 * 10**6


def kernel_hz():
    try:
        with open("/boot/config-" + os.uname().release) as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=")[1])
    except OSError:
        pass
    return 100     # the coarsest: the most lenient


JIFFY_NS = 10**9 // kernel_hz()

_expect_cache = {}


def exp_matches(e, got):
    """An expectation line (scripts/scenarios/expect.py's ExpLine)
    against a key of scenarios.trace_story(); seq/ack None in the
    expectation: any."""
    if e.ev == "state":
        return e.key() == got
    want = (e.ev, e.sock, e.state, e.flags, e.seq, e.ack, e.len)
    return len(got) == len(want) and all(
        w is None and i in (4, 5) or w == g
        for i, (w, g) in enumerate(zip(want, got)))


def expect_of(run):
    """{(end, label): [ExpLine, ...]} of the run's expectation."""
    if id(run) not in _expect_cache:
        d = {}
        for e in sc.parse_expect(run.expect):
            d.setdefault((e.end, e.label), []).append(e)
        _expect_cache[id(run)] = d
    return _expect_cache[id(run)]


def same(mr, br):
    """The same record, but for what differs by design: ts, cpu, n and
    (docs/bpf.md, "Processes") pid/comm/who are not compared; dur within
    dur_close()."""
    if key(mr) != key(br):
        return False
    if mr["why"] != "-":
        return dur_close(mr, br)
    return mr["dur"] == br["dur"]


def diff_seq(mm, bb, held, mstory, run):
    """First difference of two sequences of one socket's records: None,
    or (index, why).  held: tx records held on the way (held_ok())."""
    for i in range(max(len(mm), len(bb))):
        if i >= len(mm) or i >= len(bb):
            return i, ""
        mr, br = mm[i], bb[i]
        if held:
            if key(dict(mr, state="-")) != key(dict(br, state="-")):
                return i, ""
            why = held_ok(mr, br, mstory, run)
            if why:
                return i, why
        elif not same(mr, br):
            return i, ""
    return None


def compare(run, mod, bpf):
    """Problems (list of strings) and notes (excused differences)."""
    ms, mconns = stories(mod, run)
    bs, bconns = stories(bpf, run)
    ctx = {"mod": mod, "stories": ms}
    problems, notes = [], []
    if not mod:
        problems.append("the module recorded nothing for this run")
    if not bpf:
        problems.append("tcpflow-bpf recorded nothing for this run")
    held = run.notes.get("hold_ms", 0) > 0
    delays = []
    for who in sorted(set(ms) | set(bs)):
        m, b = ms.get(who, []), bs.get(who, [])
        mstory = m
        for fn in ALLOWED:
            m, b, n = fn(who, m, b, run, ctx)
            notes += ["%s %s: %s" % (who[0], who[1], x) for x in n]
        if held:
            # Held segments (held_ok()): tx apart, the rest in order.
            parts = [("tx", [r for r in m if r["ev"] == "tx"],
                      [r for r in b if r["ev"] == "tx"]),
                     ("rx and state", [r for r in m if r["ev"] != "tx"],
                      [r for r in b if r["ev"] != "tx"])]
        else:
            parts = [("", m, b)]
        for what, mm, bb in parts:
            p = diff_seq(mm, bb, what == "tx", mstory, run)
            if p:
                i, why = p
                mr = mm[i] if i < len(mm) else None
                br = bb[i] if i < len(bb) else None
                problems.append("%s %s, %srecord %d of this socket:%s" % (
                    who[0], who[1], what + " " if what else "", i + 1,
                    " " + why if why else ""))
                problems.append("  module: " + (fmt(mr) if mr else "nothing"))
                problems.append("  bpf:    " + (fmt(br) if br else "nothing"))
            elif what == "tx":
                delays += [y["ts"] - x["ts"] for x, y in zip(mm, bb)]
                notes += ["%s %s: held on the way, recorded %.1f ms after "
                          "the module, state %s (the module: %s): %s" % (
                              who[0], who[1], (y["ts"] - x["ts"]) / 1e6,
                              y["state"], x["state"], fmt(y))
                          for x, y in zip(mm, bb)
                          if x["state"] != y["state"]]
    if delays:
        notes.append("%d segments held on the way (netem), recorded by "
                     "tcpflow-bpf %.1f to %.1f ms after the module" % (
                         len(delays), min(delays) / 1e6, max(delays) / 1e6))
    ids = []
    for who in sorted(set(mconns) & set(bconns)):
        if mconns[who] != bconns[who]:
            ids.append("%s %s: module conn=%s, tcpflow-bpf conn=%s" % (
                who[0], who[1], mconns[who], bconns[who]))
    return problems, notes, ids


# ---------------------------------------------------------------- scenarios

# (scenario, af, link): what phase 1 runs, each on a port of its own.
PHASE1 = [
    ("handshake", 4, "veth"),
    ("handshake", 6, "veth"),
    ("handshake", 4, "lo"),
    ("handshake", 6, "lo"),
    ("teardown-server-first", 4, "veth"),
    ("teardown-server-first", 6, "lo"),
    ("reset-closed-port", 4, "veth"),
    ("reset-closed-port", 6, "veth"),
    ("reset-closed-port", 4, "lo"),
    ("abort", 4, "veth"),
    ("abort", 6, "lo"),
    ("half-close", 4, "veth"),
    ("exchange", 6, "veth"),
    ("reuse", 4, "veth"),
    ("reuse", 6, "lo"),
    ("lost-last-ack", 4, "veth"),
    ("simultaneous-close", 4, "veth"),
    ("syn-recv", 4, "veth"),
]
# Phase 2, segments=all: every segment, data and its ACKs included.
PHASE2 = [
    ("exchange", 4, "veth"),
    ("exchange", 4, "lo"),
]
# Scenarios that delay more than Hosts.delay_ms (ctx.netem()): by how much.
NETEM = {"simultaneous-close": 300}


def kernel_cannot(bpf):
    """Skip the file if tcpflow-bpf said, in one line and with exit status
    3, that this kernel lacks what it needs, and the kernel's version
    agrees (docs/bpf.md: the socket cookie helper came in Linux 5.12)."""
    rc, err, _ = bpf.stop()
    lines = err.strip().splitlines()
    release = os.uname().release
    major, minor = (int(x) for x in release.split(".")[:2])
    if rc == 3 and len(lines) == 1 and \
            lines[0].startswith("tcpflow-bpf: needs Linux 5.12 or later") \
            and (major, minor) < (5, 12):
        skip_all(lines[0])


def run_phase(hosts, runs, port0, segments, label):
    """Start tcpflow-bpf, clear the module, run the scenarios, stop
    tcpflow-bpf.  Returns (runs, module records, bpf records, headers)."""
    proc_write("filter=-\nsegments=%s\n" % segments)
    out = "/run/%s-%s.txt" % (NAME, label)
    bpf = Bpf(out, ["--segments", segments])
    if not bpf.ok and t.n == 0:
        kernel_cannot(bpf)
    if not t.ok(bpf.ok, "%s: tcpflow-bpf --segments %s loads and attaches "
                "(Linux %s)" % (label, segments, os.uname().release),
                bpf.err.decode(errors="replace").splitlines()):
        bpf.stop()
        return None
    proc_write("clear\n")
    done, errors = [], []
    port = port0
    for name, af, link in runs:
        port += 1
        try:
            run = sc.run(name, hosts, af=af, link=link, port=port)
            # How long netem may hold a segment (held_ok()).
            run.notes["hold_ms"] = hosts.delay_ms + NETEM.get(name, 0)
            done.append(run)
        except Exception as e:
            errors.append("%s IPv%d %s :%d: %r" % (name, af, link, port, e))
    time.sleep(0.5)     # the last segments' trip
    rc, err, text = bpf.stop()
    mtext = proc_text()
    save(label + "-bpf", text)
    save(label + "-module", mtext)
    t.ok(not errors, "%s: %d scenarios ran" % (label, len(runs)), errors)
    bh, brecs, _ = parse_text(text)
    mh, mrecs, _ = parse_text(mtext)
    t.ok(rc == 0 and bh.get("missed") == 0 and brecs and
         bh.get("next") == len(brecs) + 1,
         "%s: tcpflow-bpf exited 0, lost nothing (missed=0), %d records" % (
             label, len(brecs)),
         ["exit status %s, header %s" % (rc, bh)] + err.splitlines())
    t.ok(mh.get("missed") == 0 and mh.get("overwritten") == 0 and mrecs,
         "%s: the module lost nothing (missed=0 overwritten=0), %d records"
         % (label, len(mrecs)), ["header %s" % mh])
    return done, mrecs, brecs


def check_runs(label, done, mrecs, brecs):
    for run in done:
        tag = "%s: %s IPv%d %s :%d" % (label, run.name, run.af, run.link,
                                       run.port)
        mod = [r for r in mrecs if in_run(r, run)]
        bpf = [r for r in brecs if in_run(r, run)]
        problems, notes, ids = compare(run, mod, bpf)
        if not problems and notes:
            t.diag(["%s: documented differences (docs/bpf.md):" % tag] +
                   ["  " + x for x in notes])
        t.ok(not problems, "%s: the same segments and state changes, "
             "socket by socket (%d module, %d bpf records)" % (
                 tag, len(mod), len(bpf)),
             problems + ["excused (docs/bpf.md): " + x for x in notes] +
             ["module records of this run:"] +
             ["  " + fmt(r) for r in mod] +
             ["tcpflow-bpf records of this run:"] +
             ["  " + fmt(r) for r in bpf], limit=200)
        # docs/bpf.md, "Connection ids": with the module loaded the
        # request sock's cookie is set first, and both show the same id.
        t.ok(not ids, "%s: the same connection ids" % tag, ids)


def main():
    if not os.path.ismount(TRACEFS):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS],
                       check=False)
    hosts = sc.Hosts().up()
    try:
        res = run_phase(hosts, PHASE1, 8700, "default", "default")
        if res:
            check_runs("default", *res)
        res = run_phase(hosts, PHASE2, 8800, "all", "all")
        if res:
            check_runs("all", *res)
    finally:
        hosts.down()
        try:
            proc_write("filter=-\nsegments=default\n")
        except OSError:
            pass
    t.done()


main()
