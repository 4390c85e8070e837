# SPDX-License-Identifier: GPL-2.0
"""scripts/scenarios/cli.py: the scenarios as a program (python3
scripts/scenarios, or python3 -m scenarios; see __init__.py)."""

import json
import signal
import sys

from .common import CLIENT, DEFAULT_PORT, SERVER, NoNetem, ScenarioError
from .netns import Hosts
from .runner import SCENARIOS, Run, run


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="scenarios", description="TCP scenarios for tcpflow")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    sub = ap.add_subparsers(dest="cmd")
    p = sub.add_parser("run", help="run a scenario (as root)")
    p.add_argument("name")
    p.add_argument("--af", type=int, default=4, choices=(4, 6))
    p.add_argument("--link", default="veth", choices=("veth", "lo"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--keep", action="store_true",
                   help="leave the namespaces up")
    p.add_argument("--hosts", default="%s,%s" % (CLIENT, SERVER),
                   metavar="A,B", help="the two namespaces' names "
                   "(default client,server)")
    p.add_argument("--opt", action="append", default=[], metavar="K=V",
                   help="a scenario option (e.g. clients=3, wait=0)")
    p = sub.add_parser("expect", help="print a scenario's expectation")
    p.add_argument("name")
    a = ap.parse_args(argv)
    if a.list or not a.cmd:
        for sc in SCENARIOS.values():
            print("%-22s %s" % (sc.name, sc.summary))
        return 0
    if a.name not in SCENARIOS:
        print("no scenario %r (see --list)" % a.name, file=sys.stderr)
        return 2
    if a.cmd == "expect":
        r = Run()
        r.opts = {}
        r.port = DEFAULT_PORT
        print(SCENARIOS[a.name].expect_fn(r).strip())
        return 0
    # Ctrl-C and SIGTERM end a run the same way: the scenario's actors
    # stop, its namespaces go (unless --keep), one line says why.
    signal.signal(signal.SIGTERM, _terminated)
    names = a.hosts.split(",") if a.cmd == "run" else []
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        print("scenarios: --hosts wants two names, A,B", file=sys.stderr)
        return 2
    hosts = Hosts(names=tuple(names))
    try:
        hosts.up()
        opts = {}
        for kv in a.opt:
            k, _, v = kv.partition("=")
            try:
                opts[k] = int(v)
            except ValueError:
                try:
                    opts[k] = float(v)
                except ValueError:
                    opts[k] = {"true": True, "false": False}.get(v.lower(), v)
        r = run(a.name, hosts, af=a.af, link=a.link, port=a.port, **opts)
        print(json.dumps(r.as_dict(), indent=1))
    except NoNetem as e:
        print("scenarios: %s" % e, file=sys.stderr)
        a.keep = False
        return 2
    except ScenarioError as e:
        print("scenarios: %s: %s" % (a.name, e), file=sys.stderr)
        a.keep = False
        return 1
    except KeyboardInterrupt:
        # Ctrl-C says so; SIGTERM is a parent's word (scripts/demo's),
        # which says what it has to say itself.
        a.keep = False
        if _TERMINATED:
            return 143
        print("scenarios: %s: interrupted" % a.name, file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if a.keep:
            hosts.is_up = False
        else:
            hosts.down(force=True)
    return 0


_TERMINATED = []


def _terminated(signum, frame):
    _TERMINATED.append(signum)
    raise KeyboardInterrupt
