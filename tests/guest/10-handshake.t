#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 10-handshake.t: one connection, handshake and teardown (the client
# closes first), over IPv4 and IPv6, across the veth pair and on
# loopback.  The truth: tcpdump (Debian's, reading the wire; pcaps left in
# $TCPFLOW_TEST_OUT), the sock:inet_sock_set_state tracepoint, and ss.
# Plus an IPv4 client to a dual-stack IPv6 listener (v4-mapped addresses,
# shown as IPv4).  Also: conn ids are the socket cookies ss -e shows and follow the
# connection from request sock to child to timewait sock; records carry
# their namespace; a reader inside the client namespace sees only its own
# namespace's records.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tcpflow import CLIENT, SERVER  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene(tcpdump=True)
snap = {}


def established(run):
    """While the connection is up: the kernel's sockets, per ss -e."""
    snap[run.port] = {
        end: tf.ss(run.ns[end]) for end in (CLIENT, SERVER)}


results = []
try:
    port = 8100
    for link in ("veth", "lo"):
        for af in (4, 6):
            port += 1
            results.append(scene.run("handshake", af=af, link=link, port=port,
                                     hooks={"established": established}))
    # An IPv4 client to a dual-stack IPv6 listener on ::: the server's
    # sockets hold v4-mapped addresses, shown as IPv4 (af=4).
    port += 1
    mapped = scene.run("handshake", af=4, link="veth", port=port, mapped=True,
                       hooks={"established": established})
    results.append(mapped)
    # A listener bound to the wildcard address: the child's records still
    # carry its own local address.
    port += 1
    results.append(scene.run("handshake", af=6, link="veth", port=port,
                             wildcard=True,
                             hooks={"established": established}))
    # A reader in the client's namespace, opened now, reading from where
    # the first run began.
    first = results[0]
    mark = min(r["n"] for r in first.records)
    with tf.in_netns(scene.hosts.ns[CLIENT]):
        fd = os.open(tf.PROC, os.O_RDONLY)
    try:
        inner, _ = scene.proc.records(mark, fd=fd)
    finally:
        os.close(fd)
    outer, _ = scene.proc.records(mark)
    scene.stop_tcpdump(results)
except Exception:
    import traceback
    t.bail("scenario failed: " + traceback.format_exc().replace("\n", " | "))

for res in results:
    tf.standard_checks(t, res)
    run = res.run

    # conn ids: the request sock, the child and the server's records are
    # one conn; the client's full and timewait socks another; both are
    # the cookies ss -e showed while the connection was up.
    c = tf.conns(res)
    problems = []
    server_socks = {r["sock"] for r in res.records
                    if r["conn"] == c.get((SERVER, "1"))}
    if server_socks != {"req", "full"}:
        problems.append("server conn %s has sock kinds %s, want req and full"
                        % (c.get((SERVER, "1")), sorted(server_socks)))
    client_socks = {r["sock"] for r in res.records
                    if r["conn"] == c.get((CLIENT, "1"))}
    if client_socks != {"full", "tw"}:
        problems.append("client conn %s has sock kinds %s, want full and tw"
                        % (c.get((CLIENT, "1")), sorted(client_socks)))
    cport = run.cports[0]
    ss_now = snap.get(run.port, {})
    want = {
        (CLIENT, "1"): (CLIENT, "ESTABLISHED", cport, run.port),
        (SERVER, "1"): (SERVER, "ESTABLISHED", run.port, cport),
        (SERVER, "L"): (SERVER, "LISTEN", run.port, 0),
    }
    for who, (end, state, lport, rport) in want.items():
        rows = [s for s in ss_now.get(end, []) if s["state"] == state and
                s["lport"] == lport and s["rport"] == rport]
        if len(rows) != 1:
            problems.append("ss in %s: no single %s socket %d -> %d: %s" % (
                end, state, lport, rport,
                [s["line"] for s in ss_now.get(end, [])]))
        elif rows[0]["cookie"] != c.get(who):
            problems.append("%s %s: conn=%s but ss -e says sk:%x" % (
                who[0], who[1], c.get(who), rows[0]["cookie"] or 0))
    t.problems(problems, "%s: conn ids are the socket cookies (ss -e) and "
               "follow request sock -> child, full -> timewait sock" %
               res.tag())

    if run.link == "veth":
        ns_ok = run.netns[CLIENT] != run.netns[SERVER] and \
            run.netns[CLIENT] == tf.netns_inum(scene.hosts.ns[CLIENT])
        t.ok(ns_ok and all(r["netns"] == run.netns[tf.end_of(r, run)]
                           for r in res.records),
             "%s: client records tagged %s, server records %s (the inodes "
             "of /run/netns/*)" % (res.tag(), run.netns[CLIENT],
                                   run.netns[SERVER]))

if results:
    wild = results[-1]
    c = tf.conns(wild)
    kids = [r for r in wild.records if r["conn"] == c.get(("server", "1"))]
    lis = [r for r in wild.records if r["conn"] == c.get(("server", "L")) and
           r["ev"] == "state"]
    t.ok(kids and all(r["laddr"] == "2001:db8::2" for r in kids) and
         lis and all(r["laddr"] == "::" for r in lis),
         "%s: the listener on :: has laddr=::, the request sock and the "
         "child have their own address 2001:db8::2" % wild.tag(),
         [tf.fmt_rec(r) for r in kids + lis])
    lis = [r for r in mapped.records if tf.conns(mapped).get(("server", "L"))
           == r["conn"] and r["ev"] == "state"]
    conn_recs = [r for r in mapped.records if r not in lis]
    odd = [r for r in conn_recs if r["af"] != 4 or
           {r["laddr"], r["raddr"]} != {"192.0.2.1", "192.0.2.2"}]
    t.ok(lis and all(r["af"] == 6 and r["laddr"] == "::" for r in lis) and
         conn_recs and not odd,
         "%s: the listener is af=6 on ::, every record of the v4-mapped "
         "connection is af=4 with IPv4 addresses" % mapped.tag(),
         [tf.fmt_rec(r) for r in (odd or lis)])

# The tcpstates problem: a state change that ran in softirq while another
# task was current (the tracepoint records which) must still name its own
# end's process, as who=owner.
cases, tasks, problems = 0, set(), []
for res in results:
    n, tk, p = tf.owner_vs_current(res)
    cases += n
    tasks |= tk
    problems += p
t.ok(cases and not problems,
     "%d state changes ran while another task was current (per the "
     "tracepoint: %s); each names its own end's process as who=owner"
     % (cases, ", ".join(sorted(tasks)[:6]) or "none"),
     problems or ["no such case: the test proves nothing"])

if results:
    cl = scene.hosts.inum[CLIENT]
    want_n = [r["n"] for r in outer if r["netns"] == cl]
    got_n = [r["n"] for r in inner]
    others = [r for r in inner if r["netns"] != cl]
    t.ok(not others and got_n == want_n and want_n,
         "a reader in the client namespace sees exactly the client "
         "namespace's records (%d of %d)" % (len(got_n), len(outer)),
         ["records of other namespaces: %d, e.g. %s" % (
             len(others), others[0]["line"] if others else "-"),
          "expected n=%s" % want_n[:20], "got n=%s" % got_n[:20]])

scene.close()
t.done()
