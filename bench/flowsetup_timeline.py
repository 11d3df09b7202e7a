"""Flow set-up timeline: scenario 6's storm through dpxd programmed by our
ovs-vswitchd (bench/harness/flowsetup.py), with every thread's CPU time
sampled at each poll of the flow count, so that an A/B comparison of two
builds or settings can be made on storms minutes apart and read per thread.

    python3 bench/flowsetup_timeline.py BUILD_DIR WORK_DIR [ROUNDS]

Prints one line per storm: the set-up rate (9,000 flows over the span from
the last poll before the count rose to the first poll at 9,000, as the
harness does, but polling every 5 ms) and each thread's CPU per flow over
that span (schedstat, in microseconds; the PMD's is left out: it
busy-polls). The environment is passed to dpxd and ovs-vswitchd, so
settings read from it can be compared round by round:

    for r in 1 2 3 4; do for v in A=1 B=1; do env $v python3 ... 1; done; done

PERF=FILE records a cpu-clock profile of both CPUs over the storm into FILE
(perf report -i FILE --sort comm,dso,sym); with PERF_SCHED=1, a scheduler
trace instead (perf sched timehist -i FILE).

RENICE=handler:-5,revalidator:10 renices the threads whose names start so;
AFFINITY=handler:1 pins them to a CPU.

SWITCH=ovs runs OVS-DPDK's storm instead (its PMD thread, pmd-c01/l01, is
left out of the CPU figures like dpxd's).

TIMELINE=1 also prints each poll: time, flows, and the CPU each thread
used since the previous poll (us). Rates of one build swing by a factor of
two between storms minutes apart on this machine; compare paired rounds.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import scenarios, __main__ as hm  # noqa: E402
from harness.measure import control_threads, thread_cpu_ns  # noqa: E402
from harness.switches import DpxOvs, OvsDpdk, wait_for  # noqa: E402

POLL_S = 0.005
SETTLE_S = 11  # the bridge tap's IPv6 drop flow idles out (flowsetup.py)


def cpu_us(paths):
    return {k: v / 1e3 for k, v in thread_cpu_ns(paths).items()}


def storm(build, tmp):
    case = scenarios.scenario6(True)[0]
    pcapgen = os.path.join(build, "datapath", "dpx-pcapgen")
    pcap, packets, _ = hm.make_pcap(pcapgen, tmp, case)
    spec = hm.Spec(case, pcap, packets)
    spec.storm_pcap, spec.extra_packets, _ = hm.make_pcap(
        pcapgen, tmp, case, flows=case.storm_flows, suffix="-storm")
    spec.extra_ports = [("sink2", scenarios.STORM_SINK_DEVARGS, scenarios.STORM_SINK)]
    ovs = os.environ.get("SWITCH") == "ovs"
    with (OvsDpdk(cpu=1, workdir=tmp) if ovs else DpxOvs(build, cpu=1, workdir=tmp)) as sw:
        sw.start(spec)
        wait_for(lambda: sw.counters()["sink_tx"] > 0, "the first packet", timeout=60)
        if os.environ.get("OTHER_CONFIG"):
            # e.g. OTHER_CONFIG=n-handler-threads=2
            sw.vsctl("set", "Open_vSwitch", ".",
                     *[f"other_config:{o}" for o in os.environ["OTHER_CONFIG"].split(",")])
        time.sleep(SETTLE_S)
        paths = control_threads(sw.memory_pids(), sw.cpu)
        # RENICE=handler:-5,revalidator:5 renices those threads;
        # AFFINITY=handler:1 pins them to CPU 1 (the PMD's).
        for var, apply in (("RENICE", lambda tid, v: os.setpriority(os.PRIO_PROCESS, tid, v)),
                           ("AFFINITY", lambda tid, v: os.sched_setaffinity(tid, {v}))):
            for spec_ in filter(None, os.environ.get(var, "").split(",")):
                prefix, value = spec_.split(":")
                for k, path in paths.items():
                    if k.split(":", 1)[1].startswith(prefix):
                        apply(int(path.split("/")[-2]), int(value))
        base = sw.poll_counters()["flows"]
        rows = [(0.0, base, cpu_us(paths))]
        perf = None
        if os.environ.get("PERF"):
            # cpu-clock sampling works without a PMU (this VM has none).
            what = (["sched", "record"] if os.environ.get("PERF_SCHED") else
                    ["record", "-q", "-e", "cpu-clock", "-F", "20000",
                     *os.environ.get("PERF_ARGS", "").split()])
            perf = subprocess.Popen(["perf", *what, "-a", "-o", os.environ["PERF"]],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        t0 = time.monotonic()
        sw.add_port("storm", scenarios.storm_src_devargs(spec.storm_pcap), scenarios.STORM_SRC)
        while time.monotonic() - t0 < 30:
            flows = sw.poll_counters()["flows"]
            rows.append((time.monotonic() - t0, flows, cpu_us(paths)))
            if flows >= base + case.storm_flows:
                break
            time.sleep(POLL_S)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        if os.environ.get("KEEP"):
            # KEEP=DIR: ovs-vswitchd's log and dpxd's counters after the storm.
            time.sleep(2.5)  # OVS folds its threads' coverage in once a second
            with open(os.path.join(os.environ["KEEP"], "coverage.txt"), "w") as f:
                f.write(sw.appctl("coverage/show"))
            shutil.copy(os.path.join(sw.dir, "ovs-vswitchd.log"), os.environ["KEEP"])
            if not ovs:
                with open(os.path.join(os.environ["KEEP"], "pmd-stats.txt"), "w") as f:
                    f.write(sw.dp.dpxctl("pmd-stats-show"))
    n = case.storm_flows
    i0 = max(i for i, r in enumerate(rows) if r[1] == base)
    i1 = next((i for i, r in enumerate(rows) if r[1] >= base + n), None)
    if i1 is None:
        return f"storm did not reach {n} flows in 30 s (last count {rows[-1][1] - base})"
    span = rows[i1][0] - rows[i0][0]
    per_flow = {k: round((rows[i1][2][k] - rows[i0][2].get(k, 0)) / n, 2)
                for k in rows[i1][2] if rows[i1][2][k] - rows[i0][2].get(k, 0) > 0.01 * n}
    line = f"{n / span:.0f} flows/s over {span * 1e3:.1f} ms; us of CPU per flow: {per_flow}"
    if os.environ.get("TIMELINE"):
        prev = rows[0][2]
        for t, flows, c in rows[1:]:
            used = " ".join(f"{k}={c[k] - prev.get(k, 0):.0f}" for k in sorted(c)
                            if c[k] - prev.get(k, 0) >= 50)
            line += f"\n{t * 1e3:8.1f} ms {flows - base:6d} flows  {used}"
            prev = c
    return line


def main():
    build, tmp = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.makedirs(tmp, exist_ok=True)
    for _ in range(rounds):
        print(storm(build, tmp), flush=True)


if __name__ == "__main__":
    main()
