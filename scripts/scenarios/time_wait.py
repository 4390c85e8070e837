# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/time_wait.py: TIME_WAIT, the time the active closer
waits after its last ACK: on Linux a fixed 60 s (TCP_TIMEWAIT_LEN; Linux
has no MSL), where RFC 9293's 2MSL, with its MSL of 2 minutes, would be
4 minutes.

Why it waits: if that last ACK is lost, the other end sends its FIN
again, and only an end still in TIME_WAIT can answer it; and while it
waits, its address and port cannot carry a new connection that an old
segment could be mistaken for (bind() fails without SO_REUSEADDR).  A
new SYN from the peer on the same 4-tuple is the exception: the
timewait sock makes way for it."""

from .basics import (HANDSHAKE, LISTENER_CLOSE, TEARDOWN_CLIENT_FIRST,
                     TEARDOWN_SERVER_FIRST, close_listener, handshake,
                     relabel, teardown_client_first, teardown_server_first)
from .common import CLIENT, SERVER, ScenarioError, mono
from .runner import Wait, scenario


@scenario("time-wait", "TIME_WAIT runs out",
          "the client closes first and holds TIME_WAIT for 60 s (Linux's "
          "fixed TCP_TIMEWAIT_LEN, not 2MSL), then the timewait sock goes",
          lambda r: HANDSHAKE + TEARDOWN_CLIENT_FIRST + LISTENER_CLOSE + (
              "client 1 state tw TIME_WAIT>CLOSE why=expire  # 60 s after "
              "TIME_WAIT began\n" if r.opts.get("wait", True) else ""))
def sc_time_wait(ctx, timeout=75, wait=True):
    """wait=False: stop once TIME_WAIT has begun (a short demo).

    While TIME_WAIT lasts, and after, a new socket on the client tries to
    bind the client's address and port (notes bind_*).  Linux lets it only
    with SO_REUSEADDR on both sockets: the new one and the one now in
    TIME_WAIT (inet_bind_conflict(): sk->sk_reuse && sk2->sk_reuse), so
    the client sets SO_REUSEADDR before connect(), as servers do on their
    listeners; without that, the second bind fails too."""
    cport = handshake(ctx, reuseaddr=True)
    teardown_client_first(ctx, cport)
    close_listener(ctx)
    entered = ctx.run.notes["time_wait_at"]
    ep = (ctx.caddr, cport)
    plain = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, False)
    reuse = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, True)
    ctx.note("bind_in_time_wait", plain)
    ctx.note("bind_in_time_wait_reuseaddr", reuse)
    ctx.say("in TIME_WAIT, bind() to %s port %d: %s; with SO_REUSEADDR: %s "
            "(Linux wants SO_REUSEADDR on the TIME_WAIT socket too: this "
            "client had set it before connect())" % (ep + (plain, reuse)))
    ctx.checkpoint("waiting")
    if not wait:
        return
    yield Wait("TIME_WAIT of :%d to end" % cport,
               lambda: not ctx.states(CLIENT, cport),
               entered + timeout)
    ctx.note("time_wait_gone_at", mono())
    after = ctx.client.call("try_bind", ctx.af, ctx.caddr, cport, False)
    ctx.note("bind_after_time_wait", after)
    ctx.say("TIME_WAIT over: bind() to %s port %d without SO_REUSEADDR: %s"
            % (ep + (after,)))
    ctx.settle()


LOST_LAST_ACK = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2
client 1 state full FIN_WAIT2>CLOSE
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. 1 2
client 1 rx tw FIN_WAIT2 F. 1 2
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 tx tw TIME_WAIT . 2 2           # lost on the way: the server never gets it
server 1 tx full LAST_ACK F. 1 2         # no ACK came: the FIN again
client 1 rx tw TIME_WAIT F. 1 2
client 1 state tw TIME_WAIT>TIME_WAIT why=rearm  # its 60 s start over
client 1 tx tw TIME_WAIT . 2 2
server 1 rx full LAST_ACK . 2 2
server 1 state full LAST_ACK>CLOSE
"""  # noqa: E501 (a ladder: its comments line up)


@scenario("lost-last-ack", "The last ACK is lost",
          "the server retransmits its FIN from LAST_ACK; the client's "
          "TIME_WAIT answers again and restarts its 60 s",
          lambda r: HANDSHAKE + LOST_LAST_ACK + LISTENER_CLOSE,
          links=("veth",))
def sc_lost_last_ack(ctx):
    cport = handshake(ctx)
    ctx.client.call("close", "c")
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    # Lose the next pure ACK the client sends on this connection, once,
    # on the way: it leaves the client (both tcpflow routes record it
    # sent, and the client's capture has it) and is dropped as it reaches
    # the server's veth, before the server's stack (see WireDrop).
    drop = ctx.drop_on_wire(SERVER, cport, ctx.port, ".")
    ctx.server.call("close", "a")
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport, timeout=20)
    ctx.note("time_wait_at", mono())
    n = drop.dropped()
    if n != 1:
        raise ScenarioError("the client's last ACK was not lost (%d "
                            "dropped on the server's link)" % n)
    ctx.say("the client's first last ACK was dropped as it reached the "
            "server's link (XDP on veth-s): sent, never received")
    close_listener(ctx)
    return
    yield


def _expect_reuse(r):
    return (HANDSHAKE + TEARDOWN_SERVER_FIRST + """
# the client comes back from the same port; the server still holds the
# old connection in TIME_WAIT
client 2 state full CLOSE>SYN_SENT
client 2 tx full SYN_SENT S 0 -
server 1 rx tw TIME_WAIT S 0 -             # the SYN meets the timewait sock
server 1 state tw TIME_WAIT>CLOSE why=kill # which makes way for it
server L rx full LISTEN S 0 -
server 2 state req LISTEN>NEW_SYN_RECV
server 2 tx req NEW_SYN_RECV S. 0 1
client 2 rx full SYN_SENT S. 0 1
client 2 state full SYN_SENT>ESTABLISHED
client 2 tx full ESTABLISHED . 1 1
server 2 rx req NEW_SYN_RECV . 1 1
server 2 state full NEW_SYN_RECV>SYN_RECV
server 2 state full SYN_RECV>ESTABLISHED
""" + relabel(TEARDOWN_CLIENT_FIRST, 2) + LISTENER_CLOSE)


@scenario("reuse", "A 4-tuple reused during TIME_WAIT",
          "the server closes first and holds TIME_WAIT; the client "
          "reconnects from the same port; the timewait sock is killed and a "
          "new connection begins",
          _expect_reuse, links=("veth", "lo"))
def sc_reuse(ctx, client_port=40000):
    cport = handshake(ctx, bind_port=client_port)
    teardown_server_first(ctx, cport)
    ctx.note("first_conn_time_wait_at", mono())
    port2 = ctx.connect(name="c2", bind_port=client_port)
    if port2 != cport:
        raise ScenarioError("the second connection got port %d" % port2)
    ctx.accept(name="a2")
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("reused")
    teardown_client_first(ctx, cport, client="c2", server="a2")
    close_listener(ctx)
    return
    yield
