# SPDX-License-Identifier: GPL-2.0
"""tunpeer: a TCP peer made of raw packets, through a tun device.

The kernel under test sits on one side of a tun device in a network
namespace (address LOCAL); the test is the other side (address PEER): it
writes IPv4/TCP segments with exactly the flags, seq and ack it chooses,
and reads back exactly what the kernel sent.  No second kernel answers in
between (a veth peer's kernel would reset a SYN-ACK it has no socket
for), so a test can make segments no socket would send: a stray ACK, an
ACK out of the window, a wrong ack number.  What the kernel sends is the
truth the records are checked against.

    with TunPeer("myns") as p:
        p.send("S", 40000, 7000, seq=1000)
        synack = p.expect(lambda s: s.flags == "S.")

The process that writes to the tun device runs the receive path itself
(in process context, bottom halves off): it is a bystander to the sockets
it reaches, as a VPN daemon is.
"""
import fcntl
import os
import select
import socket
import struct
import subprocess
import time

import scenarios
from scenarios import _csum

LOCAL, PEER = "198.51.100.1", "198.51.100.2"
TUNSETIFF = 0x400454ca
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
FLAG_BITS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"),
             (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "W"))


def flag_byte(letters):
    b = 0
    for bit, ch in FLAG_BITS:
        if ch in letters:
            b |= bit
    return b


def flag_letters(b):
    s = "".join(ch for bit, ch in FLAG_BITS if b & bit)
    return s or "none"


class Segment:
    """A TCP segment as it went by (what the kernel sent, or we did)."""

    def __init__(self, src, dst, sport, dport, flags, seq, ack, win, payload,
                 opts=b""):
        self.src, self.dst = src, dst
        self.sport, self.dport = sport, dport
        self.flags, self.seq, self.ack = flags, seq, ack
        self.win, self.payload = win, payload
        self.opts = opts

    @property
    def tsval(self):
        """The timestamp option's TSval, or None."""
        o = self.opts
        i = 0
        while i < len(o) and o[i] != 0:
            if o[i] == 1:
                i += 1
                continue
            if i + 1 >= len(o) or o[i + 1] < 2:
                return None
            if o[i] == 8 and o[i + 1] == 10 and i + 10 <= len(o):
                return struct.unpack("!I", o[i + 2:i + 6])[0]
            i += o[i + 1]
        return None

    @property
    def len(self):
        return len(self.payload)

    def __repr__(self):
        return "%s:%d > %s:%d [%s] seq %d ack %d win %d len %d" % (
            self.src, self.sport, self.dst, self.dport, self.flags,
            self.seq, self.ack, self.win, self.len)


def build(src, dst, sport, dport, flags, seq, ack, win, payload=b"",
          opts=b""):
    """An IPv4 packet carrying one TCP segment, checksums right; opts are
    TCP option bytes (padded to a multiple of 4 with NOPs)."""
    opts += b"\x01" * (-len(opts) % 4)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff,
                      ack & 0xffffffff, (5 + len(opts) // 4) << 4,
                      flag_byte(flags), win, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(tcp) + len(payload))
    c = _csum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64,
                     socket.IPPROTO_TCP, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return ip + tcp + payload


def parse(pkt):
    """An IPv4/TCP packet -> Segment, or None for anything else."""
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_TCP:
        return None
    ihl = (pkt[0] & 15) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    t = pkt[ihl:total]
    sport, dport, seq, ack, off, fl, win = struct.unpack("!HHIIBBH", t[:16])
    return Segment(socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]),
                   sport, dport, flag_letters(fl), seq, ack, win,
                   t[(off >> 4) * 4:], t[20:(off >> 4) * 4])


def need_tun():
    """Skip the whole test file (TAP "1..0 # SKIP", exit 4) on a kernel
    with no tun device (CONFIG_TUN off and no module to load)."""
    if not os.path.exists("/dev/net/tun"):
        subprocess.run(["modprobe", "tun"], capture_output=True)
    if not os.path.exists("/dev/net/tun"):
        print("1..0 # SKIP no tun device in this kernel (CONFIG_TUN)")
        raise SystemExit(4)


class TunPeer:
    def __init__(self, ns, ifname="tfpeer0", local=LOCAL, peer=PEER):
        self.ns, self.ifname = ns, ifname
        self.local, self.peer = local, peer
        self.fd = None
        self.sent, self.got = [], []

    def __enter__(self):
        if not os.path.exists("/dev/net/tun"):
            subprocess.run(["modprobe", "tun"], check=True,
                           capture_output=True)
        with scenarios.in_netns(self.ns):
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            fcntl.ioctl(self.fd, TUNSETIFF,
                        struct.pack("16sH", self.ifname.encode(),
                                    IFF_TUN | IFF_NO_PI))
        for cmd in (["sysctl", "-qw",
                     "net.ipv6.conf.%s.disable_ipv6=1" % self.ifname],
                    ["ip", "addr", "add", self.local + "/24", "dev",
                     self.ifname],
                    ["ip", "link", "set", self.ifname, "up"]):
            subprocess.run(["ip", "netns", "exec", self.ns] + cmd,
                           check=True, capture_output=True)
        os.set_blocking(self.fd, False)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        return False

    def send(self, flags, sport, dport, seq, ack=0, win=65535, payload=b"",
             opts=b""):
        """Write one segment from PEER:sport to LOCAL:dport."""
        pkt = build(self.peer, self.local, sport, dport, flags, seq, ack,
                    win, payload, opts)
        self.sent.append(parse(pkt))
        os.write(self.fd, pkt)

    def read(self, timeout=2.0):
        """The TCP segments the kernel sent within timeout seconds (all of
        them, as they came; a quiet spell of 0.3 s ends the wait early
        once something came)."""
        out = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            if not select.select([self.fd], [], [],
                                 min(left, 0.3) if out else left)[0]:
                if out:
                    break
                continue
            try:
                pkt = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            seg = parse(pkt)
            if seg is not None:
                out.append(seg)
        self.got += out
        return out

    def expect(self, pred, timeout=5.0):
        """The first segment the kernel sends that pred accepts."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for seg in self.read(max(0.1, end - time.monotonic())):
                if pred(seg):
                    return seg
        raise TimeoutError("no such segment from the kernel in %.1f s "
                           "(got %s)" % (timeout, self.got[-5:]))
