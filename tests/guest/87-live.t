#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# 87-live.t: tcpflow-show --live and tcpflow-show -f /proc/tcpflow as a
# user runs them, in a terminal, on the module's route (tests/live/run
# drives the same on a FIFO and on the BPF route; this is the real
# /proc/tcpflow).  Each runs on a pty of its own (tests/live/run's Term
# and its terminal model), while one connection opens and closes on the
# loopback of a network namespace, the client closing first; then Ctrl-C
# is typed on each pty.  The ring is busy when they start, as on a
# machine where the module has been loaded for hours: it holds the
# records of every test run before this one in the guest suite, and of
# a connection to the same port made here first; both read all of it
# before the connection starts.
#   - --live -e: the ladder of that connection is on the screen before
#     Ctrl-C, every arrow of the handshake and the teardown where tcpdump
#     saw the segment (its flags, its relative seq and ack from the
#     capture's ISNs, its direction), in the capture's order; each end's
#     column holds the states the kernel's sock:inet_sock_set_state
#     tracepoint reported for its socket, in order, and TIME_WAIT on the
#     end ss lists in it; its header, "conversation 1: client >
#     server", is the only one: the earlier connection to the same port,
#     in the ring when --live started, is not drawn (--live traces from
#     now, as on the BPF route)
#   - after Ctrl-C: exit status 0, no "Broken pipe", no traceback, no
#     control a terminal would not expect, and the screen is the whole
#     picture: tcpflow-show's own ladder of the records written since
#     --live started (the ring's next= then)
#   - -f -S: a line per record as they come: a tx line for every segment
#     tcpdump saw (absolute seq and ack, as on the wire) and each socket's
#     tracepoint states in order; after Ctrl-C exit 0, no "Broken pipe"
import importlib.machinery
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tcpflow as tf  # noqa: E402

NS = "tflive"
PORT = 7670
ADDR = "127.0.0.1"
SHOW = os.path.join(tf.REPO, "tools", "tcpflow-show")
STATES = ("CLOSE", "LISTEN", "SYN_SENT", "SYN_RECV", "NEW_SYN_RECV",
          "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "CLOSING",
          "LAST_ACK", "TIME_WAIT")


def load_live():
    """tests/live/run's pty (Term) and terminal model (Screen)."""
    path = os.path.join(tf.REPO, "tests", "live", "run")
    loader = importlib.machinery.SourceFileLoader("live_run", path)
    spec = importlib.util.spec_from_loader("live_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def read_to(term, path, mark, timeout, others=()):
    """Wait until term's process has path open and has read it up to
    record number mark: its file offset (fdinfo's pos) is the number of
    the next record to read (docs/format.md), bit 62 set while inside a
    line.  The terms' output is read meanwhile."""
    pid = term.p.pid
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for x in (term,) + tuple(others):
            x.pump(0)
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != path:
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    pos = int(re.search(r"^pos:\s*(\d+)", f.read(),
                                        re.M).group(1))
                if not pos >> 62 & 1 and pos >= mark:
                    return True
            except (OSError, AttributeError):
                pass
        time.sleep(0.05)
    return False


def earlier():
    """A connection to PORT before the test's own, on the namespace's
    loopback: a conversation in the ring before --live starts."""
    with tf.in_netns(NS):
        srv = socket.socket()
        cli = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, PORT))
    srv.listen(1)
    cli.connect((ADDR, PORT))
    conn, _ = srv.accept()
    cli.close()
    conn.close()
    srv.close()
    time.sleep(0.3 * tf.SLOW)


def connection():
    """One connection on the namespace's loopback: a handshake, 5 bytes,
    the client closes first; the server closes once the client's FIN is
    acked (a four-segment close).  Returns the client's port and whether
    ss lists the client's end in TIME_WAIT."""
    with tf.in_netns(NS):
        srv = socket.socket()
        cli = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ADDR, PORT))
    srv.listen(1)
    cli.connect((ADDR, PORT))
    cport = cli.getsockname()[1]
    conn, _ = srv.accept()
    cli.sendall(b"hello")
    got = conn.recv(5)
    cli.close()
    eof = conn.recv(1)
    time.sleep(0.5 * tf.SLOW)      # the FIN's ACK goes alone
    conn.close()
    srv.close()
    time.sleep(0.3 * tf.SLOW)
    if got != b"hello" or eof != b"":
        raise RuntimeError("the exchange failed: %r, %r" % (got, eof))
    ss = subprocess.run(["ip", "netns", "exec", NS, "ss", "-Htan", "state",
                         "time-wait"], capture_output=True, text=True).stdout
    return cport, ("%s:%d" % (ADDR, cport)) in ss


def rel(n, base):
    return (n - base) & 0xffffffff


def arrows(packets, cport):
    """The capture's handshake and teardown segments, as the ladder labels
    them: (direction, label), in the capture's order."""
    c2s = [p for p in packets if p.sport == cport and p.dport == PORT]
    isn_c = next(p.seq for p in c2s if p.flags == "S")
    isn_s = next(p.seq for p in packets if p.sport == PORT and
                 p.dport == cport and p.flags == "S.")
    out = []
    for p, _ in tf.control_packets(packets, PORT):
        if cport not in (p.sport, p.dport):
            continue
        fwd = p.sport == cport
        seq = rel(p.seq, isn_c if fwd else isn_s)
        label = "[%s] seq=%d" % (p.flags, seq)
        if "." in p.flags:
            label += " ack=%d" % rel(p.ack, isn_s if fwd else isn_c)
        out.append(("c>s" if fwd else "s>c", label))
    return out


def arrow_re(direction, label):
    lab = re.escape(label)
    if direction == "c>s":
        return re.compile(r"\|-+ %s -+>\|" % lab)
    return re.compile(r"\|<-+ %s -+\|" % lab)


def in_order(rows, regexes):
    """The regexes each match a row, in order (one row each): the
    problems, [] when they do."""
    i = 0
    for what, rx in regexes:
        while i < len(rows) and not rx.search(rows[i]):
            i += 1
        if i == len(rows):
            return ["no %s after the previous one" % what]
        i += 1
    return []


def column_states(rows):
    """The states the ladder shows in each end's column, in order."""
    left, right = [], []
    for row in rows:
        parts = row.split("|")
        if len(parts) < 3:
            continue
        words = parts[0].split()
        if words and words[-1] in STATES:
            left.append(words[-1])
        words = parts[-1].split()
        if words and words[0] in STATES:
            right.append(words[2] if len(words) > 2 and words[1] == "->"
                         and words[2] in STATES else words[0])
    return left, right


def tp_states(events, cport):
    """Each end's socket's new states (the tracepoint's newstate), in
    order: the client's socket (port 0 before connect() binds it), the
    server's child socket."""
    cl = [e["new"] for e in events if e["dport"] == PORT and
          e["sport"] in (cport, 0)]
    sv = [e["new"] for e in events if e["sport"] == PORT and
          e["dport"] == cport]
    return cl, sv


def tw_ladder(states, tw):
    """What an end's column must show of its tracepoint states: a full
    socket's CLOSE on entering TIME_WAIT is the timewait sock's TIME_WAIT
    on the ladder (the tracepoint sees no timewait sock); a connection
    still in TIME_WAIT shows no CLOSE for it."""
    out = list(states)
    if tw and out and out[-1] == "CLOSE":
        out[-1] = "TIME_WAIT"
    return out


def three_segment_close(want):
    """The capture: after the client's FIN, the server's next segment is
    its FIN, with no pure ACK of the client's FIN before it."""
    fin = [i for i, (d, lab) in enumerate(want)
           if d == "c>s" and lab.startswith("[F")]
    after = [lab for d, lab in want[fin[0] + 1:] if d == "s>c"] \
        if fin else []
    return bool(after) and after[0].startswith("[F")


def subseq(want, got):
    it = iter(got)
    return all(any(w == g for g in it) for w in want)


def main():
    t = tf.TAP()
    tf.need_root_and_module(t)
    live = load_live()
    proc = tf.Proc()
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    os.makedirs(tf.OUT, exist_ok=True)
    pcap = os.path.join(tf.OUT, "87-live.pcap")
    proc.must("filter=-\nsegments=default\n")
    earlier()
    # Only this test's port is recorded from now on: the ring stays as it
    # is until the connection, and the end of the trace (where a ladder
    # says TIME_WAIT is still waiting) is the same for --live at Ctrl-C
    # and for the read of /proc/tcpflow after it.
    proc.must("filter=-\nsegments=default\nport=%d\n" % PORT)
    # What --live will read first: the ring as it is now.
    before = proc.read_raw().splitlines(True)
    mark = tf.parse_header(before[0])["next"]
    old = [tf.parse_record(ln) for ln in before if ln.startswith("n=")]
    tp = tf.Tracepoint("tflive")
    env = {"NO_COLOR": "1", "TCPFLOW_BPF": "/nonexistent/tcpflow-bpf"}
    terms = []
    try:
        dump = tf.Tcpdump(NS, "lo", pcap, "tcp port %d" % PORT).start()
        lv = live.Term([SHOW, "--live", "-e", "-p", str(PORT)], env=env)
        terms.append(lv)
        fw = live.Term([SHOW, "-f", "-e", "-S", "-p", str(PORT), tf.PROC],
                       env=env)
        terms.append(fw)
        ready = [read_to(x, tf.PROC, mark, 30 * tf.SLOW, terms)
                 for x in terms]
        busy = [r for r in old if PORT in (r["lport"], r["rport"])]
        t.ok(all(ready) and busy,
             "--live and -f /proc/tcpflow read the %d records already in "
             "the ring (%d of them an earlier connection to port %d)"
             % (len(old), len(busy), PORT),
             ["read to record %d: --live %s, -f %s" % ((mark,) +
                                                       tuple(ready))] +
             lv.screen.text()[-5:] + fw.screen.text()[-5:])
        cport, tw = connection()
        packets = dump.stop()
        events = tp.events()
        want = arrows(packets, cport)
        cl_tp, sv_tp = tp_states(events, cport)
        head = re.compile(r"conversation (\d+): %s:%d > %s:%d \(IPv4, "
                          r"both ends traced\)$" % (re.escape(ADDR), cport,
                                                    re.escape(ADDR), PORT))

        def heads(rows):
            return [r for r in rows if r.startswith("conversation ")]

        def own(rows):
            hs = heads(rows)
            m = head.match(hs[0]) if len(hs) == 1 else None
            return m and int(m.group(1)) == 1
        t.diag("client port %d; capture: %s" % (
            cport, ", ".join("%s %s" % w for w in want)))
        t.diag("tracepoint: client %s; server %s; ss TIME_WAIT: %s" % (
            " ".join(cl_tp), " ".join(sv_tp), tw))

        # ---- --live, before Ctrl-C: the ladder as it happened
        regexes = [("%s %s" % w, arrow_re(*w)) for w in want]

        def drawn(rows):
            return own(rows) and not in_order(rows, regexes)
        lv.wait_for(drawn, 10 * tf.SLOW)
        rows = lv.screen.text()
        t.ok(want and own(rows),
             "--live: 'conversation 1: %s:%d > %s:%d' is the only header "
             "on the screen: the earlier connection to port %d, in the ring "
             "when --live started, is not drawn" % (ADDR, cport, ADDR, PORT,
                                                    PORT),
             heads(rows) + rows[-30:])
        t.problems(in_order(rows, regexes) + ([] if want else ["no capture"]),
                   "--live: every handshake and teardown segment tcpdump "
                   "saw (%d) is an arrow on the screen, its flags, relative "
                   "seq/ack and direction, in the capture's order" %
                   len(want))
        left, right = column_states(rows)
        wl, wr = tw_ladder(cl_tp, tw), sv_tp
        if three_segment_close(want):
            # The server's FIN carried the ACK of the client's: the
            # ladder folds FIN_WAIT2 into the arrow.
            wl = [s for s in wl if s != "FIN_WAIT2"]
        t.ok(tw and cl_tp and sv_tp and subseq(wl, left) and
             subseq(wr, right),
             "--live: each end's column shows its socket's states from the "
             "tracepoint in order, the client's TIME_WAIT (ss lists it)",
             ["client: want %s, ladder %s" % (wl, left),
              "server: want %s, ladder %s" % (wr, right)])

        # ---- -f, before Ctrl-C: a line per record
        fwd = "%s:%d > %s:%d" % (ADDR, cport, ADDR, PORT)
        back = "%s:%d > %s:%d" % (ADDR, PORT, ADDR, cport)
        lines = []
        for p, _ in tf.control_packets(packets, PORT):
            if cport not in (p.sport, p.dport):
                continue
            text = "tx    %s: Flags [%s], seq %d" % (
                fwd if p.sport == cport else back, p.flags, p.seq)
            if "." in p.flags:
                text += ", ack %d" % p.ack
            lines.append((text, re.compile(re.escape(text) + ",")))

        def fstates(rows, tup):
            out = []
            for r in rows:
                m = re.search(r" state +(\S+) - (\S+): (\S+) -> (\S+)", r)
                if m and (m.group(1), m.group(2)) in tup:
                    out.append(m.group(4))
            return out
        ctup = {("%s:%d" % (ADDR, cport), "%s:%d" % (ADDR, PORT)),
                ("%s:0" % ADDR, "%s:%d" % (ADDR, PORT)),
                ("0.0.0.0:0", "%s:%d" % (ADDR, PORT))}
        stup = {("%s:%d" % (ADDR, PORT), "%s:%d" % (ADDR, cport))}

        def followed(rows):
            return not in_order(rows, lines) and \
                subseq(cl_tp, fstates(rows, ctup)) and \
                subseq(sv_tp, fstates(rows, stup))
        fw.wait_for(followed, 10 * tf.SLOW)
        rows = fw.screen.text()
        t.problems(in_order(rows, lines) + ([] if lines else ["no capture"]),
                   "-f -S: a tx line for every handshake and teardown "
                   "segment tcpdump saw (%d), its seq and ack as on the "
                   "wire, in the capture's order" % len(lines))
        t.ok(cl_tp and sv_tp and subseq(cl_tp, fstates(rows, ctup)) and
             subseq(sv_tp, fstates(rows, stup)),
             "-f: a state line for each of the tracepoint's state changes "
             "of both sockets, in order",
             ["client: tracepoint %s, -f %s" % (cl_tp, fstates(rows, ctup)),
              "server: tracepoint %s, -f %s" % (sv_tp, fstates(rows, stup))])

        # ---- Ctrl-C
        lv.ctrl_c()
        fw.ctrl_c()
        rc_lv = lv.finish()
        rc_fw = fw.finish()
        trace = before[:1] + proc.read_raw(mark).splitlines(True)
        whole = live.batch(["-e", "-p", str(PORT)], trace)
        for name, term, rc in (("--live", lv, rc_lv), ("-f", fw, rc_fw)):
            t.ok(rc == 0 and b"Broken pipe" not in term.raw and
                 b"Traceback" not in term.raw and not term.screen.bad,
                 "%s: after Ctrl-C exit status 0, no 'Broken pipe', no "
                 "traceback, only the controls a terminal expects" % name,
                 ["exit status %r" % rc, "controls: %r" %
                  term.screen.bad[:5]] + term.screen.text()[-5:])
        got = lv.screen.text()
        t.ok(own(whole) and got == whole,
             "--live: after Ctrl-C the screen is the whole picture, the "
             "ladder tcpflow-show draws of the records since --live "
             "started, read afterwards (%d rows)" % len(whole),
             heads(whole) + heads(got) +
             [live.diff(whole, got).replace("\n# ", "\n")])
        t.problems(in_order(got, regexes), "--live: after Ctrl-C every "
                   "arrow is still on the screen")
    finally:
        for x in terms:
            if x.p.poll() is None:
                os.killpg(x.p.pid, 9)
                x.p.wait()
        tp.close()
        proc.must("filter=-\n")
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    t.done()


if __name__ == "__main__":
    main()
