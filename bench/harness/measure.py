"""One measurement: start a switch, warm up, read its counters over a window.

The rate is the sink port's transmitted packets over the window, read from
the switch's own counters before and after it. The window is cut into
intervals of about a second, each read too, so that a stall or a slow-down
inside a run shows in the sample (`interval_mpps`) instead of disappearing
into an average.
"""

import os
import time

from . import parse, summary
from .switches import SwitchError, wait_for


def _threads(pid):
    """(/proc path of each thread of `pid`, its Cpus_allowed_list), for the
    threads that could be read."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/status") as f:
                cpus = parse.cpus_allowed(f.read())
        except (OSError, parse.ParseError):
            continue
        yield base, cpus


def pmd_sched(pid, cpu):
    """Summed (ns on the CPU, ns waiting to run) of the threads of `pid`
    pinned to `cpu` alone: the PMD / forwarding thread.

    Over a window, on-CPU time tells whether the PMD had its CPU for the
    whole window; when it did not (another process ran there), a low rate
    is the machine's doing, not the switch's. Returns None if unknown.
    """
    if pid is None:
        return None
    run = wait = 0
    found = False
    for base, cpus in _threads(pid):
        if cpus != str(cpu):
            continue
        try:
            with open(f"{base}/schedstat") as f:
                r, w = parse.schedstat(f.read())
        except (OSError, parse.ParseError):
            continue
        run, wait, found = run + r, wait + w, True
    return (run, wait) if found else None


def control_threads(pids, pmd_cpu):
    """{"PROCESS:THREAD": /proc path of its schedstat} for every thread of
    `pids` except those pinned to `pmd_cpu` alone (the PMD, which
    busy-polls: its CPU time says nothing about the work it did). PROCESS
    and THREAD are their comm names; a thread named like its process is
    that process's main thread."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                proc = f.read().strip()
        except OSError:
            continue
        for base, cpus in _threads(pid):
            if cpus == str(pmd_cpu):
                continue
            try:
                with open(f"{base}/comm") as f:
                    out[f"{proc}:{f.read().strip()}"] = f"{base}/schedstat"
            except OSError:
                continue
    return out


def thread_cpu_ns(paths):
    """{name: ns on the CPU so far} of control_threads()' threads (those
    that have exited are left out)."""
    out = {}
    for name, path in paths.items():
        try:
            with open(path) as f:
                out[name] = parse.schedstat(f.read())[0]
        except (OSError, parse.ParseError):
            pass
    return out


def cpu_steal(cpu):
    try:
        with open("/proc/stat") as f:
            return parse.proc_stat_steal(f.read(), cpu)
    except (OSError, parse.ParseError):
        return None


def _read(sw):
    """Counters and the time they were read (the middle of the query)."""
    t0 = time.monotonic()
    c = sw.counters()
    t1 = time.monotonic()
    return c, (t0 + t1) / 2


def _wait_flows_settle(sw, timeout=180.0, still_s=1.0):
    """Waits until the switch stops setting up flows.

    OVS-DPDK creates its megaflows through upcalls once traffic arrives;
    with many rules that takes seconds, and a window measured before it ends
    would measure flow setup, not forwarding. Settled means: over a second,
    neither the datapath flow count nor the count of lookups that missed
    changed (still_s: half a second in quick runs). dpxd (dpxctl) gets its
    flows before the source port starts and testpmd
    has none, so this returns after one poll there.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    c = sw.counters()
    last = (c.get("flows"), c.get("misses"))
    while last != (None, None) and time.monotonic() < deadline:
        time.sleep(still_s)
        c = sw.counters()
        now = (c.get("flows"), c.get("misses"))
        if now == last:
            break
        last = now
    return time.monotonic() - t0


def _read_field(path, name):
    try:
        with open(path) as f:
            return parse.meminfo_field_kb(f.read(), name)
    except (OSError, parse.ParseError):
        return None


def memory_mib(pids):
    """(resident MiB in ordinary pages, MiB of hugepages mapped) summed over
    the processes `pids`, from /proc/PID/status (VmRSS does not count
    hugepages; HugetlbPages does). None where unknown."""
    out = []
    for field in ("VmRSS", "HugetlbPages"):
        kbs = [_read_field(f"/proc/{p}/status", field) for p in pids]
        out.append(None if not kbs or None in kbs else round(sum(kbs) / 1024, 1))
    return tuple(out)


def measure(sw, case, spec, warmup_s, window_s, still_s=1.0):
    """Runs one sample of `case` on switch `sw` (a started-or-not Switch).

    Returns the sample as a dict for the JSON file. A failure (start-up,
    configuration, the switch dying or stalling) does not raise: it is
    recorded in "error" with the switch's log tail in "detail", so one
    broken run leaves a visible hole instead of stopping the whole report.
    """
    sample = {"case": case.key, "scenario": case.scenario, "switch": sw.name,
              "mpps": None, "src_rx_mpps": None, "cycles_per_packet": None,
              "interval_mpps": [], "startup_s": None, "pmd_on_cpu_pct": None,
              "pmd_wait_pct": None, "cpu_steal_pct": None, "error": None}
    try:
        t_start = time.monotonic()
        sw.start(spec)
        wait_for(lambda: not sw.alive() or sw.counters()["sink_tx"] > 0,
                 "the first packet at the sink", timeout=60)
        if not sw.alive():
            raise SwitchError(f"{sw.name} exited during start-up")
        sample["startup_s"] = round(time.monotonic() - t_start, 3)
        # Flow set-up by upcalls (OVS-DPDK, dpxd through OVS) before the
        # warm-up: its duration is the row's flow set-up time.
        sample["settle_s"] = round(_wait_flows_settle(sw, still_s=still_s), 2)
        time.sleep(warmup_s)
        c0, t0 = _read(sw)
        sched0, steal0 = pmd_sched(sw.pid(), sw.cpu), cpu_steal(sw.cpu)
        sw.pmd_clear()
        intervals = max(1, round(window_s))
        prev, tprev = c0, t0
        for _ in range(intervals):
            time.sleep(window_s / intervals)
            if not sw.alive():
                raise SwitchError(f"{sw.name} exited during the measurement window")
            c, t = _read(sw)
            sample["interval_mpps"].append(
                round(summary.rate(prev["sink_tx"], c["sink_tx"], tprev, t) / 1e6, 4))
            prev, tprev = c, t
        c1, t1 = prev, tprev
        sched1, steal1 = pmd_sched(sw.pid(), sw.cpu), cpu_steal(sw.cpu)
        if sched0 and sched1:
            span_ns = (t1 - t0) * 1e9
            sample["pmd_on_cpu_pct"] = round((sched1[0] - sched0[0]) / span_ns * 100, 1)
            sample["pmd_wait_pct"] = round((sched1[1] - sched0[1]) / span_ns * 100, 1)
        if steal0 is not None and steal1 is not None:
            hz = os.sysconf("SC_CLK_TCK")
            sample["cpu_steal_pct"] = round((steal1 - steal0) / hz / (t1 - t0) * 100, 1)
        sample["datapath_flows"] = c1.get("flows")
        # Memory while forwarding: the resident set in ordinary pages, and
        # the hugepages mapped.
        # A switch of several processes (dpxd and its ovs-vswitchd) counts all.
        sample["rss_mib"], sample["hugepages_mib"] = memory_mib(sw.memory_pids())
        sample["cycles_per_packet"] = sw.pmd_cycles()
        sample["window_s"] = round(t1 - t0, 4)
        sample["mpps"] = summary.rate(c0["sink_tx"], c1["sink_tx"], t0, t1) / 1e6
        sample["src_rx_mpps"] = summary.rate(c0["src_rx"], c1["src_rx"], t0, t1) / 1e6
        if min(sample["interval_mpps"]) == 0:
            # Say whether the PMD was running: a PMD that had its CPU and
            # forwarded nothing is a switch bug, one that did not run is not.
            on = sample["pmd_on_cpu_pct"]
            raise SwitchError(
                f"{sw.name} forwarded no packet in an interval (per-interval Mpps "
                f"{sample['interval_mpps']}); its PMD thread was on its CPU for "
                + (f"{on:.1f} % of the window" if on is not None else "an unknown share"
                   " of the window"))
    except (SwitchError, OSError, ValueError) as e:
        sample["error"] = str(e)
        try:
            sample["detail"] = sw.describe_failure()
        except Exception as d:  # the failure report must not hide the failure
            sample["detail"] = f"(no detail: {d})"
    return sample
