#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 35-stray.t: segments no ordinary client sends, and the kernel's answers,
# with only one end traced: the peer is this test, writing raw segments
# into a tun device (lib/tunpeer.py) and reading back exactly what the
# kernel sent, which is the truth the records are checked against.
#   - a SYN, and an ACK, to a closed port: the segment is an rx record
#     with sock=none, its flags, seq and ack, before the reset it provokes
#   - a stray ACK at a listening port: the listener's reset carries the
#     conversation's 4-tuple (not 0.0.0.0:0) and the addr= filter keeps it
#   - an out-of-window ACK to a request sock: the ACK it answers with is
#     the request sock's (its conn, sock=req), with the caller's address;
#     then a wrong ack number: the reset is the request's too
#   - the process writing to the tun device runs the receive path itself
#     (process context, bottom halves off): a bystander, never recorded
#     as who=cur nor learned as the owner; the server that accepted the
#     connection is its owner (pids: os.getpid() and the forked server's).
#     The server sits in accept() meanwhile, and accept() holds the
#     listener's lock for a moment before it sleeps: a SYN at a listener
#     is handled without that lock, so "the lock is held" does not make
#     the tun writer the actor.  Left to chance the SYN missed that moment
#     on 6.1 and met it on 6.12 and 7.3; where tfdelay.ko is built, the
#     server (on CPU 1) waits 1.5 s in release_sock() called from
#     inet_csk_accept(), the lock still held, while this test writes the
#     SYN from CPU 0.  The module before the fix named the tun writer
#     who=cur for that SYN.
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tunpeer import LOCAL, PEER, TunPeer, need_tun  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
need_tun()
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")
NS = "tfstray"


def ns_up():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    return tf.netns_inum(NS)


def seg_of(r):
    return "%s %s:%s>%s:%s [%s] seq %s ack %s" % (
        r["ev"], r["laddr"], r["lport"], r["raddr"], r["rport"], r["flags"],
        r["seq"], r["ack"])


def find(recs, **kw):
    return [r for r in recs if all(r.get(k) == v for k, v in kw.items())]


inum = ns_up()
try:
    with TunPeer(NS) as p:
        with tf.in_netns(NS):
            ls = socket.socket()
        ls.bind((LOCAL, 7400))
        ls.listen(8)
        mark = proc.mark()

        # A, B: to a closed port
        p.send("S", 41001, 7401, seq=1000)
        rst_a = p.expect(lambda s: s.dport == 41001 and "R" in s.flags)
        p.send(".", 41002, 7401, seq=2000, ack=5555)
        rst_b = p.expect(lambda s: s.dport == 41002 and "R" in s.flags)
        # C: a stray ACK at the listener
        p.send(".", 41003, 7400, seq=3000, ack=7777)
        rst_c = p.expect(lambda s: s.dport == 41003 and "R" in s.flags)
        # D: a request sock, then a segment out of its window
        p.send("S", 41004, 7400, seq=4000)
        sa = p.expect(lambda s: s.dport == 41004 and s.flags == "S.")
        p.send(".", 41004, 7400, seq=4001 + 10**8, ack=sa.seq + 1)
        ack_d = p.expect(lambda s: s.dport == 41004 and s.flags == ".")
        # E: then a wrong ack number
        p.send(".", 41004, 7400, seq=4001, ack=sa.seq + 5)
        rst_e = p.expect(lambda s: s.dport == 41004 and "R" in s.flags)
        time.sleep(0.3)
        recs = [r for r in proc.records(mark)[0] if r["netns"] == inum]
        sent = [rst_a, rst_b, rst_c, sa, ack_d, rst_e]
        t.diag("the kernel sent: %s" % (sent,))

        # ---- A, B
        for name, sport, sent, rst in (("a SYN", 41001, p.sent[0], rst_a),
                                       ("an ACK", 41002, p.sent[1], rst_b)):
            rx = find(recs, ev="rx", sock="none", rport=sport)
            tx = find(recs, ev="tx", sock="none", rport=sport)
            want_rx = dict(laddr=LOCAL, lport=7401, raddr=PEER, flags=sent.flags,
                           seq=sent.seq, ack=sent.ack, len=0, state="CLOSE",
                           conn=0, who="-")
            ok = (len(rx) == 1 and len(tx) == 1 and
                  all(rx[0][k] == v for k, v in want_rx.items()) and
                  (tx[0]["flags"], tx[0]["seq"], tx[0]["ack"]) ==
                  (rst.flags, rst.seq, rst.ack) and rx[0]["n"] < tx[0]["n"])
            t.ok(ok, "%s to a closed port is an rx record (sock=none, %s seq "
                 "%d ack %d) just before the reset it provoked (%s seq %d ack "
                 "%d, as on the wire)" % (name, sent.flags, sent.seq, sent.ack,
                                          rst.flags, rst.seq, rst.ack),
                 [seg_of(r) for r in rx + tx] or ["no records"])

        # ---- C
        lis = find(recs, ev="rx", lport=7400, rport=41003, state="LISTEN")
        tx = find(recs, ev="tx", rport=41003)
        lconn = lis[0]["conn"] if lis else None
        t.ok(lis and len(tx) == 1 and
             (tx[0]["laddr"], tx[0]["lport"], tx[0]["raddr"]) ==
             (LOCAL, 7400, PEER) and tx[0]["conn"] == lconn and
             tx[0]["sock"] == "full" and tx[0]["state"] == "LISTEN" and
             (tx[0]["flags"], tx[0]["seq"], tx[0]["ack"]) ==
             (rst_c.flags, rst_c.seq, rst_c.ack),
             "a stray ACK at a listener: its reset (%s seq %d) is recorded on "
             "the listener with the caller's address and port, not 0.0.0.0:0"
             % (rst_c.flags, rst_c.seq),
             [seg_of(r) for r in lis + tx] +
             [r["line"] for r in find(recs, ev="tx", lport=7400)])

        # ---- D, E
        req = find(recs, ev="state", sock="req", new="NEW_SYN_RECV",
                   rport=41004)
        rconn = req[0]["conn"] if req else None
        for name, seg in (("the ACK a request sock sends for a segment out "
                           "of its window", ack_d),
                          ("the reset for a wrong ack number", rst_e)):
            tx = find(recs, ev="tx", rport=41004, flags=seg.flags,
                      seq=seg.seq, ack=seg.ack)
            t.ok(req and len(tx) == 1 and tx[0]["conn"] == rconn and
                 tx[0]["sock"] == "req" and tx[0]["state"] == "NEW_SYN_RECV" and
                 (tx[0]["laddr"], tx[0]["lport"], tx[0]["raddr"]) ==
                 (LOCAL, 7400, PEER),
                 "%s (%s seq %d ack %d) is the request sock's (conn %s), with "
                 "the caller's address" % (name, seg.flags, seg.seq, seg.ack,
                                           rconn),
                 [r["line"] for r in tx + req] or
                 [r["line"] for r in find(recs, rport=41004)] +
                 [r["line"] for r in find(recs, ev="tx", lport=7400)])

        # ---- the address filter keeps a listener's reply
        mark = proc.mark()
        proc.must("addr=%s\n" % PEER)
        try:
            p.send(".", 41005, 7400, seq=5000, ack=8888)
            rst_f = p.expect(lambda s: s.dport == 41005 and "R" in s.flags)
            time.sleep(0.2)
        finally:
            proc.must("filter=-\n")
        tx = find(proc.records(mark)[0], ev="tx", rport=41005)
        t.ok(len(tx) == 1 and tx[0]["seq"] == rst_f.seq,
             "addr=%s keeps the listener's reset to that address" % PEER,
             [r["line"] for r in tx])
        ls.close()

        # ---- the tun writer is a bystander
        with tf.in_netns(NS):
            srv = socket.socket()
        srv.bind((LOCAL, 7410))
        rd, wr = os.pipe()
        two = (os.cpu_count() or 1) >= 2
        # inet_csk_wait_for_connect() is inlined into inet_csk_accept()
        # in Debian's builds; either may be the caller
        held = tf.Delay("release_sock",
                        "inet_csk_accept,inet_csk_wait_for_connect",
                        cpu=1, ms=1500)
        if two:
            held.__enter__()
        else:
            held.why = "one CPU"
        child = os.fork()
        if child == 0:
            code = 1
            try:
                os.close(rd)
                if two:
                    os.sched_setaffinity(0, {1})
                srv.listen(4)
                os.write(wr, b"l")
                a, _ = srv.accept()
                os.write(wr, b"a")
                while a.recv(4096):
                    pass
                a.close()
                code = 0
            finally:
                os._exit(code)
        os.close(wr)
        srv.close()
        cpus = os.sched_getaffinity(0)
        try:
            if two:
                os.sched_setaffinity(0, {0})
            os.read(rd, 1)                   # listening
            mark = proc.mark()
            # the server in accept(), the listener's lock held
            deadline = time.time() + 10 * tf.SLOW
            while held.loaded and not held.hits() and time.time() < deadline:
                time.sleep(0.01)
            p.send("S", 41010, 7410, seq=9000)
            sa = p.expect(lambda s: s.dport == 41010 and s.flags == "S.")
            p.send(".", 41010, 7410, seq=9001, ack=sa.seq + 1)
            os.read(rd, 1)                   # accepted
            time.sleep(0.3)                  # asleep in recv()
            p.send("FP.", 41010, 7410, seq=9001, ack=sa.seq + 1,
                   payload=b"hello")
            fin = p.expect(lambda s: s.dport == 41010 and "F" in s.flags)
            p.send(".", 41010, 7410, seq=9007, ack=fin.seq + 1)
            time.sleep(0.3)
        finally:
            os.sched_setaffinity(0, cpus)
            os.close(rd)
            os.waitpid(child, 0)
            held.__exit__(None, None, None)
        if held.why:
            t.diag("the SYN meets the held listener lock by chance only: "
                   + held.why)
        else:
            t.ok(held.final_hits == 1, "the server waited in accept() with "
                 "the listener's lock held (tfdelay: release_sock from "
                 "inet_csk_accept) while the SYN came in")
        recs = [r for r in proc.records(mark)[0] if r["netns"] == inum and
                7410 in (r["lport"], r["rport"])]
        mine = [r["line"] for r in recs if r["pid"] == os.getpid()]
        served = [r for r in recs if r["who"] != "-" and r["pid"] == child]
        t.ok(recs and not mine and
             any(r["ev"] == "state" and r["new"] == "CLOSE_WAIT" and
                 r["who"] == "owner" for r in served) and
             any(r["new"] == "LAST_ACK" and r["who"] == "cur"
                 for r in served),
             "a tun writer (pid %d) runs the receive path for the server "
             "(pid %d): no record names it; the FIN it wrote moves the "
             "server's socket to CLOSE_WAIT as who=owner, the server" % (
                 os.getpid(), child),
             mine or [r["line"] for r in recs])
finally:
    proc.write("filter=-\n")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)

t.done()
