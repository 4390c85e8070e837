#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 80-demos.t: the scenarios added for the demos of issue 5.  An old SYN
# that arrives after its connection is gone (the server's SYN-ACK meets
# no socket, the client's kernel resets, the request sock is dropped); a
# simultaneous open (the SYNs cross: SYN_SENT -> SYN_RECV -> ESTABLISHED
# on both ends), alone and followed by a simultaneous close; a SYN flood
# from addresses nobody has, without SYN cookies (request socks pile up,
# retransmit their SYN-ACKs and give up; the queue overflows) and with
# tcp_syncookies=2 (every SYN answered, nothing kept); a client killed by
# SIGINT (the kernel closes its socket at exit: a FIN); the time-wait demo's
# bind() probes (EADDRINUSE without SO_REUSEADDR while TIME_WAIT lasts).
# Each against the capture, the tracepoint, the scenario's expectation and
# ss.  Then two demos themselves on the module's route (scripts/demo
# --host): lost-last-ack draws the lost ACK, time-wait-short counts down;
# neither leaves a namespace.  (tests/bpf/demos runs every demo on the
# BPF route, on the host.)
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402
from tcpflow import CLIENT, SERVER, scenarios  # noqa: E402

t = tf.TAP()
tf.need_root_and_module(t)
scene = tf.Scene()

RUNS = [
    ("stale-syn", 4, "veth"),
    ("stale-syn", 6, "veth"),
    ("simultaneous-open", 4, "veth"),
    ("simultaneous-open", 6, "veth"),
    ("simultaneous", 4, "veth"),
    ("syn-flood", 4, "veth"),
    ("syn-flood", 6, "veth"),
    ("interrupt", 4, "veth"),
    ("interrupt", 6, "veth"),
    ("time-wait", 4, "veth"),
    ("time-wait", 6, "lo"),
]
seen = {}
# The syn-flood's request socks live 2^(retries + 1) - 1 s (7 s with
# Linux's default tcp_synack_retries of 5 lowered to 2); ss must be asked
# while they do: at least 7 s times tf.SLOW.
SYNACK_RETRIES = 2
while 2 ** (SYNACK_RETRIES + 1) - 1 < 7 * tf.SLOW:
    SYNACK_RETRIES += 1


def at(what):
    def hook(run):
        seen.setdefault(run.port, {})[what] = {
            "ss": [x for x in tf.ss(run.ns[SERVER], "state", "syn-recv")
                   if x["lport"] == run.port],
            "mark": scene.proc.mark()}
    return hook


def check_stale_syn(res):
    run = res.run
    c = tf.conns(res)
    rst = tf.recs_where(res, ev="tx", sock="none")
    problems = []
    if len(rst) != 1 or rst[0]["conn"] != 0 or \
            rst[0]["netns"] != run.netns[CLIENT] or \
            rst[0]["lport"] != run.cports[0] or rst[0]["flags"] != "R":
        problems.append("want one RST from no socket in the client's "
                        "namespace, from :%d" % run.cports[0])
    req = c.get((SERVER, "2"))
    born = [r for r in res.records if r["conn"] == req and
            r["sock"] != "req"]
    if req is None or born:
        problems.append("the old SYN's request sock must stay a request "
                        "sock (conn %s)" % req)
    synack = tf.recs_where(res, ev="tx", sock="req", conn=req)
    if len(synack) != 1 or \
            synack[0]["ack"] != (run.notes["stale_seq"] + 1) & 0xffffffff:
        problems.append("the SYN-ACK must acknowledge the old SYN's "
                        "sequence number %d" % run.notes["stale_seq"])
    t.ok(not problems, "%s: the old SYN makes a request sock whose "
         "SYN-ACK the client's kernel resets from no socket; no "
         "connection" % res.tag(),
         problems + [tf.fmt_rec(r) for r in rst + synack + born])


def check_simultaneous(res):
    run = res.run
    problems = []
    for end in (CLIENT, SERVER):
        states = [(r["old"], r["new"]) for r in res.records
                  if r["ev"] == "state" and r["sock"] == "full" and
                  tf.end_of(r, run) == end][:3]
        if states != [("CLOSE", "SYN_SENT"), ("SYN_SENT", "SYN_RECV"),
                      ("SYN_RECV", "ESTABLISHED")]:
            problems.append("%s: %s" % (end, states))
    if any("LISTEN" in (r["old"], r["new"], r["state"])
           for r in res.records):
        problems.append("a listener took part")
    t.ok(not problems, "%s: both ends go SYN_SENT -> SYN_RECV -> "
         "ESTABLISHED, no listener" % res.tag(), problems)


def check_syn_flood(res):
    run = res.run
    # listen(2) holds 3 request socks: the SYN queue is full when it holds
    # more than the backlog (inet_csk_reqsk_queue_is_full(), Linux 6.1)
    syns, kept = scenarios.FLOOD_SYNS, scenarios.FLOOD_BACKLOG + 1
    first = seen.get(run.port, {}).get("flood", {"ss": None})
    cookies = seen.get(run.port, {}).get("flood-cookies", {"ss": None})
    problems = []
    if first["ss"] is None or len(first["ss"]) != kept:
        problems.append("without cookies ss lists %s request socks, want "
                        "%d" % (first["ss"] and len(first["ss"]), kept))
    if cookies["ss"] != []:
        problems.append("with cookies ss lists request socks: %s" %
                        cookies["ss"])
    reqs = tf.recs_where(res, ev="state", sock="req", new="NEW_SYN_RECV")
    if len(reqs) != kept:
        problems.append("%d request socks made, want %d" % (len(reqs), kept))
    for x in first["ss"] or []:
        if x["cookie"] not in {r["conn"] for r in reqs}:
            problems.append("ss has a request sock tcpflow lacks: " +
                            x["line"])
    after = [r for r in res.records if r["n"] >= first.get("mark", 0)]
    cookie_synacks = [r for r in after if r["ev"] == "tx" and
                      r["sock"] == "req" and r["conn"] not in
                      {q["conn"] for q in reqs}]
    if len(cookie_synacks) != syns or \
            len({r["conn"] for r in cookie_synacks}) != syns or \
            any(r["conn"] == q["conn"] for r in cookie_synacks
                for q in res.records if q["ev"] == "state"):
        problems.append("with cookies: %d SYN-ACKs from %d request socks "
                        "that never entered a state; want %d" % (
                            len(cookie_synacks),
                            len({r["conn"] for r in cookie_synacks}), syns))
    t.ok(not problems, "%s: without cookies the listener keeps %d request "
         "socks (ss) and drops the other SYNs; with cookies it answers all "
         "%d and keeps none" % (res.tag(), kept, syns), problems)

    # The request socks were gone from ss before the cookie round began
    # (the scenario waited for it); tcpflow records each going, from the
    # timer: NEW_SYN_RECV -> CLOSE, 2^(retries + 1) - 1 s after its SYN.
    # The timer is rearmed 1, 2, 4, ... s ahead; the wheel may fire each
    # late (tf.timer_slack()).
    drops = tf.recs_where(res, ev="state", sock="req", new="CLOSE")
    born = {r["conn"]: r["ts"] for r in reqs}
    life = 2 ** (SYNACK_RETRIES + 1) - 1
    slack = sum(tf.timer_slack(2 ** i) for i in range(SYNACK_RETRIES + 1))
    late = [r for r in drops if r["conn"] in born and
            not life <= (r["ts"] - born[r["conn"]]) / 1e9 <=
            life + slack + 2.5 * tf.SLOW]
    t.ok({r["conn"] for r in drops} == set(born) and len(drops) == kept and
         not late, "%s: each request sock that gives up is recorded "
         "NEW_SYN_RECV -> CLOSE once, %d s after its SYN "
         "(tcp_synack_retries=%d)" % (res.tag(), life, SYNACK_RETRIES),
         [tf.fmt_rec(r) for r in drops])


def check_interrupt(res):
    run = res.run
    notes = run.notes
    fin = tf.recs_where(res, ev="state", old="ESTABLISHED", new="FIN_WAIT1")
    problems = []
    if notes.get("client_exit") != "killed by SIGINT":
        problems.append("client: %s" % notes.get("client_exit"))
    if notes.get("server_read_at_eof") != 0:
        problems.append("the server read %s bytes before EOF" %
                        notes.get("server_read_at_eof"))
    if len(fin) != 1 or fin[0]["pid"] != run.pids[CLIENT] or \
            fin[0]["comm"] != run.comms[CLIENT]:
        problems.append("want the client's FIN_WAIT1 in its own dying "
                        "process (pid %d)" % run.pids[CLIENT])
    t.ok(not problems, "%s: the client died of SIGINT in %s; its kernel "
         "closed the socket with a FIN; the server read EOF" % (
             res.tag(), notes.get("client_blocked_in")),
         problems + [tf.fmt_rec(r) for r in fin])


def check_time_wait_bind(res):
    notes = res.run.notes
    binds = [notes.get("bind_in_time_wait"),
             notes.get("bind_in_time_wait_reuseaddr")]
    t.ok(binds == ["EADDRINUSE", "ok"],
         "%s: while the client's TIME_WAIT lasts, bind() to its port fails "
         "(EADDRINUSE) without SO_REUSEADDR and works with it" % res.tag(),
         [repr(binds)])


EXTRA = {"stale-syn": check_stale_syn,
         "time-wait": check_time_wait_bind,
         "simultaneous-open": check_simultaneous,
         "simultaneous": check_simultaneous,
         "syn-flood": check_syn_flood,
         "interrupt": check_interrupt}

# Scenarios whose segments cross only if both ends act within the time
# netem holds them.  The scenarios tell both ends when to act
# (scenarios.act_crossing()), but on a very busy host one may still wake
# too late; the segments do not cross, and the scenario says so.  Those
# get one more try (on another port), and the log says why.
TIMING = {"simultaneous-open", "simultaneous"}

port = 8800
for name, af, link in RUNS:
    port += 1
    res = None
    for attempt in (1, 2):
        try:
            opts = {"time-wait": {"wait": False},
                    "syn-flood": {"synack_retries": SYNACK_RETRIES}
                    }.get(name, {})
            res = scene.run(name, af=af, link=link,
                            port=port + 100 * (attempt - 1),
                            hooks={"flood": at("flood"),
                                   "flood-cookies": at("flood-cookies")},
                            **opts)
            break
        except Exception as e:      # noqa: BLE001
            if attempt == 1 and name in TIMING and \
                    isinstance(e, scenarios.ScenarioError):
                t.diag("%s IPv%d %s: %r; once more (timing-dependent)" % (
                    name, af, link, e))
                continue
            t.ok(False, "%s IPv%d %s: scenario ran" % (name, af, link),
                 [repr(e)])
    if res is None:
        continue
    tf.standard_checks(t, res)
    try:
        EXTRA[name](res)
    except Exception as e:
        t.ok(False, "%s: %s checks ran" % (res.tag(), name), [repr(e)])

scene.close()


# The demos themselves, on the module's route (scripts/demo --host), for
# the two whose picture has a truth of its own: lost-last-ack draws the
# client's last ACK sent and never received, and the server's FIN twice;
# time-wait-short counts TIME_WAIT down from ss.  Each leaves no
# namespace behind.  (After scene.close(): the demos use the same
# namespace names.)
def demo(name):
    p = subprocess.run([os.path.join(tf.REPO, "scripts", "demo"), "--host",
                        name], capture_output=True, text=True,
                       timeout=120 + 60 * (tf.SLOW - 1),
                       env=dict(os.environ, NO_COLOR="1"))
    return p.returncode, p.stdout + p.stderr


for name in ("lost-last-ack", "time-wait-short"):
    rc, out = demo(name)
    if name == "time-wait-short" and "[killed by an RST]" in out and \
            "countdown: client port" not in out:
        # A guest stalled longer than the server's RTO: its FIN went
        # again, the timewait sock's second ACK met no socket and the
        # server's RST killed TIME_WAIT before the countdown (rfc1337=0).
        # True, but not this demo's story: once more.
        t.diag("time-wait-short: TIME_WAIT killed by an RST before the "
               "countdown (a FIN retransmitted under load?); once more",
               *out.splitlines())
        rc, out = demo(name)
    lines = out.splitlines()
    left = [n for n in ("client", "server")
            if os.path.exists("/run/netns/" + n)]
    t.ok(rc == 0 and "Traceback" not in out and not left,
         "scripts/demo --host %s: exit 0, no traceback, no namespace left"
         % name, ["exit %d, left %s" % (rc, left)] + lines[-15:])
    if name == "lost-last-ack":
        lost = [x for x in lines if "[.] seq=2 ack=2" in x and
                "[not received]" in x]
        fins = [x for x in lines if "<-" in x and "[F.]" in x]
        t.ok(len(lost) == 1 and len(fins) == 2,
             "scripts/demo --host lost-last-ack: the ladder shows the last "
             "ACK sent and not received, the server's FIN twice", lines)
    else:
        left_s = [int(m.group(1)) for m in (
            re.match(r"countdown: client port \d+ in TIME_WAIT, (\d+)sec", x)
            for x in lines) if m]
        # On the debug kernel (TCPFLOW_SLOW) each ss in a namespace takes
        # seconds and the demo reaches its countdown late: one reading
        # (33 s left, 2026-12-05) and then none is what it could show.
        need = 2 if tf.SLOW == 1 else 1
        t.ok(len(left_s) >= need and all(a > b for a, b in
                                         zip(left_s, left_s[1:])) and
             left_s[0] <= 60,
             "scripts/demo --host time-wait-short: counts TIME_WAIT down "
             "(%s s left)" % left_s, lines)

t.done()
