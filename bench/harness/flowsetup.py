"""Scenario 6: flow set-up through the control plane, and an established
flow's throughput during a storm of new flows.

One sample, on a switch programmed by ovs-vswitchd (OVS-DPDK, or dpxd
through our ovs-vswitchd), with the same OpenFlow rules:

1. The established flow (one microflow, port 1 -> port 2, one rule) runs
   alone; its rate over a window is `est_alone_mpps`.
2. The storm source (port 3) is added. Its file holds N microflows, each
   matched by its own exact 5-tuple rule to port 4, so each needs its own
   megaflow and every one of them starts with a miss and an upcall. The
   switch's counters are polled every POLL_S seconds (over a control
   connection kept open, the same for both switches) until the datapath has
   N more flows than before the storm, or its flow count stops rising.
3. The established flow and the storm flows then run together, all set up,
   for another window (`est_after_mpps`), the baseline for the rate during
   the storm: from then on both sources share the PMD.

The set-up rate is N (or the flows reached) over the time from the last
poll before the flow count rose to the first poll where it reached N; the
established flow's rate during the storm is its sink's packets over the same
span. Both come from the switch's own counters (dpctl/show: flows, lookups
missed and lost, port counters).
"""

import time

from . import scenarios, summary
from .measure import control_threads, memory_mib, thread_cpu_ns
from .switches import SwitchError, wait_for

# The storm's poll interval. A storm lasts 0.1 to a few seconds, so 0.1 s
# was too coarse; each poll is one dpctl/show over a unixctl connection kept
# open (Switch.poll_counters), not an ovs-appctl process, so polling this
# often costs both switches little, and the same.
POLL_S = 0.01
# Flow counts that stop rising for this long end a storm that never
# reaches N (flow limit, lost upcalls): the sample reports what it reached.
STALL_S = 5.0
STORM_TIMEOUT_S = 120.0
# Before the storm the datapath should hold the established flow alone.
# dpxd brings the bridge's tap up, so the kernel's IPv6 router
# solicitations and MLD reports on it set up a short-lived drop flow that
# ovs-vswitchd expires (max-idle, 10 s) during the storm; counted in the
# base, it would hide one storm flow and end the storm by a stall instead
# of by its count. Wait that long for such flows to go.
SETTLE_FLOWS = 1
SETTLE_TIMEOUT_S = 30.0


def _window(sw, seconds):
    """Rate (Mpps) of the established flow's sink over `seconds`."""
    c0, t0 = sw.counters(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = sw.counters(), time.monotonic()
    return summary.rate(c0["sink_tx"], c1["sink_tx"], t0, t1) / 1e6


def storm_timeline(polls, base_flows, n):
    """Set-up figures from the polls of a storm.

    polls: [(t, flows, est_sink_tx, misses, lost)] in time order, the first
    one taken before the storm source was added. Returns {"flows_set_up",
    "setup_s", "flows_per_s", "est_storm_mpps", "misses", "lost"}: the span
    runs from the last poll with the base flow count to the first poll with
    all n flows (or the highest count reached). Raises ValueError if the
    flow count never rose.
    """
    start = None
    for i, p in enumerate(polls):
        if p[1] > base_flows:
            start = i - 1
            break
    if start is None or start < 0:
        raise ValueError("the datapath flow count never rose above the established flows")
    top = max(p[1] for p in polls)
    target = min(base_flows + n, top)
    end = next(i for i, p in enumerate(polls) if p[1] >= target)
    t0, t1 = polls[start][0], polls[end][0]
    set_up = polls[end][1] - base_flows
    return {
        "flows_set_up": set_up,
        "setup_s": round(t1 - t0, 3),
        "flows_per_s": set_up / (t1 - t0),
        "est_storm_mpps": summary.rate(polls[start][2], polls[end][2], t0, t1) / 1e6,
        "misses": polls[end][3] - polls[start][3],
        "lost": polls[end][4] - polls[start][4],
    }


def measure_setup(sw, case, spec, warmup_s, window_s):
    """One scenario 6 sample on switch `sw`; errors are recorded, not raised."""
    sample = {"case": case.key, "scenario": case.scenario, "switch": sw.name,
              "mpps": None, "cycles_per_packet": None, "error": None}
    try:
        sw.start(spec)
        wait_for(lambda: not sw.alive() or sw.counters()["sink_tx"] > 0,
                 "the first packet at the sink", timeout=60)
        time.sleep(warmup_s)
        sample["est_alone_mpps"] = _window(sw, window_s)
        settle_end = time.monotonic() + SETTLE_TIMEOUT_S
        while sw.poll_counters()["flows"] > SETTLE_FLOWS and time.monotonic() < settle_end:
            time.sleep(POLL_S)
        c = sw.poll_counters()
        sample["base_flows"] = c["flows"]
        base = c["flows"]
        polls = [(time.monotonic(), c["flows"], c["sink_tx"], c["misses"], c["lost"])]
        # CPU time of the threads off the PMD core (both switches' control
        # planes: ovs-vswitchd's handlers, revalidators and main thread, and
        # dpxd's control thread), read before the storm port is added and
        # once the storm is over: two readings only, so that the polls cost
        # no more than they did.
        threads = control_threads(sw.memory_pids(), sw.cpu)
        cpu0 = thread_cpu_ns(threads)
        t_add = time.monotonic()
        sw.add_port("storm", scenarios.storm_src_devargs(spec.storm_pcap), scenarios.STORM_SRC)
        sample["port_add_s"] = round(time.monotonic() - t_add, 3)
        deadline = time.monotonic() + STORM_TIMEOUT_S
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            if not sw.alive():
                raise SwitchError(f"{sw.name} exited during the storm")
            c = sw.poll_counters()
            t = time.monotonic()
            if c["flows"] != polls[-1][1]:
                last_change = t
            polls.append((t, c["flows"], c["sink_tx"], c["misses"], c["lost"]))
            if c["flows"] >= base + case.storm_flows or t - last_change > STALL_S:
                break
            time.sleep(POLL_S)
        cpu1 = thread_cpu_ns(threads)
        sample.update(storm_timeline(polls, base, case.storm_flows))
        sample["control_cpu_us_per_flow"] = summary.cpu_per_flow(cpu0, cpu1,
                                                                 sample["flows_set_up"])
        sample["storm_polls"] = [[round(p[0] - polls[0][0], 3), p[1]] for p in polls]
        time.sleep(warmup_s)
        sample["est_after_mpps"] = _window(sw, window_s)
        storm_sink = sw.counters()["ports"].get("sink2", {}).get("tx_packets")
        sample["storm_sink_packets"] = storm_sink
        sample["rss_mib"], sample["hugepages_mib"] = memory_mib(sw.memory_pids())
    except (SwitchError, OSError, ValueError, KeyError) as e:
        sample["error"] = f"{type(e).__name__}: {e}"
        try:
            sample["detail"] = sw.describe_failure()
        except Exception as d:  # the failure report must not hide the failure
            sample["detail"] = f"(no detail: {d})"
    return sample
