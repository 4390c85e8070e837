# SPDX-License-Identifier: GPL-2.0
"""scripts/bench's verdict: exit 0 exactly when every target passed.

The report's verdict lines come from scripts/bench's own targets() and
burst_checks(), fed results shaped like a guest run's results.json (no
guest is booted); the exit status is bench_lib.verdict_status() of them,
as main() returns it.
"""
import importlib.machinery
import importlib.util
import json
import os
import sys
import tempfile
import unittest
from unittest import mock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts", "bench.d"))

import bench_lib  # noqa: E402


def load_bench():
    """scripts/bench as a module (it has no .py name; main() not run)."""
    path = os.path.join(REPO, "scripts", "bench")
    loader = importlib.machinery.SourceFileLoader("bench", path)
    spec = importlib.util.spec_from_loader("bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


bench = load_bench()
ROUNDS = 5


def results(b_rate, d_rate, e_rate, cpu=True, f_rate=0.94, g_rate=0.7,
            h_rate=0.5):
    """Runs of variants B, D, E, F (the floor), G (tcpflow-bpf) and H
    (tcpstates) over ROUNDS rounds, each run's connection rate as a
    fraction of its flanking no-tracing runs' (what report() computes),
    and the same for CPU time per connection.  A rate may be a list, one
    per round.  B records 24 events per connection, D 20, A runs at
    1000 connections a second (1000 us each).  The defaults pass every
    target: tcpflow's recording per record ((1/0.9 - 1/0.94) / 24 = 0.20%
    of a connection's time, 2.0 us) is below ftrace's per event ((1/0.5 -
    1) / 20 = 5%, 50 us); tcpflow-bpf adds 1/0.7 - 1 = 43%, under half
    of tcpstates's 1/0.5 - 1 = 100%."""
    rates = {"B": b_rate, "D": d_rate, "E": e_rate, "F": f_rate,
             "G": g_rate, "H": h_rate}
    conns = 100
    extra = {
        "A": {"conns": {"rate": 1000.0}},
        "B": {"conns": {},
              "tally": {"by_port": {str(bench_lib.CONN_PORT): 24 * conns},
                        "shapes": {"A": conns}},
              "header": {"overwritten": 0, "missed": 0}},
        "D": {"conns": {},
              "ftrace": {"state_conn_port": 10 * conns, "stats": {}},
              "ftrace_after_conns": {"entries": 20 * conns}},
    }
    res = {"meta": {"args": {"conns": conns}},
           "runs": [dict({"variant": v, "round": r}, **extra.get(v, {}))
                    for r in range(ROUNDS) for v in ["A"] + list(rates)]}
    ratio = {v: x if isinstance(x, list) else [x] * ROUNDS
             for v, x in rates.items()}
    cpu_ratio = {v: [2 - x for x in xs] for v, xs in ratio.items()} \
        if cpu else {}
    return res, ratio, cpu_ratio


def burst(overwritten=0):
    """A burst of 2 connections, both of shape A, nothing lost."""
    n = 2
    base = n * sum(bench_lib.SHAPE_A.values()) + bench_lib.LISTENER_RECORDS
    return {"burst": {
        "conns_wanted": n,
        "header": {"overwritten": overwritten, "missed": 0},
        "params": {"capacity": 65536, "owners": 1},
        "conns": {"rate": 100.0, "mib": {}},
        "tally": {"by_port": {str(bench_lib.CONN_PORT): base},
                  "shapes": {"A": n}, "connections": n, "extra": {},
                  "missing_examples": [], "other_examples": [],
                  "ev_flags": {}, "full_state_records": 2 * 10},
    }}


def verdict_lines(res, ratio, cpu_ratio, b):
    """What main() hands verdict_status(): the targets' lines and the
    burst's first line."""
    lines, _ = bench.burst_checks(b, "/nonexistent")
    return bench.targets(res, ratio, cpu_ratio) + lines[:1]


class VerdictStatus(unittest.TestCase):
    def test_all_pass_with_cpu_lines_exits_0(self):
        # tcpflow costs 10% of the rate, ftrace 50%, bpftrace 60%,
        # tcpflow-bpf 30%, tcpstates 50%, in every round: every target
        # passes, and each "below" target has its CPU-time line.
        v = verdict_lines(*results(0.9, 0.5, 0.4), burst())
        self.assertEqual(len(v), 16, v)
        self.assertEqual([x.split()[0] for x in v if not x[0].isspace()],
                         ["PASS"] * 9)
        cpu = [x for x in v if x.lstrip().startswith("the same in CPU")]
        self.assertEqual(len(cpu), 6, v)
        self.assertTrue(all(x[0] == " " for x in cpu))
        # The old rule (every line starts with PASS) failed this report.
        self.assertFalse(all(x.startswith("PASS") for x in v))
        self.assertEqual(bench_lib.verdict_status(v), 0)

    def test_all_pass_without_cpu_lines_exits_0(self):
        v = verdict_lines(*results(0.9, 0.5, 0.4, cpu=False), burst())
        self.assertEqual(len(v), 10, v)
        self.assertEqual(bench_lib.verdict_status(v), 0)

    def test_overhead_target_failed_exits_1(self):
        # tcpflow costs more than ftrace (40% of the rate against 30%)
        # and than tcpflow-bpf: those targets fail; below bpftrace and
        # tcpstates, and the burst, pass.  Its recording now costs
        # 1/0.6 - 1/0.94 = 60% against hooking's 6.4%: fails too.
        v = verdict_lines(*results(0.6, 0.7, 0.4), burst())
        self.assertEqual([x.split()[0] for x in v if not x[0].isspace()],
                         ["FAIL", "PASS", "FAIL", "PASS", "FAIL", "PASS",
                          "PASS", "PASS", "PASS"])
        self.assertEqual(bench_lib.verdict_status(v), 1)

    def test_recording_per_record_against_ftrace(self):
        # Recording (1/0.9 - 1/0.94) / 24 = 0.197% of a 1000 us
        # connection per record, 1.97 us; ftrace (1/0.5 - 1) / 20 = 5%,
        # 50 us per event: passes, and the line says those numbers.
        v = bench.targets(*results(0.9, 0.5, 0.4))
        rec = [x for x in v if x[4:].startswith(" tcpflow's recording")]
        self.assertEqual(len(rec), 1, v)
        self.assertTrue(rec[0].startswith("PASS "), rec[0])
        self.assertIn("(B - F) / 24.0 records = 1.97 us", rec[0])
        self.assertIn("ftrace (D - A) / 20.0 events = 50.00 us", rec[0])
        self.assertIn("5 of 5 rounds", rec[0])
        # Under it, recording against hooking, as evidence only.
        ev = v[v.index(rec[0]) + 1]
        self.assertTrue(ev.startswith("     recording against hooking"), ev)
        self.assertIn("recording (B - F) adds 5% [5%..5%]", ev)
        self.assertIn("hooking (F - A) 6% [6%..6%]", ev)
        # ftrace at 0.99 of the rate: (1/0.99 - 1) / 20 = 0.05% per
        # event, 0.51 us, under tcpflow's 1.97: fails.
        v = bench.targets(*results(0.9, 0.99, 0.4))
        rec = [x for x in v if "recording per record" in x][0]
        self.assertTrue(rec.startswith("FAIL "), rec)
        self.assertIn("no dearer in 0 of 5 rounds", rec)
        # Cheaper than ftrace's in 3 rounds of 5 only: the medians say
        # so, the sign test (p = 0.5) does not: FAIL.
        d = [0.5, 0.5, 0.5, 0.99, 0.99]
        v = bench.targets(*results(0.9, d, 0.4))
        rec = [x for x in v if "recording per record" in x][0]
        self.assertTrue(rec.startswith("FAIL "), rec)
        self.assertIn("3 of 5 rounds, sign test p=0.500", rec)
        # No floor run: fails, saying so.
        res, ratio, cpu = results(0.9, 0.5, 0.4)
        del ratio["F"]
        rec = [x for x in bench.targets(res, ratio, cpu)
               if "recording per record" in x][0]
        self.assertTrue(rec.startswith("FAIL ") and "did not run" in rec,
                        rec)

    def test_tcpflow_bpf_half_of_tcpstates(self):
        # tcpflow-bpf at 0.6 of the rate adds 1/0.6 - 1 = 67% of a
        # connection's time, tcpstates at 0.5 adds 100%: below it (a
        # 40% loss against 50%) but more than half of it.
        v = bench.targets(*results(0.9, 0.5, 0.4, g_rate=0.6))
        below = [x for x in v if x.startswith(("PASS tcpflow-bpf overhead "
                                               "below tcpstates",
                                               "FAIL tcpflow-bpf overhead "
                                               "below tcpstates"))]
        half = [x for x in v if "at most half" in x]
        self.assertEqual(len(below), 1, v)
        self.assertTrue(below[0].startswith("PASS "), below[0])
        self.assertEqual(len(half), 1, v)
        self.assertTrue(half[0].startswith("FAIL "), half[0])
        self.assertIn("adds 67% [67%..67%]", half[0])
        self.assertIn("tcpstates 100% [100%..100%] (half: 50%)", half[0])
        # At 0.7: 43%, under half: passes.
        half = [x for x in bench.targets(*results(0.9, 0.5, 0.4))
                if "at most half" in x]
        self.assertTrue(half[0].startswith("PASS "), half[0])

    def test_burst_failed_exits_1(self):
        v = verdict_lines(*results(0.9, 0.5, 0.4), burst(overwritten=3))
        self.assertTrue(v[-1].startswith("FAIL no loss"), v[-1])
        self.assertEqual(bench_lib.verdict_status(v), 1)

    def test_variant_not_run_exits_1(self):
        for gone in "EFGH":
            res, ratio, cpu = results(0.9, 0.5, 0.4)
            del ratio[gone], cpu[gone]
            v = verdict_lines(res, ratio, cpu, burst())
            self.assertEqual(bench_lib.verdict_status(v), 1, gone)

    def test_main_exit_status(self):
        # main() over a results.json (--report-only), its table and the
        # host's reader timings stubbed out: the status it returns.
        for rates, want in (((0.9, 0.5, 0.4), 0), ((0.6, 0.7, 0.4), 1)):
            res, ratio, cpu = results(*rates)
            b = burst()
            res.update(b)
            with tempfile.TemporaryDirectory() as d, \
                    open(os.devnull, "w") as null:
                with open(os.path.join(d, "results.json"), "w") as f:
                    json.dump(res, f)
                with mock.patch.object(bench, "host_reader",
                                       return_value={}), \
                        mock.patch.object(bench, "report", return_value=(
                            [], {}, ratio, cpu)), \
                        mock.patch.object(bench, "tally", return_value=b[
                            "burst"]["tally"]), \
                        mock.patch.object(sys, "argv", [
                            "bench", "--report-only", d]), \
                        mock.patch.object(sys, "stdout", null):
                    self.assertEqual(bench.main(), want, rates)

    def test_scaling_report(self):
        # Two CPUs: untraced 1000 MB/s, traced 800 (0.8), numbered per
        # CPU 900; one CPU: 500, 450 (0.9), 450.  The shared counter at
        # two CPUs is 800/900 = 0.89 of per-CPU numbers, slower in every
        # round: COSTS; tracing keeps 0.8 against 0.9: COSTS too.
        def res(c2):
            runs = []
            for k in range(7):
                for v, n, mb in (("A", 1, 500), ("A", 2, 1000),
                                 ("C", 1, 450), ("C", 2, c2),
                                 ("P", 1, 450), ("P", 2, 900)):
                    runs.append({"round": k, "variant": v, "ncpu": n,
                                 "mbps": mb, "records_per_s": 1000})
            return {"meta": {"kernel": "k", "cpus": 2, "bytes": 10**9},
                    "runs": runs}
        t = bench.scaling_report([], res(800))
        self.assertTrue(any(x.startswith("| 2 CPUs segments=all, numbered "
                                         "per CPU | 900 [900-900]")
                            for x in t), t)
        direct = [x for x in t if "against records numbered" in x]
        self.assertEqual(len(direct), 1, t)
        self.assertTrue(direct[0].startswith("COSTS "), direct[0])
        self.assertIn("0.89 of the throughput", direct[0])
        self.assertIn("slower in 7 of 7 rounds", direct[0])
        # The same throughput as per-CPU numbers: no cost seen.
        t = bench.scaling_report([], res(900))
        direct = [x for x in t if "against records numbered" in x][0]
        self.assertTrue(direct.startswith("NO COST SEEN "), direct)
        self.assertIn("slower in 0 of 7 rounds", direct)

    def test_evidence_lines_are_not_verdicts(self):
        vs = bench_lib.verdict_status
        self.assertEqual(vs(["PASS a", "     FAIL-looking evidence",
                             "\tmore", "PASS b"]), 0)
        self.assertEqual(vs(["PASS a", "     evidence", "FAIL b"]), 1)
        self.assertEqual(vs(["FAIL a", "     evidence"]), 1)

    def test_no_verdict_or_odd_line_exits_1(self):
        vs = bench_lib.verdict_status
        self.assertEqual(vs([]), 1)
        self.assertEqual(vs(["     only evidence"]), 1)
        self.assertEqual(vs(["PASS a", "Traceback (most recent call last)"]),
                         1)
        self.assertEqual(vs(["PASSED a"]), 1)


if __name__ == "__main__":
    unittest.main()
