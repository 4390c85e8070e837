# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench.d/bench_lib.py: what scripts/bench (host) and bench-guest
# (in the lab guest) share: the records one benchmark connection must leave
# in /proc/tcpflow, a fast counter of a trace's records that checks every
# connection against them, and a count of the burst's packet capture.
# Both read their files through the project's reader of the format
# (tools/tcpflow_format.py).
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tools"))
from tcpflow_format import (RECORD_KEYS, check_layout,  # noqa: E402
                            parse_header, pcap_frames)

CONN_PORT = 8080	# the connections workload's server port
BULK_PORT = 8081	# the bulk transfer's

# The records one loopback connection makes in tcpflow's default segment
# mode (connect, write 1 byte, read the 1-byte reply, close; the server
# reads to EOF and closes: the client closes first), as
# (end, ev, sock, old, new, state, flags); end: c client, s server, l the
# listener (the SYN reaches it).  Why each is there: docs/proc.md, "The
# events in the order a connection makes them", and module/hooks.c.
SHAPE_A = collections.Counter([
    ("c", "state", "full", "CLOSE", "SYN_SENT", "-", "-"),
    ("c", "tx", "full", "-", "-", "SYN_SENT", "S"),
    ("l", "rx", "full", "-", "-", "LISTEN", "S"),
    ("s", "state", "req", "LISTEN", "NEW_SYN_RECV", "-", "-"),
    ("s", "tx", "req", "-", "-", "NEW_SYN_RECV", "S."),
    ("c", "rx", "full", "-", "-", "SYN_SENT", "S."),
    ("c", "state", "full", "SYN_SENT", "ESTABLISHED", "-", "-"),
    ("c", "tx", "full", "-", "-", "ESTABLISHED", "."),
    ("s", "rx", "req", "-", "-", "NEW_SYN_RECV", "."),
    ("s", "state", "full", "NEW_SYN_RECV", "SYN_RECV", "-", "-"),
    ("s", "state", "full", "SYN_RECV", "ESTABLISHED", "-", "-"),
    ("c", "state", "full", "ESTABLISHED", "FIN_WAIT1", "-", "-"),
    ("c", "tx", "full", "-", "-", "FIN_WAIT1", "F."),
    ("s", "rx", "full", "-", "-", "ESTABLISHED", "F."),
    ("s", "state", "full", "ESTABLISHED", "CLOSE_WAIT", "-", "-"),
    ("s", "state", "full", "CLOSE_WAIT", "LAST_ACK", "-", "-"),
    ("s", "tx", "full", "-", "-", "LAST_ACK", "F."),
    ("c", "rx", "full", "-", "-", "FIN_WAIT1", "F."),
    ("c", "state", "full", "FIN_WAIT1", "FIN_WAIT2", "-", "-"),
    ("c", "tx", "full", "-", "-", "FIN_WAIT2", "."),
    ("c", "state", "tw", "FIN_WAIT2", "TIME_WAIT", "-", "-"),
    ("c", "state", "full", "FIN_WAIT2", "CLOSE", "-", "-"),
    ("s", "rx", "full", "-", "-", "LAST_ACK", "."),
    ("s", "state", "full", "LAST_ACK", "CLOSE", "-", "-"),
])
# Shape B: the server's delayed-ACK timer fired before it closed, so the
# ACK of the client's FIN went alone; the client's orphaned socket became
# a FIN_WAIT2 timewait sock at once, and the server's FIN reached that.
SHAPE_B = SHAPE_A.copy()
SHAPE_B.subtract([
    ("c", "rx", "full", "-", "-", "FIN_WAIT1", "F."),
    ("c", "tx", "full", "-", "-", "FIN_WAIT2", "."),
    ("c", "state", "tw", "FIN_WAIT2", "TIME_WAIT", "-", "-"),
])
SHAPE_B.update([
    ("s", "tx", "full", "-", "-", "CLOSE_WAIT", "."),
    ("c", "rx", "full", "-", "-", "FIN_WAIT1", "."),
    ("c", "state", "tw", "FIN_WAIT2", "FIN_WAIT2", "-", "-"),
    ("c", "rx", "tw", "-", "-", "FIN_WAIT2", "F."),
    ("c", "state", "tw", "FIN_WAIT2", "TIME_WAIT", "-", "-"),
    ("c", "tx", "tw", "-", "-", "TIME_WAIT", "."),
])
SHAPE_B = +SHAPE_B
SHAPES = {"A": SHAPE_A, "B": SHAPE_B}
# segments=all adds every data segment and ACK, in numbers that depend on
# delayed ACKs; the state changes are still these.
STATE_SHAPES = {n: +collections.Counter({k: c for k, c in s.items()
                                         if k[1] == "state"})
                for n, s in SHAPES.items()}
# A listener's records: CLOSE->LISTEN (listen()), LISTEN->CLOSE
# (shutdown(); the close() after it finds the socket closed already).
LISTENER_RECORDS = 2
# sock:inet_sock_set_state events per connection: client CLOSE->SYN_SENT->
# ESTABLISHED->FIN_WAIT1->FIN_WAIT2->CLOSE, server child (LISTEN)->
# SYN_RECV->ESTABLISHED->CLOSE_WAIT->LAST_ACK->CLOSE.  TIME_WAIT lives on
# a timewait sock, which the tracepoint never sees.  These are the state
# records of full sockets in tcpflow (sock=full), one for one.
TP_PER_CONN = 10
# And per listener: CLOSE->LISTEN (inet_sk_state_store() traces too),
# LISTEN->CLOSE.
TP_LISTENER = 2


def kv(text):
    """'a=1 b=x' lines -> dict, numbers converted; a 'mib ...' line nested."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        target = out
        if words[0] == "mib":
            target = out.setdefault("mib", {})
            words = words[1:]
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                try:
                    target[k] = float(v) if "." in v else int(v)
                except ValueError:
                    target[k] = v
    return out


def header(path):
    """A trace's header (format 1.x), as parse_header() reads it, less
    its "version"."""
    with open(path) as f:
        line = f.readline()
    try:
        h = parse_header(line)
    except ValueError:
        h = {}
    if not h.get("version", "").startswith("1."):
        raise ValueError("%s: not a /proc/tcpflow trace: %r" % (path, line))
    del h["version"]
    return h


# tally() reads the first 16 keys of each record line by their place in
# the line (the format keeps its keys in order, which the first line is
# checked for), a split that is faster than parse_record()'s.
(_CONN, _EV, _SOCK, _LPORT, _RPORT, _OLD, _NEW, _STATE, _FLAGS) = (
    RECORD_KEYS.index(k) for k in ("conn", "ev", "sock", "lport", "rport",
                                   "old", "new", "state", "flags"))
_NSPLIT = _FLAGS + 1


def tally(path, port=CONN_PORT):
    """Count a trace's records by kind and port, and check each connection
    of the workload on @port against the shapes above."""
    kinds = collections.Counter()
    by_port = collections.Counter()
    ev_flags = collections.Counter()
    full_states = 0
    why = collections.Counter()
    conns = collections.defaultdict(list)
    listeners = set()
    total = 0
    checked = False
    sp = str(port)
    with open(path) as f:
        for line in f:
            if line[0] == "#":
                continue
            w = line.split(" ", _NSPLIT)
            if not checked:
                check_layout([x.partition("=")[0] for x in line.split()],
                             line)
                checked = True
            total += 1
            ev = w[_EV][3:]
            kinds[ev] += 1
            lport, rport = w[_LPORT][6:], w[_RPORT][6:]
            if " why=-" not in w[_NSPLIT]:
                why[w[_NSPLIT].split(" why=", 1)[1].split(" ", 1)[0]] += 1
            sock = w[_SOCK][5:]
            if ev == "state" and sock == "full":
                full_states += 1
            if lport == sp or rport == sp:
                by_port[port] += 1
            elif lport == str(BULK_PORT) or rport == str(BULK_PORT):
                by_port[BULK_PORT] += 1
                continue
            else:
                by_port["other"] += 1
                continue
            flags = w[_FLAGS][6:]
            ev_flags[ev + " " + flags] += 1
            old, new = w[_OLD][4:], w[_NEW][4:]
            conn = w[_CONN]
            if new == "LISTEN" or (old == "LISTEN" and sock == "full"):
                listeners.add(conn)
            conns[conn].append((ev, sock, old, new, w[_STATE][6:],
                                flags, int(lport), int(rport)))
    # Each connection's records, keyed by the client's port.
    per_client = collections.defaultdict(collections.Counter)
    listener_recs = collections.Counter()
    unkeyed = 0
    for conn, recs in conns.items():
        if conn in listeners:
            for r in recs:
                if r[0] == "state":
                    listener_recs[r[2] + "->" + r[3]] += 1
                elif r[7]:
                    per_client[r[7]][("l",) + r[:6]] += 1
                else:
                    listener_recs[r[0] + " " + r[5]] += 1
            continue
        key = end = None
        for r in recs:
            if r[6] == port and r[7]:
                key, end = r[7], "s"
                break
            if r[7] == port and r[6]:
                key, end = r[6], "c"
                break
        if key is None:
            unkeyed += len(recs)
            continue
        for r in recs:
            per_client[key][(end,) + r[:6]] += 1
    shapes = collections.Counter()
    state_shapes = collections.Counter()
    extra = collections.Counter()
    missing = collections.Counter()
    examples = []
    odd = []
    for key, got in per_client.items():
        for name, want in SHAPES.items():
            if got == want:
                shapes[name] += 1
                break
        else:
            # Not exactly a shape: the nearest one, and whether each end
            # still has at least as many records of each event as that
            # shape (a segment sent again, a reply from the listener
            # instead of the request sock...), or fewer: a loss.
            best = min(SHAPES, key=lambda n: sum((SHAPES[n] - got).values())
                       + sum((got - SHAPES[n]).values()))
            lack = SHAPES[best] - got
            more = got - SHAPES[best]
            short = classes(SHAPES[best]) - classes(got)
            shapes[best + ("-missing" if short else "+extra")] += 1
            extra.update({" ".join(k): n for k, n in more.items()})
            missing.update({" ".join(k): n for k, n in lack.items()})
            ex = {"client_port": key, "shape": best,
                  "short": sorted("%s %s x%d" % (k + (n,))
                                  for k, n in short.items()),
                  "lacks": sorted(" ".join(k) for k in lack),
                  "besides": sorted(" ".join(k) for k in more)}
            if short and len(examples) < 5:
                examples.append(ex)
            elif not short and len(odd) < 5:
                odd.append(ex)
        st = +collections.Counter({k: c for k, c in got.items()
                                   if k[1] == "state"})
        for name, want in STATE_SHAPES.items():
            if st == want:
                state_shapes[name] += 1
                break
        else:
            best = min(STATE_SHAPES,
                       key=lambda n: sum((STATE_SHAPES[n] - st).values()))
            state_shapes[best + ("+extra" if not STATE_SHAPES[best] - st
                                 else "-missing")] += 1
    return {
        "records": total,
        "by_kind": dict(kinds),
        "by_port": {str(k): v for k, v in by_port.items()},
        "why": dict(why),
        "full_state_records": full_states,
        "listener_records": dict(listener_recs),
        "unkeyed_records": unkeyed,
        "connections": len(per_client),
        "shapes": dict(shapes),
        "state_shapes": dict(state_shapes),
        "ev_flags": dict(ev_flags),
        "extra": dict(extra.most_common(12)),
        "missing": dict(missing.most_common(12)),
        "missing_examples": examples,
        "other_examples": odd,
    }


def classes(shape):
    """Records per (end, event): the server's end includes the listener."""
    out = collections.Counter()
    for k, n in shape.items():
        out[("s" if k[0] == "l" else k[0], k[1])] += n
    return out


def base_records(t, conns):
    """Records the connections workload must leave in default mode: each
    connection's shape, plus the listener's."""
    n_b = sum(v for k, v in t["shapes"].items() if k.startswith("B"))
    n_a = conns - n_b
    return (n_a * sum(SHAPE_A.values()) + n_b * sum(SHAPE_B.values()) +
            LISTENER_RECORDS)


def verdict_status(lines):
    """The exit status of a report's target lines: 0 when every verdict
    passed.  A verdict is a line that starts at column 0 (with PASS or
    FAIL); an indented line under it ("     the same in CPU time: ...")
    is that verdict's evidence and counts for nothing.  Any other line at
    column 0, or no verdict at all, is a failure: a report that says
    nothing has not passed."""
    verdicts = [x for x in lines if x and not x[0].isspace()]
    if not verdicts:
        return 1
    return 0 if all(x.startswith("PASS ") for x in verdicts) else 1


def pcap_flags(path):
    """Count a capture's TCP packets: SYN, SYN-ACK, FIN, RST, all."""
    out = collections.Counter()
    link, frames = pcap_frames(path, linktypes=None)
    skip = {1: 14, 113: 16, 276: 20, 0: 4, 12: 0, 101: 0}.get(link, 14)
    for _, d, _ in frames:
        ip = d[skip:]
        if not ip:
            continue
        if ip[0] >> 4 == 6:
            if len(ip) < 54 or ip[6] != 6:
                continue
            tcp = ip[40:]
        else:
            if len(ip) < 34 or ip[9] != 6:
                continue
            tcp = ip[(ip[0] & 15) * 4:]
        if len(tcp) < 14:
            continue
        fl = tcp[13]
        out["all"] += 1
        if fl & 0x02:
            out["SYN-ACK" if fl & 0x10 else "SYN"] += 1
        if fl & 0x01:
            out["FIN"] += 1
        if fl & 0x04:
            out["RST"] += 1
    return dict(out)


def record_flags(ev_flags, ev):
    """The same classes from tcpflow's segment records of one direction."""
    out = collections.Counter()
    for k, n in ev_flags.items():
        e, fl = k.split(" ", 1)
        if e != ev:
            continue
        out["all"] += n
        if "S" in fl:
            out["SYN-ACK" if "." in fl else "SYN"] += n
        if "F" in fl:
            out["FIN"] += n
        if "R" in fl:
            out["RST"] += n
    return dict(out)
