# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/expect.py: the expectation language, and the check
of a run's records against it.

Each scenario says what must happen, as data: the EXPECT text, one line
per event, for both ends:

    END LABEL EV SOCK WHAT [FLAGS SEQ ACK] [len=N] [why=W] [lost] [raw]

    END    client | server: whose records (the server end is the side
           whose local port is the scenario's port)
    LABEL  which socket of that end: L = the listener, - = no socket
           (conn 0), 1, 2, ... = connections in the order the end first
           records them (the same number on both ends is the same
           connection)
    EV     state | tx | rx
    SOCK   full | req | tw | none
    WHAT   state: OLD>NEW; tx/rx: the socket's state at the segment
    FLAGS  tcpdump letters: S, S., ., F., R., P.
    SEQ    sequence number relative to the SENDER's initial sequence
           number (0 if the sender sent no SYN), - when not checked
    ACK    acknowledgement number relative to the RECEIVER's ISN, - when
           not checked (a SYN has no ACK)
    len=N  payload bytes (default 0)
    why=W  expire | kill | rearm
    lost   (tx only) dropped by a firewall rule before it reached the wire
           (a segment lost ON the wire, Ctx.drop_on_wire(), has no
           marker: it is sent and on the wire, and the receiver simply
           has no rx line for it; the run's notes list it as wire_dropped)
    raw    (tx only) written by the scenario with a raw socket, not sent
           by TCP: on the wire, but no record on the sending end (the
           run's notes list such segments as raw_sent)

The order of the lines is one possible order of the whole exchange (a
ladder to read); what is checked is the order within each (END, LABEL).
match_expectation() checks records (dicts with the /proc/tcpflow keys)
against it; expected_wire() gives the segments that must be on the wire."""

from .common import CLIENT, SERVER


class ExpLine:
    __slots__ = ("end", "label", "ev", "sock", "old", "new", "state",
                 "flags", "seq", "ack", "len", "why", "lost", "raw", "text")

    def key(self):
        """What a record must show to match, with relative seq/ack."""
        if self.ev == "state":
            return ("state", self.sock, self.old, self.new, self.why)
        return (self.ev, self.sock, self.state, self.flags, self.seq,
                self.ack, self.len)


def parse_expect(text):
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        w = line.split()
        e = ExpLine()
        e.text = line
        e.end, e.label, e.ev, e.sock = w[0], w[1], w[2], w[3]
        e.old = e.new = e.state = e.flags = e.seq = e.ack = None
        e.len, e.why, e.lost, e.raw = 0, "-", False, False
        rest = w[4:]
        if e.ev == "state":
            e.old, e.new = rest[0].split(">")
            rest = rest[1:]
        else:
            e.state, e.flags = rest[0], rest[1]
            e.seq = None if rest[2] == "-" else int(rest[2])
            e.ack = None if rest[3] == "-" else int(rest[3])
            rest = rest[4:]
        for opt in rest:
            if opt == "lost":
                e.lost = True
            elif opt == "raw":
                e.raw = True
            elif opt.startswith("len="):
                e.len = int(opt[4:])
            elif opt.startswith("why="):
                e.why = opt[4:]
            else:
                raise ValueError("bad expectation line: " + raw)
        lines.append(e)
    return lines


def expected_wire(run):
    """The segments the expectation puts on the wire, in order: a list of
    (sender, flags, seq, ack, len) with relative numbers."""
    return [(e.end, e.flags, e.seq, e.ack, e.len)
            for e in parse_expect(run.expect) if e.ev == "tx" and not e.lost]


def _iv(v):
    if v is None or v == "-":
        return None
    return int(v)


def end_of(rec, run):
    """Which end a record belongs to: the server's records have the
    scenario's port as their local port."""
    return SERVER if _iv(rec["lport"]) == run.port else CLIENT


class Relative:
    """Turns absolute seq/ack into numbers relative to the ISNs, per
    connection, from the SYNs seen in the records (in record order).  A
    new client ISN on the same 4-tuple starts a new epoch.  Each end's
    ISN is its SYN's (with or without ACK: in a simultaneous open the
    server sends a bare SYN too)."""

    def __init__(self, run):
        self.run = run
        self.isn = {}  # client port -> {client: isn, server: isn}

    def feed(self, rec):
        """Returns (sender, rel_seq, rel_ack) for a segment record."""
        end = end_of(rec, self.run)
        cport = _iv(rec["rport"]) if end == SERVER else _iv(rec["lport"])
        if rec["ev"] == "tx":
            sender = end
        else:
            sender = CLIENT if end == SERVER else SERVER
        receiver = SERVER if sender == CLIENT else CLIENT
        flags = rec["flags"]
        seq, ack = _iv(rec["seq"]), _iv(rec["ack"])
        isn = self.isn.setdefault(cport, {CLIENT: None, SERVER: None})
        if "S" in flags and "." not in flags and sender == CLIENT:
            if isn[CLIENT] != seq:
                # A new client ISN: a new connection, unless this is the
                # first client SYN and the server's own SYN came first
                # (a simultaneous open).
                if isn[CLIENT] is not None:
                    isn[SERVER] = None
                isn[CLIENT] = seq
        if "S" in flags and sender == SERVER:
            isn[SERVER] = seq
        rs = (seq - (isn[sender] or 0)) & 0xffffffff
        ra = (ack - (isn[receiver] or 0)) & 0xffffffff
        return sender, rs, ra


def trace_story(records, run):
    """Group a scenario's records by (end, label) as comparable keys.
    records: dicts with the /proc/tcpflow keys, already limited to the
    run (its namespaces, its port), in record order.  Returns
    {(end, label): [(key, record), ...]} and {(end, label): conn}."""
    rel = Relative(run)
    labels = {CLIENT: {}, SERVER: {}}
    count = {CLIENT: 0, SERVER: 0}
    story, conns = {}, {}
    for r in records:
        end = end_of(r, run)
        conn = _iv(r["conn"])
        if conn == 0:
            label = "-"
        elif conn in labels[end]:
            label = labels[end][conn]
        elif (r["ev"] == "state" and r["sock"] == "full" and
              "LISTEN" in (r["old"], r["new"])) or \
                (r["ev"] == "rx" and r["state"] == "LISTEN"):
            label = labels[end][conn] = "L"
        else:
            count[end] += 1
            label = labels[end][conn] = str(count[end])
        conns[(end, label)] = conn
        if r["ev"] == "state":
            key = ("state", r["sock"], r["old"], r["new"], r.get("why", "-"))
        else:
            _, rs, ra = rel.feed(r)
            key = (r["ev"], r["sock"], r["state"], r["flags"], rs, ra,
                   _iv(r["len"]))
        story.setdefault((end, label), []).append((key, r))
    return story, conns


def _key_matches(exp, got):
    if exp[0] != got[0]:
        return False
    if exp[0] == "state":
        return exp == got
    for i, (a, b) in enumerate(zip(exp, got)):
        if a is None and i in (4, 5):
            continue  # seq/ack not checked
        if a != b:
            return False
    return True


def fmt_key(key):
    if key[0] == "state":
        s = "state %s %s>%s" % key[1:4]
        return s + ("" if key[4] in ("-", None) else " why=%s" % key[4])
    ev, sock, state, flags, seq, ack, ln = key
    return "%s %s %s %s %s %s%s" % (
        ev, sock, state, flags, "-" if seq is None else seq,
        "-" if ack is None else ack, " len=%d" % ln if ln else "")


def match_expectation(records, run):
    """Compare the records of a run with its EXPECT text.  Returns a list
    of problems (strings; empty when all is as expected)."""
    exp = parse_expect(run.expect)
    want = {}
    for e in exp:
        if e.raw:
            continue  # on the wire only: no socket sent it
        k = e.key()
        if e.ev != "state":
            k = k[:4] + (e.seq, e.ack, e.len)
        want.setdefault((e.end, e.label), []).append((k, e.text))
    story, conns = trace_story(records, run)
    problems = []
    for who in sorted(set(want) | set(story)):
        w = want.get(who, [])
        g = story.get(who, [])
        n = len(w) if run.prefix else max(len(w), len(g))
        for i in range(n):
            we = w[i] if i < len(w) else None
            ge = g[i] if i < len(g) else None
            if we and ge and _key_matches(we[0], ge[0]):
                continue
            problems.append(
                "%s %s (conn %s), event %d: expected %s, got %s" % (
                    who[0], who[1], conns.get(who, "?"), i + 1,
                    we[1] if we else "nothing more",
                    "%s   [n=%s]" % (fmt_key(ge[0]), ge[1]["n"]) if ge
                    else "nothing"))
            break  # one problem per socket: the rest follows from it
    return problems
