#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 37-md5-reset.t: a reset the kernel decides not to send is not recorded.
# tcp_v4_send_reset() and tcp_v6_send_reset() check a segment that carries
# a TCP MD5 signature (RFC 2385) and reached no socket: the key is looked
# up through a listener on the segment's source port, and without a key,
# or with a signature that does not match, no reset goes out.  Here, in a
# namespace, over lo, for IPv4 and IPv6:
#   - a listener on port 7700 with a TCP_MD5SIG key for the peer address;
#   - a raw socket sends, from port 7700 to the closed port 7701, a SYN
#     signed with garbage: tcpdump sees no reset, and tcpflow records no
#     reset (nor an rx sock=none record, which belongs to a reset);
#   - the same SYN unsigned, from port 7702 to port 7703: tcpdump sees the
#     reset, and tcpflow records it (rx sock=none, then the tx reset, as
#     on the wire) - the control that the setup makes resets at all.
# On 6.1 the IPv6 checks run before tcp_v6_send_response(), the old
# probe's place, so only the IPv4 case failed there: tcpflow recorded a
# reset that never left, with its rx sock=none record.
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
from scenarios import _csum  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")
NS = "tfmd5"
TCP_MD5SIG = 14
IPV6_CHECKSUM = 7
OUT = os.environ.get("TCPFLOW_TEST_OUT") or "/tmp/tcpflow-tests"
os.makedirs(OUT, exist_ok=True)


def ns_up():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    return tf.netns_inum(NS)


def md5sig(af, addr, key):
    """struct tcp_md5sig for addr (a sockaddr_storage), key."""
    if af == 4:
        sa = struct.pack("=H", socket.AF_INET) + struct.pack(
            "!H", 0) + socket.inet_aton(addr)
    else:
        sa = struct.pack("=H", socket.AF_INET6) + struct.pack(
            "!HI", 0, 0) + socket.inet_pton(socket.AF_INET6, addr) + \
            struct.pack("=I", 0)
    sa = sa.ljust(128, b"\0")
    return sa + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(80, b"\0")


def segment(af, addr, sport, dport, seq, signed):
    """A SYN's TCP header (and options); IPv4's checksum computed here,
    IPv6's by the kernel (IPV6_CHECKSUM)."""
    opts = b""
    if signed:   # NOP NOP, kind 19 len 18, a digest that matches no key
        opts = b"\x01\x01\x13\x12" + bytes(range(16))
    doff = (20 + len(opts)) // 4
    th = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, 0x02,
                     65535, 0, 0) + opts
    if af == 4:
        a = socket.inet_aton(addr)
        c = _csum(a + a + struct.pack("!BBH", 0, socket.IPPROTO_TCP,
                                      len(th)) + th)
        th = th[:16] + struct.pack("!H", c) + th[18:]
    return th


def case(af):
    fam = socket.AF_INET if af == 4 else socket.AF_INET6
    addr = "127.0.0.1" if af == 4 else "::1"
    with tf.in_netns(NS):
        ls = socket.socket(fam, socket.SOCK_STREAM)
        raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG,
                  md5sig(af, addr, b"tcpflow-md5-key"))
    ls.bind((addr, 7700))
    ls.listen(4)
    if af == 6:
        raw.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)
    pcap = os.path.join(OUT, "37-md5-reset-lo-%d.pcap" % af)
    dump = tf.Tcpdump(NS, "lo", pcap, "tcp").start()
    mark = proc.mark()
    try:
        raw.sendto(segment(af, addr, 7700, 7701, 1000, True), (addr, 0))
        raw.sendto(segment(af, addr, 7702, 7703, 2000, False), (addr, 0))
        time.sleep(0.5)
    finally:
        packets = dump.stop()
        ls.close()
        raw.close()
    recs = [r for r in proc.records(mark)[0] if r["netns"] == inum and
            r["af"] == af]
    t.diag("IPv%d: on the wire: %s" % (af, [str(p) for p in packets]))

    wire = [p for p in packets if p.sport == 7701 and "R" in p.flags]
    mine = [r for r in recs if 7701 in (r["lport"], r["rport"])]
    syn = [p for p in packets if p.dport == 7701 and p.flags == "S"]
    t.ok(syn and not wire and not mine,
         "IPv%d: a SYN signed with a wrong MD5 key to a closed port: the "
         "kernel sends no reset (tcpdump), tcpflow records none" % af,
         ["wire: %s" % p for p in syn + wire] + [r["line"] for r in mine])

    wire = [p for p in packets if p.sport == 7703 and "R" in p.flags]
    rx = [r for r in recs if r["ev"] == "rx" and r["lport"] == 7703]
    tx = [r for r in recs if r["ev"] == "tx" and r["lport"] == 7703]
    ok = (len(wire) == 1 and len(rx) == 1 and len(tx) == 1 and
          rx[0]["sock"] == tx[0]["sock"] == "none" and
          rx[0]["n"] < tx[0]["n"] and
          (tx[0]["flags"], tx[0]["seq"], tx[0]["ack"]) ==
          (wire[0].flags, wire[0].seq, wire[0].ack))
    t.ok(ok, "IPv%d: the same SYN unsigned gets its reset (tcpdump), and "
         "tcpflow records the SYN (rx sock=none), then the reset as on the "
         "wire" % af,
         ["wire: %s" % p for p in wire] + [r["line"] for r in rx + tx])


inum = ns_up()
try:
    for af in (4, 6):
        case(af)
finally:
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
t.done()
