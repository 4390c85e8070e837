# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/basics.py: what most scenarios are made of: the
three-way handshake and the two teardowns, each as steps (the functions)
and as what must happen (the EXPECT texts, expect.py), and two ends told
to act at once (act_crossing()).

Connection labels in the texts: see expect.py."""

from .common import CLIENT, SERVER, mono

HANDSHAKE = """
server L state full CLOSE>LISTEN
client 1 state full CLOSE>SYN_SENT
client 1 tx full SYN_SENT S 0 -
server L rx full LISTEN S 0 -             # the SYN reaches the listener
server 1 state req LISTEN>NEW_SYN_RECV    # which makes a request sock
server 1 tx req NEW_SYN_RECV S. 0 1
client 1 rx full SYN_SENT S. 0 1
client 1 state full SYN_SENT>ESTABLISHED
client 1 tx full ESTABLISHED . 1 1        # the third ACK
server 1 rx req NEW_SYN_RECV . 1 1
server 1 state full NEW_SYN_RECV>SYN_RECV # the child is born
server 1 state full SYN_RECV>ESTABLISHED
"""

# The client closes first; the server ACKs the FIN at once, and closes
# only when the client is in FIN_WAIT2 (so no FIN rides on that ACK).
TEARDOWN_CLIENT_FIRST = """
client 1 state full ESTABLISHED>FIN_WAIT1
client 1 tx full FIN_WAIT1 F. 1 1
server 1 rx full ESTABLISHED F. 1 1
server 1 state full ESTABLISHED>CLOSE_WAIT
server 1 tx full CLOSE_WAIT . 1 2
client 1 rx full FIN_WAIT1 . 1 2
client 1 state full FIN_WAIT1>FIN_WAIT2
client 1 state tw FIN_WAIT2>FIN_WAIT2     # closed: a timewait sock waits for the FIN
client 1 state full FIN_WAIT2>CLOSE
server 1 state full CLOSE_WAIT>LAST_ACK
server 1 tx full LAST_ACK F. 1 2
client 1 rx tw FIN_WAIT2 F. 1 2
client 1 state tw FIN_WAIT2>TIME_WAIT
client 1 tx tw TIME_WAIT . 2 2            # the last ACK
server 1 rx full LAST_ACK . 2 2
server 1 state full LAST_ACK>CLOSE
"""  # noqa: E501 (a ladder: its comments line up)

TEARDOWN_SERVER_FIRST = """
server 1 state full ESTABLISHED>FIN_WAIT1
server 1 tx full FIN_WAIT1 F. 1 1
client 1 rx full ESTABLISHED F. 1 1
client 1 state full ESTABLISHED>CLOSE_WAIT
client 1 tx full CLOSE_WAIT . 1 2
server 1 rx full FIN_WAIT1 . 1 2
server 1 state full FIN_WAIT1>FIN_WAIT2
server 1 state tw FIN_WAIT2>FIN_WAIT2
server 1 state full FIN_WAIT2>CLOSE
client 1 state full CLOSE_WAIT>LAST_ACK
client 1 tx full LAST_ACK F. 1 2
server 1 rx tw FIN_WAIT2 F. 1 2
server 1 state tw FIN_WAIT2>TIME_WAIT
server 1 tx tw TIME_WAIT . 2 2
client 1 rx full LAST_ACK . 2 2
client 1 state full LAST_ACK>CLOSE
"""

LISTENER_CLOSE = """
server L state full LISTEN>CLOSE
"""


def relabel(text, label):
    """The same lines for connection `label` (1 -> label)."""
    out = []
    for line in text.splitlines():
        w = line.split()
        if len(w) > 2 and w[1] == "1":
            w[1] = str(label)
            line = " ".join(w)
        out.append(line)
    return "\n".join(out) + "\n"


def handshake(ctx, **kw):
    """The server listens, the client connects (kw: Ctx.connect()'s), the
    server accepts; returns the client's port once both are ESTABLISHED."""
    ctx.listen()
    cport = ctx.connect(**kw)
    ctx.accept()
    ctx.wait_state(SERVER, cport, ["ESTABLISHED"])
    ctx.checkpoint("established")
    return cport


def teardown_client_first(ctx, cport, client="c", server="a"):
    """The client closes; the server closes once the client is in
    FIN_WAIT2 (so no FIN rides on its ACK); the client ends in TIME_WAIT."""
    ctx.client.call("close", client)
    ctx.wait_state(CLIENT, cport, ["FIN_WAIT2"])
    ctx.wait_state(SERVER, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("client-fin-wait2")
    ctx.server.call("close", server)
    ctx.wait_state(CLIENT, cport, ["TIME_WAIT"])
    ctx.wait_gone(SERVER, cport)
    ctx.note("time_wait_at", mono())
    ctx.checkpoint("client-time-wait")


def teardown_server_first(ctx, cport, client="c", server="a"):
    """The same with the ends swapped: the server ends in TIME_WAIT."""
    ctx.server.call("close", server)
    ctx.wait_state(SERVER, cport, ["FIN_WAIT2"])
    ctx.wait_state(CLIENT, cport, ["CLOSE_WAIT"])
    ctx.checkpoint("server-fin-wait2")
    ctx.client.call("close", client)
    ctx.wait_state(SERVER, cport, ["TIME_WAIT"])
    ctx.wait_gone(CLIENT, cport)
    ctx.note("time_wait_at", mono())
    ctx.checkpoint("server-time-wait")


def close_listener(ctx):
    """The server closes its listener (LISTEN>CLOSE)."""
    ctx.server.call("close", "l")
    ctx.settle()


# How far ahead of now two ends are told to act (see sleep_until).
TOGETHER_IN = 0.5


def act_crossing(ctx, op, cargs, sargs, hold_ms):
    """The client does op(*cargs), the server op(*sargs) half of hold_ms
    later, each at its time (sleep_until()); waits for both.  The client's
    packets are the ones netem holds: the server's segment then reaches
    the client while the client's is still held, and they cross."""
    at = mono() + TOGETHER_IN
    ctx.client.start(op, *cargs, at)
    ctx.server.start(op, *sargs, at + hold_ms / 2000.0)
    ctx.client.result()
    ctx.server.result()
