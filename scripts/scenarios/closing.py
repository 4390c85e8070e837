# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/closing.py: closing a connection.

Four segments, because each direction closes on its own: the end that
closes first (the active close) sends a FIN and ends in TIME_WAIT, the
other end ACKs it at once, sits in CLOSE_WAIT until its own close(), and
sends its FIN from LAST_ACK.  Here: the server closing first, a
half-close that still carries data the other way, a request and a
response before the close, both ends closing at once, a peer that never
closes, and a process killed by Ctrl-C, whose socket the kernel closes
all the same.  (The client closing first is "handshake", opening.py.)"""

import os
import signal
import time

from .actors import Actor
from .basics import (HANDSHAKE, LISTENER_CLOSE, TEARDOWN_CLIENT_FIRST,
                     TEARDOWN_SERVER_FIRST, act_crossing, close_listener,
                     handshake, teardown_client_first, teardown_server_first)
from .common import CLIENT, COMM, SERVER, ScenarioError, mono
from .runner import scenario


@scenario("teardown-server-first", "Teardown, the server closes first",
          "the server sends the first FIN and ends in TIME_WAIT",
          lambda r: HANDSHAKE + TEARDOWN_SERVER_FIRST + LISTENER_CLOSE)
def sc_server_first(ctx):
    cport = handshake(ctx)
    teardown_server_first(ctx, cport)
    close_listener(ctx)
    return
    yield


HALF_CLOSE_DATA = 100


def _expect_half_close(r):
    n = r.opts.get("nbytes", HALF_CLOSE_DATA)
    return HANDSHAKE + """
client 1 state full ESTABLISHED>FIN_WAIT1     # shutdown(SHUT_WR)
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2       # still open: a full socket
server 1 tx full CLOSE_WAIT P. 1 2 len=%(n)d  # the server still sends
client 1 rx full FIN_WAIT2 P. 1 2 len=%(n)d
client 1 tx full FIN_WAIT2 . 2 %(n1)d
server 1 rx full CLOSE_WAIT . 2 %(n1)d
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. %(n1)d 2
client 1 rx full FIN_WAIT2 F. %(n1)d 2
client 1 tx full FIN_WAIT2 . 2 %(n2)d
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 state full FIN_WAIT2>CLOSE
server 1 rx full LAST_ACK . 2 %(n2)d
server 1 state full LAST_ACK>CLOSE
""" % {"n": n, "n1": n + 1, "n2": n + 2} + LISTENER_CLOSE


@scenario("half-close", "Half-close",
          "the client shuts down its sending side; the server still sends "
          "data, then closes",
          _expect_half_close)
def sc_half_close(ctx, nbytes=HALF_CLOSE_DATA):
    cport = handshake(ctx)
    ctx.client.call("shutdown", "c", "wr")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    if ctx.server.call("recv_eof", "a", 10) != 0:
        raise ScenarioError("server: data before EOF")
    ctx.server.call("send", "a", nbytes)
    if ctx.client.call("recv", "c", nbytes, 10) != nbytes:
        raise ScenarioError("client: short read")
    ctx.wait_acked(SERVER, cport)
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    ctx.client.call("close", "c")
    close_listener(ctx)
    return
    yield


EXCHANGE_REQUEST, EXCHANGE_RESPONSE = 200, 1000


def _expect_exchange(r):
    q = r.opts.get("request", EXCHANGE_REQUEST)
    a = r.opts.get("response", EXCHANGE_RESPONSE)
    # The data segments (and the ACKs of data) of ESTABLISHED sockets are
    # not recorded in the default segment mode: only the numbers show
    # that bytes went by.
    teardown = TEARDOWN_CLIENT_FIRST
    for old, new in (("F. 1 1", "F. %d %d" % (q + 1, a + 1)),
                     (". 1 2", ". %d %d" % (a + 1, q + 2)),  # F. 1 2 too
                     (". 2 2", ". %d %d" % (q + 2, a + 2))):
        teardown = teardown.replace(old, new)
    return HANDSHAKE + teardown + LISTENER_CLOSE


@scenario("exchange", "A request and a response",
          "the client sends a request, the server answers, the client closes "
          "first",
          _expect_exchange, wire_complete=False)
def sc_exchange(ctx, request=EXCHANGE_REQUEST, response=EXCHANGE_RESPONSE):
    cport = handshake(ctx)
    ctx.client.call("send", "c", request)
    if ctx.server.call("recv", "a", request, 10) != request:
        raise ScenarioError("server: short read")
    ctx.server.call("send", "a", response)
    if ctx.client.call("recv", "c", response, 10) != response:
        raise ScenarioError("client: short read")
    ctx.wait_acked(CLIENT, cport)
    ctx.wait_acked(SERVER, cport)
    ctx.settle(0.3)    # let a delayed ACK go out now, not during the close
    teardown_client_first(ctx, cport)
    close_listener(ctx)
    return
    yield


SIMULTANEOUS = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1         # held 300 ms on the way (netem)
server 1 state full ESTABLISHED>FIN_WAIT1
server 1 tx full FIN_WAIT1 F. 1 1         # the FINs cross
client 1 rx full FIN_WAIT1 F. 1 1
client 1 tx full FIN_WAIT1 . 2 2
client 1 state full FIN_WAIT1>CLOSING
server 1 rx full FIN_WAIT1 F. 1 1
server 1 tx full FIN_WAIT1 . 2 2
server 1 state full FIN_WAIT1>CLOSING
server 1 rx full CLOSING . 2 2
server 1 state tw CLOSING>TIME_WAIT
server 1 state full CLOSING>CLOSE
client 1 rx full CLOSING . 2 2
client 1 state tw CLOSING>TIME_WAIT
client 1 state full CLOSING>CLOSE
"""


@scenario("simultaneous-close", "Simultaneous close",
          "both ends send FIN before they see the other's: CLOSING, then "
          "TIME_WAIT on both",
          lambda r: HANDSHAKE + SIMULTANEOUS + LISTENER_CLOSE,
          links=("veth",))
def sc_simultaneous(ctx, delay_ms=300):
    # The client's packets take delay_ms to cross: its FIN is still on
    # the way when the server sends its own.  From the handshake on, so
    # that both ends measure the delay in their RTT and do not retransmit
    # their FINs while the ACKs are held up.
    undo = ctx.netem(CLIENT, delay_ms)
    cport = handshake(ctx)
    act_crossing(ctx, "close", ["c"], ["a"], delay_ms)
    ctx.wait_state(SERVER, cport, ["TIME_WAIT"], timeout=15)
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"], timeout=15)
    undo()
    close_listener(ctx)
    return
    yield


FIN_WAIT2_TIMEOUT = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2
client 1 state full FIN_WAIT2>CLOSE
client 1 state tw FIN_WAIT2>CLOSE why=expire  # tcp_fin_timeout (5 s here): no FIN came
server 1 state full CLOSE_WAIT>LAST_ACK       # it does now, too late
server 1 tx full LAST_ACK F. 1 2
client - rx none CLOSE F. 1 2                 # the FIN reaches no socket:
client - tx none CLOSE R 2 -                  # nobody owns the 4-tuple any more
server 1 rx full LAST_ACK R 2 -
server 1 state full LAST_ACK>CLOSE
"""  # noqa: E501 (a ladder: its comments line up)


@scenario("fin-wait2-timeout", "A peer that never closes",
          "the client closes, the server does not; the client's FIN_WAIT2 "
          "times out (tcp_fin_timeout), the server's late FIN gets a RST",
          lambda r: HANDSHAKE + FIN_WAIT2_TIMEOUT + LISTENER_CLOSE)
def sc_fin_wait2_timeout(ctx, fin_timeout=5):
    """The client's FIN_WAIT2 lasts max(fin_timeout, 3.5 x RTO) (see
    tcp_time_wait()); the RTO is noted as client_rto."""
    ctx.sysctl(CLIENT, "ipv4/tcp_fin_timeout", fin_timeout)
    cport = handshake(ctx)
    ctx.note("fin_timeout", fin_timeout)
    ctx.note("client_rto", ctx.client.call("rto", "c"))
    ctx.client.call("close", "c")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    ctx.wait_gone(CLIENT, cport, timeout=fin_timeout + 15)
    ctx.note("fin_wait2_gone_at", mono())
    ctx.server.call("close", "a")
    ctx.wait_gone(SERVER, cport)
    close_listener(ctx)
    return
    yield


INTERRUPT_CLOSE = """
# SIGINT: the process dies; at exit the kernel closes its socket
client 1 state full ESTABLISHED>FIN_WAIT1
""" + "\n".join(TEARDOWN_CLIENT_FIRST.strip().splitlines()[1:]) + "\n"


@scenario("interrupt", "A client killed by a signal",
          "the client process, blocked in recv(), dies of SIGINT: the "
          "kernel closes its socket at exit, with a FIN, as close() would",
          lambda r: HANDSHAKE + INTERRUPT_CLOSE + LISTENER_CLOSE)
def sc_interrupt(ctx):
    """The client end is an actor of its own that SIGINT kills (SIG_DFL,
    as for a C program: no handler, no Python unwinding)."""
    victim = Actor(ctx.run.ns[CLIENT], COMM[CLIENT])
    ctx.cleanups.append(victim.stop)
    ctx.run.pids[CLIENT] = victim.pid
    victim.call("sigint_default")
    ctx.listen()
    victim.call("socket", "c", ctx.af)
    cport = victim.call("connect", "c", ctx.saddr, ctx.port, 10)
    ctx.run.cports.append(cport)
    ctx.accept()
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("established")
    victim.start("recv_block", "c")
    ctx.note("client_blocked_in", _wait_blocked(victim.pid))
    status = victim.kill(signal.SIGINT)
    ctx.note("client_exit", "killed by %s" % signal.Signals(
        os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else
        "exit status %d" % os.WEXITSTATUS(status))
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    got = ctx.server.call("recv_eof", "a", 10)
    ctx.note("server_read_at_eof", got)
    ctx.say("the client (pid %d) was blocked in %s; SIGINT: %s; the "
            "server's recv() then read EOF after %d bytes" % (
                ctx.run.pids[CLIENT], ctx.run.notes["client_blocked_in"],
                ctx.run.notes["client_exit"], got))
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    close_listener(ctx)
    return
    yield


# recvfrom(2)'s number, to see a process blocked in it (/proc/PID/syscall)
RECVFROM = {"x86_64": 45, "aarch64": 207}


def _wait_blocked(pid, timeout=10):
    """Wait until process pid sleeps in recvfrom(); returns what it was
    seen doing."""
    nr = RECVFROM.get(os.uname().machine)
    deadline = mono() + timeout
    while nr is not None and mono() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split()[0] == str(nr):
                    return "recvfrom"
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    time.sleep(0.5)
    return "unknown (waited 0.5 s)"
