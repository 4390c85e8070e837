#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 94-journal.t: the systemd unit that logs records into the journal
# (tools/systemd/tcpflow-journal.service.in, docs/fleet.md), run by
# systemd, and its journal read back, one machine's and two machines'
# merged.  The guest's PID 1 is the lab's init, so each "machine" is a
# container: systemd as PID 1 of its own pid, mount, UTS (its host name),
# network and cgroup namespaces, with its own journald; the module's
# /proc/tcpflow shows a reader only its own network namespace's records
# (docs/proc.md), as a machine's own kernel would.  The unit is the file
# make install writes (@BINDIR@ filled in the same way), started with
# systemctl.
#   - systemd runs it: active, SYSLOG_IDENTIFIER=tcpflow, _SYSTEMD_UNIT,
#     and the machine's _HOSTNAME on every entry
#   - what journalctl -o json gives back is what the module holds for that
#     machine (its /proc/tcpflow read in its namespace by the Python
#     reader, tools/tcpflow_format.py), record for record, key for key
#   - the handshake's and teardown's segments are the wire's (tcpdump in
#     the machine), and the pid is the connecting process's own, as its
#     pid namespace numbers it
#   - both machines make a connection with the very same 4-tuple; their
#     journal files, read together as a central journal is (journalctl
#     -D, what systemd-journal-remote writes), give tcpflow-show one
#     conversation per machine, each named by its host, each with the
#     bytes its client sent
#   - the unit's other route: with no /proc/tcpflow (the test's
#     TCPFLOW_PROC drop-in) it runs tcpflow-bpf, whose records of a third
#     connection reach the journal too, with the wire's numbers
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
SYSTEMD = "/lib/systemd/systemd"
for need in (SYSTEMD, "/usr/bin/journalctl", "/usr/bin/systemctl",
             "/usr/bin/nsenter", "/usr/bin/unshare",
             "/sys/fs/cgroup/cgroup.procs"):
    if not os.path.exists(need):
        print("1..0 # SKIP %s is not installed" % need)
        sys.exit(4)

SLOW = tf.SLOW
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
BPF = os.path.join(tf.REPO, "tools", "bpf", "tcpflow-bpf")
UNIT = "tcpflow-journal.service"
HOSTS = ("fleet-a", "fleet-b")
SPORT, CPORT = 7700, 45000
SENT = 1000
WORK = "/tmp/tfjournal"
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")


# Where each machine has tcpflow-show (and bpf/tcpflow-bpf, where it
# looks first), copied there as it boots: the checkout may be under /tmp
# (a fresh clone in /tmp/x), which the machine covers with its own.
BINDIR = "/run/tcpflow-bin"


def unit_text():
    """The unit as make -C tools install writes it: @BINDIR@ is where
    tcpflow-show is (here: the machine's copy of the checkout's)."""
    path = os.path.join(tf.REPO, "tools", "systemd", UNIT + ".in")
    with open(path) as f:
        return f.read().replace("@BINDIR@", BINDIR)


# What a machine starts: journald, nothing else of the host's units.
TARGET = """[Unit]
Description=a fleet machine of 94-journal.t
Wants=systemd-journald.service systemd-journald.socket
"""

# PID 1's setup, in the new namespaces: its own cgroup tree (the cgroup
# namespace's root), /run with the units and tcpflow-show, /tmp and
# /var/tmp (its
# systemd-tmpfiles empties /tmp at boot), journal directory and host name
# (/etc/hostname, which systemd sets at boot), then systemd.
BOOT = r"""
set -e
umount -l /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs -o mode=0755 run /run
mkdir -p /run/systemd/system /var/log/journal
cp "$1"/* /run/systemd/system/
mkdir -p %s/bpf
cp "$3" %s/
if [ -x "$4" ]; then cp "$4" %s/bpf/; fi
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=1777 vartmp /var/tmp
mount -t tmpfs -o mode=0755 journal /var/log/journal
echo "$2" > /run/hostname
mount --bind /run/hostname /etc/hostname
hostname "$2"
ip link set lo up
exec env container=tcpflow-lab %s --unit=tfjournal.target \
    --log-target=console --log-level=notice
""" % (BINDIR, BINDIR, BINDIR, SYSTEMD)


def sh(argv, check=True, timeout=120, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and p.returncode:
        raise RuntimeError("%s: %d: %s" % (" ".join(argv), p.returncode,
                                           (p.stderr or p.stdout).strip()))
    return p


class Machine:
    """systemd as PID 1 of a container named `name` (its host name)."""

    def __init__(self, name):
        self.name = name
        self.cg = "/sys/fs/cgroup/tfjournal-" + name
        self.units = os.path.join(WORK, name, "units")
        self.log = open(os.path.join(WORK, name, "console.log"), "w")
        os.makedirs(self.cg, exist_ok=True)
        with open(os.path.join(self.units, "tfjournal.target"), "w") as f:
            f.write(TARGET)
        with open(os.path.join(self.units, UNIT), "w") as f:
            f.write(unit_text())
        cg = self.cg

        def enter_cgroup():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        self.unshare = subprocess.Popen(
            ["unshare", "--cgroup", "--pid", "--fork", "--mount", "--uts",
             "--net", "--mount-proc", "--propagation", "private",
             "bash", "-c", BOOT, "boot", self.units, name, SHOW, BPF],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, preexec_fn=enter_cgroup)
        self.pid1 = None
        deadline = time.time() + 60 * SLOW
        while time.time() < deadline and self.pid1 is None:
            try:
                with open("/proc/%d/task/%d/children" %
                          (self.unshare.pid, self.unshare.pid)) as f:
                    kids = f.read().split()
                if kids and open("/proc/%s/comm" % kids[0]).read().strip() \
                        == "systemd":
                    self.pid1 = int(kids[0])
            except OSError:
                pass
            if self.unshare.poll() is not None:
                break
            time.sleep(0.2)
        if self.pid1 is None:
            raise RuntimeError("%s: systemd did not start: %s" % (
                name, self.console()))
        # its network namespace by name, for tcpdump and tf.in_netns
        self.ns = "tfj-" + name
        sh(["ip", "netns", "attach", self.ns, str(self.pid1)])

    def console(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-3000:]

    def run(self, *argv, check=True, timeout=120, **kw):
        """argv in every namespace of the machine (nsenter -a)."""
        return sh(["nsenter", "-t", str(self.pid1), "-a"] + list(argv),
                  check=check, timeout=timeout, **kw)

    def up(self):
        """Wait until systemd says its start-up is done (its private
        socket answers: there is no D-Bus here for --wait)."""
        deadline = time.time() + 180 * SLOW
        state = ""
        while time.time() < deadline:
            state = self.run("systemctl", "is-system-running",
                             check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        return state

    def journal(self, *extra):
        """journalctl -o json's entries of the unit's identifier."""
        p = self.run("journalctl", "-o", "json", "--no-pager", "-t",
                     "tcpflow", *extra)
        return [json.loads(line) for line in p.stdout.splitlines()
                if line.strip()]

    def records(self, entries=None):
        """The records among the entries: (entry, record)."""
        out = []
        for e in entries if entries is not None else self.journal():
            m = e.get("MESSAGE")
            if isinstance(m, str) and m.startswith("{"):
                out.append((e, json.loads(m)))
        return out

    def journal_files(self):
        root = "/proc/%d/root" % self.pid1
        found = []
        for top in ("run/log/journal", "var/log/journal"):
            for d, _, files in os.walk(os.path.join(root, top)):
                found += [os.path.join(d, f) for f in files
                          if f.endswith(".journal")]
        return found

    def stop(self):
        if self.pid1:
            subprocess.run(["ip", "netns", "del", self.ns],
                           capture_output=True)
            # SIGRTMIN+4: systemd's poweroff; a container's PID 1 exits
            try:
                os.kill(self.pid1, signal.SIGRTMIN + 4)
            except OSError:
                pass
        try:
            self.unshare.wait(timeout=60 * SLOW)
        except subprocess.TimeoutExpired:
            self.unshare.kill()
            self.unshare.wait()
        self.log.close()
        # the cgroup tree systemd made, leaves first
        for d, _, _ in sorted(os.walk(self.cg), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


# The connection each machine makes: one process, both ends on loopback,
# the client bound to CPORT; it sends SENT bytes and closes first.
CONNECT = r"""
import json, os, socket, sys, time
sport, cport, sent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", sport))
ls.listen(1)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.bind(("127.0.0.1", cport))
c.connect(("127.0.0.1", sport))
s, _ = ls.accept()
c.sendall(b"x" * sent)
got = 0
while got < sent:
    got += len(s.recv(65536))
c.close()
assert s.recv(1) == b""
s.close()
ls.close()
time.sleep(0.5)
print(json.dumps({"pid": os.getpid(), "got": got}))
"""


def connect(m, sport, cport, pcap):
    """The connection in machine m, under tcpdump on its lo."""
    cap = tf.Tcpdump(m.ns, "lo", pcap, "tcp port %d" % sport).start()
    try:
        p = m.run("python3", "-c", CONNECT, str(sport), str(cport),
                  str(SENT), timeout=120 * SLOW)
    finally:
        packets = cap.stop()
    return json.loads(p.stdout), packets


def wait_records(m, done, timeout):
    """Poll the journal until done(records) or timeout; the records."""
    deadline = time.time() + timeout
    while True:
        recs = m.records()
        if done(recs) or time.time() > deadline:
            return recs
        time.sleep(1)


def server_closed(port):
    """The server end's full socket reached CLOSE from LAST_ACK."""
    def done(recs):
        return any(r["event"] == "state" and r["lport"] == port and
                   r["old"] == "LAST_ACK" and r["new"] == "CLOSE"
                   for _, r in recs)
    return done


# JSON key -> the text format's key (tools/README.md, docs/format.md)
TEXT_KEY = {"ts_ns": "ts", "family": "af", "event": "ev", "dur_ns": "dur"}


def as_text(v, key):
    """A JSON value as the text format writes it (the Python reader keeps
    values as text)."""
    if v is None:
        return "-"
    if key == "opts":
        items = []
        if v.get("mss") is not None:
            items.append("mss:%d" % v["mss"])
        if v.get("ws") is not None:
            items.append("ws:%d" % v["ws"])
        if v.get("sack"):
            items.append("sack")
        if v.get("ts") is not None:
            items.append("ts:%d" % v["ts"])
        return ",".join(items) or "none"
    if key == "comm":
        return "".join(c if "!" <= c <= "~" and c not in "=\\" else
                       "\\x%02x" % ord(c) for c in v)
    return str(v)


def same_as_module(m):
    """The journal's records are the module's for this machine, as
    /proc/tcpflow gives them to a reader there (its network namespace's
    records, pids as its pid namespace numbers them); read first: the
    journal may be a moment behind."""
    problems = []
    text = m.run("cat", tf.PROC).stdout
    mod = [tf.parse_record(x) for x in text.splitlines()
           if x.startswith("n=")]
    ns = set(int(w["n"]) for w in mod)
    recs = wait_records(m, lambda rs: ns <= set(r["n"] for _, r in rs),
                        30 * SLOW)
    byn = {}
    for _, r in recs:
        byn.setdefault(r["n"], []).append(r)
    for want in mod:
        got = byn.get(int(want["n"]))
        if not got:
            problems.append("not in the journal: " + tf.fmt_rec(want))
            continue
        r = got[0]
        for k, v in r.items():
            tk = TEXT_KEY.get(k, k)
            if tk not in want:
                continue
            # numbers as numbers (None for '-'), words as the text's
            g = v if tk in tf.INT_KEYS else as_text(v, k)
            if g != want[tk]:
                problems.append("n=%s %s: journal %r, module %r" % (
                    want["n"], k, g, want[tk]))
        if len(got) > 1:
            problems.append("n=%s: %d times in the journal" % (
                want["n"], len(got)))
    extra = set(byn) - ns
    if extra:
        problems.append("in the journal, not in the module: n=%s" %
                        sorted(extra))
    if not mod:
        problems.append("the module has no record for %s" % m.name)
    return problems


def wire_vs_records(packets, recs, sport, pid=None):
    """Each SYN, FIN and RST on the wire is a tx record of its sender
    (same flags, seq, ack) and an rx record of its receiver; no tx record
    of one the wire lacks; the client's pid as its own."""
    problems = []
    ctl = [p for p in packets if set(p.flags) & set("SFR")]
    if len(ctl) < 4:
        problems.append("the capture has %d SYN/FIN segments" % len(ctl))
    mine = [r for _, r in recs if r["event"] in ("tx", "rx") and
            sport in (r["lport"], r["rport"])]

    def key(r):
        if r["event"] == "tx":
            src, dst = (r["laddr"], r["lport"]), (r["raddr"], r["rport"])
        else:
            src, dst = (r["raddr"], r["rport"]), (r["laddr"], r["lport"])
        return (src, dst, r["flags"], r["seq"], r["ack"])

    for p in ctl:
        k = ((p.src, p.sport), (p.dst, p.dport), p.flags, p.seq, p.ack)
        for ev in ("tx", "rx"):
            if not any(r["event"] == ev and key(r) == k for r in mine):
                problems.append("no %s record of %s" % (ev, p))
    wire = set(((p.src, p.sport), (p.dst, p.dport), p.flags, p.seq, p.ack)
               for p in ctl)
    for r in mine:
        if r["event"] == "tx" and set(r["flags"]) & set("SFR") and \
                key(r) not in wire:
            problems.append("tx record the wire lacks: %s" % (key(r),))
    if pid is not None:
        cur = [r for r in mine if r["who"] == "cur"]
        bad = [r for r in cur if r["pid"] != pid]
        if not cur or bad:
            problems.append("pid: the process is %d, records say %s" % (
                pid, sorted(set(r["pid"] for r in cur))))
    return problems


def entries_ok(m, entries, recs):
    problems = []
    for e in entries:
        for k, v in (("SYSLOG_IDENTIFIER", "tcpflow"), ("_HOSTNAME", m.name),
                     ("_SYSTEMD_UNIT", UNIT)):
            if e.get(k) != v:
                problems.append("%s=%r, not %r: %s" % (
                    k, e.get(k), v, str(e.get("MESSAGE"))[:80]))
    if not recs:
        problems.append("no record in the journal")
    return problems


def show(*argv, stdin=None):
    return sh([SHOW] + list(argv), input=stdin, timeout=120)


def main(machines):
    for name in HOSTS:
        os.makedirs(os.path.join(WORK, name, "units"))
        machines.append(Machine(name))
    for m in machines:
        state = m.up()
        t.ok(state in ("running", "degraded"),
             "%s: systemd as its PID 1 is up (%s)" % (m.name, state),
             [m.console()] + m.run("systemctl", "--failed", "--no-pager",
                                   check=False).stdout.splitlines())

    for m in machines:
        p = m.run("systemctl", "start", UNIT, check=False)
        active = m.run("systemctl", "is-active", UNIT, check=False)
        t.ok(p.returncode == 0 and active.stdout.strip() == "active",
             "%s: systemctl start %s: active" % (m.name, UNIT),
             [p.stderr, active.stdout] + m.run(
                 "systemctl", "status", UNIT, "--no-pager",
                 check=False).stdout.splitlines())

    # one connection each, the same 4-tuple on both machines
    conns = {}
    for m in machines:
        conns[m.name] = connect(m, SPORT, CPORT, os.path.join(
            tf.OUT, "94-journal-%s.pcap" % m.name))
    for m in machines:
        recs = wait_records(m, server_closed(SPORT), 60 * SLOW)
        entries = m.journal()
        info, packets = conns[m.name]
        t.problems(entries_ok(m, entries, recs),
                   "%s: journalctl -o json: every entry is the unit's, "
                   "with its host name" % m.name)
        t.problems(same_as_module(m),
                   "%s: the journal's records are the module's for this "
                   "machine, key for key" % m.name)
        t.problems(wire_vs_records(packets, recs, SPORT, info["pid"]),
                   "%s: SYNs and FINs as on the wire, pid %d its own" % (
                       m.name, info["pid"]))

    # A central journal: both machines' files in one directory, read at
    # once (journalctl -D, as systemd-journal-remote's files are read)
    central = os.path.join(WORK, "central")
    os.makedirs(central)
    for m in machines:
        m.run("journalctl", "--sync", check=False)
        for i, f in enumerate(m.journal_files()):
            shutil.copy(f, os.path.join(central, "%s-%d.journal" %
                                        (m.name, i)))
    merged = sh(["journalctl", "-D", central, "-o", "json", "--no-pager"]
                ).stdout
    with open(os.path.join(WORK, "central.json"), "w") as f:
        f.write(merged)
    ours = [json.loads(x) for x in merged.splitlines() if x.strip()]
    hosts_seen = sorted(set(e.get("_HOSTNAME") for e in ours
                            if e.get("SYSLOG_IDENTIFIER") == "tcpflow"))
    t.ok(hosts_seen == sorted(HOSTS),
         "the central journal holds both machines' entries",
         ["hosts: %s" % hosts_seen])

    p = show("--csv", stdin=merged)
    rows = [r.split(",") for r in p.stdout.splitlines()]
    head, rows = rows[0], rows[1:]
    problems = []
    want = dict((h, 1) for h in HOSTS)
    if head[:4] != ["conv", "host", "client", "server"]:
        problems.append("heading: %s" % head)
    for r in rows:
        row = dict(zip(head, r))
        if row.get("client") != "127.0.0.1:%d" % CPORT or \
                row.get("server") != "127.0.0.1:%d" % SPORT:
            continue
        if row["host"] not in want:
            problems.append("a conversation of host %r" % row["host"])
            continue
        want[row["host"]] -= 1
        got = conns[row["host"]][0]["got"]
        for k, v in (("bytes_c2s", str(got)), ("ended", "FIN"),
                     ("closed_first", "client")):
            if row[k] != v:
                problems.append("%s: %s=%s, the connection: %s" % (
                    row["host"], k, row[k], v))
    for h, n in want.items():
        if n:
            problems.append("%s: %d conversations of the 4-tuple, not 1" %
                            (h, 1 - n))
    t.problems(problems + ([p.stderr] if p.stderr else []),
               "tcpflow-show reads the central journal: one conversation "
               "per machine, same 4-tuple, each its own bytes",
               )
    if problems:
        t.diag(*p.stdout.splitlines())

    # the merged stream back as --json: each machine's records, whole,
    # in the central journal's order, with the entry's host and boot
    p = show("--json", stdin=merged)
    problems = []
    for m in machines:
        mine = [json.loads(x) for x in p.stdout.splitlines()
                if '"host":"%s"' % m.name in x]
        want = [e for e in ours if e.get("_HOSTNAME") == m.name]
        wrecs = [r for _, r in m.records(want)]
        strip = [dict((k, v) for k, v in r.items()
                      if k not in ("host", "boot")) for r in mine]
        if strip != wrecs:
            problems.append("%s: %d records back, the journal has %d" % (
                m.name, len(mine), len(wrecs)))
        boots = set(r.get("boot") for r in mine)
        if boots != set(e.get("_BOOT_ID") for e, _ in m.records(want)):
            problems.append("%s: boot %s" % (m.name, boots))
    t.problems(problems, "tcpflow-show --json of the central journal: "
               "each machine's records, with host and boot")

    # the other route: no /proc/tcpflow for the unit -> tcpflow-bpf
    m = machines[1]
    if not os.access(BPF, os.X_OK):
        t.skip("%s: the unit's tcpflow-bpf route" % m.name,
               "tools/bpf/tcpflow-bpf not built")
    else:
        dropin = "/run/systemd/system/%s.d" % UNIT
        m.run("mkdir", "-p", dropin)
        m.run("sh", "-c", "printf '[Service]\\nEnvironment=TCPFLOW_PROC="
              "/nonexistent\\n' > %s/bpf.conf" % dropin)
        m.run("systemctl", "daemon-reload")
        since = m.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
        m.run("systemctl", "restart", UNIT)
        deadline = time.time() + 120 * SLOW
        ready, said, msgs = False, [], []
        # tcpflow-bpf needs 5.12 (docs/bpf.md): before it, the unit is to
        # say so in its journal, in tcpflow-bpf's one line
        old = tuple(int(x) for x in
                    os.uname().release.split(".")[:2]) < (5, 12)
        while time.time() < deadline and not ready and not said:
            msgs = [str(e.get("MESSAGE", ""))
                    for e in m.journal("--since", since)]
            ready = any(x.startswith("tcpflow-bpf: tracing") for x in msgs)
            said = [x for x in msgs if x.startswith(
                "tcpflow-bpf: needs Linux 5.12 or later")]
            time.sleep(1)
        if old:
            t.ok(said and not ready, "%s: on Linux %s the unit with no "
                 "/proc/tcpflow says in its journal why tcpflow-bpf cannot "
                 "run" % (m.name, os.uname().release), said or msgs[-20:])
            t.skip("%s: tcpflow-bpf's records in the journal" % m.name,
                   "Linux %s: tcpflow-bpf needs 5.12" % os.uname().release)
            return
        sport, cport = SPORT + 1, CPORT + 1
        info, packets = connect(m, sport, cport, os.path.join(
            tf.OUT, "94-journal-%s-bpf.pcap" % m.name))
        recs = wait_records(m, server_closed(sport), 60 * SLOW)
        bpf = [(e, r) for e, r in recs if sport in (r["lport"], r["rport"])]
        t.ok(ready, "%s: the unit with no /proc/tcpflow runs tcpflow-bpf"
             % m.name, m.run("systemctl", "status", UNIT, "--no-pager",
                             check=False).stdout.splitlines())
        # tcpflow-bpf's pids are the initial pid namespace's: not checked
        t.problems(wire_vs_records(packets, bpf, sport),
                   "%s: tcpflow-bpf's records in the journal, SYNs and "
                   "FINs as on the wire" % m.name)


shutil.rmtree(WORK, ignore_errors=True)
fleet = []
try:
    main(fleet)
except Exception:
    t.ok(False, "the test ran to its end", traceback.format_exc().splitlines())
finally:
    for m in fleet:
        m.stop()
    t.done()
