"""Flow set-up probe: one scenario-6 storm (bench/harness/flowsetup.py)
through dpxd programmed by our ovs-vswitchd, reporting where a new flow's
work goes rather than a rate: the flows set up, OVS's coverage counters over
the storm (executes, duplicate upcalls, flow-limit hits), and the CPU time
per flow of dpxd's control thread and of ovs-vswitchd's threads (from
/proc, so meaningful on a busy machine, unlike the rate).

    python3 bench/flowsetup_probe.py BUILD_DIR WORK_DIR
    PERF=file  also samples dpxd and ovs-vswitchd with perf (cpu-clock;
               `perf report --comm` picks a thread);
               PERF_CG=dwarf for call graphs (dpxd has no frame pointers),
               PERF_CG=none for none; PERF_FREQ=Hz (1000)
    STRACE=prefix  also counts the system calls of dpxd's control thread
                   and of an OVS handler thread (strace -c), into
                   prefix.dpxd-control and prefix.handler

BUILD_DIR needs datapath/dpxd, datapath/dpxctl, datapath/dpx-pcapgen and
ovs/ovs-vswitchd; hugepages and root as for bench/run.sh. OVS folds its
threads' coverage counters in about once a second: in a storm shorter than
that, the handler's counts may be missing.
"""
import os, sys, time, re, json, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import scenarios, switches, __main__ as hm
from harness.switches import DpxOvs, wait_for

build = sys.argv[1]
tmp = sys.argv[2]
os.makedirs(tmp, exist_ok=True)
case = scenarios.scenario6(True)[0]
pcapgen = os.path.join(build, "datapath", "dpx-pcapgen")
pcap, packets, _ = hm.make_pcap(pcapgen, tmp, case)
spec = hm.Spec(case, pcap, packets)
spec.storm_pcap, spec.extra_packets, _ = hm.make_pcap(pcapgen, tmp, case, flows=case.storm_flows, suffix="-storm")
spec.extra_ports = [("sink2", scenarios.STORM_SINK_DEVARGS, scenarios.STORM_SINK)]

def threads_cpu(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        # The scheduler's run time in nanoseconds (schedstat's first field),
        # not utime + stime: those come in 10 ms ticks, 1.1 us per flow of
        # a 9,000-flow storm.
        try:
            t = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            f = st[st.rindex(")") + 2:].split()
            t = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        out[f"{comm}"] = out.get(comm, 0) + t
    return out

def cpu_times():
    """(busy, idle) jiffies per CPU from /proc/stat."""
    out = {}
    for line in open("/proc/stat"):
        if line.startswith("cpu") and line[3].isdigit():
            f = line.split()
            v = [int(x) for x in f[1:]]
            out[f[0]] = (sum(v) - v[3] - v[4], v[3] + v[4])
    return out


def threads_switches(pid):
    """Context switches (voluntary + involuntary) per thread name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            st = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        n = sum(int(v) for v in re.findall(r"ctxt_switches:\s*(\d+)", st))
        out[comm] = out.get(comm, 0) + n
    return out


def coverage(sw):
    txt = sw.appctl("coverage/show")
    c = {}
    for line in txt.splitlines():
        m = re.match(r"(\S+)\s+.*total:\s*(\d+)", line)
        if m:
            c[m.group(1)] = int(m.group(2))
    return c

with DpxOvs(build, cpu=1, workdir=tmp) as sw:
    sw.start(spec)
    wait_for(lambda: sw.counters()["sink_tx"] > 0, "first packet", timeout=60)
    time.sleep(1)
    c0 = sw.counters(); base = c0["flows"]
    cov0 = coverage(sw)
    dpid, vpid = sw.dp.pid(), sw.vswitchd.pid
    d0, v0 = threads_cpu(dpid), threads_cpu(vpid)
    s0 = {**threads_switches(dpid), **threads_switches(vpid)}
    c_0 = cpu_times()
    perf = None
    if os.environ.get("PERF"):
        cg = os.environ.get("PERF_CG", "fp")
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", os.environ.get("PERF_FREQ", "1000")]
                                + (["--call-graph", cg] if cg != "none" else [])
                                + ["-p", f"{dpid},{vpid}", "-o", os.environ["PERF"]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    straces = []
    if os.environ.get("STRACE"):
        htid = [t for t in os.listdir(f"/proc/{vpid}/task")
                if open(f"/proc/{vpid}/task/{t}/comm").read().startswith("handler")][0]
        for tid, name in ((dpid, "dpxd-control"), (htid, "handler")):
            straces.append(subprocess.Popen(["strace", "-c", "-q", "-o",
                                             f"{os.environ['STRACE']}.{name}", "-p", str(tid)]))
        time.sleep(1)
    t0 = time.monotonic()
    sw.add_port("storm", scenarios.storm_src_devargs(spec.storm_pcap), scenarios.STORM_SRC)
    last, last_t = base, time.monotonic()
    while time.monotonic() - t0 < 120:
        c = sw.counters()
        if c["flows"] != last:
            last, last_t = c["flows"], time.monotonic()
        if c["flows"] >= base + case.storm_flows or time.monotonic() - last_t > 5:
            break
        time.sleep(0.1)
    t1 = time.monotonic()
    d_end, v_end = threads_cpu(dpid), threads_cpu(vpid)
    s_end = {**threads_switches(dpid), **threads_switches(vpid)}
    c_end = cpu_times()
    if perf:
        perf.send_signal(2)
        perf.wait()
    for st in straces:
        st.send_signal(2)
        st.wait()
    time.sleep(2.5)  # OVS folds its threads' coverage counters in once a second
    cov1 = coverage(sw)
    d1, v1 = threads_cpu(dpid), threads_cpu(vpid)
    n = c["flows"] - base
    res = {"flows": n, "wall_s": round(t1 - t0, 2), "misses": c["misses"] - c0["misses"],
           "lost": c["lost"] - c0["lost"]}
    for k in ("upcall_flow_limit_hit", "handler_duplicate_upcall", "dpif_execute", "dpif_flow_put",
              "dpif_execute_with_help", "upcall_ukey_replace", "dumped_new_flow", "revalidate_missed_dp_flow",
              "dpif_flow_del", "dumped_duplicate_flow"):
        res[k] = cov1.get(k, 0) - cov0.get(k, 0)
    # Every other coverage counter that moved (revalidation causes, upcall
    # paths), to see what OVS did besides set-up.
    res["coverage"] = {k: v - cov0.get(k, 0) for k, v in sorted(cov1.items()) if v != cov0.get(k, 0)}
    res["cpu_us_per_flow"] = {}
    for name, d in (("dpxd", (d0, d1)), ("vswitchd", (v0, v1))):
        for comm in d[1]:
            dt = d[1][comm] - d[0].get(comm, 0)
            if dt > 0.005:
                res["cpu_us_per_flow"][f"{name}:{comm}"] = round(dt * 1e6 / max(n, 1), 1)
    # dpxd's own view of the storm's misses: the PMD's drops by reason
    # (upcall_hold_full, upcall_queue_full, ...) and the lookups.
    drops = {}
    for name, count in re.findall(r"\b(upcalls|lost|upcall_\w+|miss_\w+):\s*(\d+)", sw.dp.dpxctl("pmd-stats-show")):
        drops[name] = drops.get(name, 0) + int(count)
    res["dpxd_drops"] = drops
    # CPU per flow over the storm's span alone (port add to the last poll),
    # without the 2.5 s above.
    res["storm_cpu_us_per_flow"] = {}
    for name, (a, b) in (("dpxd", (d0, d_end)), ("vswitchd", (v0, v_end))):
        for comm in b:
            dt = b[comm] - a.get(comm, 0)
            if dt > 0.005:
                res["storm_cpu_us_per_flow"][f"{name}:{comm}"] = round(dt * 1e6 / max(n, 1), 1)
    # Context switches per flow over the storm: on a CPU that dpxd's
    # control thread shares with the handlers, each switch costs as much as
    # a good part of a flow's work.
    # Each CPU's busy share over the storm: whether set-up is bound by
    # CPU time on the control CPU or by the round trip.
    res["storm_cpu_busy"] = {k: round((c_end[k][0] - c_0[k][0]) / max(1, sum(c_end[k]) - sum(c_0[k])), 2)
                             for k in c_end}
    res["storm_switches_per_flow"] = {k: round((v - s0.get(k, 0)) / max(n, 1), 2)
                                      for k, v in s_end.items() if v - s0.get(k, 0) > 0}
    # The same threads' CPU with the flows set up and both sources still
    # running, per second: what the per-flow figures above include besides
    # set-up (revalidator dumps, statistics) over their span.
    d2, v2, ta = threads_cpu(dpid), threads_cpu(vpid), time.monotonic()
    time.sleep(3)
    d3, v3, tb = threads_cpu(dpid), threads_cpu(vpid), time.monotonic()
    res["span_s"] = round(ta - t0, 2)
    res["settled_cpu_ms_per_s"] = {}
    for name, (a, b) in (("dpxd", (d2, d3)), ("vswitchd", (v2, v3))):
        for comm in b:
            dt = b[comm] - a.get(comm, 0)
            if dt > 0.005:
                res["settled_cpu_ms_per_s"][f"{name}:{comm}"] = round(dt * 1e3 / (tb - ta), 1)
    print(json.dumps(res, indent=1))
