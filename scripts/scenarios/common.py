# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/common.py: what every part of the scenarios shares:
the names of the two ends, the clock the runs and tcpflow's ts agree on,
and the errors a scenario raises when it cannot tell its story."""

import ctypes
import time

CLIENT, SERVER = "client", "server"
COMM = {CLIENT: "tf-client", SERVER: "tf-server"}
DEFAULT_PORT = 8080

libc = ctypes.CDLL(None, use_errno=True)


def mono():
    """CLOCK_MONOTONIC in seconds (the clock of tcpflow's ts, in ns)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def sleep_until(at):
    """Sleep until mono() reaches @at (None: do not wait).  Two actors
    told when to act keep to it however late each got its command: the
    RPC to each is a pipe write and a wake-up, which on a busy machine can
    take longer than a crossing's netem hold."""
    if at is not None:
        left = at - mono()
        if left > 0:
            time.sleep(left)


class ScenarioError(Exception):
    """A scenario could not do what it set out to do (not a tcpflow bug:
    the kernel did not reach a state in time, a command failed...)."""


class NoNetem(ScenarioError):
    """The scenario needs a delay on a link (sch_netem), and this kernel
    has no netem qdisc: the story cannot be told here at all."""
