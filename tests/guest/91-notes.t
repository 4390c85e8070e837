#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 91-notes.t: five cases whose --explain notes were checked only on traces
# derived by hand (docs/notes.md), made to happen here by the kernel, with
# tcpdump on the server's veth as the truth of what happened:
#   1. three-segment close (port P): a request and its answer, then the
#      client closes; the server's application reads EOF and closes at
#      once, inside its delayed ACK of the FIN (tcp_fin() puts the socket
#      in pingpong mode), so its FIN carries the ACK of the client's FIN.
#      Tried up to five times: under emulation the server may still be
#      too late (40 ms), and then its ACK leaves alone.
#   2. a listener resets the handshake's last ACK (P+10): listen(2), two
#      connections queued and never accepted, the client B's segments
#      delayed by netem (tc u32 on its source port); while its ACK is on
#      the way a third one fills the accept queue, and with
#      tcp_abort_on_overflow=1 tcp_check_req() answers B's ACK with RST.
#      connect() had succeeded (SO_ERROR 0); recv() gets ECONNRESET;
#      TcpExtListenOverflows counts it.
#   3. a late, not lost, last ACK (P+20): the client's pure ACKs are
#      delayed past the server's FIN retransmission timeout (200 ms at
#      least): the server sends its FIN again, then the first ACK arrives;
#      the client's TIME_WAIT answers the resent FIN with an ACK again.
#   4. TIME_WAIT and a SYN on its 4-tuple (P+30, P+31): the server closes
#      first and waits in TIME_WAIT.  a) a raw SYN (scenarios.wire) with a
#      seq below the old connection's: TIME_WAIT answers with an ACK and
#      keeps the 4-tuple (the client's stack, which has no socket, resets
#      that ACK, and the RST ends TIME_WAIT: tcp_rfc1337=0).  b) the
#      client connects again from the same port: its new ISN is higher,
#      TIME_WAIT gives way and the listener takes the SYN.
#   5. TCP Fast Open (P+40, P+41): tcp_fastopen=3 on both ends, the first
#      sendto(MSG_FASTOPEN) asks for a cookie (no data in its SYN), the
#      second sends 100 bytes in its SYN and the server accepts them.
# The trace (tests/tools/fixtures/real-guest-notes.trace) is written under
# $TCPFLOW_TEST_OUT; tcpflow-show --explain on it must give each case's
# notes and not the ones that would be false.
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from scenarios import wire  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
proc = tf.Proc()
CLI, SRV = "tfnotec", "tfnotes"
A, B = "10.91.0.1", "10.91.0.2"
P = 7910
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
TCP_FASTOPEN = 23
MSG_FASTOPEN = 0x20000000
# tc: client segments to delay: scenario 2's client B (all its segments)
# and scenario 3's client (its pure ACKs); fixed source ports
SPORT2, SPORT3 = 47911, 47921
SPORT4A, SPORT4B = 47931, 47932
D2 = 0.6 * tf.SLOW      # B's delay: its ACK before the SYN-ACK's 1 s timer
D3 = 0.35               # above the FIN's RTO (200 ms), below twice it


def sh(*argv):
    subprocess.run(list(argv), check=True, capture_output=True)


def setup():
    for ns in (CLI, SRV):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", CLI, "link", "add", "v0", "type", "veth", "peer", "name",
       "v1", "netns", SRV)
    for ns, dev, a in ((CLI, "v0", A), (SRV, "v1", B)):
        sh("ip", "-n", ns, "addr", "add", a + "/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    # prio with 5 bands: the priomap uses bands 0-2, the filters 3 and 4
    tc = ["tc", "-n", CLI]
    sh(*tc, "qdisc", "add", "dev", "v0", "root", "handle", "1:", "prio",
       "bands", "5")
    sh(*tc, "qdisc", "add", "dev", "v0", "parent", "1:4", "handle", "40:",
       "netem", "delay", "%dms" % (D2 * 1000))
    sh(*tc, "qdisc", "add", "dev", "v0", "parent", "1:5", "handle", "50:",
       "netem", "delay", "%dms" % (D3 * 1000))
    sh(*tc, "filter", "add", "dev", "v0", "parent", "1:", "protocol", "ip",
       "prio", "1", "u32", "match", "ip", "sport", str(SPORT2), "0xffff",
       "flowid", "1:4")


def sysctl(ns, **kv):
    for k, v in kv.items():
        sh("ip", "netns", "exec", ns, "sysctl", "-qw",
           "net.ipv4.%s=%s" % (k, v))


def listener(port, backlog=4, fastopen=False):
    with tf.in_netns(SRV):
        ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fastopen:
        ls.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 8)
    ls.bind((B, port))
    ls.listen(backlog)
    return ls


def client(sport=0):
    with tf.in_netns(CLI):
        c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sport:
        c.bind((A, sport))
    c.settimeout(10 * tf.SLOW)
    return c


def netstat(ns, name):
    """TcpExt's counter name in netns ns (/proc/net/netstat there)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "cat",
                          "/proc/net/netstat"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    for keys, vals in zip(out[::2], out[1::2]):
        if keys.startswith("TcpExt:"):
            return int(dict(zip(keys.split(), vals.split()))[name])
    return None


def wire_of(port):
    """The captured segments of port's conversations, in capture order."""
    return [p for p in tf.read_pcap(cap)
            if p.sport == port or p.dport == port]


def is_(p, letters):
    return p.flags == letters


# ---------------------------------------------------------- 1. three-segment
def three_segment(port):
    ls = listener(port)
    c = client()
    c.connect((B, port))
    a, _ = ls.accept()
    # A request and its answer: the first data a socket receives starts
    # its delayed ACKs (tcp_event_data_recv(): ato = 40 ms); without it
    # the ACK of the FIN would leave at the next tick.
    c.sendall(b"request")
    a.settimeout(10 * tf.SLOW)
    a.recv(100)
    a.sendall(b"answer")
    c.recv(100)
    c.close()
    # The server reads EOF and closes at once: polled, not a thread woken
    # by the FIN (under emulation a wake-up can take longer than 40 ms).
    deadline = time.time() + 10 * tf.SLOW
    while time.time() < deadline:
        try:
            if a.recv(100, socket.MSG_DONTWAIT) == b"":
                break
        except BlockingIOError:
            pass
    a.close()
    time.sleep(0.3 * tf.SLOW)
    ls.close()


def fin_carries_ack(port):
    """[client FIN, the server's [F.] acking it], with no pure ACK of the
    client's FIN from the server before, or None."""
    ws = wire_of(port)
    cf = [p for p in ws if p.dport == port and "F" in p.flags]
    sf = [p for p in ws if p.sport == port and "F" in p.flags]
    if not cf or not sf or ws.index(cf[0]) > ws.index(sf[0]):
        return None
    fin_ack = cf[0].seq + cf[0].len + 1
    alone = [p for p in ws[ws.index(cf[0]):ws.index(sf[0])]
             if p.sport == port and p.ack == fin_ack]
    if sf[0].ack != fin_ack or alone:
        return None
    return cf[0], sf[0]


# ------------------------------------------------ 2. the listener's reset
def listener_reset(port):
    ls = listener(port, backlog=2)
    queued = []
    for _ in range(2):          # the accept queue: 2 of 3 places
        c = client()
        c.connect((B, port))
        queued.append(c)
    b = client(SPORT2)
    b.setblocking(False)
    b.connect_ex((B, port))     # SYN and ACK delayed by D2 each
    time.sleep(D2 * 1.3)        # its SYN has a request sock; its ACK flies
    c = client()
    c.connect((B, port))        # the third place
    queued.append(c)
    res = {"so_error": None, "connected_at": None, "recv": None}
    deadline = time.time() + 10 * tf.SLOW
    while time.time() < deadline:
        try:
            b.getpeername()
            res["so_error"] = b.getsockopt(socket.SOL_SOCKET,
                                           socket.SO_ERROR)
            res["connected_at"] = time.time()
            break
        except OSError:
            time.sleep(0.01)
    time.sleep(D2 + 0.5 * tf.SLOW)  # the ACK arrives, the RST comes back
    b.settimeout(2 * tf.SLOW)
    try:
        res["recv"] = b.recv(10)
    except OSError as e:
        res["recv"] = e.errno
    # then accepted and closed as usual (a listener closed with them in
    # its queue would reset them)
    for c in queued:
        a, _ = ls.accept()
        a.close()
        c.close()
    b.close()
    time.sleep(0.2 * tf.SLOW)
    ls.close()
    return res


# ------------------------------------------------------ 3. a late last ACK
def late_last_ack(port):
    ls = listener(port)
    c = client(SPORT3)
    c.connect((B, port))
    a, _ = ls.accept()
    # From now on the client's pure ACKs are late (the flags byte, IP
    # header 20 bytes + 13, is ACK alone); not the handshake's: the
    # server's RTT, and so its RTO, comes from that one.
    sh("tc", "-n", CLI, "filter", "add", "dev", "v0", "parent", "1:",
       "protocol", "ip", "prio", "2", "u32", "match", "ip", "sport",
       str(SPORT3), "0xffff", "match", "u8", "0x10", "0xff", "at", "33",
       "flowid", "1:5")
    c.close()                  # FIN_WAIT1
    a.settimeout(10 * tf.SLOW)
    a.recv(10)
    time.sleep(0.1)            # the server's ACK of the FIN leaves alone
    a.close()                  # LAST_ACK: the FIN, resent after its RTO
    time.sleep(D3 * 3 + 0.5 * tf.SLOW)
    ls.close()


# -------------------------------------------------- 4. TIME_WAIT and a SYN
def server_closes_first(port, sport, ls):
    c = client(sport)
    c.connect((B, port))
    a, _ = ls.accept()
    isn = None
    for p in wire_of(port):
        if p.flags == "S" and p.sport == sport:
            isn = p.seq
    a.close()                  # the server: FIN_WAIT1 ... TIME_WAIT
    c.recv(10)
    c.close()
    time.sleep(0.2 * tf.SLOW)
    return isn


def time_wait_syns(port):
    ls = listener(port)
    isn = server_closes_first(port, SPORT4A, ls)
    if isn is None:
        raise RuntimeError("no SYN of port %d captured" % port)
    # a) an old SYN: its seq below the old connection's
    wire.send_raw(CLI, 4, B, [wire.syn_packet(4, A, B, SPORT4A, port,
                                              (isn - 100000) & 0xffffffff)])
    time.sleep(0.5 * tf.SLOW)
    tw_a = tf.ss(SRV, "state", "time-wait")
    # b) a new connection from the same port, on another TIME_WAIT
    ls2 = listener(port + 1)
    server_closes_first(port + 1, SPORT4B, ls2)
    time.sleep(0.1)
    c = client(SPORT4B)
    c.connect((B, port + 1))
    a, _ = ls2.accept()
    a.close()
    c.close()
    time.sleep(0.3 * tf.SLOW)
    ls.close()
    ls2.close()
    return tw_a


# ------------------------------------------------------------ 5. Fast Open
def fast_open(port):
    sysctl(CLI, tcp_fastopen=3)
    sysctl(SRV, tcp_fastopen=3)
    got = []
    for k in range(2):      # the cookie request, then data in the SYN
        ls = listener(port + k, fastopen=True)
        c = client()
        c.settimeout(None)  # a socket with a timeout is non-blocking:
        c.sendto(b"x" * 100, MSG_FASTOPEN, (B, port + k))   # EINPROGRESS
        a, _ = ls.accept()
        a.settimeout(10 * tf.SLOW)
        got.append(a.recv(200))
        time.sleep(0.1)
        c.close()
        a.recv(10)
        a.close()
        ls.close()
        time.sleep(0.2 * tf.SLOW)
    return got


setup()
os.makedirs(tf.OUT, exist_ok=True)
cap = os.path.join(tf.OUT, "91-notes-veth.pcap")
sysctl(SRV, tcp_abort_on_overflow=1)
proc.must("filter=-\nsegments=default\n")
mark = proc.mark()
over0 = netstat(SRV, "ListenOverflows")
try:
    dump = tf.Tcpdump(SRV, "v1", cap, "tcp").start()
    p1 = None
    for k in range(5):
        three_segment(P + k)
        if fin_carries_ack(P + k):
            p1 = P + k
            break
    r2 = listener_reset(P + 10)
    late_last_ack(P + 20)
    tw_a = time_wait_syns(P + 30)
    tfo = fast_open(P + 40)
    time.sleep(0.5 * tf.SLOW)
    dump.stop()
    over1 = netstat(SRV, "ListenOverflows")
    with open(tf.PROC) as f:
        head = f.readline()
    text = proc.read_raw(mark)
finally:
    for ns in (CLI, SRV):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

trace = os.path.join(tf.OUT, "91-notes.trace")
with open(trace, "w") as f:
    f.write(head + text)     # tests/tools/fixtures/real-guest-notes.trace


def explain(port):
    r = subprocess.run([SHOW, "-e", "--width", "200", "-p", str(port),
                        trace], capture_output=True, text=True)
    return r.stdout + r.stderr


def notes(o, has, hasnt):
    """Problems: a wanted note missing, or an unwanted one given."""
    return (["missing: " + h for h in has if h not in o] +
            ["given: " + h for h in hasnt if h in o])


def show(port, bad):
    return bad + explain(port).splitlines()[:80] if bad else []


def seg(ps):
    return [str(p) for p in ps]


# 1. three-segment close
if p1 is None:
    t.ok(False, "three-segment close: in 5 tries the server's FIN never "
         "carried the ACK of the client's FIN (its delayed ACK left first)",
         seg(wire_of(P)))
else:
    cf, sf = fin_carries_ack(p1)
    t.ok(True, "three-segment close (port %d): the server's [%s] ack=%d "
         "acks the client's FIN (seq %d), no ACK before it" %
         (p1, sf.flags, sf.ack, cf.seq))
    bad = notes(explain(p1),
                ["the other side's FIN, and in the same",
                 "FIN_WAIT2 for an instant: the segment"],
                ["FIN_WAIT2: our FIN is acked; now wait",
                 "closed; the other side may still send",
                 "the other side's FIN: it is done too"])
    t.ok(not bad, "--explain: the [F.] also acks the first FIN, FIN_WAIT2 "
         "lasts an instant, no waiting for the peer's FIN",
         show(p1, bad))

# 2. the listener's reset of the third ACK
ws = wire_of(P + 10)
bsegs = [p for p in ws if SPORT2 in (p.sport, p.dport)]
fl = [("<" if p.sport == P + 10 else ">") + p.flags for p in bsegs]
rst = [p for p in bsegs if "R" in p.flags and p.sport == P + 10]
sa = [p for p in bsegs if p.flags == "S."]
ok2 = (fl[:4] == [">S", "<S.", ">.", "<R"] and rst and sa and
       rst[0].seq == sa[0].seq + 1 and r2["so_error"] == 0 and
       r2["recv"] == 104 and over1 is not None and over1 > over0)
t.ok(ok2, "the listener's reset: B's SYN, SYN-ACK, ACK, then an RST from "
     "the listening port (seq = SYN-ACK's + 1); connect() had succeeded, "
     "recv() got ECONNRESET, TcpExtListenOverflows %s -> %s" %
     (over0, over1), seg(bsegs) + ["client: %s" % r2])
bad = notes(explain(P + 10), ["RST from the listener to the last ACK"],
            ["RST to a SYN: nothing listens on this",
             "RST to the SYN-ACK", "RST instead of FIN"])
t.ok(not bad, "--explain: the listener's RST to the last ACK, not "
     "'nothing listens' (ECONNREFUSED)", show(P + 10, bad))

# 3. a late last ACK
ws = wire_of(P + 20)
sfin = [p for p in ws if p.sport == P + 20 and "F" in p.flags]
last = [p for p in ws if p.dport == P + 20 and p.flags == "." and sfin and
        p.ack == sfin[0].seq + sfin[0].len + 1]
ok3 = (len(sfin) >= 2 and sfin[1].seq == sfin[0].seq and last and
       ws.index(last[0]) > ws.index(sfin[1]) and len(last) >= 2)
t.ok(ok3, "a late last ACK: the server's FIN sent %d times, the client's "
     "ACK of it arrived after the resend (%d ACKs of it)" %
     (len(sfin), len(last)), seg(ws))
bad = notes(explain(P + 20),
            ["answered from TIME_WAIT again: the",
             "the FIN came again: TIME_WAIT's 60 s"],
            ["(the last ACK was lost)", "lost: the other end never got it",
             "or late is not in the trace", "[not received]"])
t.ok(not bad, "--explain: the resent FIN's answer from TIME_WAIT says the "
     "last ACK arrived late; nothing says lost", show(P + 20, bad))

# 4. TIME_WAIT and SYNs
ws = wire_of(P + 30)
old = [p for p in ws if p.flags == "S" and p.sport == SPORT4A]
i = ws.index(old[-1]) if len(old) == 2 else None
after = ws[i + 1:] if i is not None else []
ok4 = (i is not None and (old[1].seq - old[0].seq) & 0x80000000 and
       after and after[0].sport == P + 30 and after[0].flags == "." and
       not [p for p in after if "S" in p.flags and p.sport == P + 30])
t.ok(ok4, "an old SYN (seq below the first) to TIME_WAIT: answered with "
     "an ACK, no SYN-ACK", seg(ws) + ["ss after: %s" % tw_a])
bad = notes(explain(P + 30), ["TIME_WAIT refuses this SYN"],
            ["(the last ACK was lost)", "a SYN to the TIME_WAIT socket",
             "TIME_WAIT ended early: the new SYN",
             "the SYN sent again: no ACK of it came",
             "[retransmission]", "no options: no mss"])
t.ok(not bad, "--explain: TIME_WAIT refuses the old SYN; nothing says the "
     "last ACK was lost or the SYN reopened it", show(P + 30, bad))
ws = wire_of(P + 31)
syns = [p for p in ws if p.flags == "S"]
ok4b = (len(syns) == 2 and 0 < (syns[1].seq - syns[0].seq) & 0xffffffff <
        0x80000000 and [p for p in ws[ws.index(syns[1]):]
                        if p.flags == "S." and p.ack == syns[1].seq + 1])
t.ok(ok4b, "a new SYN (seq above the old) to TIME_WAIT: the listener "
     "answers with a SYN-ACK", seg(ws))
bad = notes(explain(P + 31),
            ["a SYN to the TIME_WAIT socket: its seq",
             "TIME_WAIT ended early: the new SYN"],
            ["TIME_WAIT refuses this SYN", "(the last ACK was lost)"])
t.ok(not bad, "--explain: the new SYN reopens the 4-tuple",
     show(P + 31, bad))

# 5. Fast Open
ws0, ws1 = wire_of(P + 40), wire_of(P + 41)
syn0 = [p for p in ws0 if p.flags == "S"]
syn1 = [p for p in ws1 if p.flags == "S"]
sa1 = [p for p in ws1 if p.flags == "S."]
ok5 = (syn0 and syn0[0].len == 0 and syn1 and syn1[0].len == 100 and sa1 and
       sa1[0].ack == syn1[0].seq + 101 and tfo == [b"x" * 100] * 2)
t.ok(ok5, "Fast Open: the first SYN carries no data (a cookie request), "
     "the second 100 bytes, its SYN-ACK acks them (ack = seq + 101)",
     seg(ws0 + ws1) + ["received: %s" % [len(x) for x in tfo]])
o = explain(P + 41)
bad = notes(o, ["SYN-ACK: ack = x+1+len: the SYN's data",
                "[S.] seq=0 ack=101", "[.] seq=101 ack=1 ",
                "ISN y; seq = x+1+len: the data in the"],
            ["the server's ISN y, ack = x+1:", "ACK: seq = x+1, ack = y+1"])
if o.count("\nconversation ") != 1:
    bad.append("%d conversations, not 1" % o.count("\nconversation "))
t.ok(not bad, "--explain: one conversation, the SYN's data accepted, no "
     "'ack = x+1' beside ack=101 nor 'seq = x+1' beside seq=101",
     show(P + 41, bad))
bad = notes(explain(P + 40), ["the server's ISN y, ack = x+1:"],
            ["Fast Open"])
t.ok(not bad, "--explain: the cookie request's handshake is an ordinary one",
     show(P + 40, bad))
t.done()
