#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 30-overflow.t: a full ring loses the oldest records, and counts every one
# of them; a packet capture proves the count.
#
# tcpflow is loaded with capacity=256 segments=all, and filtered to a
# network namespace of this test's own, where nothing else happens. A
# burst of connections one after the other (normal open and close over
# IPv4 and IPv6, a refused connect, an abortive close with SO_LINGER 0)
# makes several times 256 records while tcpdump captures every segment.
# With segments=all, each captured segment is one tx record (the sender)
# and one rx record (the receiver; for a SYN to a closed port, the rx
# sock=none record of the segment no socket took, just before its reset);
# the state changes of a connection depend only on its
# kind (and on what reaches a timewait sock, which the capture shows:
# tw_extra()). One connection of each kind, recorded while the ring still
# has room, gives that per-kind number; the capture then says how many
# records the burst made, E.  Checks:
#   - the module numbered exactly E records during the burst (none lost
#     uncounted, none invented)
#   - the reader got G records, numbered first..next-1 without a hole, and
#     the header's overwritten (+ the change in missed) is exactly the
#     number below first; for the burst: E - G
#   - they are the newest: the tail of the burst, connection by connection
#   - each tx/rx record the reader got is a segment of the capture (ports,
#     flags, seq, ack), and every captured SYN, FIN and RST of the
#     connections it fully got is there, once as tx and once as rx
# Leaves tcpflow loaded with the parameters it had.
import ctypes
import errno
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

t, ko, orig = lib.start()
if subprocess.run(["sh", "-c", "command -v tcpdump"],
                  capture_output=True).returncode:
    print("1..0 # SKIP no tcpdump")
    sys.exit(4)
CAP = 256
BURST_SECS = float(os.environ.get("STRESS_OVERFLOW_SECS") or 35)
BURST_MAX = int(os.environ.get("STRESS_OVERFLOW_CONNS") or 200)
PORT, CLOSED = 8080, 8081
TCP_INFO = 11


def restore():
    lib.rmmod()
    lib.insmod(ko, orig)


if lib.loaded():
    lib.rmmod()
err = lib.insmod(ko, ["capacity=%d" % CAP, "segments=all"])
if err:
    t.ok(False, "insmod capacity=%d segments=all" % CAP,
         [errno.errorcode.get(err, str(err))])
    restore()
    t.done()

# A network namespace of our own; the filter keeps everything else out.
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
if libc.unshare(CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
own_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def from_host(fn):
    """fn, called from the host's network namespace: only there may
    /proc/tcpflow be configured, and only there does its header count
    what was lost (a reader in a namespace gets '-')."""
    def wrapped(*a, **kw):
        if libc.setns(host_ns, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns(host)")
        try:
            return fn(*a, **kw)
        finally:
            if libc.setns(own_ns, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns(own)")
    return wrapped


lib.header = from_host(lib.header)
lib.write_cmd = from_host(lib.write_cmd)
lib.read_all = from_host(lib.read_all)
inum = lib.netns_inum()
lib.write_cmd("netns=%d\n" % inum)
h_start = lib.header()

# --------------------------------------------------------------- capture

tmp = tempfile.mkdtemp(prefix="tcpflow-overflow.")
pcap = os.path.join(tmp, "burst.pcap")
dump = subprocess.Popen(
    ["tcpdump", "-i", "lo", "-w", pcap, "-U", "-Z", "root", "-s", "128",
     "-B", "16384", "--immediate-mode", "-n", "tcp"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE)
buf = b""
deadline = time.time() + 60
while b"listening on" not in buf:
    if time.time() > deadline or dump.poll() is not None:
        raise RuntimeError("tcpdump did not start: %r" % buf)
    if select.select([dump.stderr], [], [], 1)[0]:
        buf += os.read(dump.stderr.fileno(), 4096)


def stop_dump():
    dump.send_signal(signal.SIGINT)
    _, e = dump.communicate(timeout=60)
    text = (buf + e).decode(errors="replace")
    dropped = [int(ln.split()[0]) for ln in text.splitlines()
               if "dropped by kernel" in ln]
    return text, (dropped[0] if dropped else None)


# ------------------------------------------------------------ the burst

listeners = {}
for af, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(af)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, PORT))
    s.listen(64)
    listeners[af] = s


def tcp_state(s):
    return struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, TCP_INFO,
                                           8)[:1])[0]


def wait_closed(s, timeout=10):
    """Until the socket is CLOSE (7): every segment of it is through."""
    end = time.time() + timeout
    while tcp_state(s) != 7:
        if time.time() > end:
            raise RuntimeError("socket still in state %d" % tcp_state(s))
        time.sleep(0.001)


client_ports = iter(range(20000, 30000))


def one(kind):
    """One connection of a kind, start to end; returns (af, client
    port).  Sequential: every record of it is made before it returns."""
    af = socket.AF_INET6 if kind == "normal6" else socket.AF_INET
    addr = "::1" if af == socket.AF_INET6 else "127.0.0.1"
    c = socket.socket(af)
    # A client port of its own: records and capture are matched to their
    # connection by it (an ephemeral port comes back within a burst).
    cport = next(client_ports)
    c.bind((addr, cport))
    if kind == "refused":
        if c.connect_ex((addr, CLOSED)) != errno.ECONNREFUSED:
            raise RuntimeError("connect to a closed port did not fail")
        c.close()
        return af, cport
    c.connect((addr, PORT))
    a, _ = listeners[af].accept()
    if kind == "abort":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        c.close()           # RST
        try:
            a.recv(1)
        except ConnectionResetError:
            pass
        wait_closed(a)
        a.close()
        return af, cport
    # normal: the client shuts down first, the server answers with its
    # FIN once it has read EOF, the client reads EOF.  The client's
    # socket stays open (not orphaned), so its states do not depend on
    # whether the server's ACK rode on its FIN.
    c.shutdown(socket.SHUT_WR)
    if a.recv(1) != b"":
        raise RuntimeError("server: data, not EOF")
    a.shutdown(socket.SHUT_WR)
    if c.recv(1) != b"":
        raise RuntimeError("client: data, not EOF")
    wait_closed(a)
    wait_closed(c)
    a.close()
    c.close()
    return af, cport


KINDS = ("normal", "normal", "refused", "abort", "normal6")

# Calibration: one of each kind while the ring has room.
cal = []
for kind in sorted(set(KINDS)):
    n0 = lib.header()["next"]
    af, port = one(kind)
    cal.append((kind, af, port, n0, lib.header()["next"]))

# The burst.
h0 = lib.header()
burst = []
t0 = time.time()
# Each connection's records, read right after it (a few, long before
# the ring wraps): when the module numbers other than the capture says,
# they name the connection and show what it made.  The checks below do
# not use them.
fresh, next_n = {}, h0["next"]
while len(burst) < BURST_MAX and time.time() - t0 < BURST_SECS:
    kind = KINDS[len(burst) % len(KINDS)]
    af, port = one(kind)
    burst.append((kind, af, port))
    for ln in lib.read_all(next_n).splitlines():
        if ln.startswith("n="):
            r = lib.parse_record(ln)
            fresh[r["n"]] = r
            next_n = max(next_n, r["n"] + 1)
secs = time.time() - t0
text = lib.read_all(0)
dump_text, dropped = stop_dump()
for s in listeners.values():
    s.close()
t.diag("burst: %d connections in %.1f s" % (len(burst), secs))

# -------------------------------------------------------------- analysis

lines = text.splitlines()
h1 = lib.parse_header(lines[0])
recs = [lib.parse_record(ln) for ln in lines[1:] if not ln.startswith("#")]
comments = [ln for ln in lines[1:] if ln.startswith("#")]
packets = lib.read_pcap(pcap)
t.ok(dropped == 0 and packets,
     "tcpdump captured %d segments, none dropped" % len(packets),
     [dump_text])
SERVER_PORTS = (PORT, CLOSED)


def client_port(r, conn_port):
    if r["lport"] in SERVER_PORTS:
        return r["rport"]
    if r["rport"] in SERVER_PORTS and r["lport"]:
        return r["lport"]
    return conn_port.get(r["conn"])


def by_client(records):
    conn_port = {}
    for r in records:
        if r["lport"] not in SERVER_PORTS and r["lport"] and r["conn"]:
            conn_port[r["conn"]] = r["lport"]
        elif r["lport"] in SERVER_PORTS and r["conn"] and \
                r["rport"] not in SERVER_PORTS and r["rport"]:
            conn_port.setdefault(r["conn"], r["rport"])
    out = {}
    for r in records:
        out.setdefault(client_port(r, conn_port), []).append(r)
    return out


pk_by = {}
for p in packets:
    cp = p.sport if p.dport in SERVER_PORTS else p.dport
    pk_by.setdefault(cp, []).append(p)


def tw_extra(port):
    """Records besides the segments' that a connection's kind does not
    fix, from the capture: a segment that reaches the client after it
    ACKed the server's FIN finds its timewait sock, and an RST kills it
    (TIME_WAIT>CLOSE why=kill), anything else re-arms its timer
    (why=rearm).  It happens on a busy guest: the server's ACK of the
    client's FIN, built before its own FIN, left after it (seen on the
    debug kernel; the client's second ACK then met a closed socket, whose
    RST killed the timewait sock)."""
    fin, tw, n = None, False, 0
    for p in pk_by.get(port, []):
        to_client = p.sport in SERVER_PORTS
        if to_client and "F" in p.flags and fin is None:
            fin = (p.seq + p.len + 1) & 0xffffffff
        elif not to_client and fin is not None and not tw and \
                "." in p.flags and "R" not in p.flags and p.ack == fin:
            tw = True
        elif to_client and tw:
            n += 1
            if "R" in p.flags:
                break
    return n


def wire_records(port):
    """Records a connection's segments make, as the capture shows them: a
    tx and an rx record each, and what reached its timewait sock."""
    return 2 * len(pk_by.get(port, [])) + tw_extra(port)


# Per-kind number of records that are not segments on the wire.
kind_extra = {}
cal_problems = []
for kind, af, port, n0, n1 in cal:
    made = n1 - n0
    extra = made - wire_records(port)
    if kind in kind_extra and kind_extra[kind] != extra:
        cal_problems.append("%s: %d then %d" % (kind, kind_extra[kind], extra))
    kind_extra[kind] = extra
    t.diag("calibration %s: %d records, %d segments on the wire -> %d "
           "records besides the segments'" % (kind, made,
                                              len(pk_by.get(port, [])),
                                              extra))

# Records each connection of the burst made, in the burst's order.
want_n = [wire_records(port) + kind_extra[kind] for kind, _, port in burst]
E = sum(want_n)
numbered = h1["next"] - h0["next"]


def odd_connections():
    """The connections whose records, read right after each, are not as
    many as the capture says: each with its records and segments."""
    out = []
    fresh_by = by_client([fresh[n] for n in sorted(fresh)])
    ports = {p for _, _, p in burst}
    for i, (kind, _, port) in enumerate(burst):
        have = fresh_by.get(port, [])
        if len(have) == want_n[i]:
            continue
        out.append("connection #%d (%s, client port %d): %d records, the "
                   "capture says %d" % (i, kind, port, len(have), want_n[i]))
        out += ["  " + lib.fmt_rec(r) for r in have]
        out += ["  wire: %s" % (p,) for p in pk_by.get(port, [])]
    for k, rs in fresh_by.items():
        if k not in ports:
            out += ["no connection of the burst: " + lib.fmt_rec(r)
                    for r in rs]
    if len(fresh) != numbered:
        out.append("read %d of the burst's records as they came" % len(fresh))
    return out


t.ok(numbered == E,
     "the capture says the burst made %d records; the module numbered %d"
     % (E, numbered),
     ["header before %r" % h0, "header after %r" % h1] + cal_problems +
     (odd_connections() if numbered != E else []))
t.ok(E > 4 * CAP, "the burst overflowed the ring several times over "
     "(%d records, capacity %d)" % (E, CAP))

ns = [r["n"] for r in recs]
G = len(ns)
dmissed = h1["missed"] - h0["missed"]
lost_header = h1["overwritten"] + dmissed
problems = []
if ns != list(range(h1["first"], h1["next"])):
    problems.append("records %s..%s (%d), want %d..%d" % (
        ns[:1], ns[-1:], G, h1["first"], h1["next"] - 1))
if h1["capacity"] != CAP or G != CAP:
    problems.append("capacity %s, %d records read" % (h1["capacity"], G))
if lost_header != h1["first"] - 1:
    problems.append("overwritten %d + missed change %d != %d records below "
                    "first=%d" % (h1["overwritten"], dmissed, h1["first"] - 1,
                                  h1["first"]))
if comments:
    problems.append("comment lines in a read from 0: %r" % comments[:3])
t.problems(problems, "the reader got records first..next-1, and overwritten "
           "+ missed = first-1: exactly the records it did not get",
           ["header %r" % h1])

got_burst = [r for r in recs if r["n"] >= h0["next"]]
lost_burst = E - len(got_burst)
lost_burst_header = (h1["overwritten"] - h0["overwritten"] + dmissed -
                     (h0["next"] - 1 - h0["overwritten"]))
t.ok(lost_burst == lost_burst_header and len(got_burst) == G,
     "of the burst's %d records the reader got %d: the capture says %d "
     "were lost, the header's counters say %d" % (E, len(got_burst),
                                                  lost_burst,
                                                  lost_burst_header),
     ["header before %r" % h0, "header after %r" % h1])

# The newest: a tail of the burst, connection by connection.
got_by = by_client(recs)
stray = [r for k, rs in got_by.items() for r in rs
         if k not in {p for _, _, p in burst}]
have_n = [len(got_by.get(port, [])) for _, _, port in burst]
problems = ["not from the burst: " + lib.fmt_rec(r) for r in stray[:5]]
first_seen = next((i for i, n in enumerate(have_n) if n), None)
if first_seen is None:
    problems.append("no record of the burst")
else:
    if any(have_n[i] != want_n[i] for i in range(first_seen + 1, len(burst))):
        problems.append("connections after the first partly seen one (#%d) "
                        "are not all complete: have %s want %s" % (
                            first_seen, have_n[first_seen:],
                            want_n[first_seen:]))
    if have_n[first_seen] > want_n[first_seen]:
        problems.append("connection #%d: %d records, at most %d" % (
            first_seen, have_n[first_seen], want_n[first_seen]))
    prev = -1
    order = {port: i for i, (_, _, port) in enumerate(burst)}
    for r in recs:
        i = order.get(client_port(r, {}) or -1, None)
        if i is not None and i < prev:
            problems.append("out of order: %s" % lib.fmt_rec(r))
            break
        if i is not None:
            prev = i
t.problems(problems, "the records kept are the newest: the last %d "
           "connections whole, the one before in part, nothing older" %
           (len(burst) - 1 - (first_seen or 0)))

# Each segment record is on the wire; the whole connections' SYN, FIN and
# RST segments are in the records, tx and rx.
problems = []
complete = {burst[i][2] for i in range((first_seen or 0) + 1, len(burst))}


def pkey(src, sport, dst, dport, flags, seq, ack):
    return (src, sport, dst, dport, flags, seq, ack)


wire = {}
for p in packets:
    wire.setdefault(pkey(p.src, p.sport, p.dst, p.dport, p.flags, p.seq,
                         p.ack), []).append(p)
seen = {"tx": {}, "rx": {}}
for r in recs:
    if r["ev"] == "state":
        continue
    if r["ev"] == "tx":
        k = pkey(r["laddr"], r["lport"], r["raddr"], r["rport"], r["flags"],
                 r["seq"], r["ack"])
    else:
        k = pkey(r["raddr"], r["rport"], r["laddr"], r["lport"], r["flags"],
                 r["seq"], r["ack"])
    seen[r["ev"]].setdefault(k, []).append(r)
    if k not in wire:
        problems.append("not on the wire: " + lib.fmt_rec(r))
ctl = 0
for port in complete:
    for p in pk_by.get(port, []):
        if not set(p.flags) & set("SFR"):
            continue
        ctl += 1
        k = pkey(p.src, p.sport, p.dst, p.dport, p.flags, p.seq, p.ack)
        ntx, nrx = len(seen["tx"].get(k, [])), len(seen["rx"].get(k, []))
        if ntx != len(wire[k]) or nrx != len(wire[k]):
            problems.append("%s: on the wire %d time(s), %d tx and %d rx "
                            "records" % (p, len(wire[k]), ntx, nrx))
t.problems(problems, "every segment record read is on the wire, and the %d "
           "SYN/FIN/RST segments of the connections kept whole are all "
           "recorded, tx and rx" % ctl)

if t.failed:
    keep = os.environ.get("TCPFLOW_TEST_OUT")
    if keep and os.path.isdir(keep):
        subprocess.run(["cp", pcap, os.path.join(keep, "overflow.pcap")])
        with open(os.path.join(keep, "overflow.txt"), "w") as f:
            f.write(text)
        t.diag("capture and records left in %s/overflow.{pcap,txt}" % keep)
subprocess.run(["rm", "-rf", tmp])
restore()
t.done()
