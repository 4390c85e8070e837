# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/flood.py: half-open connections and the SYN flood.

A listener keeps a request sock (SYN_RECV) for each SYN it answered until
the third ACK comes, sending its SYN-ACK again meanwhile: clients whose
third ACK never arrives, and SYNs from addresses nobody has (a denial of
service), fill its queue; SYN cookies let it answer without keeping
anything."""

import time

from .basics import LISTENER_CLOSE, close_listener
from .common import CLIENT, SERVER, ScenarioError, mono
from .netns import VETH, ip_batch
from .runner import Wait, scenario


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
          "the clients' third ACKs are dropped: each connect() has returned "
          "and the client is ESTABLISHED, while the listener holds one "
          "request sock (SYN_RECV) per client and sends its SYN-ACK again, "
          "1 s later then doubling (tcp_synack_retries), until an ACK or "
          "the first data completes it",
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
    close_listener(ctx)
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
    close_listener(ctx)
