#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 36-dccp.t: DCCP shares the connection-sock and timewait code with TCP
# (inet_csk_listen_start, the request sock queue, inet_twsk_*): a DCCP
# connection (listen, connect, accept, close into DCCP's TIME_WAIT) must
# leave no record, while its state changes really happened (the kernel's
# sock:inet_sock_set_state tracepoint sees them, with protocol DCCP).
# Skipped where the kernel has no DCCP (Linux 6.16 removed it).
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")
SOCK_DCCP, IPPROTO_DCCP, SOL_DCCP = 6, 33, 269
DCCP_SOCKOPT_SERVICE = 2
PORT = 7501

subprocess.run(["modprobe", "dccp_ipv4"], capture_output=True)
try:
    socket.socket(socket.AF_INET, SOCK_DCCP, IPPROTO_DCCP).close()
except OSError as e:
    print("1..0 # SKIP no DCCP in this kernel (%s)" % e)
    sys.exit(4)

tp = tf.Tracepoint("tcpflow-dccp", protocol=IPPROTO_DCCP)
try:
    mark = proc.mark()
    ls = socket.socket(socket.AF_INET, SOCK_DCCP, IPPROTO_DCCP)
    ls.setsockopt(SOL_DCCP, DCCP_SOCKOPT_SERVICE, 42)
    ls.bind(("127.0.0.1", PORT))
    ls.listen(4)
    c = socket.socket(socket.AF_INET, SOCK_DCCP, IPPROTO_DCCP)
    c.setsockopt(SOL_DCCP, DCCP_SOCKOPT_SERVICE, 42)
    c.connect(("127.0.0.1", PORT))
    a, _ = ls.accept()
    c.close()               # the active closer: DCCP's TIME_WAIT
    time.sleep(0.3)
    a.close()
    ls.close()
    time.sleep(0.5)
    recs = [r for r in proc.records(mark)[0]
            if PORT in (r["lport"], r["rport"])]
    dccp = [e for e in tp.events() if PORT in (e["sport"], e["dport"])]
finally:
    tp.close()
t.ok(dccp and not recs,
     "a DCCP connection (%d state changes on the kernel's tracepoint) "
     "leaves no record" % len(dccp),
     [r["line"] for r in recs] or ["the tracepoint saw no DCCP state "
                                   "change: the test proves nothing"])
t.done()
