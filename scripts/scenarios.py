#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
scripts/scenarios.py: the TCP scenarios tcpflow is tested and shown with,
one definition each, shared by the guest tests (tests/guest/*.t) and the
demos (scripts/demo).

Two hosts are two network namespaces, "client" and "server", joined by a
veth pair (veth-c in client, veth-s in server) with documentation-range
addresses:

    client  veth-c  192.0.2.1/24  2001:db8::1/64
    server  veth-s  192.0.2.2/24  2001:db8::2/64

A scenario runs either across the veth pair (link="veth") or on the
server's loopback (link="lo": both ends in the server namespace, 127.0.0.1
or ::1).  Each end is its own process (an "actor", forked from the caller,
named tf-client and tf-server), so the records of each end can be checked
for the right pid and comm.  The scenario drives them step by step and
waits, between steps, for the kernel to reach the state the next step
needs (read from the actor's /proc/net/tcp), so the sequence of segments
is the same on every run: no step races a delayed ACK.

Each scenario also says what must happen, as data: the EXPECT text, one
line per event, for both ends:

    END LABEL EV SOCK WHAT [FLAGS SEQ ACK] [len=N] [why=W] [lost] [raw]

    END    client | server: whose records (the server end is the side
           whose local port is the scenario's port)
    LABEL  which socket of that end: L = the listener, - = no socket
           (conn 0), 1, 2, ... = connections in the order the end first
           records them (the same number on both ends is the same
           connection)
    EV     state | tx | rx
    SOCK   full | req | tw | none
    WHAT   state: OLD>NEW; tx/rx: the socket's state at the segment
    FLAGS  tcpdump letters: S, S., ., F., R., P.
    SEQ    sequence number relative to the SENDER's initial sequence
           number (0 if the sender sent no SYN), - when not checked
    ACK    acknowledgement number relative to the RECEIVER's ISN, - when
           not checked (a SYN has no ACK)
    len=N  payload bytes (default 0)
    why=W  expire | kill | rearm
    lost   (tx only) dropped by a firewall rule before it reached the wire
           (a segment lost ON the wire, Ctx.drop_on_wire(), has no
           marker: it is sent and on the wire, and the receiver simply
           has no rx line for it; the run's notes list it as wire_dropped)
    raw    (tx only) written by the scenario with a raw socket, not sent
           by TCP: on the wire, but no record on the sending end (the
           run's notes list such segments as raw_sent)

The order of the lines is one possible order of the whole exchange (a
ladder to read); what is checked is the order within each (END, LABEL).
match_expectation() checks records (dicts with the /proc/tcpflow keys)
against it; expected_wire() gives the segments that must be on the wire.

Usage as a program (inside the lab guest, as root):
    scripts/scenarios.py --list
    scripts/scenarios.py run NAME [--af 4|6] [--link veth|lo] [--port N]
        [--hosts A,B] [--keep]   (run prints the run's facts as JSON;
                    --hosts names the namespaces, default client,server;
                    --keep leaves them up for a look)
    scripts/scenarios.py expect NAME   (the expectation text)
"""

import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------- constants

CLIENT, SERVER = "client", "server"
VETH = {CLIENT: "veth-c", SERVER: "veth-s"}
ADDR = {
    4: {CLIENT: "192.0.2.1", SERVER: "192.0.2.2"},
    6: {CLIENT: "2001:db8::1", SERVER: "2001:db8::2"},
}
PREFIX = {4: 24, 6: 64}
LOOPBACK = {4: "127.0.0.1", 6: "::1"}
COMM = {CLIENT: "tf-client", SERVER: "tf-server"}
DEFAULT_PORT = 8080

# /proc/net/tcp state numbers (include/net/tcp_states.h)
TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
    5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
    9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

CLONE_NEWNET = 0x40000000
PR_SET_NAME = 15
SO_COOKIE = 57

_libc = ctypes.CDLL(None, use_errno=True)


def mono():
    """CLOCK_MONOTONIC in seconds (the clock of tcpflow's ts, in ns)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def sleep_until(at):
    """Sleep until mono() reaches @at (None: do not wait).  Two actors
    told when to act keep to it however late each got its command: the
    RPC to each is a pipe write and a wake-up, which on a busy machine can
    take longer than a crossing's netem hold."""
    if at is not None:
        left = at - mono()
        if left > 0:
            time.sleep(left)


# How far ahead of now two ends are told to act (see sleep_until).
TOGETHER_IN = 0.5


def act_crossing(ctx, op, cargs, sargs, hold_ms):
    """The client does op(*cargs), the server op(*sargs) half of hold_ms
    later, each at its time (sleep_until()); waits for both.  The client's
    packets are the ones netem holds: the server's segment then reaches
    the client while the client's is still held, and they cross."""
    at = mono() + TOGETHER_IN
    ctx.client.start(op, *cargs, at)
    ctx.server.start(op, *sargs, at + hold_ms / 2000.0)
    ctx.client.result()
    ctx.server.result()


class ScenarioError(Exception):
    """A scenario could not do what it set out to do (not a tcpflow bug:
    the kernel did not reach a state in time, a command failed...)."""


class NoNetem(ScenarioError):
    """The scenario needs a delay on a link (sch_netem), and this kernel
    has no netem qdisc: the story cannot be told here at all."""


# ------------------------------------------------------- network namespaces

def netns_path(name):
    return "/run/netns/" + name


def netns_inum(name):
    """The namespace's inode number: what tcpflow prints as netns=."""
    return os.stat(netns_path(name)).st_ino


def setns(path):
    """Move the calling THREAD into the network namespace at path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class in_netns:
    """with in_netns("client"): ... runs the block (this thread only) in
    the namespace; sockets made there stay in it after the block."""

    def __init__(self, name):
        self.name = name
        self.saved = None

    def __enter__(self):
        self.saved = os.open("/proc/thread-self/ns/net",
                             os.O_RDONLY | os.O_CLOEXEC)
        setns(netns_path(self.name))
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.saved, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.saved)
        return False


def ns_run(ns, argv, input=None, check=True, timeout=60):
    """Run argv inside network namespace ns (None: where we are).
    Returns the CompletedProcess (text mode)."""
    pre = (lambda: setns(netns_path(ns))) if ns else None
    p = subprocess.run(argv, input=input, capture_output=True, text=True,
                       preexec_fn=pre, timeout=timeout)
    if check and p.returncode != 0:
        raise ScenarioError("%s%s failed (%d): %s" % (
            "[netns %s] " % ns if ns else "", " ".join(argv), p.returncode,
            (p.stderr or p.stdout).strip()))
    return p


def ip_batch(lines, ns=None, force=False):
    argv = ["ip"] + (["-n", ns] if ns else []) + \
        (["-force"] if force else []) + ["-batch", "-"]
    return subprocess.run(argv, input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=60)


def nft(ns, script):
    ns_run(ns, ["nft", "-f", "-"], input=script)


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
    ret = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), buf,
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


class Hosts:
    """The two hosts: namespaces client and server and the veth pair.
    Use as a context manager (or call up() and down()); down() also runs
    at exit.  Anything left by an earlier run is removed first.

    Every link (veth-c, veth-s and the server's lo) delays packets by
    delay_ms (netem), as a real network would.  Without a delay a peer's
    ACK can arrive while the closing process is still inside close()
    holding the socket lock, and the kernel then keeps the orphaned
    FIN_WAIT2 socket as a full socket instead of handing it to a timewait
    sock: the same scenario would tell two different stories."""

    def __init__(self, names=(CLIENT, SERVER), delay_ms=20):
        self.client, self.server = names
        self.ns = {CLIENT: self.client, SERVER: self.server}
        self.delay_ms = delay_ms
        self.netem = True       # until tc says this kernel has none
        self.is_up = False

    def up(self):
        self.down(force=True)
        p = ip_batch([
            "netns add %s" % self.client,
            "netns add %s" % self.server,
            "link add %s netns %s type veth peer name %s netns %s" % (
                VETH[CLIENT], self.client, VETH[SERVER], self.server),
        ])
        if p.returncode != 0:
            raise ScenarioError("ip: " + p.stderr.strip())
        self.is_up = True
        import atexit
        atexit.register(self.down)
        for end in (CLIENT, SERVER):
            p = ip_batch([
                "link set lo up",
                "link set %s up" % VETH[end],
                "addr add %s/%d dev %s" % (ADDR[4][end], PREFIX[4], VETH[end]),
                "addr add %s/%d dev %s nodad" % (ADDR[6][end], PREFIX[6],
                                                  VETH[end]),
            ], ns=self.ns[end])
            if p.returncode != 0:
                raise ScenarioError("ip -n %s: %s" % (self.ns[end],
                                                      p.stderr.strip()))
        self.inum = {end: netns_inum(self.ns[end]) for end in (CLIENT, SERVER)}
        if self.delay_ms:
            for end, devs in ((CLIENT, [VETH[CLIENT]]),
                              (SERVER, [VETH[SERVER], "lo"])):
                p = ns_run(self.ns[end], ["tc", "-batch", "-"],
                           input="".join(
                               "qdisc add dev %s root netem delay %dms\n" % (
                                   d, self.delay_ms) for d in devs),
                           check=False)
                if p.returncode != 0:
                    # A kernel without sch_netem (this project's own build
                    # machines): the links run undelayed.  What that
                    # changes is true all the same (a close may tell the
                    # other story above), so nothing is said here; the
                    # scenarios that need a delay to tell their story at
                    # all say so (Ctx.netem(): NoNetem).
                    self.netem = False
                    self.delay_ms = 0
                    break
        return self

    def down(self, force=False):
        if not self.is_up and not force:
            return
        self.is_up = False
        names = [n for n in (self.client, self.server)
                 if os.path.exists(netns_path(n))]
        if names:
            ip_batch(["netns del %s" % n for n in names], force=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False


# ------------------------------------------------------------------ actors

def _addr_from_hex(h):
    b = bytes.fromhex(h)
    if len(b) == 4:
        return socket.inet_ntop(socket.AF_INET, b[::-1])
    b = b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4))
    if b[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, b[12:])
    return socket.inet_ntop(socket.AF_INET6, b)


def tcp_table():
    """The TCP sockets of the caller's network namespace, timewait and
    request socks included, from /proc/net/tcp{,6}: a list of dicts
    laddr lport raddr rport state tx_queue rx_queue."""
    out = []
    for f in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(f) as fh:
                lines = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            w = line.split()
            la, lp = w[1].split(":")
            ra, rp = w[2].split(":")
            tx, rx = w[4].split(":")
            out.append({
                "laddr": _addr_from_hex(la), "lport": int(lp, 16),
                "raddr": _addr_from_hex(ra), "rport": int(rp, 16),
                "state": TCP_STATES.get(int(w[3], 16), w[3]),
                "tx_queue": int(tx, 16), "rx_queue": int(rx, 16),
            })
    return out


class _Ops:
    """What an actor can be told to do.  Sockets have names."""

    def __init__(self):
        self.socks = {}

    def _s(self, name):
        return self.socks[name]

    def op_pid(self):
        return os.getpid()

    def op_socket(self, name, af):
        self.socks[name] = socket.socket(
            socket.AF_INET6 if af == 6 else socket.AF_INET, socket.SOCK_STREAM)
        return None

    def op_reuseaddr(self, name):
        self._s(name).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def op_linger0(self, name):
        self._s(name).setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))

    def op_bind(self, name, addr, port):
        self._s(name).bind((addr, port))
        return self._s(name).getsockname()[1]

    def op_try_bind(self, af, addr, port, reuse):
        """Can a new socket bind (addr, port), with or without
        SO_REUSEADDR?  Returns "ok" or the errno's name; the socket is
        closed again."""
        s = socket.socket(socket.AF_INET6 if af == 6 else socket.AF_INET,
                          socket.SOCK_STREAM)
        try:
            if reuse:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            return "ok"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        finally:
            s.close()

    def op_listen(self, name, backlog):
        self._s(name).listen(backlog)

    def op_connect(self, name, addr, port, timeout):
        s = self._s(name)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        finally:
            s.settimeout(None)
        return s.getsockname()[1]

    def op_connect_nb(self, name, addr, port, at=None):
        """Start a connect (at mono() time @at, if given) and return at
        once (the SYN is on its way)."""
        s = self._s(name)
        sleep_until(at)
        s.setblocking(False)
        err = s.connect_ex((addr, port))
        s.setblocking(True)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        return s.getsockname()[1]

    def op_connect_result(self, name, timeout):
        """Wait for a connect_nb to finish; returns its errno (0: done)."""
        s = self._s(name)
        select.select([], [s], [], timeout)
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def op_accept(self, lname, name, timeout):
        ls = self._s(lname)
        ls.settimeout(timeout)
        try:
            s, peer = ls.accept()
        finally:
            ls.settimeout(None)
        s.settimeout(None)
        self.socks[name] = s
        return list(peer[:2])

    def op_send(self, name, nbytes):
        self._s(name).sendall(b"x" * nbytes)
        return nbytes

    def op_recv(self, name, nbytes, timeout):
        """Read exactly nbytes (or until EOF); returns the count."""
        s = self._s(name)
        s.settimeout(timeout)
        got = 0
        try:
            while got < nbytes:
                b = s.recv(nbytes - got)
                if not b:
                    break
                got += len(b)
        finally:
            s.settimeout(None)
        return got

    def op_recv_eof(self, name, timeout):
        """Read until EOF; returns the byte count."""
        s = self._s(name)
        s.settimeout(timeout)
        got = 0
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    return got
                got += len(b)
        finally:
            s.settimeout(None)

    def op_recv_block(self, name):
        """Block in recv() with no timeout: until data, EOF or a
        signal."""
        s = self._s(name)
        s.settimeout(None)
        return len(s.recv(1))

    def op_sigint_default(self):
        """SIGINT kills this actor from now on (SIG_DFL), as it kills
        a C program: no Python handler, no unwinding; the kernel closes
        the process's files when it exits."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def op_shutdown(self, name, how):
        self._s(name).shutdown({"wr": socket.SHUT_WR, "rd": socket.SHUT_RD,
                                "rdwr": socket.SHUT_RDWR}[how])

    def op_close(self, name, at=None):
        """Close (at mono() time @at, if given)."""
        sleep_until(at)
        self.socks.pop(name).close()

    def op_cookie(self, name):
        return struct.unpack("Q", self._s(name).getsockopt(
            socket.SOL_SOCKET, SO_COOKIE, 8))[0]

    def op_rto(self, name):
        """The socket's retransmission timeout (TCP_INFO tcpi_rto), s."""
        info = self._s(name).getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                                        104)
        return struct.unpack_from("I", info, 8)[0] / 1e6

    def op_sockname(self, name):
        return list(self._s(name).getsockname()[:2])

    def op_tcp_table(self):
        return tcp_table()


def _actor_main(rfd, wfd, ns, comm):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ns:
        setns(netns_path(ns))
    _libc.prctl(PR_SET_NAME, comm.encode()[:15], 0, 0, 0)
    ops = _Ops()
    rf = os.fdopen(rfd, "rb")
    wf = os.fdopen(wfd, "wb", buffering=0)
    for line in rf:
        op, args = json.loads(line)
        if op == "exit":
            break
        try:
            res = {"ok": getattr(ops, "op_" + op)(*args)}
        except OSError as e:
            res = {"errno": e.errno or 0,
                   "err": "%s: %s" % (type(e).__name__, e)}
        except Exception as e:  # a bug in the scenario: say so
            res = {"err": "%s: %s" % (type(e).__name__, e)}
        wf.write((json.dumps(res) + "\n").encode())


class ActorError(ScenarioError):
    def __init__(self, actor, op, res):
        self.errno = res.get("errno")
        super().__init__("%s: %s failed: %s" % (actor, op, res.get("err")))


class Actor:
    """One end: a process forked from ours, in network namespace ns, named
    comm, that runs socket operations for us (see _Ops)."""

    def __init__(self, ns, comm):
        self.comm = comm
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(w1)
                os.close(r2)
                _actor_main(r1, w2, ns, comm)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(r1)
        os.close(w2)
        self.pid = pid
        self.w = os.fdopen(w1, "wb", buffering=0)
        self.r = os.fdopen(r2, "rb")
        self.pending = None

    def start(self, op, *args):
        """Send a command without waiting for its result (see result())."""
        assert self.pending is None
        self.pending = op
        self.w.write((json.dumps([op, list(args)]) + "\n").encode())

    def result(self, timeout=60):
        op, self.pending = self.pending, None
        ready, _, _ = select.select([self.r], [], [], timeout)
        if not ready:
            raise ScenarioError("%s: no answer to %s in %d s" % (
                self.comm, op, timeout))
        line = self.r.readline()
        if not line:
            raise ScenarioError("%s died during %s" % (self.comm, op))
        res = json.loads(line)
        if "ok" not in res:
            raise ActorError(self.comm, op, res)
        return res["ok"]

    def call(self, op, *args, timeout=60):
        self.start(op, *args)
        return self.result(timeout)

    def kill(self, sig):
        """Send sig and reap the actor; returns its wait status."""
        os.kill(self.pid, sig)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        for f in (self.w, self.r):
            try:
                f.close()
            except OSError:
                pass
        return status

    def stop(self):
        if self.pid is None:
            return
        try:
            self.w.write(b'["exit", []]\n')
            self.w.close()
        except OSError:
            pass
        try:
            self.r.close()
        except OSError:
            pass
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.pid = None


# ------------------------------------------------------------------ runs

class Run:
    """What one run of a scenario did: everything a test or a demo needs
    to find its records and check them.

    name, af, link, port (the server's port), saddr, caddr (addresses
    as the sockets see them), cports (client ports, in connect order),
    pids/comms {client: .., server: ..}, netns {client: inum, server:
    inum} (for link=lo both are the server's), ns {end: namespace name},
    t0/t1 (CLOCK_MONOTONIC seconds at start/end), notes (dict of
    scenario-specific facts), expect (the EXPECT text), prefix (the
    expectation is only the beginning of each socket's story).
    """

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items()
                if not k.startswith("_") and k != "hooks"}


class Wait:
    """Yielded by a scenario that has to wait (e.g. for TIME_WAIT to run
    out): the caller may do other work and then call Runner.finish()."""

    def __init__(self, what, done, deadline, interval=0.5):
        self.what, self.done = what, done
        self.deadline, self.interval = deadline, interval


class Ctx:
    """What a scenario function works with."""

    def __init__(self, hosts, run, hooks):
        self.hosts, self.run, self.hooks = hosts, run, hooks
        self.af, self.port = run.af, run.port
        self.saddr, self.caddr = run.saddr, run.caddr
        ns = run.ns
        self.server = Actor(ns[SERVER], COMM[SERVER])
        self.client = Actor(ns[CLIENT], COMM[CLIENT])
        self.actor = {CLIENT: self.client, SERVER: self.server}
        run.pids = {CLIENT: self.client.pid, SERVER: self.server.pid}
        run.comms = dict(COMM)
        self.cleanups = []

    # -- steps

    def listen(self, name="l", backlog=16):
        """The server's listener, bound to the server's address; with the
        run option mapped=True an IPv6 socket bound to :: that takes IPv4
        connections too (their addresses are v4-mapped); with wildcard=True
        bound to 0.0.0.0 or ::."""
        s = self.server
        if self.run.opts.get("mapped"):
            s.call("socket", name, 6)
            s.call("reuseaddr", name)
            s.call("bind", name, "::", self.port)
        elif self.run.opts.get("wildcard"):
            s.call("socket", name, self.af)
            s.call("reuseaddr", name)
            s.call("bind", name, "::" if self.af == 6 else "0.0.0.0",
                   self.port)
        else:
            s.call("socket", name, self.af)
            s.call("reuseaddr", name)
            s.call("bind", name, self.saddr, self.port)
        s.call("listen", name, backlog)

    def connect(self, name="c", bind_port=None, blocking=True,
                reuseaddr=False):
        c = self.client
        c.call("socket", name, self.af)
        if bind_port is not None or reuseaddr:
            c.call("reuseaddr", name)
        if bind_port is not None:
            c.call("bind", name, self.caddr, bind_port)
        if blocking:
            port = c.call("connect", name, self.saddr, self.port, 10)
        else:
            port = c.call("connect_nb", name, self.saddr, self.port)
        self.run.cports.append(port)
        return port

    def accept(self, name="a", lname="l"):
        return self.server.call("accept", lname, name, 10)

    def checkpoint(self, what):
        """Let a test look at the hosts at a named point."""
        self.run.notes.setdefault("checkpoints", []).append(what)
        fn = self.hooks.get(what)
        if fn:
            fn(self.run)

    def note(self, key, value):
        self.run.notes[key] = value

    def say(self, text):
        """A fact for the demo to print under its ladder (notes["said"])."""
        self.run.notes.setdefault("said", []).append(text)

    # -- waiting for the kernel

    def tuple_of(self, end, cport):
        if end == SERVER:
            return (self.port, cport)
        return (cport, self.port)

    def states(self, end, cport):
        lp, rp = self.tuple_of(end, cport)
        return [t["state"] for t in self.actor[end].call("tcp_table")
                if t["lport"] == lp and t["rport"] == rp]

    def entry(self, end, cport):
        lp, rp = self.tuple_of(end, cport)
        for t in self.actor[end].call("tcp_table"):
            if t["lport"] == lp and t["rport"] == rp:
                return t
        return None

    def wait_state(self, end, cport, want, timeout=10):
        """Wait until end's socket for the connection from cport is in one
        of the states want (a list; None in it means: no socket)."""
        deadline = mono() + timeout
        while True:
            st = self.states(end, cport)
            if any(w in st for w in want) or (None in want and not st):
                return st
            if mono() > deadline:
                raise ScenarioError(
                    "%s side of :%d <-> :%d: waited %d s for %s, have %s" % (
                        end, cport, self.port, timeout,
                        "/".join(str(w) for w in want), st or "no socket"))
            time.sleep(0.02)

    def wait_gone(self, end, cport, timeout=10):
        return self.wait_state(end, cport, [None], timeout)

    def wait_acked(self, end, cport, timeout=10):
        """Wait until everything end sent on the connection is acked."""
        deadline = mono() + timeout
        while True:
            e = self.entry(end, cport)
            if e is None or e["tx_queue"] == 0:
                return
            if mono() > deadline:
                raise ScenarioError("%s: data still unacked after %d s" % (
                    end, timeout))
            time.sleep(0.02)

    def settle(self, secs=0.1):
        time.sleep(secs)

    # -- the network between the hosts

    def nft_table(self, ns_end, name, chains):
        """Add nftables table `name` in end's namespace (removed when the
        run ends).  chains: the table body."""
        ns = self.run.ns[ns_end]
        nft(ns, "table inet %s {\n%s\n}\n" % (name, chains))
        self.run.notes["firewall"] = True
        self.cleanups.append(
            lambda: nft(ns, "delete table inet %s\n" % name))

    def drop_on_wire(self, to_end, sport, dport, flags):
        """Lose the first segment from sport to dport with these flags
        on its way into to_end's host (veth), once (WireDrop; detached
        when the run ends).  Noted in wire_dropped: the capture on the
        sender's side has it, the receiver has no rx record of it."""
        drop = WireDrop(self.run.ns[to_end], VETH[to_end], sport, dport,
                        flags)
        sender = CLIENT if to_end == SERVER else SERVER
        self.run.notes.setdefault("wire_dropped", []).append(
            [ADDR[self.af][sender], sport, ADDR[self.af][to_end], dport,
             flags])
        self.cleanups.append(drop.close)
        return drop

    def sysctl(self, end, name, value):
        """Set net sysctl name (e.g. "ipv4/tcp_syncookies") in end's
        namespace until the run ends."""
        ns = self.run.ns[end]
        knob = "/proc/sys/net/" + name
        with in_netns(ns):
            with open(knob) as f:
                saved = f.read().strip()
            with open(knob, "w") as f:
                f.write(str(value))

        def restore():
            with in_netns(ns):
                with open(knob, "w") as f:
                    f.write(saved)
        self.cleanups.append(restore)

    def inject_syns(self, syns):
        """Send bare SYNs from the client's host through a raw socket, not
        through TCP: syns is a list of (source address, source port,
        sequence number), to the server's address and port.  Each is noted
        in raw_sent as [src, sport, dst, dport, seq]: the checks know that
        no tcpflow record on the client's end sent them."""
        pkts = []
        for src, sport, seq in syns:
            pkts.append(syn_packet(self.af, src, self.saddr, sport,
                                   self.port, seq))
            self.run.notes.setdefault("raw_sent", []).append(
                [src, sport, self.saddr, self.port, seq])
        send_raw(self.run.ns[CLIENT], self.af, self.saddr, pkts)

    def netem(self, end, delay_ms):
        """Delay what end sends on its veth by delay_ms (until the run
        ends, or until the returned function is called)."""
        dev = VETH[end]
        ns = self.run.ns[end]
        p = ns_run(ns, ["tc", "qdisc", "replace", "dev", dev, "root",
                        "netem", "delay", "%dms" % delay_ms], check=False)
        if p.returncode != 0:
            if not self.hosts.netem or "kind is unknown" in p.stderr:
                raise NoNetem(
                    "%s needs a %d ms delay on a link, and this kernel has "
                    "no netem qdisc (sch_netem)" % (self.run.name, delay_ms))
            raise ScenarioError("[netns %s] tc qdisc replace ... netem: %s"
                                % (ns, (p.stderr or p.stdout).strip()))
        base = self.hosts.delay_ms
        done = []

        def undo():
            if done:
                return
            done.append(1)
            if base:
                ns_run(ns, ["tc", "qdisc", "replace", "dev", dev, "root",
                            "netem", "delay", "%dms" % base], check=False)
            else:
                ns_run(ns, ["tc", "qdisc", "del", "dev", dev, "root"],
                       check=False)
        self.cleanups.append(undo)
        return undo

    def close(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        self.cleanups = []
        self.client.stop()
        self.server.stop()


class Scenario:
    def __init__(self, name, title, summary, fn, expect, links, afs, prefix,
                 wire_complete):
        self.name, self.title, self.summary = name, title, summary
        self.fn, self.expect_fn = fn, expect
        self.links, self.afs, self.prefix = links, afs, prefix
        self.wire_complete = wire_complete


SCENARIOS = {}


def scenario(name, title, summary, expect, links=("veth", "lo"), afs=(4, 6),
             prefix=False, wire_complete=True):
    """Register a scenario.  prefix: the expectation is only how each
    socket's story begins.  wire_complete: the expectation lists every
    segment on the wire (False: only the handshake and teardown, as the
    default segment mode records them; data is left out)."""
    def reg(fn):
        SCENARIOS[name] = Scenario(name, title, summary, fn, expect, links,
                                   afs, prefix, wire_complete)
        return fn
    return reg


class Runner:
    """Runs one scenario.  start() sets it up, advance() runs it up to its
    next Wait (or to the end), finish() runs it to the end, sleeping
    through Waits.  run() does all of it."""

    def __init__(self, name, hosts, af=4, link="veth", port=DEFAULT_PORT,
                 hooks=None, **opts):
        sc = SCENARIOS[name]
        if link not in sc.links:
            raise ScenarioError("%s does not run on %s" % (name, link))
        if af not in sc.afs:
            raise ScenarioError("%s does not run over IPv%d" % (name, af))
        self.sc, self.hosts = sc, hosts
        r = self.runrec = Run()
        r.name, r.af, r.link, r.port = name, af, link, port
        r.title, r.summary = sc.title, sc.summary
        r.opts = opts
        if link == "lo":
            r.saddr = r.caddr = LOOPBACK[af]
            r.ns = {CLIENT: hosts.ns[SERVER], SERVER: hosts.ns[SERVER]}
        else:
            r.saddr, r.caddr = ADDR[af][SERVER], ADDR[af][CLIENT]
            r.ns = dict(hosts.ns)
        r.netns = {e: netns_inum(r.ns[e]) for e in (CLIENT, SERVER)}
        r.cports, r.notes, r.prefix = [], {}, sc.prefix
        r.wire_complete = sc.wire_complete
        self.hooks = hooks or {}
        self.ctx = None
        self.gen = None
        self.wait = None
        self.done = False

    def start(self):
        self.runrec.t0 = mono()
        self.ctx = Ctx(self.hosts, self.runrec, self.hooks)
        self.gen = self.sc.fn(self.ctx, **self.runrec.opts)
        return self

    def advance(self):
        """Run to the next Wait (returned) or to the end (None)."""
        if self.done:
            return None
        try:
            self.wait = next(self.gen)
            return self.wait
        except StopIteration:
            self.wait = None
            self._end()
            return None
        except BaseException:
            self.wait = None
            self._end()
            raise

    def _end(self):
        self.done = True
        if self.ctx:
            self.ctx.close()
            self.ctx = None
        r = self.runrec
        r.t1 = mono()
        r.expect = self.sc.expect_fn(r)

    def finish(self):
        """Run to the end, sleeping through Waits; returns the Run."""
        while not self.done:
            w = self.wait if self.wait is not None else self.advance()
            if w is None:
                break
            try:
                while not w.done():
                    if mono() > w.deadline:
                        raise ScenarioError("gave up waiting for " +
                                            w.what)
                    time.sleep(w.interval)
            except BaseException:
                # Given up, or interrupted (Ctrl-C, SIGTERM): the actors
                # stop all the same.
                self.wait = None
                self.gen.close()
                self._end()
                raise
            self.wait = None
        return self.runrec

    def run(self):
        self.start()
        return self.finish()


def run(name, hosts, **kw):
    """Run scenario name on hosts; returns its Run."""
    return Runner(name, hosts, **kw).run()


# -------------------------------------------------------------- scenarios
#
# Each scenario is a generator function (it yields only where it waits for
# a long time) and an EXPECT text.  Connection labels: see the top.

HANDSHAKE = """
server L state full CLOSE>LISTEN
client 1 state full CLOSE>SYN_SENT
client 1 tx full SYN_SENT S 0 -
server L rx full LISTEN S 0 -             # the SYN reaches the listener
server 1 state req LISTEN>NEW_SYN_RECV    # which makes a request sock
server 1 tx req NEW_SYN_RECV S. 0 1
client 1 rx full SYN_SENT S. 0 1
client 1 state full SYN_SENT>ESTABLISHED
client 1 tx full ESTABLISHED . 1 1        # the third ACK
server 1 rx req NEW_SYN_RECV . 1 1
server 1 state full NEW_SYN_RECV>SYN_RECV # the child is born
server 1 state full SYN_RECV>ESTABLISHED
"""

# The client closes first; the server ACKs the FIN at once, and closes
# only when the client is in FIN_WAIT2 (so no FIN rides on that ACK).
TEARDOWN_CLIENT_FIRST = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2     # closed: a timewait sock waits for the FIN
client 1 state full FIN_WAIT2>CLOSE
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. 1 2
client 1 rx tw FIN_WAIT2 F. 1 2
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 tx tw TIME_WAIT . 2 2            # the last ACK
server 1 rx full LAST_ACK . 2 2
server 1 state full LAST_ACK>CLOSE
"""

TEARDOWN_SERVER_FIRST = """
server 1 state full ESTABLISHED>FIN_WAIT1
server 1 tx full FIN_WAIT1 F. 1 1
client 1 rx full ESTABLISHED F. 1 1
client 1 state full ESTABLISHED>CLOSE_WAIT
client 1 tx full CLOSE_WAIT . 1 2
server 1 rx full FIN_WAIT1 . 1 2
server 1 state full FIN_WAIT1>FIN_WAIT2
server 1 state tw FIN_WAIT2>FIN_WAIT2
server 1 state full FIN_WAIT2>CLOSE
client 1 state full CLOSE_WAIT>LAST_ACK
client 1 tx full LAST_ACK F. 1 2
server 1 rx tw FIN_WAIT2 F. 1 2
server 1 state tw FIN_WAIT2>TIME_WAIT
server 1 tx tw TIME_WAIT . 2 2
client 1 rx full LAST_ACK . 2 2
client 1 state full LAST_ACK>CLOSE
"""

LISTENER_CLOSE = """
server L state full LISTEN>CLOSE
"""


def relabel(text, label):
    """The same lines for connection `label` (1 -> label)."""
    out = []
    for line in text.splitlines():
        w = line.split()
        if len(w) > 2 and w[1] == "1":
            w[1] = str(label)
            line = " ".join(w)
        out.append(line)
    return "\n".join(out) + "\n"


def _handshake(ctx, **kw):
    ctx.listen()
    cport = ctx.connect(**kw)
    ctx.accept()
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("established")
    return cport


def _teardown_client_first(ctx, cport, client="c", server="a"):
    ctx.client.call("close", client)
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    ctx.server.call("close", server)
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    ctx.note("time_wait_at", mono())
    ctx.checkpoint("client-time-wait")


def _teardown_server_first(ctx, cport, client="c", server="a"):
    ctx.server.call("close", server)
    ctx.wait_state(SERVER, cport, ["FIN_WAIT2"])
    ctx.wait_state(CLIENT, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("server-fin-wait2")
    ctx.client.call("close", client)
    ctx.wait_state(SERVER, cport, ["TIME_WAIT"])
    ctx.wait_gone(CLIENT, cport)
    ctx.note("time_wait_at", mono())
    ctx.checkpoint("server-time-wait")


def _close_listener(ctx):
    ctx.server.call("close", "l")
    ctx.settle()


@scenario("handshake", "Handshake and teardown, the client closes first",
          "three-way handshake, then FIN/ACK both ways; the client ends in TIME_WAIT",
          lambda r: HANDSHAKE + TEARDOWN_CLIENT_FIRST + LISTENER_CLOSE,
          afs=(4, 6))
def sc_handshake(ctx, mapped=False, wildcard=False):
    """mapped=True: the listener is a dual-stack IPv6 socket on ::, the
    client IPv4 (use with af=4).  wildcard=True: the listener is bound to
    the wildcard address."""
    cport = _handshake(ctx)
    _teardown_client_first(ctx, cport)
    _close_listener(ctx)
    return
    yield


@scenario("teardown-server-first", "Teardown, the server closes first",
          "the server sends the first FIN and ends in TIME_WAIT",
          lambda r: HANDSHAKE + TEARDOWN_SERVER_FIRST + LISTENER_CLOSE)
def sc_server_first(ctx):
    cport = _handshake(ctx)
    _teardown_server_first(ctx, cport)
    _close_listener(ctx)
    return
    yield


SIMULTANEOUS = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1         # held 300 ms on the way (netem)
server 1 state full ESTABLISHED>FIN_WAIT1
server 1 tx full FIN_WAIT1 F. 1 1         # the FINs cross
client 1 rx full FIN_WAIT1 F. 1 1
client 1 tx full FIN_WAIT1 . 2 2
client 1 state full FIN_WAIT1>CLOSING
server 1 rx full FIN_WAIT1 F. 1 1
server 1 tx full FIN_WAIT1 . 2 2
server 1 state full FIN_WAIT1>CLOSING
server 1 rx full CLOSING . 2 2
server 1 state tw CLOSING>TIME_WAIT
server 1 state full CLOSING>CLOSE
client 1 rx full CLOSING . 2 2
client 1 state tw CLOSING>TIME_WAIT
client 1 state full CLOSING>CLOSE
"""


@scenario("simultaneous-close", "Simultaneous close",
          "both ends send FIN before they see the other's: CLOSING, then TIME_WAIT on both",
          lambda r: HANDSHAKE + SIMULTANEOUS + LISTENER_CLOSE,
          links=("veth",))
def sc_simultaneous(ctx, delay_ms=300):
    # The client's packets take delay_ms to cross: its FIN is still on
    # the way when the server sends its own.  From the handshake on, so
    # that both ends measure the delay in their RTT and do not retransmit
    # their FINs while the ACKs are held up.
    undo = ctx.netem(CLIENT, delay_ms)
    cport = _handshake(ctx)
    act_crossing(ctx, "close", ["c"], ["a"], delay_ms)
    ctx.wait_state(SERVER, cport, ["TIME_WAIT"], timeout=15)
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"], timeout=15)
    undo()
    _close_listener(ctx)
    return
    yield


HALF_CLOSE_DATA = 100


def _expect_half_close(r):
    n = r.opts.get("nbytes", HALF_CLOSE_DATA)
    return HANDSHAKE + """
client 1 state full ESTABLISHED>FIN_WAIT1     # shutdown(SHUT_WR)
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2       # still open: a full socket
server 1 tx full CLOSE_WAIT P. 1 2 len=%(n)d  # the server still sends
client 1 rx full FIN_WAIT2 P. 1 2 len=%(n)d
client 1 tx full FIN_WAIT2 . 2 %(n1)d
server 1 rx full CLOSE_WAIT . 2 %(n1)d
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. %(n1)d 2
client 1 rx full FIN_WAIT2 F. %(n1)d 2
client 1 tx full FIN_WAIT2 . 2 %(n2)d
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 state full FIN_WAIT2>CLOSE
server 1 rx full LAST_ACK . 2 %(n2)d
server 1 state full LAST_ACK>CLOSE
""" % {"n": n, "n1": n + 1, "n2": n + 2} + LISTENER_CLOSE


@scenario("half-close", "Half-close",
          "the client shuts down its sending side; the server still sends data, then closes",
          _expect_half_close)
def sc_half_close(ctx, nbytes=HALF_CLOSE_DATA):
    cport = _handshake(ctx)
    ctx.client.call("shutdown", "c", "wr")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    if ctx.server.call("recv_eof", "a", 10) != 0:
        raise ScenarioError("server: data before EOF")
    ctx.server.call("send", "a", nbytes)
    if ctx.client.call("recv", "c", nbytes, 10) != nbytes:
        raise ScenarioError("client: short read")
    ctx.wait_acked(SERVER, cport)
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    ctx.client.call("close", "c")
    _close_listener(ctx)
    return
    yield


RESET_CLOSED_PORT = """
client 1 state full CLOSE>SYN_SENT
client 1 tx full SYN_SENT S 0 -
server - rx none CLOSE S 0 -          # the SYN reaches no socket
server - tx none CLOSE R. 0 1         # nobody listens: the kernel answers RST
client 1 rx full SYN_SENT R. 0 1
client 1 state full SYN_SENT>CLOSE
"""


@scenario("reset-closed-port", "Connect to a closed port",
          "the SYN meets no listener and is answered with RST; connect() fails",
          lambda r: RESET_CLOSED_PORT)
def sc_reset_closed(ctx):
    ctx.connect(blocking=False)
    err = ctx.client.call("connect_result", "c", 10)
    ctx.note("connect_errno", errno.errorcode.get(err, err))
    if err != errno.ECONNREFUSED:
        raise ScenarioError("connect to a closed port: %s, not ECONNREFUSED"
                            % (os.strerror(err) if err else "success"))
    ctx.client.call("close", "c")
    ctx.settle()
    return
    yield


ABORT = """
client 1 state full ESTABLISHED>CLOSE    # close() with SO_LINGER {1, 0}
client 1 tx full CLOSE R. 1 1
server 1 rx full ESTABLISHED R. 1 1
server 1 state full ESTABLISHED>CLOSE
"""


@scenario("abort", "Abortive close (SO_LINGER 0)",
          "close() with a zero linger time sends RST instead of FIN: no TIME_WAIT",
          lambda r: HANDSHAKE + ABORT + LISTENER_CLOSE)
def sc_abort(ctx):
    cport = _handshake(ctx)
    ctx.client.call("linger0", "c")
    ctx.client.call("close", "c")
    ctx.wait_gone(SERVER, cport)
    try:
        ctx.server.call("recv_eof", "a", 5)
    except ActorError as e:
        ctx.note("server_recv_errno", errno.errorcode.get(e.errno, e.errno))
    ctx.server.call("close", "a")
    _close_listener(ctx)
    return
    yield


UNREAD_DATA = 100


def _expect_reset_unread(r):
    n = r.opts.get("nbytes", UNREAD_DATA)
    return HANDSHAKE + """
# the client sends %(n)d bytes (data of an ESTABLISHED socket: not recorded
# by default); the server closes without reading them
server 1 state full ESTABLISHED>CLOSE
server 1 tx full CLOSE R. 1 %(n1)d         # unread data: RST, not FIN
client 1 rx full ESTABLISHED R. 1 %(n1)d
client 1 state full ESTABLISHED>CLOSE
""" % {"n": n, "n1": n + 1} + LISTENER_CLOSE


@scenario("reset-unread", "Close with unread data",
          "the server closes a socket that still holds unread data: the kernel sends RST instead of FIN",
          _expect_reset_unread, wire_complete=False)
def sc_reset_unread(ctx, nbytes=UNREAD_DATA):
    cport = _handshake(ctx)
    ctx.client.call("send", "c", nbytes)
    ctx.wait_acked(CLIENT, cport)
    ctx.settle(0.1)
    ctx.server.call("close", "a")
    ctx.wait_gone(CLIENT, cport)
    try:
        ctx.client.call("recv_eof", "c", 5)
    except ActorError as e:
        ctx.note("client_recv_errno", errno.errorcode.get(e.errno, e.errno))
    ctx.client.call("close", "c")
    _close_listener(ctx)
    return
    yield


LOST_LAST_ACK = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2
client 1 state full FIN_WAIT2>CLOSE
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. 1 2
client 1 rx tw FIN_WAIT2 F. 1 2
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 tx tw TIME_WAIT . 2 2           # lost on the way: the server never gets it
server 1 tx full LAST_ACK F. 1 2         # no ACK came: the FIN again
client 1 rx tw TIME_WAIT F. 1 2
client 1 state tw TIME_WAIT>TIME_WAIT why=rearm  # 2MSL starts over
client 1 tx tw TIME_WAIT . 2 2
server 1 rx full LAST_ACK . 2 2
server 1 state full LAST_ACK>CLOSE
"""


@scenario("lost-last-ack", "The last ACK is lost",
          "the server retransmits its FIN from LAST_ACK; the client's TIME_WAIT answers again and restarts its 60 s",
          lambda r: HANDSHAKE + LOST_LAST_ACK + LISTENER_CLOSE,
          links=("veth",))
def sc_lost_last_ack(ctx):
    cport = _handshake(ctx)
    ctx.client.call("close", "c")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    # Lose the next pure ACK the client sends on this connection, once,
    # on the way: it leaves the client (both tcpflow routes record it
    # sent, and the client's capture has it) and is dropped as it reaches
    # the server's veth, before the server's stack (see WireDrop).
    drop = ctx.drop_on_wire(SERVER, cport, ctx.port, ".")
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport, timeout=20)
    ctx.note("time_wait_at", mono())
    n = drop.dropped()
    if n != 1:
        raise ScenarioError("the client's last ACK was not lost (%d "
                            "dropped on the server's link)" % n)
    ctx.say("the client's first last ACK was dropped as it reached the "
            "server's link (XDP on veth-s): sent, never received")
    _close_listener(ctx)
    return
    yield


def _expect_syn_recv(r):
    n = r.opts.get("clients", 5)
    text = "server L state full CLOSE>LISTEN\n"
    for k in range(1, n + 1):
        text += """
client %(k)d state full CLOSE>SYN_SENT
client %(k)d tx full SYN_SENT S 0 -
server L rx full LISTEN S 0 -
server %(k)d state req LISTEN>NEW_SYN_RECV
server %(k)d tx req NEW_SYN_RECV S. 0 1
client %(k)d rx full SYN_SENT S. 0 1
client %(k)d state full SYN_SENT>ESTABLISHED
client %(k)d tx full ESTABLISHED . 1 1 lost   # the third ACK never arrives
""" % {"k": k}
    text += "# about 1 s later, every request sock sends its SYN-ACK again\n"
    for k in range(1, n + 1):
        text += """
server %(k)d tx req NEW_SYN_RECV S. 0 1
client %(k)d rx full ESTABLISHED S. 0 1
client %(k)d tx full ESTABLISHED . 1 1 lost
""" % {"k": k}
    return text


@scenario("syn-recv", "Half-open connections",
          "the clients' third ACKs are dropped: each connect() has returned and the client is ESTABLISHED, while the listener holds one request sock (SYN_RECV) per client and sends its SYN-ACK again, 1 s later then doubling (tcp_synack_retries), until an ACK or the first data completes it",
          _expect_syn_recv, links=("veth",), prefix=True)
def sc_syn_recv(ctx, clients=5, hold=1.6):
    ctx.nft_table(CLIENT, "tcpflow_syn_recv_%d" % ctx.port, """
  chain out {
    type filter hook output priority 0;
    tcp dport %d tcp flags == ack counter drop
  }""" % ctx.port)
    ctx.listen(backlog=64)
    for k in range(clients):
        ctx.connect(name="c%d" % k)
    # The first SYN-ACK retransmission comes 1 s (TCP_TIMEOUT_INIT) after
    # the first SYN-ACK.
    time.sleep(hold)
    ctx.note("syn_recv_at", mono())
    ctx.checkpoint("syn-recv")
    # Clean up without leaving timers behind: each client resets its
    # connection (SO_LINGER 0), which drops its request sock.
    for k in range(clients):
        ctx.client.call("linger0", "c%d" % k)
        ctx.client.call("close", "c%d" % k)
    for cport in ctx.run.cports:
        ctx.wait_gone(SERVER, cport)
    _close_listener(ctx)
    return
    yield


def _expect_reuse(r):
    return (HANDSHAKE + TEARDOWN_SERVER_FIRST + """
# the client comes back from the same port; the server still holds the
# old connection in TIME_WAIT
client 2 state full CLOSE>SYN_SENT
client 2 tx full SYN_SENT S 0 -
server 1 rx tw TIME_WAIT S 0 -             # the SYN meets the timewait sock
server 1 state tw TIME_WAIT>CLOSE why=kill # which makes way for it
server L rx full LISTEN S 0 -
server 2 state req LISTEN>NEW_SYN_RECV
server 2 tx req NEW_SYN_RECV S. 0 1
client 2 rx full SYN_SENT S. 0 1
client 2 state full SYN_SENT>ESTABLISHED
client 2 tx full ESTABLISHED . 1 1
server 2 rx req NEW_SYN_RECV . 1 1
server 2 state full NEW_SYN_RECV>SYN_RECV
server 2 state full SYN_RECV>ESTABLISHED
""" + relabel(TEARDOWN_CLIENT_FIRST, 2) + LISTENER_CLOSE)


@scenario("reuse", "A 4-tuple reused during TIME_WAIT",
          "the server closes first and holds TIME_WAIT; the client reconnects from the same port; the timewait sock is killed and a new connection begins",
          _expect_reuse, links=("veth", "lo"))
def sc_reuse(ctx, client_port=40000):
    cport = _handshake(ctx, bind_port=client_port)
    _teardown_server_first(ctx, cport)
    ctx.note("first_conn_time_wait_at", mono())
    port2 = ctx.connect(name="c2", bind_port=client_port)
    if port2 != cport:
        raise ScenarioError("the second connection got port %d" % port2)
    ctx.accept(name="a2")
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("reused")
    _teardown_client_first(ctx, cport, client="c2", server="a2")
    _close_listener(ctx)
    return
    yield


FIN_WAIT2_TIMEOUT = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2
client 1 state full FIN_WAIT2>CLOSE
client 1 state tw FIN_WAIT2>CLOSE why=expire  # tcp_fin_timeout (5 s here): no FIN came
server 1 state full CLOSE_WAIT>LAST_ACK       # it does now, too late
server 1 tx full LAST_ACK F. 1 2
client - rx none CLOSE F. 1 2                 # the FIN reaches no socket:
client - tx none CLOSE R 2 -                  # nobody owns the 4-tuple any more
server 1 rx full LAST_ACK R 2 -
server 1 state full LAST_ACK>CLOSE
"""


@scenario("fin-wait2-timeout", "A peer that never closes",
          "the client closes, the server does not; the client's FIN_WAIT2 times out (tcp_fin_timeout), the server's late FIN gets a RST",
          lambda r: HANDSHAKE + FIN_WAIT2_TIMEOUT + LISTENER_CLOSE)
def sc_fin_wait2_timeout(ctx, fin_timeout=5):
    """The client's FIN_WAIT2 lasts max(fin_timeout, 3.5 x RTO) (see
    tcp_time_wait()); the RTO is noted as client_rto."""
    ctx.sysctl(CLIENT, "ipv4/tcp_fin_timeout", fin_timeout)
    cport = _handshake(ctx)
    ctx.note("fin_timeout", fin_timeout)
    ctx.note("client_rto", ctx.client.call("rto", "c"))
    ctx.client.call("close", "c")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    ctx.wait_gone(CLIENT, cport, timeout=fin_timeout + 15)
    ctx.note("fin_wait2_gone_at", mono())
    ctx.server.call("close", "a")
    ctx.wait_gone(SERVER, cport)
    _close_listener(ctx)
    return
    yield


EXCHANGE_REQUEST, EXCHANGE_RESPONSE = 200, 1000


def _expect_exchange(r):
    q = r.opts.get("request", EXCHANGE_REQUEST)
    a = r.opts.get("response", EXCHANGE_RESPONSE)
    # The data segments (and the ACKs of data) of ESTABLISHED sockets are
    # not recorded in the default segment mode: only the numbers show
    # that bytes went by.
    teardown = TEARDOWN_CLIENT_FIRST
    for old, new in (("F. 1 1", "F. %d %d" % (q + 1, a + 1)),
                     (". 1 2", ". %d %d" % (a + 1, q + 2)),  # F. 1 2 too
                     (". 2 2", ". %d %d" % (q + 2, a + 2))):
        teardown = teardown.replace(old, new)
    return HANDSHAKE + teardown + LISTENER_CLOSE


@scenario("exchange", "A request and a response",
          "the client sends a request, the server answers, the client closes first",
          _expect_exchange, wire_complete=False)
def sc_exchange(ctx, request=EXCHANGE_REQUEST, response=EXCHANGE_RESPONSE):
    cport = _handshake(ctx)
    ctx.client.call("send", "c", request)
    if ctx.server.call("recv", "a", request, 10) != request:
        raise ScenarioError("server: short read")
    ctx.server.call("send", "a", response)
    if ctx.client.call("recv", "c", response, 10) != response:
        raise ScenarioError("client: short read")
    ctx.wait_acked(CLIENT, cport)
    ctx.wait_acked(SERVER, cport)
    ctx.settle(0.3)    # let a delayed ACK go out now, not during the close
    _teardown_client_first(ctx, cport)
    _close_listener(ctx)
    return
    yield


@scenario("time-wait", "TIME_WAIT runs out",
          "the client closes first and holds TIME_WAIT for 2MSL (60 s on Linux), then the timewait sock goes",
          lambda r: HANDSHAKE + TEARDOWN_CLIENT_FIRST + LISTENER_CLOSE + (
              "client 1 state tw TIME_WAIT>CLOSE why=expire  # 60 s after "
              "TIME_WAIT began\n" if r.opts.get("wait", True) else ""))
def sc_time_wait(ctx, timeout=75, wait=True):
    """wait=False: stop once TIME_WAIT has begun (a short demo).

    While TIME_WAIT lasts, and after, a new socket on the client tries to
    bind the client's address and port (notes bind_*).  Linux lets it only
    with SO_REUSEADDR on both sockets: the new one and the one now in
    TIME_WAIT (inet_bind_conflict(): sk->sk_reuse && sk2->sk_reuse), so
    the client sets SO_REUSEADDR before connect(), as servers do on their
    listeners; without that, the second bind fails too."""
    cport = _handshake(ctx, reuseaddr=True)
    _teardown_client_first(ctx, cport)
    _close_listener(ctx)
    entered = ctx.run.notes["time_wait_at"]
    ep = (ctx.caddr, cport)
    plain = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, False)
    reuse = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, True)
    ctx.note("bind_in_time_wait", plain)
    ctx.note("bind_in_time_wait_reuseaddr", reuse)
    ctx.say("in TIME_WAIT, bind() to %s port %d: %s; with SO_REUSEADDR: %s "
            "(Linux wants SO_REUSEADDR on the TIME_WAIT socket too: this "
            "client had set it before connect())" % (ep + (plain, reuse)))
    ctx.checkpoint("waiting")
    if not wait:
        return
    yield Wait("TIME_WAIT of :%d to end" % cport,
               lambda: not ctx.states(CLIENT, cport),
               entered + timeout)
    ctx.note("time_wait_gone_at", mono())
    after = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, False)
    ctx.note("bind_after_time_wait", after)
    ctx.say("TIME_WAIT over: bind() to %s port %d without SO_REUSEADDR: %s"
            % (ep + (after,)))
    ctx.settle()


STALE_SYN = """
# later, an old copy of a SYN from the client's port, delayed somewhere in
# the network, arrives; its sequence number is not one the client uses now
client - tx none - S 0 - raw              # written with a raw socket
server L rx full LISTEN S 0 -             # the server cannot tell it is old
server 2 state req LISTEN>NEW_SYN_RECV
server 2 tx req NEW_SYN_RECV S. 0 1
client - rx none CLOSE S. 0 1            # the SYN-ACK reaches no socket:
client - tx none CLOSE R 1 -              # the kernel resets
server 2 rx req NEW_SYN_RECV R 1 -
server 2 state req NEW_SYN_RECV>CLOSE     # dropped: no connection
"""


@scenario("stale-syn", "An old SYN arrives late",
          "after a connection is gone, an old SYN from its port reaches the "
          "server; the SYN-ACK meets no socket at the client, whose RST "
          "makes the server drop its request sock: why a third step",
          lambda r: HANDSHAKE + ABORT + STALE_SYN + LISTENER_CLOSE)
def sc_stale_syn(ctx, seq=None):
    """The first connection ends with an abortive close (no TIME_WAIT on
    either end, so nothing but the listener meets the old SYN).  seq: the
    old SYN's sequence number (default: random)."""
    cport = _handshake(ctx)
    ctx.client.call("linger0", "c")
    ctx.client.call("close", "c")
    ctx.wait_gone(SERVER, cport)
    try:
        ctx.server.call("recv_eof", "a", 5)
    except ActorError:
        pass
    ctx.server.call("close", "a")
    ctx.wait_gone(CLIENT, cport)
    ctx.checkpoint("connection-gone")
    if seq is None:
        seq = struct.unpack("I", os.urandom(4))[0]
    ctx.note("stale_seq", seq)
    ctx.say("first connection from port %d: aborted (RST), no socket left "
            "on either end" % cport)
    ctx.say("then a SYN from port %d with seq %d, written with a raw "
            "socket: to the server, as good as a new one" % (cport, seq))
    ctx.inject_syns([(ctx.caddr, cport, seq)])
    ctx.settle(0.5)
    ctx.wait_gone(SERVER, cport)
    ctx.settle(0.2)
    _close_listener(ctx)
    return
    yield


SIM_OPEN = """
client 1 state full CLOSE>SYN_SENT        # both connect(), from fixed ports
client 1 tx full SYN_SENT S 0 -           # held 300 ms on the way (netem)
server 1 state full CLOSE>SYN_SENT
server 1 tx full SYN_SENT S 0 -           # the SYNs cross
client 1 rx full SYN_SENT S 0 -           # a SYN where a SYN-ACK was due
client 1 state full SYN_SENT>SYN_RECV
client 1 tx full SYN_RECV S. 0 1          # its own SYN again, now with an ACK
server 1 rx full SYN_SENT S 0 -
server 1 state full SYN_SENT>SYN_RECV
server 1 tx full SYN_RECV S. 0 1
# a SYN-ACK in SYN_RECV that acks our SYN is let through, not challenged
# (tcp_validate_incoming(), Linux 6.1 as in mainline)
server 1 rx full SYN_RECV S. 0 1          # the ACK in it completes the open
server 1 state full SYN_RECV>ESTABLISHED
server 1 tx full ESTABLISHED . 1 1        # the SYN in it is old news: ACK
client 1 rx full SYN_RECV S. 0 1
client 1 state full SYN_RECV>ESTABLISHED
client 1 tx full ESTABLISHED . 1 1
# each end receives the other's ACK in ESTABLISHED: the default segment
# mode records no pure ACK an ESTABLISHED socket receives (only the
# handshake ACK it sends), so these two are on the wire only
"""


def _know_neighbours(ctx):
    """Permanent neighbour entries for the peer's address on both veths,
    for the run."""
    mac = {}
    for end in (CLIENT, SERVER):
        p = ns_run(ctx.run.ns[end], ["ip", "-j", "link", "show", "dev",
                                     VETH[end]])
        mac[end] = json.loads(p.stdout)[0]["address"]
    for end, peer in ((CLIENT, SERVER), (SERVER, CLIENT)):
        ns, dev, addr = ctx.run.ns[end], VETH[end], ADDR[ctx.af][peer]
        p = ip_batch(["neigh replace %s lladdr %s dev %s nud permanent" % (
            addr, mac[peer], dev)], ns=ns)
        if p.returncode != 0:
            raise ScenarioError("ip neigh: " + p.stderr.strip())
        ctx.cleanups.append(lambda ns=ns, dev=dev, addr=addr: ip_batch(
            ["neigh del %s dev %s" % (addr, dev)], ns=ns))


def _simultaneous_open(ctx, client_port, delay_ms):
    """Both ends bind a fixed port and connect to each other at once.  The
    client's packets take delay_ms (netem, set by the caller) to cross,
    so its SYN is still on the way when the server's arrives.  The hosts
    know each other's link addresses beforehand (permanent neighbour
    entries): the server has never heard from the client, and its SYN
    would otherwise wait for an ARP or ND reply, held up as long.

    The client connects first, the server half of delay_ms later (see
    act_crossing()), so each end's first RTT sample, its SYN-ACK's, taken
    when the other's SYN-ACK comes in, is about half of delay_ms.  Both
    RTOs are noted as rto."""
    if client_port is None:
        client_port = 30000 + ctx.port % 10000
    _know_neighbours(ctx)
    c, s = ctx.client, ctx.server
    c.call("socket", "c", ctx.af)
    c.call("reuseaddr", "c")
    c.call("bind", "c", ctx.caddr, client_port)
    s.call("socket", "a", ctx.af)
    s.call("reuseaddr", "a")
    s.call("bind", "a", ctx.saddr, ctx.port)
    act_crossing(ctx, "connect_nb", ["c", ctx.saddr, ctx.port],
                 ["a", ctx.caddr, client_port], delay_ms)
    ctx.run.cports.append(client_port)
    for end, actor, name in ((CLIENT, c, "c"), (SERVER, s, "a")):
        err = actor.call("connect_result", name, 10)
        if err:
            raise ScenarioError("%s: connect: %s" % (end, os.strerror(err)))
    ctx.wait_state(SERVER, client_port, ["ESTABLISHED"])
    ctx.wait_state(CLIENT, client_port, ["ESTABLISHED"])
    ctx.settle(0.7)   # the ACKs of the SYN-ACKs are on their way
    rto = {CLIENT: c.call("rto", "c"), SERVER: s.call("rto", "a")}
    ctx.note("rto", rto)
    ctx.say("both ends bound (%d and %d) and called connect(); RTO after "
            "the open: client %.3f s, server %.3f s" % (
                client_port, ctx.port, rto[CLIENT], rto[SERVER]))
    ctx.checkpoint("established")
    return client_port


@scenario("simultaneous-open", "Simultaneous open",
          "both ends connect() to each other at once: the SYNs cross, "
          "SYN_SENT -> SYN_RECV -> ESTABLISHED on both; then a normal close",
          lambda r: SIM_OPEN + TEARDOWN_CLIENT_FIRST,
          links=("veth",))
def sc_simultaneous_open(ctx, delay_ms=300, client_port=None):
    undo = ctx.netem(CLIENT, delay_ms)
    cport = _simultaneous_open(ctx, client_port, delay_ms)
    undo()
    _teardown_client_first(ctx, cport)
    return
    yield


@scenario("simultaneous", "Simultaneous open and close",
          "both ends connect() at once (the SYNs cross), then both close at "
          "once (the FINs cross): no listener, no passive end",
          lambda r: SIM_OPEN + SIMULTANEOUS.replace(
              "held 300 ms",
              "held %d ms" % r.opts.get("close_delay_ms", 100)),
          links=("veth",))
def sc_simultaneous_both(ctx, delay_ms=300, close_delay_ms=100,
                         client_port=None):
    """The FINs cross the same way as in simultaneous-close, but held for
    only close_delay_ms: each FIN waits that long (plus 20 ms) for its
    ACK, which must come within the RTO the simultaneous open left (see
    _simultaneous_open), or the FIN is sent again."""
    undo = ctx.netem(CLIENT, delay_ms)
    cport = _simultaneous_open(ctx, client_port, delay_ms)
    ctx.netem(CLIENT, close_delay_ms)
    act_crossing(ctx, "close", ["c"], ["a"], close_delay_ms)
    ctx.wait_state(SERVER, cport, ["TIME_WAIT"], timeout=15)
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"], timeout=15)
    undo()
    return
    yield


# The flood's sources: addresses no host has, on the hosts' own subnet.
# The server reaches them through a neighbour entry with a documentation
# MAC address (RFC 7042) that no interface has: its SYN-ACKs cross the
# link (the capture sees them) and the client's host drops them unread.
FLOOD_ADDR = {4: "192.0.2.%d", 6: "2001:db8::%x"}
FLOOD_MAC = "00:00:5e:00:53:01"
FLOOD_BASE = 100
# Small enough for a readable demo: listen(2) keeps 3 request socks, so 2
# of the 5 SYNs are dropped.
FLOOD_SYNS, FLOOD_BACKLOG = 5, 2


def _flood_sources(af, first, n):
    """(address, port, ISN) of the flood's SYNs first .. first + n - 1."""
    return [(FLOOD_ADDR[af] % (FLOOD_BASE + k), 50000 + FLOOD_BASE + k,
             0x10000000 * (k % n + 1) & 0xffffffff)
            for k in range(first, first + n)]


def _expect_syn_flood(r):
    syns = r.opts.get("syns", FLOOD_SYNS)
    backlog = r.opts.get("backlog", FLOOD_BACKLOG)
    retries = r.opts.get("synack_retries", 2)
    # inet_csk_reqsk_queue_is_full(): full when it holds MORE than the
    # backlog (Linux 6.1), so listen(N) keeps N + 1 request socks
    kept = min(syns, backlog + 1)
    text = """server L state full CLOSE>LISTEN   # listen(%d)
# net.ipv4.tcp_syncookies=0: %d SYNs from addresses nobody has (a raw
# socket on the client's host)
""" % (backlog, syns)
    for k in range(1, syns + 1):
        text += "client - tx none - S 0 - raw\nserver L rx full LISTEN S 0 -\n"
        if k <= kept:
            text += """server %(k)d state req LISTEN>NEW_SYN_RECV
server %(k)d tx req NEW_SYN_RECV S. 0 1     # to nobody: never answered
""" % {"k": k}
        else:
            text += "# SYN queue full (%d request socks): dropped, no " \
                "answer\n" % kept
    text += "# the request socks pile up; each sends its SYN-ACK again " \
        "after 1 s, 2 s, ...\n# (tcp_synack_retries=%d), then gives " \
        "up\n" % retries
    for k in range(1, kept + 1):
        text += "server %d tx req NEW_SYN_RECV S. 0 1\n" % k * retries
        text += "server %d state req NEW_SYN_RECV>CLOSE  # its timer " \
            "gives up\n" % k
    text += "# net.ipv4.tcp_syncookies=2: the same again, from %d other " \
        "addresses\n" % syns
    for k in range(kept + 1, kept + syns + 1):
        text += """client - tx none - S 0 - raw
server L rx full LISTEN S 0 -
# the ISN is a cookie; the request sock that sent it is freed at once
server %d tx req NEW_SYN_RECV S. 0 1
""" % k
    return text + LISTENER_CLOSE


@scenario("syn-flood", "A SYN flood, without and with SYN cookies",
          "SYNs from addresses nobody has: request socks pile up and "
          "retransmit SYN-ACKs until the queue is full; with syncookies=2 "
          "the listener answers every SYN and keeps nothing",
          _expect_syn_flood, links=("veth",))
def sc_syn_flood(ctx, syns=FLOOD_SYNS, backlog=FLOOD_BACKLOG,
                 synack_retries=2):
    """Two rounds of `syns` raw SYNs from spoofed addresses to a listener
    with listen(backlog): net.ipv4.tcp_syncookies=0 (the request socks
    live until tcp_synack_retries run out), then tcp_syncookies=2."""
    veth = VETH[SERVER]
    ns = ctx.run.ns[SERVER]
    cmds = []
    for k in range(2 * syns):
        addr = FLOOD_ADDR[ctx.af] % (FLOOD_BASE + k)
        cmds.append("neigh replace %s lladdr %s dev %s nud permanent" % (
            addr, FLOOD_MAC, veth))
    p = ip_batch(cmds, ns=ns)
    if p.returncode != 0:
        raise ScenarioError("ip neigh: " + p.stderr.strip())
    ctx.cleanups.append(lambda: ip_batch(
        [c.replace("replace", "del").split(" lladdr")[0] + " dev " + veth
         for c in cmds], ns=ns, force=True))
    ctx.run.notes["nohost"] = [FLOOD_ADDR[ctx.af] % (FLOOD_BASE + k)
                               for k in range(2 * syns)]
    ctx.sysctl(SERVER, "ipv4/tcp_synack_retries", synack_retries)
    ctx.sysctl(SERVER, "ipv4/tcp_syncookies", 0)
    ctx.listen(backlog=backlog)

    def reqs():
        return [t for t in ctx.server.call("tcp_table")
                if t["lport"] == ctx.port and t["state"] == "SYN_RECV"]

    ctx.inject_syns(_flood_sources(ctx.af, 0, syns))
    t0 = mono()
    ctx.settle(0.3)
    n = len(reqs())
    ctx.note("request_socks_without_cookies", n)
    ctx.say("tcp_syncookies=0: %d SYNs to listen(%d), %d request socks in "
            "/proc/net/tcp, %d SYNs dropped" % (syns, backlog, n, syns - n))
    ctx.checkpoint("flood")
    # SYN-ACK at 0, 1, 3, ... s; dropped 2^(retries+1) - 1 s after the SYN
    yield Wait("the request socks to give up", lambda: not reqs(),
               mono() + 2 ** (synack_retries + 1) + 10)
    ctx.say("tcp_synack_retries=%d: the request socks were gone %.1f s "
            "later" % (synack_retries, mono() - t0))
    ctx.sysctl(SERVER, "ipv4/tcp_syncookies", 2)
    ctx.inject_syns(_flood_sources(ctx.af, syns, syns))
    ctx.settle(0.5)
    n = len(reqs())
    ctx.note("request_socks_with_cookies", n)
    ctx.say("tcp_syncookies=2: %d more SYNs, %d request socks in "
            "/proc/net/tcp" % (syns, n))
    ctx.checkpoint("flood-cookies")
    _close_listener(ctx)


INTERRUPT_CLOSE = """
# SIGINT: the process dies; at exit the kernel closes its socket
client 1 state full ESTABLISHED>FIN_WAIT1
""" + "\n".join(TEARDOWN_CLIENT_FIRST.strip().splitlines()[1:]) + "\n"


@scenario("interrupt", "A client killed by a signal",
          "the client process, blocked in recv(), dies of SIGINT: the "
          "kernel closes its socket at exit, with a FIN, as close() would",
          lambda r: HANDSHAKE + INTERRUPT_CLOSE + LISTENER_CLOSE)
def sc_interrupt(ctx):
    """The client end is an actor of its own that SIGINT kills (SIG_DFL,
    as for a C program: no handler, no Python unwinding)."""
    victim = Actor(ctx.run.ns[CLIENT], COMM[CLIENT])
    ctx.cleanups.append(victim.stop)
    ctx.run.pids[CLIENT] = victim.pid
    victim.call("sigint_default")
    ctx.listen()
    victim.call("socket", "c", ctx.af)
    cport = victim.call("connect", "c", ctx.saddr, ctx.port, 10)
    ctx.run.cports.append(cport)
    ctx.accept()
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("established")
    victim.start("recv_block", "c")
    ctx.note("client_blocked_in", _wait_blocked(victim.pid))
    status = victim.kill(signal.SIGINT)
    ctx.note("client_exit", "killed by %s" % signal.Signals(
        os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else
        "exit status %d" % os.WEXITSTATUS(status))
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    got = ctx.server.call("recv_eof", "a", 10)
    ctx.note("server_read_at_eof", got)
    ctx.say("the client (pid %d) was blocked in %s; SIGINT: %s; the "
            "server's recv() then read EOF after %d bytes" % (
                ctx.run.pids[CLIENT], ctx.run.notes["client_blocked_in"],
                ctx.run.notes["client_exit"], got))
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    _close_listener(ctx)
    return
    yield


# recvfrom(2)'s number, to see a process blocked in it (/proc/PID/syscall)
RECVFROM = {"x86_64": 45, "aarch64": 207}


def _wait_blocked(pid, timeout=10):
    """Wait until process pid sleeps in recvfrom(); returns what it was
    seen doing."""
    nr = RECVFROM.get(os.uname().machine)
    deadline = mono() + timeout
    while nr is not None and mono() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split()[0] == str(nr):
                    return "recvfrom"
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    time.sleep(0.5)
    return "unknown (waited 0.5 s)"


# ------------------------------------------------------------ expectations

class ExpLine:
    __slots__ = ("end", "label", "ev", "sock", "old", "new", "state",
                 "flags", "seq", "ack", "len", "why", "lost", "raw", "text")

    def key(self):
        """What a record must show to match, with relative seq/ack."""
        if self.ev == "state":
            return ("state", self.sock, self.old, self.new, self.why)
        return (self.ev, self.sock, self.state, self.flags, self.seq,
                self.ack, self.len)


def parse_expect(text):
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        w = line.split()
        e = ExpLine()
        e.text = line
        e.end, e.label, e.ev, e.sock = w[0], w[1], w[2], w[3]
        e.old = e.new = e.state = e.flags = e.seq = e.ack = None
        e.len, e.why, e.lost, e.raw = 0, "-", False, False
        rest = w[4:]
        if e.ev == "state":
            e.old, e.new = rest[0].split(">")
            rest = rest[1:]
        else:
            e.state, e.flags = rest[0], rest[1]
            e.seq = None if rest[2] == "-" else int(rest[2])
            e.ack = None if rest[3] == "-" else int(rest[3])
            rest = rest[4:]
        for opt in rest:
            if opt == "lost":
                e.lost = True
            elif opt == "raw":
                e.raw = True
            elif opt.startswith("len="):
                e.len = int(opt[4:])
            elif opt.startswith("why="):
                e.why = opt[4:]
            else:
                raise ValueError("bad expectation line: " + raw)
        lines.append(e)
    return lines


def expected_wire(run):
    """The segments the expectation puts on the wire, in order: a list of
    (sender, flags, seq, ack, len) with relative numbers."""
    return [(e.end, e.flags, e.seq, e.ack, e.len)
            for e in parse_expect(run.expect) if e.ev == "tx" and not e.lost]


def _iv(v):
    if v is None or v == "-":
        return None
    return int(v)


def end_of(rec, run):
    """Which end a record belongs to: the server's records have the
    scenario's port as their local port."""
    return SERVER if _iv(rec["lport"]) == run.port else CLIENT


class Relative:
    """Turns absolute seq/ack into numbers relative to the ISNs, per
    connection, from the SYNs seen in the records (in record order).  A
    new client ISN on the same 4-tuple starts a new epoch.  Each end's
    ISN is its SYN's (with or without ACK: in a simultaneous open the
    server sends a bare SYN too)."""

    def __init__(self, run):
        self.run = run
        self.isn = {}  # client port -> {client: isn, server: isn}

    def feed(self, rec):
        """Returns (sender, rel_seq, rel_ack) for a segment record."""
        end = end_of(rec, self.run)
        cport = _iv(rec["rport"]) if end == SERVER else _iv(rec["lport"])
        if rec["ev"] == "tx":
            sender = end
        else:
            sender = CLIENT if end == SERVER else SERVER
        receiver = SERVER if sender == CLIENT else CLIENT
        flags = rec["flags"]
        seq, ack = _iv(rec["seq"]), _iv(rec["ack"])
        isn = self.isn.setdefault(cport, {CLIENT: None, SERVER: None})
        if "S" in flags and "." not in flags and sender == CLIENT:
            if isn[CLIENT] != seq:
                # A new client ISN: a new connection, unless this is the
                # first client SYN and the server's own SYN came first
                # (a simultaneous open).
                if isn[CLIENT] is not None:
                    isn[SERVER] = None
                isn[CLIENT] = seq
        if "S" in flags and sender == SERVER:
            isn[SERVER] = seq
        rs = (seq - (isn[sender] or 0)) & 0xffffffff
        ra = (ack - (isn[receiver] or 0)) & 0xffffffff
        return sender, rs, ra


def trace_story(records, run):
    """Group a scenario's records by (end, label) as comparable keys.
    records: dicts with the /proc/tcpflow keys, already limited to the
    run (its namespaces, its port), in record order.  Returns
    {(end, label): [(key, record), ...]} and {(end, label): conn}."""
    rel = Relative(run)
    labels = {CLIENT: {}, SERVER: {}}
    count = {CLIENT: 0, SERVER: 0}
    story, conns = {}, {}
    for r in records:
        end = end_of(r, run)
        conn = _iv(r["conn"])
        if conn == 0:
            label = "-"
        elif conn in labels[end]:
            label = labels[end][conn]
        elif (r["ev"] == "state" and r["sock"] == "full" and
              "LISTEN" in (r["old"], r["new"])) or \
                (r["ev"] == "rx" and r["state"] == "LISTEN"):
            label = labels[end][conn] = "L"
        else:
            count[end] += 1
            label = labels[end][conn] = str(count[end])
        conns[(end, label)] = conn
        if r["ev"] == "state":
            key = ("state", r["sock"], r["old"], r["new"], r.get("why", "-"))
        else:
            _, rs, ra = rel.feed(r)
            key = (r["ev"], r["sock"], r["state"], r["flags"], rs, ra,
                   _iv(r["len"]))
        story.setdefault((end, label), []).append((key, r))
    return story, conns


def _key_matches(exp, got):
    if exp[0] != got[0]:
        return False
    if exp[0] == "state":
        return exp == got
    for i, (a, b) in enumerate(zip(exp, got)):
        if a is None and i in (4, 5):
            continue  # seq/ack not checked
        if a != b:
            return False
    return True


def fmt_key(key):
    if key[0] == "state":
        s = "state %s %s>%s" % key[1:4]
        return s + ("" if key[4] in ("-", None) else " why=%s" % key[4])
    ev, sock, state, flags, seq, ack, ln = key
    return "%s %s %s %s %s %s%s" % (
        ev, sock, state, flags, "-" if seq is None else seq,
        "-" if ack is None else ack, " len=%d" % ln if ln else "")


def match_expectation(records, run):
    """Compare the records of a run with its EXPECT text.  Returns a list
    of problems (strings; empty when all is as expected)."""
    exp = parse_expect(run.expect)
    want = {}
    for e in exp:
        if e.raw:
            continue  # on the wire only: no socket sent it
        k = e.key()
        if e.ev != "state":
            k = k[:4] + (e.seq, e.ack, e.len)
        want.setdefault((e.end, e.label), []).append((k, e.text))
    story, conns = trace_story(records, run)
    problems = []
    for who in sorted(set(want) | set(story)):
        w = want.get(who, [])
        g = story.get(who, [])
        n = len(w) if run.prefix else max(len(w), len(g))
        for i in range(n):
            we = w[i] if i < len(w) else None
            ge = g[i] if i < len(g) else None
            if we and ge and _key_matches(we[0], ge[0]):
                continue
            problems.append(
                "%s %s (conn %s), event %d: expected %s, got %s" % (
                    who[0], who[1], conns.get(who, "?"), i + 1,
                    we[1] if we else "nothing more",
                    "%s   [n=%s]" % (fmt_key(ge[0]), ge[1]["n"]) if ge
                    else "nothing"))
            break  # one problem per socket: the rest follows from it
    return problems


# -------------------------------------------------------------------- CLI

def main(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="scenarios.py", description="TCP scenarios for tcpflow")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    sub = ap.add_subparsers(dest="cmd")
    p = sub.add_parser("run", help="run a scenario (as root)")
    p.add_argument("name")
    p.add_argument("--af", type=int, default=4, choices=(4, 6))
    p.add_argument("--link", default="veth", choices=("veth", "lo"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--keep", action="store_true",
                   help="leave the namespaces up")
    p.add_argument("--hosts", default="%s,%s" % (CLIENT, SERVER),
                   metavar="A,B", help="the two namespaces' names "
                   "(default client,server)")
    p.add_argument("--opt", action="append", default=[], metavar="K=V",
                   help="a scenario option (e.g. clients=3, wait=0)")
    p = sub.add_parser("expect", help="print a scenario's expectation")
    p.add_argument("name")
    a = ap.parse_args(argv)
    if a.list or not a.cmd:
        for sc in SCENARIOS.values():
            print("%-22s %s" % (sc.name, sc.summary))
        return 0
    if a.name not in SCENARIOS:
        print("no scenario %r (see --list)" % a.name, file=sys.stderr)
        return 2
    if a.cmd == "expect":
        r = Run()
        r.opts = {}
        r.port = DEFAULT_PORT
        print(SCENARIOS[a.name].expect_fn(r).strip())
        return 0
    # Ctrl-C and SIGTERM end a run the same way: the scenario's actors
    # stop, its namespaces go (unless --keep), one line says why.
    signal.signal(signal.SIGTERM, _terminated)
    names = a.hosts.split(",") if a.cmd == "run" else []
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        print("scenarios: --hosts wants two names, A,B", file=sys.stderr)
        return 2
    hosts = Hosts(names=tuple(names))
    try:
        hosts.up()
        opts = {}
        for kv in a.opt:
            k, _, v = kv.partition("=")
            try:
                opts[k] = int(v)
            except ValueError:
                try:
                    opts[k] = float(v)
                except ValueError:
                    opts[k] = {"true": True, "false": False}.get(v.lower(), v)
        r = run(a.name, hosts, af=a.af, link=a.link, port=a.port, **opts)
        print(json.dumps(r.as_dict(), indent=1))
    except NoNetem as e:
        print("scenarios: %s" % e, file=sys.stderr)
        a.keep = False
        return 2
    except ScenarioError as e:
        print("scenarios: %s: %s" % (a.name, e), file=sys.stderr)
        a.keep = False
        return 1
    except KeyboardInterrupt:
        # Ctrl-C says so; SIGTERM is a parent's word (scripts/demo's),
        # which says what it has to say itself.
        a.keep = False
        if _TERMINATED:
            return 143
        print("scenarios: %s: interrupted" % a.name, file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if a.keep:
            hosts.is_up = False
        else:
            hosts.down(force=True)
    return 0


_TERMINATED = []


def _terminated(signum, frame):
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
