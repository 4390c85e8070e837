#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 40-lost-ack.t: the last ACK of a teardown is lost on the way (an XDP
# program on the server's veth drops it, once, before the server's stack
# sees it).  The server, in LAST_ACK, retransmits its FIN; the client's
# timewait sock answers it again and restarts its 60 s timer
# (why=rearm).  Both ACKs are in the trace as sent and on the client's
# side of the wire; the server received only the second.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene()

port = 8400
for af in (4, 6):
    port += 1
    try:
        res = scene.run("lost-last-ack", af=af, link="veth", port=port)
        rows = tf.snapshot_ss(res.run)
    except Exception as e:
        t.ok(False, "lost-last-ack IPv%d: scenario ran" % af, [repr(e)])
        continue
    tf.standard_checks(t, res)
    t.problems(tf.check_timewait_ss(res, rows),
               "%s: the client's timewait sock is in ss, in TIME_WAIT, "
               "with the conn as its cookie" % res.tag())
    acks_trace = tf.recs_where(res, ev="tx", sock="tw", flags=".")
    fins_trace = [r for r in tf.recs_where(res, ev="tx", flags="F.")
                  if r["lport"] == port]
    acks_wire = [p for p in res.packets if p.flags == "." and
                 p.dport == port and p.seq == acks_trace[0]["seq"] and
                 p.ack == acks_trace[0]["ack"]] if acks_trace else []
    fins_wire = [p for p in res.packets if p.flags == "F." and
                 p.sport == port]
    acks_rx = [r for r in tf.recs_where(res, ev="rx", flags=".")
               if r["lport"] == port and acks_trace and
               r["seq"] == acks_trace[0]["seq"] and
               r["ack"] == acks_trace[0]["ack"]]
    t.ok(len(acks_trace) == 2 and len(acks_wire) == 2 and
         len(acks_rx) == 1 and len(fins_trace) == 2 and len(fins_wire) == 2,
         "%s: the timewait sock sent its ACK twice (trace and wire), the "
         "server received it once; the server sent its FIN twice (both)" %
         res.tag(),
         ["trace: " + tf.fmt_rec(r) for r in acks_trace + acks_rx +
          fins_trace] + ["wire: %s" % p for p in acks_wire + fins_wire])
    rearm = tf.recs_where(res, ev="state", sock="tw", why="rearm")
    rx2 = [r for r in tf.recs_where(res, ev="rx", sock="tw", flags="F.")]
    ok = len(rearm) == 1 and len(rx2) == 2 and \
        rx2[1]["state"] == "TIME_WAIT" and \
        rx2[1]["n"] < rearm[0]["n"] < acks_trace[-1]["n"] and \
        rearm[0]["dur"] is None
    t.ok(ok, "%s: the retransmitted FIN reaches the timewait sock in "
         "TIME_WAIT, which restarts its 60 s (why=rearm) and then ACKs" %
         res.tag(), [tf.fmt_rec(r) for r in rx2 + rearm + acks_trace])

scene.close()
t.done()
