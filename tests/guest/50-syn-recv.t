#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 50-syn-recv.t: a listener with many half-open connections at once: the
# clients are ESTABLISHED, the server's request socks in SYN_RECV.  The
# clients' third ACKs are dropped (nftables in the client namespace), so
# the listener keeps one request sock per client (ss: state syn-recv) and
# retransmits its SYN-ACKs.  tcpflow must show one LISTEN -> NEW_SYN_RECV
# request per client with the cookie ss shows, every SYN-ACK the wire
# carried, no child born, and each request dropped when its client
# resets.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tcpflow import SERVER  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene()
seen = {}


def at_syn_recv(run):
    seen[run.port] = {"ss": tf.ss(run.ns[SERVER], "state", "syn-recv"),
                      "mark": scene.proc.mark()}


port = 8500
for af, clients in ((4, 5), (6, 3)):
    port += 1
    try:
        res = scene.run("syn-recv", af=af, link="veth", port=port,
                        clients=clients, hooks={"syn-recv": at_syn_recv})
    except Exception as e:
        t.ok(False, "syn-recv IPv%d: scenario ran" % af, [repr(e)])
        continue
    tf.standard_checks(t, res)
    run = res.run
    at = seen.get(port, {"ss": [], "mark": 0})
    rows = [x for x in at["ss"] if x["lport"] == port]
    reqs = [r for r in tf.recs_where(res, ev="state", sock="req",
                                     new="NEW_SYN_RECV")]
    by_port = {r["rport"]: r for r in reqs}
    problems = []
    if sorted(x["rport"] for x in rows) != sorted(run.cports):
        problems.append("ss syn-recv: ports %s, the clients': %s" % (
            sorted(x["rport"] for x in rows), sorted(run.cports)))
    if len(reqs) != clients or sorted(by_port) != sorted(run.cports) or \
            len({r["conn"] for r in reqs}) != clients:
        problems.append("%d LISTEN>NEW_SYN_RECV records for %d clients" % (
            len(reqs), clients))
    for x in rows:
        r = by_port.get(x["rport"])
        if r and x["cookie"] != r["conn"]:
            problems.append("request from :%d: conn=%s, ss: %s" % (
                x["rport"], r["conn"], x["line"]))
    t.ok(not problems, "%s: %d request socks in SYN_RECV (ss), one "
         "per client in the trace, conn = the ss cookie" % (res.tag(), clients),
         problems + [x["line"] for x in at["ss"]] +
         [tf.fmt_rec(r) for r in reqs])

    before = [r for r in res.records if r["n"] < at["mark"]]
    problems = []
    for cport in run.cports:
        synacks = [r for r in before if r["ev"] == "tx" and
                   r["sock"] == "req" and r["flags"] == "S." and
                   r["rport"] == cport]
        if len(synacks) < 2 or len({(r["seq"], r["ack"]) for r in synacks}) != 1:
            problems.append("client :%d: %d SYN-ACKs before the check" % (
                cport, len(synacks)))
    born = [r for r in res.records if r["ev"] == "state" and
            r["old"] == "NEW_SYN_RECV" and r["new"] == "SYN_RECV"]
    problems += ["a child was born: " + tf.fmt_rec(r) for r in born]
    t.ok(not problems, "%s: each request sock retransmitted the same "
         "SYN-ACK; no child was born" % res.tag(), problems)

    dropped = {r["rport"] for r in tf.recs_where(
        res, ev="state", sock="req", old="NEW_SYN_RECV", new="CLOSE")}
    t.ok(dropped == set(run.cports),
         "%s: each client's RST drops its request sock "
         "(NEW_SYN_RECV>CLOSE)" % res.tag(),
         ["dropped: %s, clients: %s" % (sorted(dropped), run.cports)])

scene.close()
t.done()
