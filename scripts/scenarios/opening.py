# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/opening.py: opening a connection.

The three-way handshake (SYN, SYN-ACK, ACK), then the usual close; why
the third step is needed (an old SYN that arrives late: the client's
RST, not its silence, is what keeps the server from a connection nobody
asked for); and the rarer open where both ends connect() at once."""

import json
import os
import struct

from .actors import ActorError
from .basics import (HANDSHAKE, LISTENER_CLOSE, TEARDOWN_CLIENT_FIRST,
                     act_crossing, close_listener, handshake,
                     teardown_client_first)
from .closing import SIMULTANEOUS
from .common import CLIENT, SERVER, ScenarioError
from .netns import ADDR, VETH, ip_batch, ns_run
from .resets import ABORT
from .runner import scenario


@scenario("handshake", "Handshake and teardown, the client closes first",
          "three-way handshake, then FIN/ACK both ways; the client ends in "
          "TIME_WAIT",
          lambda r: HANDSHAKE + TEARDOWN_CLIENT_FIRST + LISTENER_CLOSE,
          afs=(4, 6))
def sc_handshake(ctx, mapped=False, wildcard=False):
    """mapped=True: the listener is a dual-stack IPv6 socket on ::, the
    client IPv4 (use with af=4).  wildcard=True: the listener is bound to
    the wildcard address."""
    cport = handshake(ctx)
    teardown_client_first(ctx, cport)
    close_listener(ctx)
    return
    yield


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
    cport = handshake(ctx)
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
    close_listener(ctx)
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

# The same open on a kernel that challenges the crossing SYN-ACKs: before
# 23e89e8ee7be ("tcp: Don't drop SYN+ACK for simultaneous connect()", 2024;
# not in Debian 11's 5.10) tcp_validate_incoming() treats any SYN in
# SYN_RECV as RFC 5961 4.2 says of a SYN in a synchronized state: it
# drops it and sends a challenge ACK (TcpExtTCPSYNChallenge counts it).
# Each challenge ACK acknowledges the other's SYN, and completes its open.
SIM_OPEN_CHALLENGED = """
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
server 1 rx full SYN_RECV S. 0 1          # a SYN in SYN_RECV: dropped,
server 1 tx full SYN_RECV . 1 1           # and a challenge ACK instead
client 1 rx full SYN_RECV S. 0 1
client 1 tx full SYN_RECV . 1 1
client 1 rx full SYN_RECV . 1 1           # the other's challenge ACK acks
client 1 state full SYN_RECV>ESTABLISHED  # our SYN: the open is complete
server 1 rx full SYN_RECV . 1 1
server 1 state full SYN_RECV>ESTABLISHED
"""


def sim_open(run):
    """The open as this run's kernel made it: SIM_OPEN, or
    SIM_OPEN_CHALLENGED where both ends' kernels counted a SYN challenge
    during it (the note syn_challenges, from _simultaneous_open())."""
    counted = run.notes.get("syn_challenges", {})
    if counted and all(counted.get(end) for end in (CLIENT, SERVER)):
        return SIM_OPEN_CHALLENGED
    return SIM_OPEN


def _syn_challenges(ctx):
    """Each end's TcpExtTCPSYNChallenge (its namespace's /proc/net/netstat):
    the SYNs its kernel answered with a challenge ACK instead of taking."""
    counts = {}
    for end in (CLIENT, SERVER):
        text = ns_run(ctx.run.ns[end], ["cat", "/proc/net/netstat"]).stdout
        names = None
        for line in text.splitlines():
            head, _, rest = line.partition(":")
            if head != "TcpExt":
                continue
            if names is None:
                names = rest.split()
            else:
                counts[end] = int(dict(zip(names, rest.split())).get(
                    "TCPSYNChallenge", 0))
    return counts


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
    before = _syn_challenges(ctx)
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
    after = _syn_challenges(ctx)
    ctx.note("syn_challenges", {end: after.get(end, 0) - before.get(end, 0)
                                for end in (CLIENT, SERVER)})
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
          lambda r: sim_open(r) + TEARDOWN_CLIENT_FIRST,
          links=("veth",))
def sc_simultaneous_open(ctx, delay_ms=300, client_port=None):
    undo = ctx.netem(CLIENT, delay_ms)
    cport = _simultaneous_open(ctx, client_port, delay_ms)
    undo()
    teardown_client_first(ctx, cport)
    return
    yield


@scenario("simultaneous", "Simultaneous open and close",
          "both ends connect() at once (the SYNs cross), then both close at "
          "once (the FINs cross): no listener, no passive end",
          lambda r: sim_open(r) + SIMULTANEOUS.replace(
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
