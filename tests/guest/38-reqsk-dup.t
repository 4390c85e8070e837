#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 38-reqsk-dup.t: a request sock that fails to be queued leaves no record.
# Two copies of one SYN received at the same moment on two CPUs both find
# no request sock for their 4-tuple, and both make one; the second to
# insert its own into the established hash fails (inet_ehash_insert() sees
# the first's), is freed, and sends no SYN-ACK.  tcpflow recorded that one
# as NEW_SYN_RECV too, and it never ended.
#   - A raw peer behind a tun device (lib/tunpeer.py): two processes,
#     pinned to CPU 0 and CPU 1, write the same SYN at once, for many
#     4-tuples, to a listener that never sees the handshake finish.
#   - The truth: `ss state syn-recv` lists one request sock per 4-tuple,
#     with its cookie; the peer counts the SYN-ACKs per 4-tuple: two when
#     the copies came one after the other (the second found the request
#     sock, which sent its SYN-ACK again), one when they raced.  The SYNs
#     carry a timestamp option, so that the SYN-ACKs' TSval (the kernel's
#     millisecond clock) tells these answers from the request sock's own
#     retransmissions, which come an initial RTO (1 s) or more later.
#   - tcpflow's NEW_SYN_RECV records are exactly ss's request socks, one
#     per 4-tuple, with their cookies as conn ids.
# A kernel before ff46e3b44219 ("Fix race for duplicate reqsk on identical
# SYN", 2024; in 6.1's stable series, not in Debian 11's 5.10) inserts
# both copies' request socks (inet_csk_reqsk_queue_hash_add() returns
# nothing there): where they raced ss lists two, each sends its SYN-ACK,
# and tcpflow must record both.  Below 6.1 the test allows that, and
# still wants tcpflow's records to be exactly ss's request socks.
# Left to the scheduler, the copies never raced in the lab (300 of 300
# 4-tuples got two SYN-ACKs, also with LAB_TCG_THREAD=multi).  So where
# the test-only tfdelay.ko is built for this kernel (tests/run, 'make
# module-testing'), it makes the race: the copy on CPU 0 waits in
# inet_ehash_insert() (called from inet_csk_reqsk_queue_hash_add()) while
# the one on CPU 1 hashes its own request sock.  tfdelay knows nothing of
# tcpflow: with it, the module before the fix (7db4a70) recorded a
# NEW_SYN_RECV for each raced 4-tuple's lost request sock, and failed.
import mmap
import os
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tunpeer import LOCAL, PEER, TunPeer, build, need_tun  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
need_tun()
if os.cpu_count() < 2:
    print("1..0 # SKIP needs two CPUs")
    sys.exit(4)
proc = tf.Proc()
proc.must("filter=-\nsegments=default\n")
NS = "tfreqdup"
PORT = 7800
N = int(os.environ.get("REQ_DUP_TUPLES") or 300)
BASE = 30000
DELAYS = 8
# See above: may this kernel queue both copies of a SYN?
DUPS_QUEUED = tuple(int(x) for x in
                    os.uname().release.split("-")[0].split(".")[:2]) < (6, 1)


def ns_up():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    # the request socks stay while the test looks at them
    for k, v in (("net.ipv4.tcp_syncookies", "0"),
                 ("net.ipv4.tcp_synack_retries", "5"),
                 ("net.ipv4.tcp_max_syn_backlog", "4096")):
        subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw",
                        "%s=%s" % (k, v)], check=True)
    return tf.netns_inum(NS)


def writer(fd, me, shared, pkts):
    """Child: pinned to CPU me, writes each packet once the other writer
    is ready to write it too (both spin, each on its own CPU)."""
    os.sched_setaffinity(0, {me})
    for k, pkt in enumerate(pkts):
        struct.pack_into("i", shared, 4 * me, k + 1)
        while struct.unpack_from("i", shared, 4 * (1 - me))[0] <= k:
            pass
        os.write(fd, pkt)
    os._exit(0)


inum = ns_up()
try:
    with TunPeer(NS) as p:
        with tf.in_netns(NS):
            ls = socket.socket()
        ls.bind((LOCAL, PORT))
        ls.listen(4096)
        # room for every SYN-ACK until the peer reads them
        subprocess.run(["ip", "-n", NS, "link", "set", p.ifname,
                        "txqueuelen", "10000"], check=True)
        pkts = [build(PEER, LOCAL, BASE + k, PORT, "S", 5000 + k, 0, 65535,
                      opts=b"\x08\x0a" + struct.pack("!II", 1 + k, 0))
                for k in range(N)]
        shared = mmap.mmap(-1, 64)
        mark = proc.mark()
        kids = []
        with tf.Delay("inet_ehash_insert", "inet_csk_reqsk_queue_hash_add,"
                      "reqsk_queue_hash_req", cpu=0, ms=200,
                      count=DELAYS) as delay:
            for cpu in (0, 1):
                pid = os.fork()
                if pid == 0:
                    writer(p.fd, cpu, shared, pkts)
                kids.append(pid)
            for pid in kids:
                os.waitpid(pid, 0)
        got = []
        got += p.read(2.0 * tf.SLOW)
        time.sleep(0.3)
        rows = [x for x in tf.ss(NS, "state", "syn-recv")
                if x["lport"] == PORT]
        recs = [r for r in proc.records(mark)[0] if r["netns"] == inum and
                r["lport"] == PORT]
        ls.close()
finally:
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)

tsvals = {}
for s in got:
    if s.flags == "S." and s.sport == PORT:
        tsvals.setdefault(s.dport, []).append(s.tsval or 0)
# answers to the copies: within 0.9 s (TSval ms) of the first SYN-ACK
synacks = {sp: sum(((v - min(vs)) & 0xffffffff) < 900 for v in vs)
           for sp, vs in tsvals.items()}
raced = sorted(sp for sp, n in synacks.items() if n == 1)
t.diag("%d 4-tuples: %d answered twice (one copy after the other), %d "
       "once (the copies raced), %d not at all" % (
           N, sum(n >= 2 for n in synacks.values()), len(raced),
           N - len(synacks)))

by_port = {}
for x in rows:
    by_port.setdefault(x["rport"], []).append(x)
# Where the kernel queues both copies (above), a race leaves two request
# socks that each answer, not one answer.
dups = sorted(sp for sp, v in by_port.items() if len(v) == 2)

if delay.why:
    t.diag("the race is left to chance: " + delay.why)
else:
    t.ok(delay.hits() > 0 and (raced or dups),
         "tfdelay held CPU 0's copy before its insert %d times; %d 4-tuples "
         "raced%s" % (delay.hits(), len(set(raced) | set(dups)),
                      " (%d of them queued both copies)" % len(dups)
                      if DUPS_QUEUED else ""))
problems = ["port %d: ss lists %d request socks" % (sp, len(v))
            for sp, v in sorted(by_port.items())
            if len(v) != 1 and not (DUPS_QUEUED and len(v) == 2)]
if DUPS_QUEUED:
    t.diag("Linux %s queues both copies where they race: %d 4-tuples have "
           "two request socks" % (os.uname().release, len(dups)))
t.ok(len(by_port) == N and not problems,
     "ss lists one request sock for each of the %d 4-tuples%s" % (
         N, " (two where the copies raced, on this kernel)"
         if DUPS_QUEUED else ""),
     problems[:10] + ["ss lists %d 4-tuples" % len(by_port)])

news = [r for r in recs if r["ev"] == "state" and r["new"] == "NEW_SYN_RECV"]
ends = [r for r in recs if r["ev"] == "state" and r["sock"] == "req" and
        r["old"] == "NEW_SYN_RECV"]
recorded = {}
for r in news:
    recorded.setdefault(r["rport"], []).append(r)
problems = []
for sp in range(BASE, BASE + N):
    rs = recorded.get(sp, [])
    want = sorted(x["cookie"] for x in by_port.get(sp, []))
    if not want or sorted(r["conn"] for r in rs) != want:
        problems.append("port %d%s: ss %s, tcpflow %s" % (
            sp, " (raced)" if sp in raced or sp in dups else "", want,
            " / ".join(r["line"] for r in rs) or "no NEW_SYN_RECV"))
t.ok(not problems and not ends,
     "one NEW_SYN_RECV per request sock ss lists (conn = its cookie), "
     "%d 4-tuples, none ended: no record of a request sock that was never "
     "queued (%d 4-tuples raced%s)" % (
         N, len(set(raced) | set(dups)),
         ", both copies queued" if dups else ""),
     problems[:20] + [r["line"] for r in ends[:5]])
t.done()
