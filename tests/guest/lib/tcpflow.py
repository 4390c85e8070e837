# SPDX-License-Identifier: GPL-2.0
"""
tests/guest/lib/tcpflow.py: what the guest tests (tests/guest/*.t) are
made of.  Python 3 standard library only; runs in the lab guest as root.

  TAP            test output: ok/not ok lines, "# " diagnostics, exit code
  Proc           /proc/tcpflow: header, records from an offset, commands,
                 through parse_header() and parse_record(), the Python
                 reader (tools/tcpflow_format.py, independent of the
                 project's C reader)
  Capture        the first independent truth: packets as the interface saw
                 them, from an AF_PACKET socket in a namespace, or
  Tcpdump        from Debian's tcpdump -w, read by read_pcap() (the same
                 file's)
  Tracepoint     the second: the kernel's sock:inet_sock_set_state
                 tracepoint, read from an ftrace instance
  ss()           the kernel's socket table through ss (cookies, timers)
  Scene          two hosts, the captures and the tracepoint, and a way to run
                 a scenario (scripts/scenarios/) and collect its records
  check_*()      comparisons; each returns a list of problems (strings)
"""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback


# How many times slower than Debian's kernel under emulation this guest
# runs the suite (TCPFLOW_SLOW, default 1; scripts/check-debug sets 8 for
# the debug kernel, about ten times slower).  Every time window a test
# gives the kernel or itself (a timeout it sets with a sysctl, a
# tolerance between two clocks) is its value on Debian's kernel times
# SLOW, so that one knob says how slow a kernel is.
SLOW = max(1.0, float(os.environ.get("TCPFLOW_SLOW") or 1))


def _timer_list():
    """(ktime now in ns, jiffies) from one read of /proc/timer_list."""
    with open("/proc/timer_list") as f:
        text = f.read()
    now = int(re.search(r"^now at (\d+) nsecs", text, re.M).group(1))
    jif = int(re.search(r"^jiffies: (\d+)", text, re.M).group(1))
    return now, jif


_hz = None


def kernel_hz():
    """The running kernel's HZ (CONFIG_HZ: 250 on Debian's, 1000 on the
    debug kernel), measured: jiffies against ktime over 0.5 s, rounded
    to the nearest HZ a kernel can be built with."""
    global _hz
    if _hz is None:
        n0, j0 = _timer_list()
        time.sleep(0.5)
        n1, j1 = _timer_list()
        hz = (j1 - j0) * 1e9 / (n1 - n0)
        _hz = min((100, 250, 300, 1000), key=lambda h: abs(h - hz))
    return _hz


def timer_slack(secs, hz=None):
    """How late the timer wheel may fire a timer armed secs ahead: it
    rounds the expiry up to the granularity of the level the timeout
    falls in (kernel/time/timer.c, calc_index(): level n holds timeouts
    from 63 << 3(n-1) jiffies on, 8^n jiffies apart).  A 60 s timer is 2 s
    late at most at HZ=250, 4 s at HZ=1000."""
    hz = hz or kernel_hz()
    delta, lvl = int(secs * hz), 0
    while lvl < 8 and delta >= 63 << (3 * lvl):
        lvl += 1
    return (8 ** lvl) / hz


REPO = os.environ.get("TCPFLOW_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "tools"))

import scenarios  # noqa: E402
from scenarios import (CLIENT, SERVER, Hosts, in_netns, ns_run,  # noqa: E402,F401
                       netns_inum, mono, end_of, Relative, VETH)
# The records' and the captures' reader (tools/tcpflow_format.py), whose
# names the tests use as tf.NAME.
from tcpflow_format import (INT_KEYS, RECORD_KEYS, GAP_RE,  # noqa: E402,F401
                            parse_header, parse_record, FLAG_LETTERS,
                            flag_letters, Packet, parse_frame, PCAP_MAGIC_NS,
                            PCAP_MAGIC_US, pcap_frames, read_pcap, write_pcap)

PROC = "/proc/tcpflow"
OUT = os.environ.get("TCPFLOW_TEST_OUT") or "/tmp/tcpflow-tests"


# --------------------------------------------------------------------- TAP

class TAP:
    """ok N - name / not ok N - name, with "# " diagnostics; done() prints
    the plan and exits 0 (all passed), 1 (something failed) or 4 (all
    skipped)."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.skipped = 0
        sys.stdout.reconfigure(line_buffering=True)

    def diag(self, *lines):
        for text in lines:
            for line in str(text).splitlines() or [""]:
                print("# " + line)

    def ok(self, cond, name, diag=(), known=None):
        """One result.  diag: lines shown when it failed.  known: the
        description of a known module bug this test exposes (still a
        failure: the suite must not hide it)."""
        self.n += 1
        name = name.replace("#", "\\#")
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            if known:
                self.diag("KNOWN MODULE BUG: " + known)
            limit = 40
            diag = list(diag)
            for d in diag[:limit]:
                self.diag(d)
            if len(diag) > limit:
                self.diag("... and %d more" % (len(diag) - limit))
        return cond

    def problems(self, problems, name, known=None):
        """ok when the list of problems is empty; else show them."""
        return self.ok(not problems, name, problems, known=known)

    def skip(self, name, why):
        self.n += 1
        self.skipped += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))

    def run(self, name, fn, *args, **kw):
        """fn(*args) returns a list of problems, or raises: not ok with the
        traceback.  Returns fn's value (None when it raised)."""
        try:
            problems = fn(*args, **kw)
        except Exception:
            self.ok(False, name, traceback.format_exc().splitlines())
            return None
        self.problems(problems or [], name)
        return problems

    def bail(self, why):
        print("Bail out! " + why)
        self.done()

    def done(self):
        print("1..%d" % self.n)
        if self.failed:
            sys.exit(1)
        if self.n and self.skipped == self.n:
            sys.exit(4)
        sys.exit(0)


def need_root_and_module(t):
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (run in the lab guest)")
        sys.exit(4)
    if not os.path.exists(PROC):
        print("1..0 # SKIP /proc/tcpflow missing: tcpflow.ko not loaded")
        sys.exit(4)


# ------------------------------------------------------------ /proc/tcpflow

class Proc:
    """/proc/tcpflow."""

    def __init__(self, path=PROC):
        self.path = path

    def read_raw(self, offset=0, fd=None):
        """The text from record offset `offset` (0: header first; None:
        from fd's current offset)."""
        own = fd is None
        if own:
            fd = os.open(self.path, os.O_RDONLY)
        try:
            if offset is not None:
                os.lseek(fd, offset, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode()
        finally:
            if own:
                os.close(fd)

    def header(self):
        fd = os.open(self.path, os.O_RDONLY)
        try:
            b = os.read(fd, 4096).decode()
        finally:
            os.close(fd)
        return parse_header(b.splitlines()[0])

    def mark(self):
        """The number the next record will get."""
        return self.header()["next"]

    def records(self, since=0, fd=None):
        """(records, comments) from record number `since`."""
        recs, comments = [], []
        for line in self.read_raw(since, fd).splitlines():
            if line.startswith("#"):
                comments.append(line)
            elif line.strip():
                recs.append(parse_record(line))
        return recs, comments

    def write(self, text):
        """Write a command (str, or bytes as they are); returns 0 or the
        errno of the failed write."""
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.write(fd, text if isinstance(text, bytes) else text.encode())
            return 0
        except OSError as e:
            return e.errno
        finally:
            os.close(fd)

    def must(self, text):
        err = self.write(text)
        if err:
            raise OSError(err, "write %r to %s" % (text, self.path))


def fmt_rec(r):
    """A record, short, for diagnostics."""
    s = "n=%s %s %s conn=%s %s:%s>%s:%s" % (
        r["n"], r["ev"], r["sock"], r["conn"], r["laddr"], r["lport"],
        r["raddr"], r["rport"])
    if r["ev"] == "state":
        s += " %s>%s" % (r["old"], r["new"])
        if r.get("why", "-") != "-":
            s += " why=%s dur=%s" % (r["why"], r["dur"])
    else:
        s += " state=%s %s seq=%s ack=%s win=%s len=%s" % (
            r["state"], r["flags"], r["seq"], r["ack"], r["win"], r["len"])
    s += " pid=%s comm=%s who=%s netns=%s" % (r["pid"], r["comm"], r["who"],
                                               r["netns"])
    return s


# ----------------------------------------------------------------- packets

def realtime_minus_mono():
    """CLOCK_REALTIME - CLOCK_MONOTONIC now, in seconds (both tick alike
    in the guest: no NTP), to put capture times on tcpflow's clock."""
    a = time.clock_gettime(time.CLOCK_MONOTONIC)
    r = time.clock_gettime(time.CLOCK_REALTIME)
    b = time.clock_gettime(time.CLOCK_MONOTONIC)
    return r - (a + b) / 2


ETH_P_ALL = 3
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33


class Capture:
    """Packets of one interface in one namespace, from an AF_PACKET
    socket.  Capturing from the moment the object exists (the socket is
    bound before __init__ returns); drain() collects what came since."""

    def __init__(self, ns, ifname):
        self.ns, self.ifname = ns, ifname
        with in_netns(ns):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind((ifname, ETH_P_ALL))
        self.sock = s
        self.packets = []
        self.drops = 0
        self.drain()
        self.packets = []   # whatever came before the bind

    def drain(self):
        """Collect the packets queued on the socket; returns all so far."""
        while True:
            try:
                data, anc, _, addr = self.sock.recvmsg(
                    262144, socket.CMSG_SPACE(16), socket.MSG_DONTWAIT |
                    socket.MSG_TRUNC)
            except BlockingIOError:
                break
            ifname, _, pkttype = addr[0], addr[1], addr[2]
            if ifname != self.ifname:
                continue
            # On lo every packet passes twice, out and in; keep it once
            # (as libpcap does).
            if self.ifname == "lo" and pkttype == PACKET_OUTGOING:
                continue
            ts = time.time()
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    ts = sec + nsec / 1e9
            p = parse_frame(data[:256], len(data), ts)
            if p:
                p.mono = ts - realtime_minus_mono()
                self.packets.append(p)
        st = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.drops += struct.unpack("II", st)[1]
        return self.packets

    def close(self):
        self.sock.close()


class Tcpdump:
    """Debian's tcpdump writing a pcap file, in a namespace.  start()
    returns once tcpdump says it is listening; stop() interrupts it and
    reads the file with read_pcap()."""

    def __init__(self, ns, ifname, path, filt="tcp"):
        self.ns, self.ifname, self.path = ns, ifname, path
        self.argv = ["tcpdump", "-i", ifname, "-w", path, "-U", "-Z", "root",
                     "-s", "256", "--immediate-mode", "-n", filt]
        self.proc = None
        self.err = ""

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: scenarios.setns(scenarios.netns_path(self.ns)))
        deadline = time.time() + timeout
        buf = b""
        while b"listening on" not in buf:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("tcpdump did not start: %s" % buf.decode())
            r, _, _ = select.select([self.proc.stderr], [], [], 1)
            if r:
                buf += os.read(self.proc.stderr.fileno(), 4096)
        self.err = buf.decode()
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.err += err.decode()
        off = realtime_minus_mono()
        packets = read_pcap(self.path)
        for p in packets:
            p.mono = p.ts - off
        return packets


# -------------------------------------------------------------- tracepoint

TRACEFS = "/sys/kernel/tracing"
TP_RE = re.compile(r"^\s*(.*?)-(\d+)\s+\[(\d+)\].*?\s(\d+)\.(\d+): "
                   r"inet_sock_set_state: (.*)$")


class Delay:
    """tfdelay.ko (tests/guest/kmod, built by 'make module-testing'):
    func's entry busy-waits ms when called from caller on cpu, count times,
    to widen one of the kernel's race windows; it knows nothing of
    tcpflow, so a test makes the same race against any build of it.
    A context manager; .loaded is False where there is no such build for
    this kernel (then the race is left to chance), .why says why;
    .hits() is how many waits were done."""

    KO = os.path.join(OUT, "testing", "tfdelay", "tfdelay.ko")

    def __init__(self, func, caller, cpu=-1, ms=300, count=1):
        self.args = ["func=" + func, "caller=" + caller, "cpu=%d" % cpu,
                     "ms=%d" % ms, "count=%d" % count]
        self.loaded = False
        self.why = ""
        self.final_hits = 0

    def __enter__(self):
        if not os.path.exists(self.KO):
            self.why = "no %s (tests/run makes it)" % self.KO
            return self
        magic = subprocess.run(["modinfo", "-F", "vermagic", self.KO],
                               capture_output=True, text=True).stdout.split()
        if not magic or magic[0] != os.uname().release:
            self.why = "%s is not built for %s" % (self.KO,
                                                   os.uname().release)
            return self
        subprocess.run(["rmmod", "tfdelay"], capture_output=True)
        subprocess.run(["insmod", self.KO] + self.args, check=True)
        self.loaded = True
        return self

    def hits(self):
        if not self.loaded:
            return self.final_hits
        with open("/sys/module/tfdelay/parameters/hits") as f:
            return int(f.read())

    def __exit__(self, *exc):
        if self.loaded:
            self.final_hits = self.hits()
            subprocess.run(["rmmod", "tfdelay"], check=True)
            self.loaded = False
        return False


class Tracepoint:
    """sock:inet_sock_set_state in an ftrace instance of our own, with the
    mono clock (tcpflow's ts clock)."""

    def __init__(self, name="tcpflow-test", protocol=socket.IPPROTO_TCP):
        base = TRACEFS
        if not os.path.exists(os.path.join(base, "instances")):
            base = "/sys/kernel/debug/tracing"
        self.dir = os.path.join(base, "instances", "%s-%d" % (name,
                                                              os.getpid()))
        if os.path.exists(self.dir):
            self.close()
        os.mkdir(self.dir)
        self._w("trace_clock", "mono")
        ev = "events/sock/inet_sock_set_state/"
        self._w(ev + "filter", "protocol == %d" % protocol)
        self._w(ev + "enable", "1")

    def _w(self, f, v):
        with open(os.path.join(self.dir, f), "w") as fh:
            fh.write(v)

    def events(self):
        """All events so far: dicts with ts (ns), cpu, the fields, line."""
        out = []
        with open(os.path.join(self.dir, "trace")) as fh:
            for line in fh:
                m = TP_RE.search(line)
                if not m:
                    continue
                d = dict(kv.split("=", 1) for kv in m.group(6).split())
                d["ts"] = int(m.group(4)) * 10**9 + int(m.group(5)) * 1000
                d["cpu"] = int(m.group(3))
                # the task that was current when the event fired
                d["task"], d["task_pid"] = m.group(1).strip(), int(m.group(2))
                d["sport"], d["dport"] = int(d["sport"]), int(d["dport"])
                d["old"] = d["oldstate"].replace("TCP_", "")
                d["new"] = d["newstate"].replace("TCP_", "")
                d["line"] = line.strip()
                out.append(d)
        return out

    def close(self):
        try:
            self._w("events/sock/inet_sock_set_state/enable", "0")
        except OSError:
            pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


# ---------------------------------------------------------------------- ss

SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT",
             "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
             "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
             "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
             "LISTEN": "LISTEN", "CLOSING": "CLOSING", "UNCONN": "CLOSE"}


def _split_addr(s):
    a, _, p = s.rpartition(":")
    a = a.strip("[]")
    if a.startswith("::ffff:") and "." in a:
        a = a[7:]
    return a, int(p) if p.isdigit() else 0


def ss_timer_secs(timer):
    """ss's timer text -> seconds: 'timewait,57sec,0' -> 57, '8.644ms'
    -> 8.644 (ss writes seconds and milliseconds that way), '644ms' ->
    0.644, '1min3sec' -> 63."""
    what = timer.split(",")[1]
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", what)
    if not m:
        raise ValueError("ss timer %r" % timer)
    mins, secs, ms = (int(x) if x else 0 for x in m.groups())
    return mins * 60 + secs + ms / 1000.0


def ss(ns, *filt):
    """TCP sockets of namespace ns per `ss -Htanoe [filter]`: dicts with
    state (tcpflow's names), laddr lport raddr rport, cookie (int or None),
    timer (text or None), line.  With a filter "state X" ss leaves out
    the state column: the state is then X."""
    p = ns_run(ns, ["ss", "-Htanoe"] + list(filt), check=False)
    only = None
    if len(filt) >= 2 and filt[0] == "state":
        only = filt[1].upper()
    out = []
    for line in p.stdout.splitlines():
        w = line.split()
        if w and w[0].isdigit():
            w = [only or "?"] + w
        if len(w) < 5:
            continue
        la, lp = _split_addr(w[3])
        ra, rp = _split_addr(w[4])
        m = re.search(r"\bsk:([0-9a-f]+)", line)
        t = re.search(r"timer:\(([^)]*)\)", line)
        out.append({"state": SS_STATES.get(w[0], w[0]), "laddr": la,
                    "lport": lp, "raddr": ra, "rport": rp,
                    "cookie": int(m.group(1), 16) if m else None,
                    "timer": t.group(1) if t else None, "line": line})
    return out


# ------------------------------------------------------------------ scenes

class Partial:
    """Records of a run up to some moment (a snapshot), for the checks
    that take a Result."""

    def __init__(self, run, records):
        self.run, self.records = run, records


class Result:
    """A finished scenario run and the evidence: run (scenarios.Run),
    records (its /proc/tcpflow records), packets (capture), tp (tracepoint
    events), comments (# lines of the read)."""

    def __init__(self, run, records, comments, packets, tp):
        self.run, self.records, self.comments = run, records, comments
        self.packets, self.tp = packets, tp

    def tag(self):
        r = self.run
        return "%s IPv%d %s :%d" % (r.name, r.af, r.link, r.port)


class Scene:
    """One test file's world: the two hosts, AF_PACKET captures on veth-c
    (client side) and on the server's lo, the tracepoint, and
    /proc/tcpflow.  run() runs a scenario and returns a Result."""

    def __init__(self, tcpdump=False, name=None):
        self.name = name or os.path.basename(sys.argv[0]).replace(".t", "")
        self.hosts = Hosts().up()
        self.proc = Proc()
        self.proc.must("filter=-\nsegments=default\n")
        self.tp = Tracepoint()
        self.tcpdump = tcpdump
        self.caps = {}
        self.dumps = {}
        os.makedirs(OUT, exist_ok=True)
        for link, ns, ifname in (("veth", CLIENT, VETH[CLIENT]),
                                 ("lo", SERVER, "lo")):
            nsname = self.hosts.ns[ns]
            if tcpdump:
                path = os.path.join(OUT, "%s-%s.pcap" % (self.name, link))
                self.dumps[link] = Tcpdump(nsname, ifname, path).start()
            else:
                self.caps[link] = Capture(nsname, ifname)
        self.dumped = {}

    def start(self, name, **kw):
        """Start a scenario; returns (runner, mark) (see finish())."""
        mark = self.proc.mark()
        runner = scenarios.Runner(name, self.hosts, **kw)
        runner.runrec.mark = mark
        runner.start()
        return runner, mark

    def snapshot(self, run, ss_too=True):
        """In a hook: the run's records so far, ss rows of its port (read
        after the records), and the time."""
        recs = [r for r in self.proc.records(run.mark)[0] if in_run(r, run)]
        rows = snapshot_ss(run) if ss_too else None
        return {"records": recs, "ss": rows, "t": mono()}

    def finish(self, runner, mark, settle=0.3):
        run = runner.finish()
        time.sleep(settle)
        return self.collect(run, mark)

    def run(self, name, **kw):
        runner, mark = self.start(name, **kw)
        return self.finish(runner, mark)

    def collect(self, run, mark):
        recs, comments = self.proc.records(mark)
        # A TIME_WAIT that runs out after the scenario ended is not part
        # of it (it did not wait for it): on a slow kernel the 60 s can
        # pass before the records are read.
        t1 = int(run.t1 * 1e9) if getattr(run, "t1", None) else None
        mine = [r for r in recs if in_run(r, run) and not (
            t1 and r["ts"] > t1 and r["sock"] == "tw" and
            r["ev"] == "state" and r["old"] == "TIME_WAIT")]
        if self.tcpdump:
            packets = None   # after stop_tcpdump()
        else:
            allp = self.caps[run.link].drain()
            packets = [p for p in allp if run.port in (p.sport, p.dport)]
            path = os.path.join(OUT, "%s-%s-%s-%d.pcap" % (
                self.name, run.name, run.link, run.af))
            write_pcap(path, packets)
        t0 = int(run.t0 * 1e9) - 10**8
        tp = [e for e in self.tp.events() if e["ts"] >= t0 and
              run.port in (e["sport"], e["dport"])]
        return Result(run, mine, comments, packets, tp)

    def stop_tcpdump(self, results):
        """With tcpdump=True: stop the captures and give each result its
        packets."""
        got = {link: d.stop() for link, d in self.dumps.items()}
        for res in results:
            res.packets = [p for p in got[res.run.link]
                           if res.run.port in (p.sport, p.dport)]
        self.dumps = {}
        return got

    def close(self):
        for d in self.dumps.values():
            try:
                d.stop()
            except Exception:
                pass
        for c in self.caps.values():
            c.close()
        self.tp.close()
        self.hosts.down()


def in_run(r, run):
    return r["netns"] in run.netns.values() and \
        run.port in (r["lport"], r["rport"])


# ------------------------------------------------------------ comparisons

def _rec_key(r):
    if r["ev"] == "tx":
        src, dst = (r["laddr"], r["lport"]), (r["raddr"], r["rport"])
    else:
        src, dst = (r["raddr"], r["rport"]), (r["laddr"], r["lport"])
    return (src, dst, r["flags"], r["seq"], r["ack"], r["len"])


def control_packets(packets, port):
    """The packets tcpflow must record in its default segment mode, with
    why: SYN, FIN, RST, the handshake's ACK (a pure ACK before any byte
    of data, seq and ack both ISN+1) and the teardown's pure ACKs (from
    an end that sent or saw a FIN)."""
    out = []
    st = {}
    for p in packets:
        client = (p.src, p.sport) if p.dport == port else (p.dst, p.dport)
        c = st.setdefault(client, {"isn": {}, "fin": False, "data": False})
        sender = "c" if p.dport == port else "s"
        recv = "s" if sender == "c" else "c"
        if "S" in p.flags:
            # A new client ISN is a new connection, unless the server's
            # own SYN came first (a simultaneous open).
            if sender == "c" and "." not in p.flags and \
                    c["isn"].get("c") != p.seq and \
                    c["isn"].get("c") is not None:
                c.update(isn={}, fin=False, data=False)
            c["isn"][sender] = p.seq
        why = None
        if any(f in p.flags for f in "SFR"):
            why = "SYN/FIN/RST"
        elif p.flags == "." and p.len == 0:
            if c["fin"]:
                why = "teardown ACK"
            elif not c["data"] and c["isn"].get(sender) is not None and \
                    c["isn"].get(recv) is not None and \
                    p.seq == (c["isn"][sender] + 1) & 0xffffffff and \
                    p.ack == (c["isn"][recv] + 1) & 0xffffffff:
                why = "handshake ACK"
        if "F" in p.flags:
            c["fin"] = True
        if p.len:
            c["data"] = True
        if why:
            out.append((p, why))
    return out


def check_capture(res):
    """Capture vs trace.  Every SYN, FIN, RST and handshake/teardown ACK
    on the wire is in the trace with the same flags, seq, ack and length,
    as a tx record on the sender's end and an rx record on the receiver's
    end, as many times as it was on the wire; the trace has no SYN, FIN or
    RST the wire lacks, and receives nothing the wire did not carry.  A
    sent pure ACK may be missing from the wire only when the scenario
    dropped packets on purpose (a firewall rule); one the scenario lost
    on the way (wire_dropped) is on the wire with no rx record."""
    run = res.run
    problems = []
    cap = {}
    for p in res.packets:
        cap.setdefault(p.key(), []).append(p)
    tx, rx = {}, {}
    for r in res.records:
        if r["ev"] in ("tx", "rx"):
            (tx if r["ev"] == "tx" else rx).setdefault(_rec_key(r), []).append(r)
    # Segments no socket took: the receiver's kernel answered them with a
    # reset of its own (sock=none); they have no rx record, by design.
    unowned = set()
    for r in res.records:
        if r["ev"] == "tx" and r["sock"] == "none":
            unowned.add(((r["raddr"], r["rport"]), (r["laddr"], r["lport"])))
    # Segments that arrived after the receiver's last socket of that
    # 4-tuple had closed (per the trace): nothing was there to take them
    # (e.g. a reset answering a SYN-ACK that crossed the client's own
    # reset); the receiving kernel drops them without a record.
    closed = {}
    for r in res.records:
        k = ((r["laddr"], r["lport"]), (r["raddr"], r["rport"]))
        if r["ev"] == "state" and r["new"] == "CLOSE":
            closed[k] = r["ts"] / 1e9
        elif r["ev"] != "tx" or r["sock"] != "none":
            closed.pop(k, None)
    # Segments the scenario lost on the way (Ctx.drop_on_wire(): dropped
    # as they reached the receiver's link, before its stack): on the
    # sender's side of the wire, no rx record.  One of each, at most.
    wire_dropped = {}
    for a, sp, d, dp, flags in run.notes.get("wire_dropped", []):
        k = ((_norm(a), sp, _norm(d), dp), flags)
        wire_dropped[k] = wire_dropped.get(k, 0) + 1
    # Segments the scenario wrote with a raw socket: no socket sent them,
    # so no tx record; segments to an address no host has: no rx record.
    raw = {(_norm(a), sp, _norm(d), dp, seq)
           for a, sp, d, dp, seq in run.notes.get("raw_sent", [])}
    nohost = {_norm(a) for a in run.notes.get("nohost", [])}
    # The default segment mode records no pure ACK that an ESTABLISHED
    # full socket receives: a handshake ACK that reaches one (in a
    # simultaneous open, both ends' last ACKs) has no rx record.
    established = {}
    for r in res.records:
        if r["ev"] == "state" and r["sock"] == "full" and \
                r["new"] == "ESTABLISHED":
            established.setdefault((r["laddr"], r["lport"], r["raddr"],
                                    r["rport"]), r["ts"] / 1e9)
    if not res.packets:
        problems.append("nothing captured for :%d" % run.port)
    for p, why in control_packets(res.packets, run.port):
        k = p.key()
        ncap = len(cap[k])
        for kind, have in (("tx", tx), ("rx", rx)):
            if kind == "rx" and k[:2] in unowned:
                continue
            if kind == "tx" and p.flags == "S" and \
                    (p.src, p.sport, p.dst, p.dport, p.seq) in raw:
                continue
            if kind == "rx" and p.dst in nohost:
                continue
            since = established.get((p.dst, p.dport, p.src, p.sport))
            if kind == "rx" and why == "handshake ACK" and \
                    since is not None and p.mono is not None and \
                    since < p.mono:
                continue
            gone = closed.get((k[1], k[0]))
            mono_ts = getattr(p, "mono", None)
            if kind == "rx" and gone is not None and mono_ts is not None \
                    and mono_ts > gone and not have.get(k):
                continue
            got = len(have.get(k, []))
            if kind == "rx":
                got += wire_dropped.get(((p.src, p.sport, p.dst, p.dport),
                                         p.flags), 0)
            if got < ncap:
                problems.append(
                    "%s on the wire %d time(s), %d %s record(s): %s" % (
                        why, ncap, got, kind, p))
                for r in have.get(k, []):
                    problems.append("  trace: " + fmt_rec(r))
    for kind, have in (("tx", tx), ("rx", rx)):
        for k, recs in have.items():
            ncap = len(cap.get(k, []))
            flags = k[2]
            ctl = any(f in flags for f in "SFR")
            if kind == "rx" and ncap == 0:
                problems.append("received but never on the wire: " +
                                fmt_rec(recs[0]))
            elif kind == "tx" and ctl and len(recs) != ncap:
                problems.append(
                    "%s sent %d time(s) per the trace, %d on the wire: %s" % (
                        flags, len(recs), ncap, fmt_rec(recs[0])))
            elif kind == "tx" and ncap == 0 and not run.notes.get("firewall"):
                problems.append("sent per the trace, never on the wire: " +
                                fmt_rec(recs[0]))
    problems = _dedup(problems)
    if problems:
        problems.append("capture of :%d:" % run.port)
        problems += ["  " + str(p) for p in res.packets]
    return problems


def _norm(addr):
    """An address as the capture writes it (inet_ntop's form)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.inet_ntop(fam, socket.inet_pton(fam, addr))


def _after(a, b):
    return ((a - b) & 0xffffffff) < 0x80000000


def _rx_covers(rxs, p):
    """An rx record into which the receiver's backlog merged packet p:
    same direction, its sequence range holds p's, its ACK is p's or
    later."""
    for r in rxs:
        if (r["raddr"], r["rport"], r["laddr"], r["lport"]) != \
                (p.src, p.sport, p.dst, p.dport):
            continue
        lo, hi = r["seq"], (r["seq"] + r["len"]) & 0xffffffff
        if r["len"] > p.len and _after(p.seq, lo) and \
                _after(hi, (p.seq + p.len) & 0xffffffff) and \
                _after(r["ack"], p.ack):
            return True
    return False


def check_capture_all(res):
    """segments=all: every packet on the wire is a tx record on its
    sender's end (as often as it was sent) and an rx record on its
    receiver's end, data and pure ACKs included; every record is on the
    wire."""
    problems = []
    cap = {}
    for p in res.packets:
        cap.setdefault(p.key(), []).append(p)
    have = {"tx": {}, "rx": {}}
    for r in res.records:
        if r["ev"] in have:
            have[r["ev"]].setdefault(_rec_key(r), []).append(r)
    rx_all = [r for r in res.records if r["ev"] == "rx"]
    for k, ps in cap.items():
        ntx, nrx = len(have["tx"].get(k, [])), len(have["rx"].get(k, []))
        if nrx < len(ps) and all(_rx_covers(rx_all, p) for p in ps):
            nrx = len(ps)  # merged in the socket backlog (docs/format.md)
        if ntx != len(ps) or nrx < len(ps):
            problems.append("on the wire %d time(s), %d tx and %d rx "
                            "record(s): %s" % (len(ps), ntx, nrx, ps[0]))
    for kind in ("tx", "rx"):
        for k, recs in have[kind].items():
            if k not in cap:
                problems.append("not on the wire: " + fmt_rec(recs[0]))
    if not any(p.len for p in res.packets):
        problems.append("no data on the wire: the test proves nothing")
    return problems


def check_windows(res):
    """The window field of each recorded segment is the one on the wire."""
    problems = []
    cap = {}
    for p in res.packets:
        cap.setdefault(p.key(), set()).add(p.win)
    for r in res.records:
        if r["ev"] not in ("tx", "rx"):
            continue
        wins = cap.get(_rec_key(r))
        if wins and r["win"] not in wins:
            problems.append("win=%s, the wire says %s: %s" % (
                r["win"], "/".join(map(str, sorted(wins))), fmt_rec(r)))
    return problems


def _dedup(xs):
    seen, out = set(), []
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def check_wire(res):
    """The capture, as relative numbers, is the wire the scenario expects
    (per direction, in order): validates the expectation the demos show."""
    run = res.run
    rel = Relative(run)
    got = {CLIENT: [], SERVER: []}
    packets = res.packets
    if not getattr(run, "wire_complete", True):
        packets = [p for p, _ in control_packets(packets, run.port)]
    for p in packets:
        sender = CLIENT if p.dport == run.port else SERVER
        fake = {"ev": "tx", "lport": p.sport, "rport": p.dport,
                "flags": p.flags, "seq": p.seq, "ack": p.ack}
        _, rs, ra = rel.feed(fake)
        got[sender].append((p.flags, rs, None if p.flags in ("S",) else ra,
                            p.len, p))
    want = {CLIENT: [], SERVER: []}
    for sender, flags, seq, ack, ln in scenarios.expected_wire(run):
        want[sender].append((flags, seq, ack, ln))
    problems = []
    for end in (CLIENT, SERVER):
        w, g = want[end], got[end]
        n = len(w) if run.prefix else max(len(w), len(g))
        for i in range(n):
            a = w[i] if i < len(w) else None
            b = g[i] if i < len(g) else None
            if a and b and a[0] == b[0] and a[3] == b[3] and \
                    (a[1] is None or a[1] == b[1]) and \
                    (a[2] is None or a[2] == b[2]):
                continue
            problems.append("%s's segment %d: expected %s, the wire has %s" % (
                end, i + 1,
                "%s %s %s len=%d" % tuple("-" if x is None else x for x in a)
                if a else "nothing more",
                "%s (relative %s %s)" % (b[4], b[1], b[2]) if b else
                "nothing more"))
            break
    return problems


def check_expect(res):
    return scenarios.match_expectation(res.records, res.run)


# The tracepoint and tcpflow see a full socket's state changes from the
# same place (tcp_set_state -> inet_sk_state_store fires the tracepoint;
# tcpflow's kprobe sits on tcp_set_state's entry), with one exception
# that has to be mapped:
#   - the passive child's birth: inet_csk_clone_lock() fires the
#     tracepoint on the fresh clone of the LISTENER, so the tracepoint says
#     LISTEN -> SYN_RECV with the listener's port and no remote end;
#     tcpflow says NEW_SYN_RECV -> SYN_RECV with the child's 4-tuple.
# listen() (inet_csk_listen_start -> inet_sk_state_store) fires it too:
# CLOSE -> LISTEN on both sides, no mapping.  What the tracepoint cannot
# show at all: request socks (sock=req) and timewait socks (sock=tw);
# those are checked against ss and timing instead.
# How far apart a record and its tracepoint event may be: 250 ms, times
# SLOW.  listen()'s record is made when inet_csk_listen_start() returns,
# after the state change the tracepoint saw; the debug kernel took longer
# than 50 ms over that.  And under single-threaded TCG (the lab's default)
# the two vCPUs take turns on one host thread: QEMU switches every 100 ms
# (TCG_KICK_PERIOD), while guest time runs on, so any two events on one
# vCPU can be 100 ms apart, more on a busy host (stock kernel, 2026-12-03:
# one CLOSE -> LISTEN pair with three guests on two cores).  Pairing does
# not need the window to be small: records and events are paired in
# order, and the order is checked.
TP_TOLERANCE_NS = int(0.250 * SLOW * 10**9)


def _tp_state_key(e):
    old = e["old"]
    if old == "LISTEN" and e["new"] == "SYN_RECV":
        old = "NEW_SYN_RECV"
    return (old, e["new"])


def _tp_tuple_ok(e, r):
    if e["old"] == "LISTEN" and e["new"] == "SYN_RECV":
        return e["sport"] == r["lport"]
    if (e["sport"], e["dport"]) != (r["lport"], r["rport"]):
        return False
    if r["af"] == 6:
        return (e["saddrv6"], e["daddrv6"]) == (r["laddr"], r["raddr"])
    return (e["saddr"], e["daddr"]) == (r["laddr"], r["raddr"])


def match_tracepoint(res):
    """Pair tcpflow's full-socket state changes with the tracepoint's
    events: (pairs [(record, event)], problems)."""
    mine = [r for r in res.records if r["ev"] == "state" and
            r["sock"] == "full"]
    tp = sorted(res.tp, key=lambda e: e["ts"])
    if mine and not tp:
        return [], ["no tracepoint events for :%d" % res.run.port]
    used = [False] * len(tp)
    problems = []
    matched = {}
    pairs = []
    for r in mine:
        best = None
        for i, e in enumerate(tp):
            if used[i] or _tp_state_key(e) != (r["old"], r["new"]):
                continue
            if abs(e["ts"] - r["ts"]) > TP_TOLERANCE_NS:
                continue
            if not _tp_tuple_ok(e, r):
                continue
            best = i
            break
        if best is None:
            problems.append("tcpflow has a state change the tracepoint "
                            "did not report: " + fmt_rec(r))
        else:
            used[best] = True
            matched.setdefault(r["conn"], []).append((r, best))
            pairs.append((r, tp[best]))
    for i, e in enumerate(tp):
        if not used[i]:
            problems.append("the tracepoint reported a state change tcpflow "
                            "did not record: " + e["line"])
    # The same code path on the same CPU: cpu= must be the tracepoint's
    # (a task in process context could in principle migrate in between;
    # softirq cannot).
    for r, e in pairs:
        if r["cpu"] != e["cpu"] and r["who"] != "cur":
            problems.append("cpu=%s, the tracepoint ran on CPU %d: %s" % (
                r["cpu"], e["cpu"], fmt_rec(r)))
    for conn, ps in matched.items():
        idx = [b for _, b in ps]
        if idx != sorted(idx):
            problems.append("conn %s: order differs from the tracepoint's" %
                            conn)
            for r, b in ps:
                problems.append("  %s  <->  %s" % (fmt_rec(r), tp[b]["line"]))
    if problems:
        problems.append("tracepoint events for :%d:" % res.run.port)
        problems += ["  " + e["line"] for e in tp]
    return pairs, problems


def check_tracepoint(res):
    """tcpflow's full-socket state changes (ev=state sock=full) are the
    kernel's inet_sock_set_state events for the scenario's port, one for
    one, each within 250 ms, in the same order per socket."""
    return match_tracepoint(res)[1]


def owner_vs_current(res):
    """The tcpstates problem: state changes that ran in softirq while some
    OTHER task was current (the tracepoint records which: <idle>, the
    other end's process, a kworker...).  Each that names a process must
    name its own end's, as who=owner.  Returns (cases, tasks seen,
    problems)."""
    run = res.run
    cases, tasks, problems = 0, set(), []
    for r, e in match_tracepoint(res)[0]:
        end = end_of(r, run)
        if e["task_pid"] == run.pids[end]:
            continue
        if r["who"] == "-":
            continue   # owner not known yet (a child before accept())
        cases += 1
        tasks.add("%s-%d" % (e["task"], e["task_pid"]))
        if r["who"] != "owner" or r["pid"] != run.pids[end] or \
                r["comm"] != run.comms[end]:
            problems.append("ran while %s-%d was current, names %s pid %s "
                            "comm %s: %s" % (e["task"], e["task_pid"],
                                             r["who"], r["pid"], r["comm"],
                                             fmt_rec(r)))
    return cases, tasks, problems


def timewait_now(res):
    """The timewait socks tcpflow says are alive after the run: {(end,
    laddr, lport, raddr, rport): (substate, conn)}.  res: a Result, or a
    snapshot (with run=)."""
    alive = {}
    for r in res.records:
        if r["sock"] != "tw" or r["ev"] != "state":
            continue
        k = (end_of(r, res.run), r["laddr"], r["lport"], r["raddr"],
             r["rport"])
        if r["new"] == "CLOSE":
            alive.pop(k, None)
        else:
            alive[k] = (r["new"], r["conn"])
    return alive


def snapshot_ss(run):
    """ss rows of the run's port, per end."""
    rows = {}
    for end in (CLIENT, SERVER):
        rows[end] = [x for x in ss(run.ns[end])
                     if run.port in (x["lport"], x["rport"]) and
                     (end == SERVER) == (x["lport"] == run.port)]
    return rows


def check_timewait_ss(res, rows):
    """Every timewait sock tcpflow says is alive is in ss's table (in the
    same substate, with the conn as its cookie), and ss has no timewait
    sock tcpflow does not know of.  rows: snapshot_ss() taken after the
    records were read."""
    problems = []
    alive = timewait_now(res)
    seen = set()
    for end in (CLIENT, SERVER):
        for x in rows[end]:
            if not (x["timer"] or "").startswith("timewait"):
                continue
            k = (end, x["laddr"], x["lport"], x["raddr"], x["rport"])
            seen.add(k)
            if k not in alive:
                problems.append("ss has a timewait sock tcpflow does not "
                                "(or says is closed): %s" % x["line"])
                continue
            state, conn = alive[k]
            if x["state"] != state or x["cookie"] != conn:
                problems.append("tcpflow: %s conn=%s; ss: %s" % (
                    state, conn, x["line"]))
    for k in alive:
        if k not in seen:
            problems.append("tcpflow says %s %s:%s -> %s:%s is in %s (conn "
                            "%s), ss has no such timewait sock" % (
                                k + alive[k]))
    return problems


def check_netns(res):
    """Each record carries its end's namespace inode number."""
    run = res.run
    problems = []
    for r in res.records:
        want = run.netns[end_of(r, run)]
        if r["netns"] != want:
            problems.append("netns=%s, want %s: %s" % (r["netns"], want,
                                                       fmt_rec(r)))
    return problems


def check_owner(res):
    """Records that name a process (who=cur or who=owner) name the end's
    own process (its pid and comm); the server's softirq records name the
    server even though they ran while the client (or nobody) was current.
    At least one record of each end is who=owner."""
    run = res.run
    problems = []
    owners = {CLIENT: 0, SERVER: 0}
    for r in res.records:
        end = end_of(r, run)
        if r["who"] not in ("cur", "owner"):
            continue
        if r["who"] == "owner":
            owners[end] += 1
        if r["pid"] != run.pids[end] or r["comm"] != run.comms[end]:
            other = [e for e in (CLIENT, SERVER) if run.pids[e] == r["pid"]]
            problems.append("%s record names pid %s comm %s%s, want %s %s: %s"
                            % (end, r["pid"], r["comm"],
                               " (the %s!)" % other[0] if other else "",
                               run.pids[end], run.comms[end], fmt_rec(r)))
    # The server's listener always takes the SYN in softirq (the client's
    # SYN-ACK may come through its socket backlog, in process context).
    if not owners[SERVER] and any(end_of(r, run) == SERVER and r["conn"]
                                  for r in res.records):
        problems.append("no who=owner record on the server end")
    return problems


def conns(res):
    """(end, label) -> conn id, as the expectation check labels them."""
    return scenarios.trace_story(res.records, res.run)[1]


def recs_where(res, **kw):
    return [r for r in res.records
            if all(r.get(k) == v for k, v in kw.items())]


def standard_checks(t, res, known=None):
    """The checks every scenario gets; known: {check name: bug text}."""
    known = known or {}
    tag = res.tag()
    for name, fn in (("capture", check_capture),
                     ("windows", check_windows),
                     ("tracepoint", check_tracepoint),
                     ("expected", check_expect),
                     ("wire", check_wire),
                     ("netns", check_netns),
                     ("owner", check_owner)):
        title = {
            "capture": "every SYN/FIN/RST/handshake+teardown ACK on the wire "
                       "is in the trace (tx and rx), nothing extra",
            "windows": "window fields match the wire",
            "tracepoint": "state changes match sock:inet_sock_set_state",
            "expected": "both ends' records are the expected sequence",
            "wire": "the wire carries the expected segments",
            "netns": "records carry their namespace's inode number",
            "owner": "pid/comm name the end's own process",
        }[name]
        try:
            problems = fn(res)
        except Exception:
            problems = traceback.format_exc().splitlines()
        if problems and name in ("expected", "capture", "tracepoint"):
            problems = problems + ["records of :%d:" % res.run.port] + \
                ["  " + fmt_rec(r) for r in res.records]
        t.problems(problems, "%s: %s" % (tag, title), known=known.get(name))
