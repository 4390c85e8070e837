# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/runner.py: how a scenario is told and run.

A scenario is a generator function registered with @scenario, with its
title, its one-line summary and its expectation (a function of the Run
that returns the EXPECT text, see expect.py).  It gets a Ctx: the two
actors and the steps it is told with (listen, connect, accept, wait for
a state, change the network between the hosts).  It drives the ends step
by step and waits, between steps, for the kernel to reach the state the
next step needs (read from the actor's /proc/net/tcp), so the sequence
of segments is the same on every run: no step races a delayed ACK.  It
yields only where it waits a long time (Wait), so that a test can do
other work meanwhile.

Runner runs one scenario on a pair of Hosts and returns its Run: the
facts a test or a demo needs to find the run's records and check them."""

import time

from .actors import Actor
from .common import (CLIENT, COMM, DEFAULT_PORT, SERVER, NoNetem,
                     ScenarioError, mono)
from .netns import (ADDR, LOOPBACK, VETH, in_netns, netns_inum, nft,
                    ns_run)
from .wire import WireDrop, send_raw, syn_packet


class Run:
    """What one run of a scenario did: everything a test or a demo needs
    to find its records and check them.

    name, af, link, port (the server's port), saddr, caddr (addresses
    as the sockets see them), cports (client ports, in connect order),
    pids/comms {client: .., server: ..}, netns {client: inum, server:
    inum} (for link=lo both are the server's), ns {end: namespace name},
    t0/t1 (CLOCK_MONOTONIC seconds at start/end), notes (dict of
    scenario-specific facts), expect (the EXPECT text), prefix (the
    expectation is only the beginning of each socket's story).
    """

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items()
                if not k.startswith("_") and k != "hooks"}


class Wait:
    """Yielded by a scenario that has to wait (e.g. for TIME_WAIT to run
    out): the caller may do other work and then call Runner.finish()."""

    def __init__(self, what, done, deadline, interval=0.5):
        self.what, self.done = what, done
        self.deadline, self.interval = deadline, interval


class Ctx:
    """What a scenario function works with."""

    def __init__(self, hosts, run, hooks):
        self.hosts, self.run, self.hooks = hosts, run, hooks
        self.af, self.port = run.af, run.port
        self.saddr, self.caddr = run.saddr, run.caddr
        ns = run.ns
        self.server = Actor(ns[SERVER], COMM[SERVER])
        self.client = Actor(ns[CLIENT], COMM[CLIENT])
        self.actor = {CLIENT: self.client, SERVER: self.server}
        run.pids = {CLIENT: self.client.pid, SERVER: self.server.pid}
        run.comms = dict(COMM)
        self.cleanups = []

    # -- steps

    def listen(self, name="l", backlog=16):
        """The server's listener, bound to the server's address; with the
        run option mapped=True an IPv6 socket bound to :: that takes IPv4
        connections too (their addresses are v4-mapped); with wildcard=True
        bound to 0.0.0.0 or ::."""
        s = self.server
        if self.run.opts.get("mapped"):
            s.call("socket", name, 6)
            s.call("reuseaddr", name)
            s.call("bind", name, "::", self.port)
        elif self.run.opts.get("wildcard"):
            s.call("socket", name, self.af)
            s.call("reuseaddr", name)
            s.call("bind", name, "::" if self.af == 6 else "0.0.0.0",
                   self.port)
        else:
            s.call("socket", name, self.af)
            s.call("reuseaddr", name)
            s.call("bind", name, self.saddr, self.port)
        s.call("listen", name, backlog)

    def connect(self, name="c", bind_port=None, blocking=True,
                reuseaddr=False):
        c = self.client
        c.call("socket", name, self.af)
        if bind_port is not None or reuseaddr:
            c.call("reuseaddr", name)
        if bind_port is not None:
            c.call("bind", name, self.caddr, bind_port)
        if blocking:
            port = c.call("connect", name, self.saddr, self.port, 10)
        else:
            port = c.call("connect_nb", name, self.saddr, self.port)
        self.run.cports.append(port)
        return port

    def accept(self, name="a", lname="l"):
        return self.server.call("accept", lname, name, 10)

    def checkpoint(self, what):
        """Let a test look at the hosts at a named point."""
        self.run.notes.setdefault("checkpoints", []).append(what)
        fn = self.hooks.get(what)
        if fn:
            fn(self.run)

    def note(self, key, value):
        self.run.notes[key] = value

    def say(self, text):
        """A fact for the demo to print under its ladder (notes["said"])."""
        self.run.notes.setdefault("said", []).append(text)

    # -- waiting for the kernel

    def tuple_of(self, end, cport):
        if end == SERVER:
            return (self.port, cport)
        return (cport, self.port)

    def states(self, end, cport):
        lp, rp = self.tuple_of(end, cport)
        return [t["state"] for t in self.actor[end].call("tcp_table")
                if t["lport"] == lp and t["rport"] == rp]

    def entry(self, end, cport):
        lp, rp = self.tuple_of(end, cport)
        for t in self.actor[end].call("tcp_table"):
            if t["lport"] == lp and t["rport"] == rp:
                return t
        return None

    def wait_state(self, end, cport, want, timeout=10):
        """Wait until end's socket for the connection from cport is in one
        of the states want (a list; None in it means: no socket)."""
        deadline = mono() + timeout
        while True:
            st = self.states(end, cport)
            if any(w in st for w in want) or (None in want and not st):
                return st
            if mono() > deadline:
                raise ScenarioError(
                    "%s side of :%d <-> :%d: waited %d s for %s, have %s" % (
                        end, cport, self.port, timeout,
                        "/".join(str(w) for w in want), st or "no socket"))
            time.sleep(0.02)

    def wait_gone(self, end, cport, timeout=10):
        return self.wait_state(end, cport, [None], timeout)

    def wait_acked(self, end, cport, timeout=10):
        """Wait until everything end sent on the connection is acked."""
        deadline = mono() + timeout
        while True:
            e = self.entry(end, cport)
            if e is None or e["tx_queue"] == 0:
                return
            if mono() > deadline:
                raise ScenarioError("%s: data still unacked after %d s" % (
                    end, timeout))
            time.sleep(0.02)

    def settle(self, secs=0.1):
        time.sleep(secs)

    # -- the network between the hosts

    def nft_table(self, ns_end, name, chains):
        """Add nftables table `name` in end's namespace (removed when the
        run ends).  chains: the table body."""
        ns = self.run.ns[ns_end]
        nft(ns, "table inet %s {\n%s\n}\n" % (name, chains))
        self.run.notes["firewall"] = True
        self.cleanups.append(
            lambda: nft(ns, "delete table inet %s\n" % name))

    def drop_on_wire(self, to_end, sport, dport, flags):
        """Lose the first segment from sport to dport with these flags
        on its way into to_end's host (veth), once (WireDrop; detached
        when the run ends).  Noted in wire_dropped: the capture on the
        sender's side has it, the receiver has no rx record of it."""
        drop = WireDrop(self.run.ns[to_end], VETH[to_end], sport, dport,
                        flags)
        sender = CLIENT if to_end == SERVER else SERVER
        self.run.notes.setdefault("wire_dropped", []).append(
            [ADDR[self.af][sender], sport, ADDR[self.af][to_end], dport,
             flags])
        self.cleanups.append(drop.close)
        return drop

    def sysctl(self, end, name, value):
        """Set net sysctl name (e.g. "ipv4/tcp_syncookies") in end's
        namespace until the run ends."""
        ns = self.run.ns[end]
        knob = "/proc/sys/net/" + name
        with in_netns(ns):
            with open(knob) as f:
                saved = f.read().strip()
            with open(knob, "w") as f:
                f.write(str(value))

        def restore():
            with in_netns(ns):
                with open(knob, "w") as f:
                    f.write(saved)
        self.cleanups.append(restore)

    def inject_syns(self, syns):
        """Send bare SYNs from the client's host through a raw socket, not
        through TCP: syns is a list of (source address, source port,
        sequence number), to the server's address and port.  Each is noted
        in raw_sent as [src, sport, dst, dport, seq]: the checks know that
        no tcpflow record on the client's end sent them."""
        pkts = []
        for src, sport, seq in syns:
            pkts.append(syn_packet(self.af, src, self.saddr, sport,
                                   self.port, seq))
            self.run.notes.setdefault("raw_sent", []).append(
                [src, sport, self.saddr, self.port, seq])
        send_raw(self.run.ns[CLIENT], self.af, self.saddr, pkts)

    def netem(self, end, delay_ms):
        """Delay what end sends on its veth by delay_ms (until the run
        ends, or until the returned function is called)."""
        dev = VETH[end]
        ns = self.run.ns[end]
        p = ns_run(ns, ["tc", "qdisc", "replace", "dev", dev, "root",
                        "netem", "delay", "%dms" % delay_ms], check=False)
        if p.returncode != 0:
            if not self.hosts.netem or "kind is unknown" in p.stderr:
                raise NoNetem(
                    "%s needs a %d ms delay on a link, and this kernel has "
                    "no netem qdisc (sch_netem)" % (self.run.name, delay_ms))
            raise ScenarioError("[netns %s] tc qdisc replace ... netem: %s"
                                % (ns, (p.stderr or p.stdout).strip()))
        base = self.hosts.delay_ms
        done = []

        def undo():
            if done:
                return
            done.append(1)
            if base:
                ns_run(ns, ["tc", "qdisc", "replace", "dev", dev, "root",
                            "netem", "delay", "%dms" % base], check=False)
            else:
                ns_run(ns, ["tc", "qdisc", "del", "dev", dev, "root"],
                       check=False)
        self.cleanups.append(undo)
        return undo

    def close(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        self.cleanups = []
        self.client.stop()
        self.server.stop()


class Scenario:
    def __init__(self, name, title, summary, fn, expect, links, afs, prefix,
                 wire_complete):
        self.name, self.title, self.summary = name, title, summary
        self.fn, self.expect_fn = fn, expect
        self.links, self.afs, self.prefix = links, afs, prefix
        self.wire_complete = wire_complete


SCENARIOS = {}


def scenario(name, title, summary, expect, links=("veth", "lo"), afs=(4, 6),
             prefix=False, wire_complete=True):
    """Register a scenario.  prefix: the expectation is only how each
    socket's story begins.  wire_complete: the expectation lists every
    segment on the wire (False: only the handshake and teardown, as the
    default segment mode records them; data is left out)."""
    def reg(fn):
        SCENARIOS[name] = Scenario(name, title, summary, fn, expect, links,
                                   afs, prefix, wire_complete)
        return fn
    return reg


class Runner:
    """Runs one scenario.  start() sets it up, advance() runs it up to its
    next Wait (or to the end), finish() runs it to the end, sleeping
    through Waits.  run() does all of it."""

    def __init__(self, name, hosts, af=4, link="veth", port=DEFAULT_PORT,
                 hooks=None, **opts):
        sc = SCENARIOS[name]
        if link not in sc.links:
            raise ScenarioError("%s does not run on %s" % (name, link))
        if af not in sc.afs:
            raise ScenarioError("%s does not run over IPv%d" % (name, af))
        self.sc, self.hosts = sc, hosts
        r = self.runrec = Run()
        r.name, r.af, r.link, r.port = name, af, link, port
        r.title, r.summary = sc.title, sc.summary
        r.opts = opts
        if link == "lo":
            r.saddr = r.caddr = LOOPBACK[af]
            r.ns = {CLIENT: hosts.ns[SERVER], SERVER: hosts.ns[SERVER]}
        else:
            r.saddr, r.caddr = ADDR[af][SERVER], ADDR[af][CLIENT]
            r.ns = dict(hosts.ns)
        r.netns = {e: netns_inum(r.ns[e]) for e in (CLIENT, SERVER)}
        r.cports, r.notes, r.prefix = [], {}, sc.prefix
        r.wire_complete = sc.wire_complete
        self.hooks = hooks or {}
        self.ctx = None
        self.gen = None
        self.wait = None
        self.done = False

    def start(self):
        self.runrec.t0 = mono()
        self.ctx = Ctx(self.hosts, self.runrec, self.hooks)
        self.gen = self.sc.fn(self.ctx, **self.runrec.opts)
        return self

    def advance(self):
        """Run to the next Wait (returned) or to the end (None)."""
        if self.done:
            return None
        try:
            self.wait = next(self.gen)
            return self.wait
        except StopIteration:
            self.wait = None
            self._end()
            return None
        except BaseException:
            self.wait = None
            self._end()
            raise

    def _end(self):
        self.done = True
        if self.ctx:
            self.ctx.close()
            self.ctx = None
        r = self.runrec
        r.t1 = mono()
        r.expect = self.sc.expect_fn(r)

    def finish(self):
        """Run to the end, sleeping through Waits; returns the Run."""
        while not self.done:
            w = self.wait if self.wait is not None else self.advance()
            if w is None:
                break
            try:
                while not w.done():
                    if mono() > w.deadline:
                        raise ScenarioError("gave up waiting for " +
                                            w.what)
                    time.sleep(w.interval)
            except BaseException:
                # Given up, or interrupted (Ctrl-C, SIGTERM): the actors
                # stop all the same.
                self.wait = None
                self.gen.close()
                self._end()
                raise
            self.wait = None
        return self.runrec

    def run(self):
        self.start()
        return self.finish()


def run(name, hosts, **kw):
    """Run scenario name on hosts; returns its Run."""
    return Runner(name, hosts, **kw).run()
