# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/resets.py: connections that end with a RST instead
of FINs: a SYN to a port where nobody listens, an abortive close
(SO_LINGER 0), and a close() with unread data in the socket."""

import errno
import os

from .actors import ActorError
from .basics import HANDSHAKE, LISTENER_CLOSE, close_listener, handshake
from .common import CLIENT, SERVER, ScenarioError
from .runner import scenario


RESET_CLOSED_PORT = """
client 1 state full CLOSE>SYN_SENT
client 1 tx full SYN_SENT S 0 -
server - rx none CLOSE S 0 -          # the SYN reaches no socket
server - tx none CLOSE R. 0 1         # nobody listens: the kernel answers RST
client 1 rx full SYN_SENT R. 0 1
client 1 state full SYN_SENT>CLOSE
"""


@scenario("reset-closed-port", "Connect to a closed port",
          "the SYN meets no listener and is answered with RST; connect() "
          "fails",
          lambda r: RESET_CLOSED_PORT)
def sc_reset_closed(ctx):
    ctx.connect(blocking=False)
    err = ctx.client.call("connect_result", "c", 10)
    ctx.note("connect_errno", errno.errorcode.get(err, err))
    if err != errno.ECONNREFUSED:
        raise ScenarioError("connect to a closed port: %s, not ECONNREFUSED"
                            % (os.strerror(err) if err else "success"))
    ctx.client.call("close", "c")
    ctx.settle()
    return
    yield


ABORT = """
client 1 state full ESTABLISHED>CLOSE    # close() with SO_LINGER {1, 0}
client 1 tx full CLOSE R. 1 1
server 1 rx full ESTABLISHED R. 1 1
server 1 state full ESTABLISHED>CLOSE
"""


@scenario("abort", "Abortive close (SO_LINGER 0)",
          "close() with a zero linger time sends RST instead of FIN: no "
          "TIME_WAIT",
          lambda r: HANDSHAKE + ABORT + LISTENER_CLOSE)
def sc_abort(ctx):
    cport = handshake(ctx)
    ctx.client.call("linger0", "c")
    ctx.client.call("close", "c")
    ctx.wait_gone(SERVER, cport)
    try:
        ctx.server.call("recv_eof", "a", 5)
    except ActorError as e:
        ctx.note("server_recv_errno", errno.errorcode.get(e.errno, e.errno))
    ctx.server.call("close", "a")
    close_listener(ctx)
    return
    yield


UNREAD_DATA = 100


def _expect_reset_unread(r):
    n = r.opts.get("nbytes", UNREAD_DATA)
    return HANDSHAKE + """
# the client sends %(n)d bytes (data of an ESTABLISHED socket: not recorded
# by default); the server closes without reading them
server 1 state full ESTABLISHED>CLOSE
server 1 tx full CLOSE R. 1 %(n1)d         # unread data: RST, not FIN
client 1 rx full ESTABLISHED R. 1 %(n1)d
client 1 state full ESTABLISHED>CLOSE
""" % {"n": n, "n1": n + 1} + LISTENER_CLOSE


@scenario("reset-unread", "Close with unread data",
          "the server closes a socket that still holds unread data: the "
          "kernel sends RST instead of FIN",
          _expect_reset_unread, wire_complete=False)
def sc_reset_unread(ctx, nbytes=UNREAD_DATA):
    cport = handshake(ctx)
    ctx.client.call("send", "c", nbytes)
    ctx.wait_acked(CLIENT, cport)
    ctx.settle(0.1)
    ctx.server.call("close", "a")
    ctx.wait_gone(CLIENT, cport)
    try:
        ctx.client.call("recv_eof", "c", 5)
    except ActorError as e:
        ctx.note("client_recv_errno", errno.errorcode.get(e.errno, e.errno))
    ctx.client.call("close", "c")
    close_listener(ctx)
    return
    yield
