# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/wire.py: segments no socket sent, and a segment lost
on the way.

send_raw() puts whole IP packets (syn_packet(): a bare SYN, every header
built here) on the client's link without TCP knowing; WireDrop drops one
chosen segment as it reaches the receiving veth, after its sender has
sent it."""

import ctypes
import os
import socket
import struct

from .common import ScenarioError, libc
from .netns import in_netns


# ------------------------------------------------------------ raw segments

def _csum(data):
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def syn_packet(af, src, dst, sport, dport, seq, win=64240):
    """A whole IP packet carrying a bare SYN (no TCP options), every header
    and checksum built here: what a raw socket with IP_HDRINCL (IPv4) or
    IPV6_HDRINCL (IPv6) sends as it is, whatever its source address."""
    fam = socket.AF_INET6 if af == 6 else socket.AF_INET
    s, d = socket.inet_pton(fam, src), socket.inet_pton(fam, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, win,
                      0, 0)
    if af == 6:
        pseudo = s + d + struct.pack("!I3xB", len(tcp), socket.IPPROTO_TCP)
    else:
        pseudo = s + d + struct.pack("!xBH", socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    if af == 6:
        ip = struct.pack("!IHBB", 6 << 28, len(tcp), socket.IPPROTO_TCP,
                         64) + s + d
    else:
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64,
                         socket.IPPROTO_TCP, 0) + s + d
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return ip + tcp


def send_raw(ns, af, dst, packets):
    """Send whole IP packets from network namespace ns through a raw
    socket (IPPROTO_RAW: the header is ours; Linux fills in only the IPv4
    header checksum and length).  TCP never sees them: no socket sent
    them, so tcpflow has no record of them on this end."""
    fam = socket.AF_INET6 if af == 6 else socket.AF_INET
    with in_netns(ns):
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        for pkt in packets:
            s.sendto(pkt, (dst, 0))
    finally:
        s.close()


# ------------------------------------------------- a segment lost on the wire
#
# A segment "lost on the way" must leave its sender (so that both tcpflow
# routes record it sent: the module at the socket, tcpflow-bpf at the
# device, net:net_dev_start_xmit) and never reach the receiver's stack
# (neither route records it received: tcpflow-bpf sees arrivals at
# net:netif_receive_skb, before netfilter and tc).  The one place between
# is the receiving veth's own XDP hook (native mode: veth runs it before
# it builds the skb).  No compiler is at hand in the lab guest, so the
# program is assembled here, a dozen lines of eBPF, and loaded with bpf(2).

_BPF_NR = {"x86_64": 321, "aarch64": 280}
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_PROG_LOAD, BPF_LINK_CREATE = \
    0, 1, 5, 28
BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_XDP, BPF_XDP = 2, 6, 37
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_DROP, XDP_PASS = 1, 2
TCP_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, ".": 0x10}


def _bpf(cmd, attr):
    """bpf(2) with attr (bytes, zero-padded to 128); returns its value."""
    nr = _BPF_NR.get(os.uname().machine)
    if nr is None:
        raise ScenarioError("bpf(2): no syscall number for %s" %
                            os.uname().machine)
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    ret = libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf,
                       ctypes.c_uint(128))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, "bpf(%d): %s" % (cmd, os.strerror(e)))
    return ret, buf


def _insn(op, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _be16_as_loaded(v):
    """A 16-bit field in network order, as a little-endian load sees it."""
    return struct.unpack("<H", struct.pack("!H", v))[0]


def _xdp_drop_program(map_fd, sport, dport, flags):
    """eBPF: drop the first TCP segment (IPv4 without options, or IPv6
    without extension headers) from sport to dport whose flags byte is
    exactly flags; counts it in the array map's element 0, which also
    makes it once: after one drop, everything passes."""
    prog, fix = [], []

    def op(*a, **kw):
        prog.append(_insn(*a, **kw))

    def jump(opcode, dst, imm, label, src=0):
        fix.append((len(prog), label))
        op(opcode, dst, src, 0, imm)

    labels = {}
    R0, R1, R2, R3, R4, R5, R10 = 0, 1, 2, 3, 4, 5, 10
    op(0x61, R3, R1, 4)                 # r3 = ctx->data_end
    op(0x61, R2, R1, 0)                 # r2 = ctx->data
    op(0xbf, R5, R2)                    # r5 = r2
    op(0x07, R5, imm=14 + 20 + 20)      # r5 += eth + ip + tcp
    jump(0x2d, R5, 0, "pass", src=R3)   # if r5 > r3: too short
    op(0x69, R4, R2, 12)                # r4 = ethertype
    jump(0x15, R4, _be16_as_loaded(0x86dd), "v6")
    jump(0x55, R4, _be16_as_loaded(0x0800), "pass")
    op(0x71, R4, R2, 14)                # version and header length
    jump(0x55, R4, 0x45, "pass")
    op(0x71, R4, R2, 14 + 9)            # protocol
    jump(0x55, R4, socket.IPPROTO_TCP, "pass")
    op(0x07, R2, imm=14 + 20)           # r2 = the TCP header
    jump(0x05, 0, 0, "tcp")
    labels["v6"] = len(prog)
    op(0xbf, R5, R2)
    op(0x07, R5, imm=14 + 40 + 20)
    jump(0x2d, R5, 0, "pass", src=R3)
    op(0x71, R4, R2, 14 + 6)            # next header
    jump(0x55, R4, socket.IPPROTO_TCP, "pass")
    op(0x07, R2, imm=14 + 40)
    labels["tcp"] = len(prog)
    op(0x69, R4, R2, 0)
    jump(0x55, R4, _be16_as_loaded(sport), "pass")
    op(0x69, R4, R2, 2)
    jump(0x55, R4, _be16_as_loaded(dport), "pass")
    op(0x71, R4, R2, 13)
    jump(0x55, R4, flags, "pass")
    op(0x62, R10, 0, -4, 0)             # key 0, on the stack
    op(0x18, R1, 1, 0, map_fd)          # r1 = the map (BPF_PSEUDO_MAP_FD)
    op(0x00)
    op(0xbf, R2, R10)
    op(0x07, R2, imm=-4)
    op(0x85, imm=1)                     # bpf_map_lookup_elem
    jump(0x15, R0, 0, "pass")
    op(0x61, R1, R0, 0)
    jump(0x55, R1, 0, "pass")           # dropped one already
    op(0x62, R0, 0, 0, 1)
    op(0xb7, R0, imm=XDP_DROP)
    op(0x95)
    labels["pass"] = len(prog)
    op(0xb7, R0, imm=XDP_PASS)
    op(0x95)
    for at, label in fix:
        o, regs, _, imm = struct.unpack("<BBhi", prog[at])
        prog[at] = struct.pack("<BBhi", o, regs, labels[label] - at - 1,
                               imm)
    return b"".join(prog)


class WireDrop:
    """Drop the first segment from sport to dport with exactly these
    flags (tcpdump letters, e.g. "." for a pure ACK) as it arrives on
    dev in network namespace ns, before that host's stack sees it.
    dropped() says how many it dropped (0 or 1); close() detaches."""

    def __init__(self, ns, dev, sport, dport, flags):
        bits = sum(TCP_FLAG_BITS[c] for c in flags)
        self.fds = []
        try:
            fd, _ = _bpf(BPF_MAP_CREATE, struct.pack(
                "<IIII", BPF_MAP_TYPE_ARRAY, 4, 4, 1))
            self.map_fd = fd
            self.fds.append(fd)
            code = _xdp_drop_program(fd, sport, dport, bits)
            insns = ctypes.create_string_buffer(code, len(code))
            lic = ctypes.create_string_buffer(b"GPL")
            log = ctypes.create_string_buffer(65536)
            attr = struct.pack("<IIQQIIQ", BPF_PROG_TYPE_XDP, len(code) // 8,
                               ctypes.addressof(insns),
                               ctypes.addressof(lic), 1, len(log),
                               ctypes.addressof(log))
            try:
                fd, _ = _bpf(BPF_PROG_LOAD, attr)
            except OSError as e:
                raise ScenarioError("the XDP program that drops a segment "
                                    "did not load: %s %s" % (
                                        e, log.value.decode()[-300:]))
            self.fds.append(fd)
            with in_netns(ns):
                ifindex = socket.if_nametoindex(dev)
                fd, _ = _bpf(BPF_LINK_CREATE, struct.pack(
                    "<IIII", fd, ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE))
            self.fds.append(fd)
        except OSError as e:
            self.close()
            raise ScenarioError("cannot drop a segment on %s's link (XDP): "
                                "%s" % (ns, e))
        except BaseException:
            self.close()
            raise

    def dropped(self):
        key = ctypes.c_uint32(0)
        val = ctypes.c_uint32(0)
        _bpf(BPF_MAP_LOOKUP_ELEM, struct.pack(
            "<IIQQ", self.map_fd, 0, ctypes.addressof(key),
            ctypes.addressof(val)))
        return val.value

    def close(self):
        while self.fds:
            os.close(self.fds.pop())
