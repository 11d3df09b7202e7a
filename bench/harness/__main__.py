"""Side-by-side benchmark harness: `python3 -m harness` from bench/.

bench/run.sh prepares the machine (packages, hugepages, build) and calls
this; see `--help`. It writes docs/benchmarks.md, docs/benchmarks.json and
docs/img/bench-*.png.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

from . import containers, flowsetup, latency, parse, plan, report, scenarios, vxlan
from .measure import measure
from .switches import Dpxd, DpxOvs, OvsDpdk, Testpmd, run

# Rounds of alternation, seconds of warm-up and of measurement per sample.
# still_s: how long datapath flows must stay unchanged before the warm-up;
# setup_rounds: scenario 6 (each sample sets 9,000 flows up); container
# rounds and iperf_s: scenario 7, each iperf3 run. The quick run is a smoke
# check under five minutes, not a measurement.
# other_rounds: scenarios 2 to 5 and 8 (scenario 1, the headline, has "rounds").
# latency_s, latency_warmup_s: scenario 8, each of dpx-latgen's three phases.
# The full run keeps under the 30 minutes (`--plan` prints the
# estimate): three rounds, the minimum of alternations, and
# windows of 3 s (three one-second intervals each).
QUICK = {"rounds": 2, "other_rounds": 2, "warmup_s": 0.3, "window_s": 1.0, "still_s": 0.5,
         "micro_min_time": 0.05, "setup_rounds": 2, "container_rounds": 1, "iperf_s": 1,
         "latency_s": 0.5, "latency_warmup_s": 0.2}
FULL = {"rounds": 3, "other_rounds": 3, "warmup_s": 1.0, "window_s": 3.0, "still_s": 1.0,
        "micro_min_time": 0.5, "setup_rounds": 3, "container_rounds": 3, "iperf_s": 3,
        "latency_s": 3.0, "latency_warmup_s": 1.0}
# Flows are put with one dpxctl call each (about 3 ms of CPU per call):
# beyond this many the row waits for a batch flow-put path.
MAX_DP_FLOWS = 20000
MICRO_BENCHES = ("key_extract_bench", "classifier_bench", "actions_bench", "tunnel_bench")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine(repo):
    with open("/proc/meminfo") as f:
        meminfo = f.read()
    hp_total = sh(["cat", "/proc/sys/vm/nr_hugepages"])
    commit = sh(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"])
    ovs = sh([OvsDpdk.VSWITCHD, "--version"]).splitlines()
    return {
        "cpu": parse.lscpu_summary(sh(["lscpu"])),
        "uname": f"{platform.system()} {platform.release()} {platform.machine()}",
        "mem_gib": parse.meminfo_total_gib(meminfo),
        "hugepages": f"{hp_total} x 2 MiB reserved",
        "dpdk": sh(["pkg-config", "--modversion", "libdpdk"]) or "?",
        "ovs": ovs[0].split()[-1] if ovs else "?",
        "dpx_commit": commit + (" with uncommitted changes" if dirty else ""),
        "load_start": loadavg(),
    }


def make_pcap(pcapgen, workdir, case, flows=None, suffix=""):
    path = os.path.join(workdir, f"{case.key}{suffix}.pcap")
    cmd = [pcapgen, "--out", path, "--flows", str(flows or case.flows), "--size", case.size]
    if case.count:
        cmd += ["--count", str(case.count)]
    run(cmd, timeout=600)
    with open(path, "rb") as f:
        lengths = parse.pcap_frame_lengths(f.read())
    return path, len(lengths), sum(lengths) / len(lengths)


class Spec:
    """What a switch needs to run one case."""

    def __init__(self, case, pcap, packets):
        self.pcap = pcap
        self.pcap_packets = packets
        self.openflow_rules = case.openflow_rules
        self.dp_flows = case.dp_flows
        # Ports besides the source and the sink: (name, devargs, number).
        self.extra_ports = []
        # Packets of other pcap files some port will replay (pool sizing).
        self.extra_packets = 0
        self.storm_pcap = None
        self.tunnel = case.tunnel
        self.v2v = case.v2v


def describe_sample(s):
    if s.get("phases"):
        return latency.describe(s)
    if s.get("flows_per_s") is not None:
        return (f"{s['flows_per_s']:,.0f} flows/s, established {s['est_storm_mpps']:.2f} Mpps "
                f"during the storm ({s['est_alone_mpps']:.2f} before)")
    if s.get("mpps") is None:
        return "-"
    cpp = s.get("cycles_per_packet")
    return f"{s['mpps']:.2f} Mpps" + (f", {cpp:.0f} cycles/pkt" if cpp else "")


def run_micro(build_dir, cpu, min_time, workdir):
    rows, mhz = [], None
    for exe in MICRO_BENCHES:
        path = os.path.join(build_dir, "bench", exe)
        if not os.path.exists(path):
            log(f"micro-benchmark {exe} not built; skipped")
            continue
        out = os.path.join(workdir, exe + ".json")
        log(f"micro-benchmark {exe}")
        p = subprocess.run(["taskset", "-c", str(cpu), path, f"--benchmark_min_time={min_time}",
                            f"--benchmark_out={out}", "--benchmark_out_format=json"],
                           capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            log(f"{exe} failed: {p.stderr.strip()[-500:]}")
            continue
        with open(out) as f:
            doc = json.load(f)
        mhz = doc.get("context", {}).get("mhz_per_cpu", mhz)
        for r in parse.gbench_ns_per_packet(doc):
            r["executable"] = exe
            rows.append(r)
    return rows, mhz


def _exit_on_signal(signum, _frame):
    # SystemExit unwinds the `with` blocks, which stop the running switch.
    sys.exit(128 + signum)


def run_cases(cases, switches, explicit, factories, params, pcapgen, workdir, result):
    """Measures every case: rounds outside, switches alternating inside."""
    measured = set()
    for case in cases:
        if case.same_as not in measured:
            case.same_as = ""
        if case.kind == "latency":
            # dpx-latgen writes its own packets: no traffic file.
            pcap, packets, mean = None, 0, 60
        else:
            pcap, packets, mean = make_pcap(pcapgen, workdir, case)
        if case.tunnel == "decap":
            inner, pcap = pcap, pcap.replace(".pcap", "-vxlan.pcap")
            vxlan.wrap_pcap(inner, pcap)
            mean += 50
        spec = Spec(case, pcap, packets)
        if case.storm_flows:
            spec.storm_pcap, spec.extra_packets, _ = make_pcap(
                pcapgen, workdir, case, flows=case.storm_flows, suffix="-storm")
            spec.extra_ports = [("sink2", scenarios.STORM_SINK_DEVARGS, scenarios.STORM_SINK)]
        result["cases"].append({
            "key": case.key, "scenario": case.scenario, "label": case.label,
            "flows": case.flows, "size": case.size, "pcap_packets": packets,
            "frame_bytes_mean": mean, "rules": len(case.openflow_rules),
            "not_for": case.not_for, "same_as": case.same_as, "kind": case.kind,
            "storm_flows": case.storm_flows, "tunnel": case.tunnel})
        if case.same_as:
            log(f"{case.key}: the same measurement as {case.same_as}")
            continue
        measured.add(case.key)
        order = switches + [s for s in case.also if s not in switches and not explicit]
        rounds = (params["setup_rounds"] if case.kind == "setup" else
                  params["rounds"] if case.scenario == 1 else params["other_rounds"])
        if a_rounds := params.get("rounds_override"):
            rounds = a_rounds
        for rnd in range(rounds):
            for name in order:
                if name in case.not_for:
                    continue
                with factories[name]() as sw:
                    if case.kind == "setup":
                        s = flowsetup.measure_setup(sw, case, spec, params["warmup_s"],
                                                    params["window_s"])
                    elif case.kind == "latency":
                        s = latency.measure_latency(sw, case, params["latgen"],
                                                    params["latency_s"],
                                                    params["latency_warmup_s"])
                    else:
                        s = measure(sw, case, spec, params["warmup_s"], params["window_s"],
                                    params["still_s"])
                s["round"] = rnd
                result["samples"].append(s)
                log(f"{case.key} round {rnd + 1}/{rounds} {name}: "
                    + describe_sample(s) + (f"  ERROR {s['error']}" if s["error"] else ""))


def main(argv=None):
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    ap = argparse.ArgumentParser(prog="harness", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short windows, fewer rows (< 5 min)")
    ap.add_argument("--build-dir", required=True, help="dpx build tree with dpxd and dpxctl")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    ap.add_argument("--out-dir", help="where benchmarks.md/.json and img/ go (default: REPO/docs)")
    ap.add_argument("--cpu", type=int, default=1, help="the CPU of every PMD")
    ap.add_argument("--scenarios", default="1,2,3,4,5,6,7,8",
                    help="comma-separated scenario numbers (9 comes with 1)")
    ap.add_argument("--switches",
                    help="which switches, in the order they alternate: ovs (OVS-DPDK), dpx "
                    "(dpxd programmed by our ovs-vswitchd), dpxd (dpxd programmed by dpxctl), "
                    "testpmd (default: ovs,dpx,testpmd with --quick, all four otherwise)")
    ap.add_argument("--rounds", type=int, help="override the number of rounds")
    ap.add_argument("--window", type=float, help="override the measurement window (s)")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    ap.add_argument("--note", help="a line quoted at the top of the report")
    ap.add_argument("--container-variants",
                    help="scenario 7: comma-separated variants, in the order they alternate "
                    f"(default: all of {','.join(containers.VARIANT_NAMES)})")
    ap.add_argument("--plan", action="store_true",
                    help="print the samples the run would take and an estimate of its "
                    "duration, and exit")
    ap.add_argument("--report-only", metavar="JSON",
                    help="regenerate the Markdown and plots from a JSON file")
    a = ap.parse_args(argv)
    out_dir = a.out_dir or os.path.join(a.repo, "docs")
    img_dir = os.path.join(out_dir, "img")

    if a.report_only:
        with open(a.report_only) as f:
            result = json.load(f)
        report.summarize_result(result)
        report.write_markdown(result, os.path.join(out_dir, "benchmarks.md"),
                              report.plot(result, img_dir))
        return 0

    params = dict(QUICK if a.quick else FULL)
    if a.rounds:
        params["rounds"] = a.rounds
        params["rounds_override"] = a.rounds
    if a.window:
        params["window_s"] = a.window
    params.update(quick=a.quick, cpu=a.cpu, note=a.note)
    pcapgen = os.path.join(a.build_dir, "datapath", "dpx-pcapgen")
    for exe in (pcapgen, os.path.join(a.build_dir, "datapath", "dpxd"),
                os.path.join(a.build_dir, "datapath", "dpxctl")):
        if not os.path.exists(exe) and not a.plan:
            sys.exit(f"harness: {exe} not found; build dpxd, dpxctl and dpx-pcapgen first")
    wanted = {int(x) for x in a.scenarios.split(",") if x}
    cases = []
    if 1 in wanted:
        cases += scenarios.scenario1(a.quick)
    if 2 in wanted:
        cases += scenarios.scenario2(a.quick, MAX_DP_FLOWS)
    if 3 in wanted:
        cases += scenarios.scenario3(a.quick)
    if 4 in wanted:
        cases += scenarios.scenario4(a.quick)
    if 5 in wanted:
        cases += scenarios.scenario5(a.quick)
    if 6 in wanted:
        cases += scenarios.scenario6(a.quick)
    if 8 in wanted:
        cases += scenarios.scenario8(a.quick)
        params["latgen"] = os.path.join(a.build_dir, "datapath", "dpx-latgen")
        if not os.path.exists(params["latgen"]) and not a.plan:
            sys.exit(f"harness: {params['latgen']} not found; build dpx-latgen for scenario 8")
    # The dpxctl-programmed dpxd is an extra row: the quick run leaves it
    # out to stay under five minutes.
    default_switches = "ovs,dpx,testpmd" if a.quick else "ovs,dpx,dpxd,testpmd"
    switches = [s for s in (a.switches or default_switches).split(",") if s]
    factories = {
        "testpmd": lambda: Testpmd(cpu=a.cpu),
        "ovs": lambda: OvsDpdk(cpu=a.cpu),
        "dpx": lambda: DpxOvs(a.build_dir, cpu=a.cpu),
        "dpxd": lambda: Dpxd(a.build_dir, cpu=a.cpu),
    }
    unknown = set(switches) - set(factories)
    if unknown:
        sys.exit(f"harness: unknown switch(es) {', '.join(sorted(unknown))}")
    variants = [v for v in (a.container_variants or "").split(",") if v] or \
        containers.VARIANT_NAMES
    unknown = set(variants) - set(containers.VARIANT_NAMES)
    if unknown:
        sys.exit(f"harness: unknown scenario 7 variant(s) {', '.join(sorted(unknown))}")
    if a.plan:
        rows, total = plan.plan(cases, switches, bool(a.switches), params,
                                variants if 7 in wanted else [], not a.no_micro)
        print(plan.format_plan(rows, total))
        return 0
    # Keep the harness and everything it starts off the PMD's CPU: the
    # switches' control threads (OVS's handlers and revalidators, dpxd's
    # control thread, the EAL's service threads) inherit this, and only the
    # PMD threads pin themselves to --cpu, so no switch's side work competes
    # with its own PMD.
    others = os.sched_getaffinity(0) - {a.cpu}
    if others:
        os.sched_setaffinity(0, others)
    if "dpx" in switches and not os.path.exists(os.path.join(a.build_dir, "ovs",
                                                             "ovs-vswitchd")):
        sys.exit("harness: <build>/ovs/ovs-vswitchd not found; build with DPX_BUILD_OVS=ON")

    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "params": dict(params, switches=switches), "machine": machine(a.repo),
        "cases": [], "samples": [],
    }
    # Traffic files and benchmark output live only as long as the run.
    with tempfile.TemporaryDirectory(prefix="dpxbench-") as workdir:
        t_begin = time.monotonic()
        run_cases(cases, switches, bool(a.switches), factories, params, pcapgen, workdir, result)
        if 7 in wanted:
            result["containers"] = containers.run_scenario(
                a.build_dir, a.cpu, params.get("rounds_override") or params["container_rounds"],
                params["iperf_s"], log, variants)
        result["traffic_seconds"] = round(time.monotonic() - t_begin, 1)
        if not a.no_micro:
            result["micro"], result["micro_mhz"] = run_micro(
                a.build_dir, a.cpu, params["micro_min_time"], workdir)
    result["machine"]["load_end"] = loadavg()
    report.summarize_result(result)
    os.makedirs(out_dir, exist_ok=True)
    report.write_json(result, os.path.join(out_dir, "benchmarks.json"))
    imgs = report.plot(result, img_dir)
    report.write_markdown(result, os.path.join(out_dir, "benchmarks.md"), imgs)
    log(f"wrote {out_dir}/benchmarks.md, benchmarks.json and {len(imgs)} plot(s)")
    failed = [s for s in result["samples"] if s["error"]]
    if failed:
        log(f"{len(failed)} sample(s) failed; see the Notes of the report and 'detail' in the JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
