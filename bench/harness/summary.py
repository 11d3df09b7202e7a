"""Summaries of repeated samples: median, spread and ratios.

Samples of the switches are taken alternately (A B A B ...), so the i-th
sample of each switch comes from the same round. The ratio is reported both
as the ratio of the medians and as the range of the per-round ratios, which
shows whether a difference survives the machine's drift during the run.
"""

import statistics


def summarize(values):
    """{"median", "min", "max", "spread_pct", "n"} of a list of numbers.

    spread_pct is (max - min) / median in percent: how far apart the
    repetitions were. An empty list gives None (a switch that produced no
    sample, e.g. because it failed to start).
    """
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    return {
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "spread_pct": (max(vals) - min(vals)) / med * 100.0 if med else None,
        "n": len(vals),
    }


def ratio(a_values, b_values):
    """Ratio A/B: of the medians, and the min/max over rounds where both ran.

    Returns None when either side has no samples or B's median is zero.
    """
    a = summarize(a_values)
    b = summarize(b_values)
    if a is None or b is None or not b["median"]:
        return None
    paired = [x / y for x, y in zip(a_values, b_values)
              if x is not None and y is not None and y]
    return {
        "of_medians": a["median"] / b["median"],
        "round_min": min(paired) if paired else None,
        "round_max": max(paired) if paired else None,
    }


def rate(c0, c1, t0, t1):
    """Packets per second from two counter readings and their times."""
    if t1 <= t0:
        raise ValueError("the second reading must come after the first")
    if c1 < c0:
        raise ValueError(f"counter went backwards ({c0} -> {c1}): did the switch restart?")
    return (c1 - c0) / (t1 - t0)


def thread_group(name):
    """The group scenario 6 reports a thread's CPU under, from its
    "PROCESS:THREAD" name (measure.control_threads()): ovs-vswitchd's
    "handler", "revalidator" and "main" thread, "ovs other" for its other
    threads (urcu, DPDK's), and "dpxd" for all of dpxd's threads off the
    PMD (the control thread, mostly)."""
    proc, thread = name.split(":", 1)
    if proc.startswith("dpxd"):
        return "dpxd"
    if thread == proc:
        return "main"
    stem = thread.rstrip("0123456789")
    return stem if stem in ("handler", "revalidator") else "ovs other"


def cpu_per_flow(before, after, flows):
    """Microseconds of CPU per flow, by thread_group(), that the threads
    used between two thread_cpu_ns() readings; threads that started between
    them count from zero, those that ended are left out."""
    out = {}
    if not flows:
        return out
    for name, ns in after.items():
        g = thread_group(name)
        out[g] = out.get(g, 0) + (ns - before.get(name, 0)) / 1e3 / flows
    return {g: round(v, 2) for g, v in sorted(out.items())}
