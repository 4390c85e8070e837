#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 42-resend.t: the two resends that come with no duplicate ACK before
# them get their own words in tcpflow-show --explain, each on the resend
# the kernel really made that way.  The peer is this test, raw segments
# through a tun device (lib/tunpeer.py): it offers SACK in its SYN-ACK
# (Linux sends a tail loss probe only on a SACK connection), takes four
# 100-byte segments from a kernel client, acks none of them, and watches
# what the kernel sends again:
#   - first the tail loss probe (tcp_send_loss_probe(): the highest
#     segment, about two round trips after the last ACK), then the
#     retransmission timer's resend (tcp_retransmit_timer(): from the
#     first unacked byte, the four collapsed into one).  The wire is the
#     truth the test checks the kernel's order against before it looks
#     at the picture.
#   - the ladder's note on the first is the tail loss probe's, on the
#     second the timer's, and neither note is on the other's row (before,
#     both got "retransmission timer, or a tail loss probe")
#   - the peer's RST after it acked the data is not called the listener's
#     reset of a handshake (the peer is not traced, so its ESTABLISHED is
#     not seen; its ACK of the data shows it)
# segments=all (data segments are recorded), set back to default at the end.
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tunpeer import PEER, TunPeer, need_tun  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
need_tun()
proc = tf.Proc()
NS = "tfresend"
PORT = 7500
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
# MSS 1460, SACK permitted (padded with NOPs)
SYNACK_OPTS = b"\x02\x04\x05\xb4\x04\x02"
TLP_NOTE = "tail loss probe"
RTO_NOTE = "the first unacked byte"


def rows(text):
    """The ladder's rows: (row line, the note lines under it)."""
    out = []
    for line in text.splitlines():
        if re.match(r"^\s*\d+\.\d{3}\s", line):
            out.append([line, []])
        elif out:
            out[-1][1].append(line)
    return out


def note_text(r):
    """A row's tags and notes: right of the ladder, on its lines."""
    return " ".join(x.rsplit("|", 1)[-1].strip() for x in [r[0]] + r[1])


def notes_of(rs, seq):
    """The notes under the resend row of relative seq `seq`."""
    got = [r for r in rs if "[retransmission]" in r[0] and
           re.search(r"\bseq=%d\b" % seq, r[0])]
    return " ".join(note_text(r) for r in got), len(got)


subprocess.run(["ip", "netns", "del", NS], capture_output=True)
subprocess.run(["ip", "netns", "add", NS], check=True)
subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
proc.must("filter=-\nsegments=all\n")
c = None
try:
    with TunPeer(NS) as p:
        with tf.in_netns(NS):
            c = socket.socket()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setblocking(False)
        c.connect_ex((PEER, PORT))
        syn = p.expect(lambda s: s.dport == PORT and s.flags == "S")
        cport, isn = syn.sport, syn.seq
        peer_isn = 500000
        p.send("S.", PORT, cport, seq=peer_isn, ack=isn + 1,
               opts=SYNACK_OPTS)
        p.expect(lambda s: s.dport == PORT and s.flags == "." and
                 s.ack == peer_isn + 1)
        c.setblocking(True)
        for _ in range(4):
            c.send(b"x" * 100)
        # no ACK: the probe comes about two round trips later, the timer's
        # resend after at least 200 ms; wait for both (p.got keeps all)
        end = time.monotonic() + 10 * tf.SLOW
        data = []
        while time.monotonic() < end:
            p.read(0.5)
            data = [s for s in p.got if s.dport == PORT and s.len]
            if len(data) >= 6:
                break
        firsts, resends = data[:4], data[4:6]
        p.send(".", PORT, cport, seq=peer_isn + 1, ack=isn + 401)
        time.sleep(0.2)
        p.send("R", PORT, cport, seq=peer_isn + 1)
        time.sleep(0.3)
        text = proc.read_raw(0)
finally:
    if c:
        c.close()
    proc.must("segments=default\n")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)

rel = [(s.seq - isn, s.len) for s in resends]
t.diag("sent first: %s" % [(s.seq - isn, s.len) for s in firsts])
t.diag("sent again: %s" % rel)
t.ok([(s.seq - isn, s.len) for s in firsts] ==
     [(1, 100), (101, 100), (201, 100), (301, 100)] and
     len(rel) == 2 and rel[0] == (301, 100) and rel[1][0] == 1,
     "the wire: four segments, none acked; the kernel sent the tail again "
     "first (seq 301: a loss probe), then from the first unacked byte "
     "(seq 1: the retransmission timer)", ["resent: %s" % rel])

path = os.path.join(tf.OUT, "42-resend.trace")
os.makedirs(tf.OUT, exist_ok=True)
with open(path, "w") as f:
    f.write(text)
show = subprocess.run([SHOW, "--explain", "-p", str(PORT), path],
                      capture_output=True, text=True)
rs = rows(show.stdout)
tlp, ntlp = notes_of(rs, 301)
rto, nrto = notes_of(rs, 1)
t.ok(show.returncode == 0 and ntlp == 1 and TLP_NOTE in tlp and
     RTO_NOTE not in tlp,
     "--explain: the resend of seq 301 is called a tail loss probe",
     [tlp or "(no notes)"] + show.stdout.splitlines()[-40:] +
     show.stderr.splitlines())
t.ok(show.returncode == 0 and nrto == 1 and RTO_NOTE in rto and
     TLP_NOTE not in rto,
     "--explain: the resend of seq 1 is the retransmission timer's, from "
     "the first unacked byte", [rto or "(no notes)"])
rst = [r for r in rs if "[R]" in r[0]]
t.ok(len(rst) == 1 and "RST" in note_text(rst[0]) and
     "listener" not in note_text(rst[0]),
     "--explain: the peer's RST after it acked the data is not called the "
     "listener's reset of a handshake",
     [note_text(r) for r in rst] or ["no RST row"])
t.done()
