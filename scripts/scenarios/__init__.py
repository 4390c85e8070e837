# SPDX-License-Identifier: GPL-2.0
"""
scripts/scenarios: the TCP scenarios tcpflow is tested and shown with,
one definition each, shared by the guest tests (tests/guest/*.t) and the
demos (scripts/demo).

Two hosts (network namespaces "client" and "server", joined by a veth
pair) run each scenario across their link or on the server's loopback.
Each end is a process of its own (an actor) that the scenario drives
step by step, waiting between steps for the kernel to reach the state
the next step needs, so the segments are the same on every run.  Each
scenario also says, as data, what must happen: one line per event on
each end (its EXPECT text), which a test checks the records against.

    common.py     the two ends' names, the clock, the errors
    netns.py      the hosts: namespaces, veth pair, netem, nft, commands
    wire.py       raw segments, and a segment dropped on the way (XDP)
    actors.py     the processes that open and close the sockets
    runner.py     @scenario, Ctx (the steps), Runner and Run
    expect.py     the expectation language and the check of records
    basics.py     the handshake and the teardowns, as steps and as text
    opening.py    the handshake, an old SYN, simultaneous open
    closing.py    teardowns, half-close, simultaneous close, Ctrl-C
    resets.py     RST: a closed port, SO_LINGER 0, unread data
    time_wait.py  TIME_WAIT: its end, a lost last ACK, a reused 4-tuple
    flood.py      half-open connections, the SYN flood
    cli.py        the program below

"import scenarios" (with scripts/ on sys.path) gives every name a test
needs from here.

Usage as a program (inside the lab guest, as root):
    python3 scripts/scenarios --list
    python3 scripts/scenarios run NAME [--af 4|6] [--link veth|lo]
        [--port N] [--hosts A,B] [--keep]   (run prints the run's facts as
                    JSON; --hosts names the namespaces, default
                    client,server; --keep leaves them up for a look)
    python3 scripts/scenarios expect NAME   (the expectation text)
(or python3 -m scenarios ..., with scripts/ on the path)
"""

from .common import (CLIENT, COMM, DEFAULT_PORT, SERVER,  # noqa: F401
                     NoNetem, ScenarioError, mono, sleep_until)
from .netns import (ADDR, CLONE_NEWNET, LOOPBACK, PREFIX,  # noqa: F401
                    VETH, Hosts, in_netns, ip_batch, netns_inum,
                    netns_path, nft, ns_run, setns)
from .wire import (BPF_LINK_CREATE, BPF_MAP_CREATE,  # noqa: F401
                   BPF_MAP_LOOKUP_ELEM, BPF_MAP_TYPE_ARRAY, BPF_PROG_LOAD,
                   BPF_PROG_TYPE_XDP, BPF_XDP, TCP_FLAG_BITS, XDP_DROP,
                   XDP_FLAGS_DRV_MODE, XDP_PASS, WireDrop, _csum,
                   send_raw, syn_packet)
from .actors import (PR_SET_NAME, SO_COOKIE, TCP_STATES,  # noqa: F401
                     Actor, ActorError, tcp_table)
from .runner import (SCENARIOS, Ctx, Run, Runner, Scenario,  # noqa: F401
                     Wait, run, scenario)
from .expect import (ExpLine, Relative, end_of,  # noqa: F401
                     expected_wire, fmt_key, match_expectation,
                     parse_expect, trace_story)
from .basics import (HANDSHAKE, LISTENER_CLOSE,  # noqa: F401
                     TEARDOWN_CLIENT_FIRST, TEARDOWN_SERVER_FIRST,
                     TOGETHER_IN, act_crossing, relabel)
from .opening import (SIM_OPEN, STALE_SYN, sc_handshake,  # noqa: F401
                      sc_simultaneous_both, sc_simultaneous_open,
                      sc_stale_syn)
from .closing import (EXCHANGE_REQUEST, EXCHANGE_RESPONSE,  # noqa: F401
                      FIN_WAIT2_TIMEOUT, HALF_CLOSE_DATA, INTERRUPT_CLOSE,
                      RECVFROM, SIMULTANEOUS, sc_exchange,
                      sc_fin_wait2_timeout, sc_half_close, sc_interrupt,
                      sc_server_first, sc_simultaneous)
from .resets import (ABORT, RESET_CLOSED_PORT, UNREAD_DATA,  # noqa: F401
                     sc_abort, sc_reset_closed, sc_reset_unread)
from .time_wait import (LOST_LAST_ACK, sc_lost_last_ack,  # noqa: F401
                        sc_reuse, sc_time_wait)
from .flood import (FLOOD_ADDR, FLOOD_BACKLOG, FLOOD_BASE,  # noqa: F401
                    FLOOD_MAC, FLOOD_SYNS, sc_syn_flood, sc_syn_recv)
from .cli import main  # noqa: F401

# The order --list shows them in (and anything else that goes through
# SCENARIOS): the order they were written in, not the modules' order.
LISTED = (
    "handshake", "teardown-server-first", "simultaneous-close",
    "half-close", "reset-closed-port", "abort", "reset-unread",
    "lost-last-ack", "syn-recv", "reuse", "fin-wait2-timeout", "exchange",
    "time-wait", "stale-syn", "simultaneous-open", "simultaneous",
    "syn-flood", "interrupt",
)
for _name in LISTED + tuple(n for n in list(SCENARIOS) if n not in LISTED):
    SCENARIOS[_name] = SCENARIOS.pop(_name)
del _name
