#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 89-synopts.t: a SYN's options (format 1.2's opts=) against a tcpdump
# capture of the same handshakes, read by tshark.
#   - Handshakes between two namespaces over veth (MTU 1500) and on lo,
#     IPv4 and IPv6, with the kernel's defaults, with TCP_MAXSEG set on
#     the client, with the client's tcp_sack, tcp_timestamps and
#     tcp_window_scaling off (so the server's SYN-ACK leaves them out
#     too), and a SYN to a closed port (rx sock=none).
#   - Every SYN and SYN-ACK record (tx and rx, full, req and none) has the
#     options tshark reads in the captured packet with the same ports,
#     seq and flags: mss, window scale, SACK permitted, TSval.
#   - tcpflow-show -w: the same options come out of its pcap (tshark),
#     TSecr too (a SYN-ACK's echoes the SYN's TSval).
#   - The ladder tags each SYN and SYN-ACK with them ("mss 1000 ws 7 sack
#     ts"), and --explain gives the options' notes.
import os
import socket
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
CLI, SRV = "tfoptc", "tfopts"
A4, B4 = "10.89.0.1", "10.89.0.2"
A6, B6 = "fd89::1", "fd89::2"
P = 7650
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
SOL_TCP = 6
TCP_MAXSEG = 2


def sh(*argv):
    subprocess.run(list(argv), check=True, capture_output=True)


def setup():
    for ns in (CLI, SRV):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", CLI, "link", "add", "v0", "type", "veth", "peer", "name",
       "v1", "netns", SRV)
    for ns, dev, a4, a6 in ((CLI, "v0", A4, A6), (SRV, "v1", B4, B6)):
        sh("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
        sh("ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up")


def sysctl(ns, **kv):
    for k, v in kv.items():
        sh("ip", "netns", "exec", ns, "sysctl", "-qw",
           "net.ipv4.%s=%s" % (k, v))


def handshake(fam, srv_ns, cli_ns, addr, port, maxseg=None):
    with tf.in_netns(srv_ns):
        ls = socket.socket(fam)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    with tf.in_netns(cli_ns):
        c = socket.socket(fam)
    if maxseg:
        c.setsockopt(SOL_TCP, TCP_MAXSEG, maxseg)
    c.settimeout(10 * tf.SLOW)
    c.connect((addr, port))
    a, _ = ls.accept()
    time.sleep(0.1)
    c.close()
    a.close()
    ls.close()


def refused(addr, port):
    with tf.in_netns(CLI):
        c = socket.socket()
    c.settimeout(10 * tf.SLOW)
    try:
        c.connect((addr, port))
    except OSError:
        pass
    c.close()


# tshark's reading of a SYN's options: (mss, ws, sack, tsval, tsecr)
FIELDS = ["tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.flags",
          "tcp.option_kind", "tcp.options.mss_val", "tcp.options.wscale.shift",
          "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr"]


def tshark_syns(path):
    argv = ["tshark", "-n", "-r", path, "-Y", "tcp.flags.syn == 1",
            "-T", "fields", "-E", "separator=|"]
    for f in FIELDS:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    got = {}
    for line in out.stdout.splitlines():
        sp, dp, seq, fl, kinds, mss, ws, tsv, tse = line.split("|")
        kinds = {int(k) for k in kinds.split(",") if k}
        opts = []
        if mss:
            opts.append("mss:%d" % int(mss))
        if ws:
            opts.append("ws:%d" % int(ws))
        if 4 in kinds:
            opts.append("sack")
        if tsv:
            opts.append("ts:%d" % int(tsv))
        key = (int(sp), int(dp), int(seq), int(fl, 16) & 0x12)
        got[key] = (",".join(opts) or "none", int(tse) if tse else None)
    return got


def rec_key(r):
    tx = r["ev"] == "tx"
    sp, dp = (r["lport"], r["rport"]) if tx else (r["rport"], r["lport"])
    bits = (0x02 if "S" in r["flags"] else 0) | \
        (0x10 if "." in r["flags"] else 0)
    return (sp, dp, r["seq"], bits)


setup()
os.makedirs(tf.OUT, exist_ok=True)
caps = [os.path.join(tf.OUT, "89-synopts-%s.pcap" % n)
        for n in ("veth", "lo")]
proc.must("filter=-\nsegments=default\n")
mark = proc.mark()
try:
    dumps = [tf.Tcpdump(SRV, "v1", caps[0], "tcp").start(),
             tf.Tcpdump(SRV, "lo", caps[1], "tcp").start()]
    handshake(socket.AF_INET, SRV, CLI, B4, P)              # defaults
    handshake(socket.AF_INET, SRV, CLI, B4, P + 1, 1000)    # TCP_MAXSEG
    handshake(socket.AF_INET6, SRV, CLI, B6, P + 2)         # IPv6
    handshake(socket.AF_INET, SRV, SRV, "127.0.0.1", P + 3)     # lo
    sysctl(CLI, tcp_sack=0, tcp_timestamps=0, tcp_window_scaling=0)
    handshake(socket.AF_INET, SRV, CLI, B4, P + 4)          # mss only
    sysctl(CLI, tcp_sack=1, tcp_timestamps=1, tcp_window_scaling=1)
    refused(B4, P + 5)                                      # sock=none
    time.sleep(0.5 * tf.SLOW)
    for d in dumps:
        d.stop()
    with open(tf.PROC) as f:
        head = f.readline()
    text = proc.read_raw(mark)
finally:
    for ns in (CLI, SRV):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

recs = [r for r in (tf.parse_record(x) for x in text.splitlines()
                    if x.startswith("n="))
        if r["ev"] in ("tx", "rx") and "S" in r["flags"] and
        (P <= r["lport"] <= P + 5 or P <= r["rport"] <= P + 5)]
wire = {}
for c in caps:
    wire.update(tshark_syns(c))

# 1. each SYN / SYN-ACK record against the captured packet
bad, seen = [], set()
for r in recs:
    w = wire.get(rec_key(r))
    if w is None:
        bad.append("not on the wire: " + r["line"])
    elif r.get("opts") != w[0]:
        bad.append("opts=%s, the wire: %s: %s" % (r.get("opts"), w[0],
                                                  r["line"]))
    else:
        seen.add((r["ev"], r["sock"], "." in r["flags"]))
by_port = {}
for r in recs:
    port = r["rport"] if P <= r["rport"] <= P + 5 else r["lport"]
    by_port.setdefault(port, []).append(r)
# 5 handshakes: SYN tx, rx (listener), SYN-ACK tx (req), rx; then the
# refused SYN tx and rx (sock=none)
want = {P + k: 4 for k in range(5)}
want[P + 5] = 2
counts = {p: len(by_port.get(p, [])) for p in want}
t.ok(not bad and counts == want and
     {("tx", "full", False), ("rx", "full", False), ("tx", "req", True),
      ("rx", "full", True), ("rx", "none", False)} <= seen,
     "every SYN and SYN-ACK record's opts (%d) are the options tcpdump "
     "captured (tshark: mss, wscale, sackOK, TSval)" % len(recs),
     bad[:10] + ["records per port %s, wanted %s" % (counts, want)])


def opts_of(port, synack):
    for r in by_port.get(port, []):
        if r["ev"] == "tx" and ("." in r["flags"]) == synack:
            return r.get("opts")
    return None


t.ok(opts_of(P + 1, False) is not None and
     opts_of(P + 1, False).startswith("mss:1000,") and
     opts_of(P + 4, False) == "mss:1460" and
     opts_of(P + 4, True) == "mss:1460" and
     opts_of(P + 2, False).startswith("mss:1440,") and
     opts_of(P, False).startswith("mss:1460,ws:"),
     "TCP_MAXSEG 1000 gives mss:1000; with sack, timestamps and window "
     "scaling off on the client, SYN and SYN-ACK carry mss:1460 only; "
     "over veth (MTU 1500) IPv4 mss:1460, IPv6 mss:1440",
     ["%d: %s / %s" % (p, opts_of(p, False), opts_of(p, True))
      for p in range(P, P + 5)])

# 2. tcpflow-show -w: the same options in its pcap, TSecr included
trace = os.path.join(tf.OUT, "89-synopts.trace")
with open(trace, "w") as f:
    f.write(head + text)     # tests/tools/fixtures/real-guest-synopts.trace
out = os.path.join(tf.OUT, "89-synopts-show.pcap")
r = subprocess.run([SHOW, "-w", out, trace], capture_output=True, text=True)
mine = tshark_syns(out) if r.returncode == 0 else {}
diff = ["%s: tcpflow-show %s, the wire %s" % (k, v, wire.get(k))
        for k, v in sorted(mine.items()) if wire.get(k) != v]
t.ok(r.returncode == 0 and len(mine) >= 10 and not diff,
     "tcpflow-show -w: tshark reads the same options in its pcap as in "
     "the capture, TSecr too (%d SYNs and SYN-ACKs)" % len(mine),
     [r.stderr.strip()] + diff[:10])

# 3. the ladder's tags (the comment column), and -e's notes
lad = subprocess.run([SHOW, "--width", "200", trace], capture_output=True,
                     text=True)
exp = subprocess.run([SHOW, "-e", "--width", "200", trace],
                     capture_output=True, text=True)
lines = [x.rstrip() for x in lad.stdout.splitlines()]


def arrows(label, tag):
    return [x for x in lines if label in x and x.endswith("  " + tag)]


def words(port, synack):
    """The ladder's words for the options tcpdump saw on that SYN."""
    for r in by_port.get(port, []):
        if r["ev"] == "tx" and ("." in r["flags"]) == synack:
            w = wire.get(rec_key(r), ("?",))[0].split(",")
            return " ".join(x.split(":")[0] if x.startswith("ts:") else
                            x.replace(":", " ") for x in w)
    return "?"


t.ok(lad.returncode == 0 and exp.returncode == 0 and
     words(P + 1, False).startswith("mss 1000 ") and
     arrows("[S] seq=0", words(P + 1, False)) and
     arrows("[S.] seq=0 ack=1", words(P, True)) and
     arrows("[S] seq=0", "mss 1460") and
     arrows("[S.] seq=0 ack=1", "mss 1460") and
     "options: what this end can do. mss: the" in exp.stdout and
     "ws, sack and ts are used only if both" in exp.stdout,
     "the ladder tags each SYN and SYN-ACK with its options (the TCP_MAXSEG "
     "client's SYN: %s; the client without sack, "
     "timestamps and window scaling: mss 1460 both ways), and -e explains "
     "them" % words(P + 1, False), lines[:60] + [lad.stderr, exp.stderr])
t.done()
