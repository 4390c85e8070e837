#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 86-summary.t: tcpflow-show --csv's line for a real connection against
# what the connection did and what tcpdump and ss saw.  A client sends
# 3000 bytes, the server answers 7000 and closes first, so the server
# holds TIME_WAIT.  The trace is taken with segments=default, where data
# segments are not recorded: the bytes must come from sequence numbers.
#   - bytes each way: what the sockets sent, and the payload tcpdump saw
#   - the handshake's round trips: between the capture's (SYN -> SYN-ACK,
#     SYN-ACK -> ACK: the hooks sit outside the wire) and each end's own
#     first RTT sample (TCP_INFO's tcpi_rtt right after connect() and
#     accept(), before any data), which the kernel takes from before the
#     SYN leaves to after the answer is processed, a wider window
#   - the duration: the capture's first to last segment, within slack
#   - who closed first and how it ended: the capture's first FIN, both
#     FINs; the end in TIME_WAIT: the one ss lists; still waiting
#   - both ends' pid/comm: this process
import csv
import io
import os
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
proc = tf.Proc()
NS = "tfsummary"
PORT = 7600
UP, DOWN = 3000, 7000
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
SLACK_MS = 5 * tf.SLOW


def tcpi_rtt_ms(s):
    """The socket's smoothed RTT (struct tcp_info's tcpi_rtt), in ms."""
    b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("8B24I", b)[8 + 15] / 1000.0


def recv_all(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            break
        b += chunk
    return len(b)


subprocess.run(["ip", "netns", "del", NS], capture_output=True)
subprocess.run(["ip", "netns", "add", NS], check=True)
subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
os.makedirs(tf.OUT, exist_ok=True)
pcap = os.path.join(tf.OUT, "86-summary.pcap")
proc.must("filter=-\nsegments=default\n")
mark = proc.mark()
try:
    dump = tf.Tcpdump(NS, "lo", pcap, "tcp port %d" % PORT).start()
    with tf.in_netns(NS):
        ls = socket.socket()
        c = socket.socket()
    ls.bind(("127.0.0.1", PORT))
    ls.listen(1)
    c.connect(("127.0.0.1", PORT))
    a, _ = ls.accept()
    krtt = [tcpi_rtt_ms(c), tcpi_rtt_ms(a)]
    c.sendall(b"q" * UP)
    got_up = recv_all(a, UP)
    a.sendall(b"r" * DOWN)
    got_down = recv_all(c, DOWN)
    time.sleep(0.2)
    a.close()                       # the server closes first
    eof = c.recv(1) == b""
    c.close()
    ls.close()
    time.sleep(0.5 * tf.SLOW)
    ss = subprocess.run(["ip", "netns", "exec", NS, "ss", "-Htan",
                         "state", "time-wait"], capture_output=True,
                        text=True).stdout
    packets = dump.stop()
    with open(tf.PROC) as f:
        text = f.readline() + proc.read_raw(mark)
finally:
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)

path = os.path.join(tf.OUT, "86-summary.trace")
with open(path, "w") as f:
    f.write(text)
show = subprocess.run([SHOW, "--csv", "-p", str(PORT), path],
                      capture_output=True, text=True)
rows = list(csv.DictReader(io.StringIO(show.stdout)))
t.diag("tcpflow-show --csv: %s" % show.stdout.strip().replace("\n", " | "))
row = rows[-1] if rows else {}
t.ok(show.returncode == 0 and len(rows) == 1 and got_up == UP and
     got_down == DOWN and eof,
     "one connection, %d bytes up and %d down, the server closed first" % (
         UP, DOWN), [show.stderr] if show.stderr else None)

srv = ("127.0.0.1", PORT)
c2s = [p for p in packets if (p.dst, p.dport) == srv]
s2c = [p for p in packets if (p.src, p.sport) == srv]


def payload(ps):
    return sum(p.len for p in {(p.seq, p.len): p for p in ps}.values())


t.ok(row.get("bytes_c2s") == str(payload(c2s)) == str(UP) and
     row.get("bytes_s2c") == str(payload(s2c)) == str(DOWN),
     "bytes each way (%s, %s) are what was sent and tcpdump saw (%d, %d), "
     "with no data segment recorded (segments=default)" % (
         row.get("bytes_c2s"), row.get("bytes_s2c"), payload(c2s),
         payload(s2c)))


def first(ps, flags):
    m = [p for p in ps if p.flags == flags]
    return m[0] if m else None


syn, synack = first(c2s, "S"), first(s2c, "S.")
ack3 = next((p for p in c2s if p.flags == "." and synack and
             p.ack == synack.seq + 1), None)
ok_rtt = False
want = []
if syn and synack and ack3:
    want = [(synack.ts - syn.ts) * 1000, (ack3.ts - synack.ts) * 1000]
    try:
        got = [float(row["rtt_client_ms"]), float(row["rtt_server_ms"])]
        ok_rtt = all(w - 0.5 <= g <= k + 0.5 * tf.SLOW
                     for g, k, w in zip(got, krtt, want))
    except (KeyError, ValueError):
        got = None
t.ok(ok_rtt, "the handshake's round trips (%s, %s ms) are no shorter "
     "than the capture's SYN to SYN-ACK and SYN-ACK to ACK (%s ms) and no "
     "longer than each end's own first RTT sample (tcpi_rtt %s ms)" % (
         row.get("rtt_client_ms"), row.get("rtt_server_ms"),
         ", ".join("%.3f" % w for w in want),
         ", ".join("%.3f" % k for k in krtt)))

cap_dur = packets[-1].ts - packets[0].ts if packets else 0
try:
    dur = float(row["duration_s"])
except (KeyError, ValueError):
    dur = -1
t.ok(abs(dur - cap_dur) <= 10 * SLACK_MS / 1000,
     "the duration (%s s) is the capture's first to last segment (%.3f s)"
     % (row.get("duration_s"), cap_dur))

fins = [p for p in packets if "F" in p.flags]
first_fin = "server" if fins and (fins[0].src, fins[0].sport) == srv else \
    "client"
tw_local = [ln.split()[2].rsplit(":", 1)[1] for ln in ss.splitlines()
            if ln.split()]
tw_side = "server" if tw_local == [str(PORT)] else \
    "client" if len(tw_local) == 1 else "?"
t.ok(row.get("closed_first") == first_fin == "server" and
     row.get("ended") == "FIN" and len(fins) == 2,
     "closed first: %s, ended: %s; the capture's first FIN is the %s's, "
     "and there are %d FINs" % (row.get("closed_first"), row.get("ended"),
                                first_fin, len(fins)))
t.ok(row.get("time_wait") == tw_side == "server" and
     row.get("time_wait_end") == "still" and
     row.get("time_wait_s", "").startswith(">"),
     "TIME_WAIT: the %s's, still waiting (%s); ss lists the time-wait sock "
     "of local port %s" % (row.get("time_wait"), row.get("time_wait_s"),
                           tw_local))
me = "%d/%s" % (os.getpid(), open("/proc/self/comm").read().strip())
t.ok(row.get("client_proc") == row.get("server_proc") == me,
     "both ends' pid/comm are this process's (%s): %s, %s" % (
         me, row.get("client_proc"), row.get("server_proc")))
t.done()
