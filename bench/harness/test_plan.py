"""Tests of `--plan` (the run's estimated duration) and of scenario 7's
bookkeeping. Run from bench/: python3 -m unittest harness.test_plan
(ctest: bench_plan_test).
"""

import contextlib
import io
import unittest

from . import __main__ as main
from . import containers, plan, scenarios


def full_cases(quick):
    return (scenarios.scenario1(quick) + scenarios.scenario2(quick, main.MAX_DP_FLOWS)
            + scenarios.scenario3(quick) + scenarios.scenario4(quick)
            + scenarios.scenario5(quick) + scenarios.scenario6(quick)
            + scenarios.scenario8(quick))


class PlanTest(unittest.TestCase):
    def test_one_case(self):
        case = scenarios.Case(1, "k", "label", 1, openflow_rules=["r"] * 1000,
                              not_for={"testpmd": "no"})
        params = dict(main.FULL)
        rows, total = plan.plan([case], ["ovs", "dpx", "dpxd", "testpmd"], False, params, [],
                                False)
        self.assertEqual(len(rows), 1)
        what, n, seconds = rows[0]
        self.assertEqual(n, params["rounds"] * 3)  # testpmd left out
        self.assertIn("(ovs, dpx, dpxd)", what)
        per = plan.START_STOP_S + params["warmup_s"] + params["window_s"]
        expect = params["rounds"] * (3 * per + (1.5 + 1.5 + 1) * params["still_s"]
                                     + 2 * 1000 * plan.RULE_S)
        self.assertAlmostEqual(seconds, expect)
        self.assertAlmostEqual(total, expect)

    def test_same_as_and_also(self):
        a = scenarios.Case(4, "a", "a", 1, also=("dpxd",))
        b = scenarios.Case(3, "b", "b", 1, same_as="a")
        rows, _ = plan.plan([a, b], ["ovs"], False, dict(main.FULL), [], False)
        self.assertEqual([r[0] for r in rows], ["s4 a (ovs, dpxd)"])
        # Switches named on the command line: `also` adds none.
        rows, _ = plan.plan([a], ["ovs"], True, dict(main.FULL), [], False)
        self.assertEqual(rows[0][1], main.FULL["other_rounds"])

    def test_containers_and_override(self):
        params = dict(main.FULL, rounds_override=2)
        rows, total = plan.plan([], [], False, params, ["bridge", "dpx-tap"], True)
        self.assertEqual(rows[0][1], 4)
        self.assertAlmostEqual(
            rows[0][2], 4 * (plan.CONTAINER_SETUP_S + 2 * (params["iperf_s"]
                                                         + plan.IPERF_EXTRA_S)))
        self.assertEqual(rows[1][0], "micro-benchmarks")
        self.assertAlmostEqual(total, rows[0][2] + rows[1][2])

    def test_the_issue_bounds(self):
        """The issue's promise: the full run in under 30 minutes, the quick
        one in under 5, by the estimate."""
        for quick, switches, bound in ((False, ["ovs", "dpx", "dpxd", "testpmd"], 30),
                                       (True, ["ovs", "dpx", "testpmd"], 5)):
            params = dict(main.QUICK if quick else main.FULL)
            _, total = plan.plan(full_cases(quick), switches, False, params,
                                 containers.VARIANT_NAMES, True)
            self.assertLess(total / 60, bound, f"quick={quick}")

    def test_main_prints_the_plan(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main.main(["--build-dir", "/nonexistent", "--plan", "--scenarios", "1,7",
                            "--container-variants", "bridge,ovs-dpdk"])
        self.assertEqual(rc, 0)
        text = out.getvalue()
        self.assertIn("s1 s1-flows-1 (ovs, dpx, dpxd, testpmd)", text)
        self.assertIn("s7 containers (2 variants)", text)
        self.assertRegex(text.splitlines()[-1], r"in all: about \d+\.\d minutes")

    def test_main_refuses_unknown_variants(self):
        with self.assertRaises(SystemExit) as e:
            main.main(["--build-dir", "/nonexistent", "--plan", "--container-variants", "nope"])
        self.assertIn("nope", str(e.exception.code))


class ContainersTest(unittest.TestCase):
    def test_variants_are_unique_and_labelled(self):
        self.assertEqual(len(set(containers.VARIANT_NAMES)), len(containers.VARIANTS))
        for v in ("ovs-dpdk", "dpx-ovs-tap", "ovs-dpdk-vxlan", "dpx-vxlan-tap"):
            self.assertIn(v, containers.VARIANT_NAMES)

    def test_pmd_shares(self):
        before = [(1_000_000_000, 0), None, (0, 0)]
        after = [(1_500_000_000, 1_000_000_000), (5, 5), (2_000_000_000, 0)]
        self.assertEqual(containers.pmd_shares(before, after, 2.0),
                         [{"run": 0.25, "wait": 0.5}, None, {"run": 1.0, "wait": 0.0}])
        self.assertEqual(containers.pmd_shares([(0, 0)], [(1, 1)], 0), [None])

    def test_table_keeps_variant_order(self):
        samples = [{"variant": v, "tcp_gbps": 1.0, "udp_kpps": 1.0, "error": None}
                   for v in ("dpx-vxlan-tap", "ovs-dpdk")]
        lines = containers.table(samples).splitlines()[2:]
        self.assertTrue(lines[0].startswith("| OVS-DPDK, dpdk ports with net_af_xdp"))
        self.assertIn("tap containers", lines[1])


if __name__ == "__main__":
    unittest.main()
