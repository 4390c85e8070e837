#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 20-teardown.t: the other ways a connection ends with FINs: the server
# closes first; both close at once (simultaneous close: FIN_WAIT1 ->
# CLOSING -> TIME_WAIT on both ends); half-close (the client shuts down
# its sending side and the server still sends data, then closes); a
# server that never closes (the client's FIN_WAIT2 times out, the late
# FIN gets a reset from no socket).  Each
# against the capture (AF_PACKET on veth-c or the server's lo), the
# sock:inet_sock_set_state tracepoint, the scenario's expected sequence,
# and ss for the timewait socks left behind.
#
# tcp_fin_timeout in the fin-wait2-timeout runs: 5 s times tf.SLOW.  The
# snapshot in FIN_WAIT2 (records, then ss) must be taken before it runs
# out; on the debug kernel under emulation that takes longer than 5 s.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene()

RUNS = [
    ("teardown-server-first", 4, "veth"),
    ("teardown-server-first", 6, "lo"),
    ("simultaneous-close", 4, "veth"),
    ("simultaneous-close", 6, "veth"),
    ("half-close", 4, "veth"),
    ("half-close", 6, "veth"),
    ("half-close", 4, "lo"),
    ("fin-wait2-timeout", 4, "veth"),
    ("fin-wait2-timeout", 6, "lo"),
]
snaps = {}
FIN_TIMEOUT = round(5 * tf.SLOW)


def at_fin_wait2(run):
    snaps[run.port] = scene.snapshot(run)


port = 8200
for name, af, link in RUNS:
    port += 1
    try:
        kw = {"fin_timeout": FIN_TIMEOUT} \
            if name == "fin-wait2-timeout" else {}
        res = scene.run(name, af=af, link=link, port=port,
                        hooks={"client-fin-wait2": at_fin_wait2}, **kw)
        rows = tf.snapshot_ss(res.run)
    except Exception as e:
        t.ok(False, "%s IPv%d %s: scenario ran" % (name, af, link), [repr(e)])
        continue
    tf.standard_checks(t, res)
    t.problems(tf.check_timewait_ss(res, rows),
               "%s: the timewait socks tcpflow says are alive are the ones "
               "ss lists (substate, cookie)" % res.tag())
    if name == "teardown-server-first":
        c = tf.conns(res)
        kinds = {}
        for r in res.records:
            if r["conn"] in (c.get(("server", "1")), c.get(("client", "1"))):
                kinds.setdefault(r["conn"], set()).add(r["sock"])
        t.ok(kinds.get(c.get(("server", "1"))) == {"req", "full", "tw"} and
             kinds.get(c.get(("client", "1"))) == {"full"} and
             len({c.get(("server", "1")), c.get(("client", "1")),
                  c.get(("server", "L"))}) == 3,
             "%s: one server conn id from request sock to child to timewait "
             "sock; the client and the listener have their own" % res.tag(),
             ["conn %s: %s" % (k, sorted(v)) for k, v in kinds.items()])
    if name == "fin-wait2-timeout":
        snap = snaps.get(port)
        problems = []
        if snap:
            part = tf.Partial(res.run, snap["records"])
            problems += tf.check_timewait_ss(part, snap["ss"])
            if [v[0] for v in tf.timewait_now(part).values()] != ["FIN_WAIT2"]:
                problems.append("tcpflow's timewait socks then: %r" %
                                tf.timewait_now(part))
        else:
            problems.append("no snapshot in FIN_WAIT2")
        t.problems(problems, "%s: while the server keeps the connection "
                   "open, the client's timewait sock (substate FIN_WAIT2) "
                   "is the one ss lists" % res.tag())
        began = tf.recs_where(res, ev="state", sock="tw", new="FIN_WAIT2")
        ended = tf.recs_where(res, ev="state", sock="tw", old="FIN_WAIT2",
                              new="CLOSE")
        ok = len(began) == 1 and len(ended) == 1 and \
            ended[0]["why"] == "expire" and ended[0]["dur"] is None
        span = (ended[0]["ts"] - began[0]["ts"]) / 1e9 if ok else 0
        notes = res.run.notes
        gone = notes.get("fin_wait2_gone_at", 0)
        # tcp_time_wait(): the FIN_WAIT2 timer is max(tcp_fin_timeout,
        # 3.5 RTO); the timer wheel may fire it later (tf.timer_slack()).
        want = max(notes["fin_timeout"], 3.5 * notes["client_rto"])
        t.ok(ok and want - 0.05 <= span <= want + tf.timer_slack(want) +
             0.5 * tf.SLOW and
             ended[0]["ts"] / 1e9 <= gone,
             "%s: the FIN_WAIT2 timewait sock expires after tcp_fin_timeout "
             "(%.3f s; want %.1f s), why=expire, no dur (not TIME_WAIT)" % (
                 res.tag(), span, want),
             [tf.fmt_rec(r) for r in began + ended] +
             ["gone from /proc/net/tcp by %.3f; client rto %.3f s" % (
                 gone, notes["client_rto"])])
    if name == "simultaneous-close":
        tw = tf.timewait_now(res)
        t.ok(sorted(k[0] for k in tw) == ["client", "server"] and
             all(v[0] == "TIME_WAIT" for v in tw.values()),
             "%s: both ends hold TIME_WAIT" % res.tag(), [repr(tw)])

scene.close()
t.done()
