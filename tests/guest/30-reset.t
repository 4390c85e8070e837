#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 30-reset.t: connections that end with RST.  A connect to a port nobody
# listens on (the kernel answers the SYN with RST; tcpflow records it as
# sock=none conn=0 on the server's side), and an abortive close
# (SO_LINGER 0: RST instead of FIN, no TIME_WAIT anywhere), and a close
# with unread data (RST too).
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
    ("reset-closed-port", 4, "veth"),
    ("reset-closed-port", 6, "veth"),
    ("reset-closed-port", 4, "lo"),
    ("reset-closed-port", 6, "lo"),
    ("abort", 4, "veth"),
    ("abort", 6, "veth"),
    ("abort", 4, "lo"),
    ("reset-unread", 4, "veth"),
    ("reset-unread", 6, "lo"),
]
port = 8300
for name, af, link in RUNS:
    port += 1
    try:
        res = scene.run(name, af=af, link=link, port=port)
        rows = tf.snapshot_ss(res.run)
    except Exception as e:
        t.ok(False, "%s IPv%d %s: scenario ran" % (name, af, link), [repr(e)])
        continue
    tf.standard_checks(t, res)
    run = res.run
    if name == "reset-closed-port":
        rst = tf.recs_where(res, ev="tx", sock="none")
        t.ok(run.notes.get("connect_errno") == "ECONNREFUSED" and
             len(rst) == 1 and rst[0]["conn"] == 0 and
             rst[0]["netns"] == run.netns["server"] and
             rst[0]["lport"] == run.port,
             "%s: connect() got ECONNREFUSED; one RST from no socket "
             "(conn=0) in the server's namespace" % res.tag(),
             ["connect: %s" % run.notes.get("connect_errno")] +
             [tf.fmt_rec(r) for r in rst])
    else:
        if name == "reset-unread":
            t.ok(run.notes.get("client_recv_errno") == "ECONNRESET",
                 "%s: the client's recv() fails with ECONNRESET" % res.tag(),
                 ["got %s" % run.notes.get("client_recv_errno")])
        tws = [r for r in res.records if r["sock"] == "tw"]
        left = rows["client"] + rows["server"]
        t.ok(not tws and not left,
             "%s: no timewait sock, in tcpflow or in ss" % res.tag(),
             [tf.fmt_rec(r) for r in tws] + [x["line"] for x in left])

scene.close()
t.done()
