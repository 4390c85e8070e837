# SPDX-License-Identifier: GPL-2.0
"""tools/tcpflow_format.py, the Python reader of /proc/tcpflow's text and
of pcap files that the guest tests, the stress tests and scripts/bench
share: against docs/format.md's own examples, the recorded fixtures, and
tshark's reading of the same pcap file.
"""
import glob
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

import tcpflow_format as fmt  # noqa: E402


def doc_examples():
    """The header and record lines of docs/format.md's code blocks."""
    with open(os.path.join(REPO, "docs", "format.md")) as f:
        text = f.read()
    lines = [ln for block in re.findall(r"```\n(.*?)```", text, re.S)
             for ln in block.splitlines()]
    return ([ln for ln in lines if ln.startswith("# tcpflow ")],
            [ln for ln in lines if ln.startswith("n=")])


def fixture_records():
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, "tests", "tools",
                                              "fixtures", "*.trace"))):
        with open(path) as f:
            out += [ln.rstrip("\n") for ln in f
                    if ln.startswith("n=")]
    return out


def abi_version():
    """TCPFLOW_FMT_MAJOR.TCPFLOW_FMT_MINOR of the shared header, which the
    module prints: the version docs/format.md's example must show."""
    with open(os.path.join(REPO, "module", "tcpflow_abi.h")) as f:
        text = f.read()
    return "%s.%s" % tuple(
        re.search(r"#define TCPFLOW_FMT_%s (\d+)" % k, text).group(1)
        for k in ("MAJOR", "MINOR"))


class Header(unittest.TestCase):
    def test_docs_header(self):
        heads, _ = doc_examples()
        self.assertTrue(heads)
        h = fmt.parse_header(heads[0])
        self.assertEqual(h["version"], abi_version())
        self.assertEqual((h["capacity"], h["first"], h["next"]),
                         (262144, 1, 58))
        self.assertEqual((h["segments"], h["port"]), ("default", "-"))
        self.assertEqual(h["epoch_offset"], 1796452338104187412)

    def test_signed_epoch_offset(self):
        # docs/format.md: epoch_offset is a signed decimal
        h = fmt.parse_header("# tcpflow 1.1 capacity=8 first=1 next=1 "
                             "epoch_offset=-42")
        self.assertEqual(h["epoch_offset"], -42)

    def test_not_a_header(self):
        for line in ("", "# gap from=1 to=2", "n=1 ts=2",
                     "# tcpflow-bpf end"):
            with self.assertRaises(ValueError, msg=line):
                fmt.parse_header(line)


class Records(unittest.TestCase):
    def test_docs_records(self):
        _, recs = doc_examples()
        r = fmt.parse_record(recs[0])
        self.assertEqual((r["n"], r["ts"], r["conn"], r["ev"], r["sock"]),
                         (5, 8123456789, 4097, "tx", "full"))
        self.assertEqual((r["laddr"], r["lport"], r["flags"], r["seq"],
                          r["ack"], r["win"], r["len"]),
                         ("192.0.2.1", 40000, "S", 1633335101, 0, 64240, 0))
        self.assertEqual((r["old"], r["why"], r["dur"]), ("-", "-", None))
        self.assertEqual(r["line"], recs[0])
        s = fmt.parse_record(recs[1], strict=True, keep_line=False)
        self.assertEqual((s["ev"], s["old"], s["new"], s["seq"], s["who"]),
                         ("state", "SYN_SENT", "ESTABLISHED", None, "owner"))
        self.assertNotIn("line", s)

    def test_fixtures_have_the_layout(self):
        recs = fixture_records()
        self.assertGreater(len(recs), 100)
        for line in recs:
            r = fmt.parse_record(line, strict=True)
            self.assertEqual(list(r)[:len(fmt.RECORD_KEYS)],
                             list(fmt.RECORD_KEYS))

    def test_strict_wants_every_key_in_order(self):
        line = fixture_records()[0]
        w = line.split(" ")
        swapped = " ".join(w[:2] + [w[3], w[2]] + w[4:])
        for bad in (swapped, " ".join(w[:-1]), " ".join(w[1:])):
            fmt.parse_record(bad)           # the lenient reader takes it
            with self.assertRaises(ValueError):
                fmt.parse_record(bad, strict=True)
        # a newer minor version may append keys: both take them, as text
        r = fmt.parse_record(line + " later=7", strict=True)
        self.assertEqual(r["later"], "7")

    def test_not_key_value(self):
        line = fixture_records()[0]
        for bad in (line + " junk", line.replace("ts=", "ts=x", 1)):
            with self.assertRaises(ValueError):
                fmt.parse_record(bad)


def frame(src, dst, sport, dport, seq, ack, flags, win, payload):
    """An Ethernet frame with an IPv4 or IPv6 TCP segment."""
    v6 = ":" in src
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                      win, 0, 0) + payload
    if v6:
        ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + \
            socket.inet_pton(socket.AF_INET6, src) + \
            socket.inet_pton(socket.AF_INET6, dst)
        etype = 0x86dd
    else:
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6,
                         0) + socket.inet_aton(src) + socket.inet_aton(dst)
        etype = 0x0800
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", etype) + ip + tcp


@unittest.skipUnless(shutil.which("tshark"), "no tshark")
class Pcap(unittest.TestCase):
    def test_read_pcap_as_tshark_reads_it(self):
        pkts = []
        for i, (src, dst) in enumerate((("192.0.2.1", "192.0.2.2"),
                                        ("2001:db8::1", "2001:db8::2"))):
            for j, (flags, data) in enumerate(((0x02, b""), (0x12, b""),
                                               (0x18, b"hello" * 7),
                                               (0x11, b""), (0x04, b""))):
                p = fmt.Packet()
                p.ts = 1700000000 + i + j / 8
                p.frame = frame(src, dst, 40000 + i, 8080, 1000 * j + 7,
                                (1 << 32) - 1 - j, flags, 512 + j, data)
                pkts.append(p)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.pcap")
            fmt.write_pcap(path, pkts)
            got = fmt.read_pcap(path)
            out = subprocess.run(
                ["tshark", "-r", path, "-T", "fields", "-E", "separator=,",
                 "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src",
                 "-e", "tcp.srcport", "-e", "tcp.dstport",
                 "-e", "tcp.seq_raw", "-e", "tcp.ack_raw",
                 "-e", "tcp.flags", "-e", "tcp.window_size_value",
                 "-e", "tcp.len"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, check=True).stdout.splitlines()
        self.assertEqual(len(got), len(pkts))
        self.assertEqual(len(out), len(pkts))
        for p, line in zip(got, out):
            ts, v4, v6, sp, dp, seq, ack, fl, win, ln = line.split(",")
            self.assertAlmostEqual(p.ts, float(ts), places=6)
            self.assertEqual(p.src, v4 or v6)
            self.assertEqual(p.af, 4 if v4 else 6)
            self.assertEqual((p.sport, p.dport, p.seq, p.ack, p.win, p.len),
                             (int(sp), int(dp), int(seq), int(ack), int(win),
                              int(ln)))
            self.assertEqual(p.bits, int(fl, 16))
        self.assertEqual([p.flags for p in got[:5]],
                         ["S", "S.", "P.", "F.", "R"])


if __name__ == "__main__":
    unittest.main()
