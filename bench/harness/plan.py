"""`--plan`: the samples a run would take and an estimate of its duration.

The estimate adds, per sample, the parts the harness waits for on purpose
(warm-up, window, the flows' settling, iperf3's runs, dpx-latgen's phases)
and a fixed cost for starting and stopping the switch, taken from the
quick runs' records (start-up to the first packet at the sink is about
0.5 s; a container variant with 1 s iperf3 runs took 2 to 8 s, 4 s on
average). Checked against the quick run of 2026-11-21 11:50 (3 rounds of
scenario 1, 7 container variants, no micro-benchmarks): estimated 4.1
minutes, measured 4.1. It is an estimate: a loaded machine, or many rules
to install (scenario 2), makes a run longer.
"""

from . import latency

# Starting a switch until its first packet at the sink, and stopping it.
START_STOP_S = 0.8
# Scenario 6: the storm's 9,000 flows set up (0.15 s for OVS-DPDK in the
# quick run; dpxd through OVS takes longer) and the storm port added.
STORM_S = 3.0
# Scenario 7, per variant and round: namespaces, links and the switch(es)
# set up and torn down, the first ping, two iperf3 servers started.
CONTAINER_SETUP_S = 2.0
# Scenario 7: the pause between the TCP and the UDP run, and iperf3's own
# start and end (connection, JSON) around each of them.
IPERF_EXTRA_S = 0.5
# Installing OpenFlow rules (ovs-ofctl add-flows) and setting their
# megaflows up by upcalls, per rule, for switches programmed through OVS:
# a guess that only matters for scenario 2's 100,000 rules.
RULE_S = 50e-6
OVS_SWITCHES = ("ovs", "dpx")
# The micro-benchmarks: Google Benchmark runs every benchmark for at
# least min_time; the four executables have about this many between them.
MICRO_BENCHMARKS = 66


def sample_seconds(case, params, switch):
    """Estimated seconds of one sample of `case` on `switch`."""
    if case.kind == "setup":
        return (START_STOP_S + 2 * (params["warmup_s"] + params["window_s"]) + STORM_S)
    if case.kind == "latency":
        return START_STOP_S + latency.run_seconds(params["latency_s"],
                                                  params["latency_warmup_s"])
    # The flows settle once nothing changed for still_s: testpmd has no
    # flow counters (no wait); with upcalls it often takes two polls.
    settle = {"testpmd": 0, "dpxd": 1}.get(switch, 1.5) * params["still_s"]
    return START_STOP_S + settle + params["warmup_s"] + params["window_s"]


def case_rounds(case, params):
    if params.get("rounds_override"):
        return params["rounds_override"]
    if case.kind == "setup":
        return params["setup_rounds"]
    return params["rounds"] if case.scenario == 1 else params["other_rounds"]


def plan(cases, switches, explicit, params, container_variants, micro):
    """Rows (what, samples, seconds) of the run and their total in seconds.

    cases, switches, explicit: as run_cases() takes them (explicit: the
    switches were named on the command line, so a case's `also` does not
    add any); container_variants: scenario 7's variants, empty when it does
    not run; micro: whether the micro-benchmarks run.
    """
    rows = []
    for case in cases:
        if case.same_as:
            continue
        order = switches + [s for s in case.also if s not in switches and not explicit]
        names = [s for s in order if s not in case.not_for]
        rounds = case_rounds(case, params)
        rules = RULE_S * len(case.openflow_rules) * sum(s in OVS_SWITCHES for s in names)
        rows.append((f"s{case.scenario} {case.key} ({', '.join(names)})", rounds * len(names),
                     rounds * (sum(sample_seconds(case, params, s) for s in names) + rules)))
    if container_variants:
        rounds = params.get("rounds_override") or params["container_rounds"]
        each = CONTAINER_SETUP_S + 2 * (params["iperf_s"] + IPERF_EXTRA_S)
        n = rounds * len(container_variants)
        rows.append((f"s7 containers ({len(container_variants)} variants)", n, n * each))
    if micro:
        rows.append(("micro-benchmarks", MICRO_BENCHMARKS,
                     MICRO_BENCHMARKS * params["micro_min_time"]))
    return rows, sum(r[2] for r in rows)


def format_plan(rows, total):
    lines = [f"{'samples':>7}  {'est. s':>7}  what"]
    lines += [f"{n:>7}  {s:>7.0f}  {what}" for what, n, s in rows]
    lines.append(f"{'':>7}  {total:>7.0f}  in all: about {total / 60:.1f} minutes")
    return "\n".join(lines)
