# SPDX-License-Identifier: GPL-2.0
"""
tools/tcpflow_format.py: the project's one Python reader of the text of
/proc/tcpflow (format 1.x, docs/format.md), and of the pcap files the
records are compared with (tcpdump -w, tcpflow-show --pcap).  Python 3
standard library only.  A reader of its own, independent of the C reader
(tools/parse.c): the guest tests check the one against the other.

Who imports it (each puts this folder on sys.path): the guest tests
(tests/guest/lib/tcpflow.py), the stress tests (tests/stress/lib.py) and
the benchmark (scripts/bench.d/bench_lib.py), on the host and in the lab
guest, where the repository is shared at the same paths.

  parse_header()  '# tcpflow 1.1 capacity=...' -> dict
  parse_record()  one record line -> dict; strict=True also wants the
                  format's keys first, in the format's order
  check_layout()  that check alone, for a reader that splits lines itself
  GAP_RE          '# gap from=N to=M'
  read_pcap()     a pcap file (Ethernet) -> TCP packets (Packet)
  pcap_frames()   a pcap file's link type and frames (any link type)
  parse_frame()   one Ethernet frame -> Packet
  write_pcap()    packets -> a pcap file (nanosecond timestamps)
"""

import re
import socket
import struct

# ------------------------------------------------------------------ records

# Every record line has these keys, in this order (docs/format.md,
# "Records"); a newer minor version may append keys.
RECORD_KEYS = ("n", "ts", "cpu", "netns", "conn", "ev", "sock", "af",
               "laddr", "lport", "raddr", "rport", "old", "new", "state",
               "flags", "seq", "ack", "win", "len", "pid", "comm", "who",
               "why", "dur")
# The numbers among them ("-" when not applicable).
INT_KEYS = ("n", "ts", "cpu", "netns", "conn", "af", "lport", "rport",
            "seq", "ack", "win", "len", "pid", "dur")

GAP_RE = re.compile(r"^# gap from=(\d+) to=(\d+)$")
_INT_RE = re.compile(r"^-?\d+$")


def parse_header(line):
    """'# tcpflow 1.1 capacity=... epoch_offset=...' -> dict: "version"
    (text) and each key=value, as int where the value is a (signed)
    decimal number."""
    w = line.split()
    if len(w) < 3 or w[0] != "#" or w[1] != "tcpflow":
        raise ValueError("not a tcpflow header: %r" % line)
    d = {"version": w[2]}
    for word in w[3:]:
        k, _, v = word.partition("=")
        d[k] = int(v) if _INT_RE.match(v) else v
    return d


def check_layout(keys, line=""):
    """ValueError unless the keys (of one record line, in order) start
    with the format's keys in the format's order."""
    keys = tuple(keys)
    if keys[:len(RECORD_KEYS)] != RECORD_KEYS:
        raise ValueError("unexpected record layout: keys %s%s" % (
            " ".join(keys), " in %r" % line if line else ""))


def parse_record(line, strict=False, keep_line=True):
    """One record line -> dict: the numbers (INT_KEYS) as int, "-" as
    None for them (kept as "-" for words); keys this reader does not
    know are kept as text.  keep_line: the line itself as d["line"].
    strict: also check_layout() (every key present, in order)."""
    d = {}
    keys = []
    for word in line.split():
        k, sep, v = word.partition("=")
        if not sep:
            raise ValueError("not key=value: %r in %r" % (word, line))
        keys.append(k)
        if k in INT_KEYS:
            d[k] = None if v == "-" else int(v)
        else:
            d[k] = v
    if strict:
        check_layout(keys, line)
    if keep_line:
        d["line"] = line
    return d


# ------------------------------------------------------------------ packets

FLAG_LETTERS = (("F", 0x01), ("S", 0x02), ("R", 0x04), ("P", 0x08),
                (".", 0x10), ("U", 0x20), ("E", 0x40), ("W", 0x80))


def flag_letters(b):
    """TCP flag bits -> the letters records use (tcpdump's order)."""
    s = "".join(ch for ch, bit in FLAG_LETTERS if b & bit)
    return s or "none"


class Packet:
    """ts: the capture's timestamp (CLOCK_REALTIME); mono: the same moment
    on CLOCK_MONOTONIC (tcpflow's clock), when known."""
    __slots__ = ("ts", "af", "src", "sport", "dst", "dport", "flags", "bits",
                 "seq", "ack", "win", "len", "frame", "mono")

    def key(self):
        return ((self.src, self.sport), (self.dst, self.dport), self.flags,
                self.seq, self.ack, self.len)

    def __str__(self):
        return "%s:%d > %s:%d %s seq=%d ack=%d win=%d len=%d" % (
            self.src, self.sport, self.dst, self.dport, self.flags, self.seq,
            self.ack, self.win, self.len)


def parse_frame(frame, wirelen=None, ts=0.0):
    """An Ethernet frame -> Packet, or None if it is not TCP over IP."""
    if len(frame) < 14:
        return None
    wirelen = wirelen or len(frame)
    etype = struct.unpack("!H", frame[12:14])[0]
    off = 14
    if etype == 0x0800:
        ihl = (frame[off] & 0x0f) * 4
        if frame[off + 9] != 6:
            return None
        af = 4
        src = socket.inet_ntop(socket.AF_INET, frame[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, frame[off + 16:off + 20])
        tot = struct.unpack("!H", frame[off + 2:off + 4])[0]
        l4 = off + ihl
        iplen = max(tot, wirelen - off) if tot else wirelen - off
        l4len = iplen - ihl
    elif etype == 0x86dd:
        if frame[off + 6] != 6:
            return None
        af = 6
        src = socket.inet_ntop(socket.AF_INET6, frame[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, frame[off + 24:off + 40])
        plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
        l4 = off + 40
        l4len = max(plen, wirelen - l4)
    else:
        return None
    sport, dport, seq, ack, offflags, win = struct.unpack(
        "!HHIIHH", frame[l4:l4 + 16])
    doff = (offflags >> 12) * 4
    p = Packet()
    p.ts, p.af, p.src, p.sport, p.dst, p.dport = ts, af, src, sport, dst, dport
    p.flags = flag_letters(offflags & 0xff)
    p.bits = offflags & 0xff
    p.seq, p.ack, p.win = seq, ack, win
    p.len = l4len - doff
    p.frame = frame
    p.mono = None
    return p


PCAP_MAGIC_NS = 0xa1b23c4d
PCAP_MAGIC_US = 0xa1b2c3d4


def pcap_frames(path, linktypes=(1,)):
    """A pcap file -> (link type, its frames): an iterator of (ts in s,
    frame bytes as captured, length on the wire), in capture order.
    ValueError if the file is not pcap, or its link type is none of
    linktypes (None: any).  A file too short for a header: (None, no
    frames)."""
    f = open(path, "rb")
    try:
        g = f.read(24)
        if len(g) < 24:
            f.close()
            return None, iter(())
        for endian in ("<", ">"):
            magic = struct.unpack(endian + "I", g[:4])[0]
            if magic in (PCAP_MAGIC_NS, PCAP_MAGIC_US):
                break
        else:
            raise ValueError("%s: not a pcap file" % path)
        linktype = struct.unpack(endian + "I", g[20:24])[0]
        if linktypes is not None and linktype not in linktypes:
            raise ValueError("%s: link type %d, want %s" % (
                path, linktype, " or ".join(map(str, linktypes))))
    except BaseException:
        f.close()
        raise
    div = 1e9 if magic == PCAP_MAGIC_NS else 1e6
    return linktype, _frames(f, struct.Struct(endian + "IIII"), div)


def _frames(f, rec, div):
    with f:
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            sec, frac, incl, orig = rec.unpack(h)
            yield sec + frac / div, f.read(incl), orig


def read_pcap(path):
    """A pcap file (Ethernet link type) -> list of Packet (TCP over IPv4
    and IPv6 only), in capture order."""
    out = []
    for ts, frame, orig in pcap_frames(path)[1]:
        p = parse_frame(frame, orig, ts)
        if p:
            out.append(p)
    return out


def write_pcap(path, packets):
    """Packets (with their frames) -> a pcap file, Ethernet, ns stamps."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, 65535, 1))
        for p in packets:
            sec = int(p.ts)
            f.write(struct.pack("<IIII", sec, int((p.ts - sec) * 1e9),
                                len(p.frame), len(p.frame)))
            f.write(p.frame)
