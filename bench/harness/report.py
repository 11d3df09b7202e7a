"""docs/benchmarks.md, docs/benchmarks.json and the plots, from the samples.

Everything printed is computed here from the raw samples kept in the JSON
file, so the Markdown can be regenerated from the JSON alone
(`python3 -m harness --report-only docs/benchmarks.json`).
"""

import json
import os

from . import containers, latency, scenarios, summary

# "dpx" is dpxd programmed by our ovs-vswitchd with the same OpenFlow rules
# as OVS-DPDK: dpx / OVS-DPDK is the ratio that counts. "dpxd" is dpxd
# programmed by dpxctl with the megaflows (an extra row, full runs only).
SWITCHES = [("testpmd", "testpmd io (ceiling)"), ("ovs", "OVS-DPDK 3.1"),
            ("dpx", "dpxd (OVS)"), ("dpxd", "dpxd (dpxctl)")]


def case_stats(result, case_key):
    """{switch: {"mpps": summary, "cpp": summary, "samples": [...], "errors": [...]}}."""
    out = {}
    for sw, _ in SWITCHES:
        ss = [s for s in result["samples"] if s["case"] == case_key and s["switch"] == sw]
        ok = [s for s in ss if not s.get("error")]
        # The per-round lists keep None for a failed round so that ratios
        # pair samples of the same round.
        out[sw] = {
            "per_round": [None if s.get("error") else s["mpps"] for s in ss],
            # The rate per second the PMD actually ran: on a machine where
            # other processes take the PMD's CPU, this is the fairer basis.
            "per_round_on_cpu": [None if s.get("error") or not s.get("pmd_on_cpu_pct") else
                                 s["mpps"] / (s["pmd_on_cpu_pct"] / 100) for s in ss],
            # PMD cycle counters are TSC-based: time the PMD spent off its
            # CPU counts as its cycles. Scaled by the on-CPU share, they
            # estimate what the PMD itself used.
            "cpp_on_cpu": summary.summarize(
                [s["cycles_per_packet"] * s["pmd_on_cpu_pct"] / 100 for s in ok
                 if s.get("cycles_per_packet") and s.get("pmd_on_cpu_pct")]),
            "mpps": summary.summarize([s["mpps"] for s in ok]),
            "cpp": summary.summarize([s["cycles_per_packet"] for s in ok]),
            "errors": [s["error"] for s in ss if s.get("error")],
            "ran": bool(ss),
        }
    return out


def summarize_result(result):
    """Adds result["summary"]: per case, the per-switch summaries and ratios."""
    summ = {}
    for case in result["cases"]:
        st = case_stats(result, case.get("same_as") or case["key"])
        entry = {sw: {"mpps": st[sw]["mpps"], "cycles_per_packet": st[sw]["cpp"],
                      "mpps_per_on_cpu_second": summary.summarize(st[sw]["per_round_on_cpu"]),
                      "cycles_per_packet_on_cpu": st[sw]["cpp_on_cpu"],
                      "errors": st[sw]["errors"]} for sw, _ in SWITCHES}
        for dp in ("dpx", "dpxd"):
            entry[f"{dp}_over_ovs_on_cpu"] = summary.ratio(st[dp]["per_round_on_cpu"],
                                                           st["ovs"]["per_round_on_cpu"])
            entry[f"{dp}_over_ovs"] = summary.ratio(st[dp]["per_round"], st["ovs"]["per_round"])
            entry[f"{dp}_over_ceiling"] = summary.ratio(st[dp]["per_round"],
                                                        st["testpmd"]["per_round"])
        entry["ovs_over_ceiling"] = summary.ratio(st["ovs"]["per_round"],
                                                  st["testpmd"]["per_round"])
        summ[case["key"]] = entry
    result["summary"] = summ
    return summ


def fmt_mpps(s):
    if s is None:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:.2f}"
    return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def fmt_ratio(r):
    if r is None:
        return "n/a"
    if r["round_min"] is None:
        return f"{r['of_medians']:.2f}"
    return f"**{r['of_medians']:.2f}** ({r['round_min']:.2f}–{r['round_max']:.2f})"


def fmt_cpp(s):
    return "n/a" if s is None else f"{s['median']:.0f}"


def fmt_gbps(s, frame_bytes):
    if s is None or not frame_bytes:
        return "n/a"
    return f"{s['median'] * (frame_bytes + 4) * 8 / 1000:.2f}"


def _cell(case, sw, entry, notes):
    if sw in case.get("not_for", {}):
        notes.append(f"{case['label']}, {dict(SWITCHES)[sw]}: {case['not_for'][sw]}.")
        return f"n/a[^{len(notes)}]"
    if entry[sw]["mpps"] is None and entry[sw]["errors"]:
        notes.append(f"{case['label']}, {dict(SWITCHES)[sw]} failed: {entry[sw]['errors'][0]}")
        return f"failed[^{len(notes)}]"
    return fmt_mpps(entry[sw]["mpps"])


def throughput_table(result, scenario, first_col, notes, gbps=False):
    cases = [c for c in result["cases"] if c["scenario"] == scenario]
    ran = set(result["params"].get("switches") or ("testpmd", "ovs", "dpxd"))
    # The dpxctl row only where it ran (full runs, and scenario 4).
    dpxctl = "dpxd" in ran or any(s["switch"] == "dpxd" and s.get("scenario") == scenario
                                  for s in result["samples"])
    head = [first_col, "testpmd io (ceiling) Mpps", "OVS-DPDK Mpps", "dpxd (OVS) Mpps"]
    head += ["dpxd (dpxctl) Mpps"] if dpxctl else []
    if gbps:
        head += ["OVS-DPDK Gbps", "dpxd (OVS) Gbps"]
    head += ["dpxd (OVS) / OVS-DPDK"] + (["dpxd (dpxctl) / OVS-DPDK"] if dpxctl else [])
    head += ["dpxd (OVS) / ceiling", "OVS cycles/pkt", "dpxd (OVS) cycles/pkt"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        e = result["summary"][c["key"]]
        row = [c["label"]] + [_cell(c, sw, e, notes)
                              for sw in ("testpmd", "ovs", "dpx") + (("dpxd",) if dpxctl else ())]
        if gbps:
            row += [fmt_gbps(e["ovs"]["mpps"], c["frame_bytes_mean"]),
                    fmt_gbps(e["dpx"]["mpps"], c["frame_bytes_mean"])]
        row += [fmt_ratio(e["dpx_over_ovs"])] + ([fmt_ratio(e["dpxd_over_ovs"])] if dpxctl else [])
        row += ["n/a" if e["dpx_over_ceiling"] is None else
                f"{e['dpx_over_ceiling']['of_medians'] * 100:.0f} %",
                fmt_cpp(e["ovs"]["cycles_per_packet"]), fmt_cpp(e["dpx"]["cycles_per_packet"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def flow_counts(result, scenario):
    """The datapath flows each switch had at the end of its windows, which
    shows whether the rules became the megaflows the row claims."""
    parts = []
    for c in result["cases"]:
        if c["scenario"] != scenario:
            continue
        key = c.get("same_as") or c["key"]
        counts = []
        for sw, label in SWITCHES[1:]:
            n = sorted({s["datapath_flows"] for s in result["samples"]
                        if s["case"] == key and s["switch"] == sw and
                        s.get("datapath_flows") is not None})
            if n:
                counts.append(f"{label} {'/'.join(f'{x:,}' for x in n)}")
        if counts:
            parts.append(f"{c['label']}: " + ", ".join(counts))
    return ("Datapath flows at the end of the windows: " + "; ".join(parts) + ".") if parts \
        else ""


def memory_table(result):
    """Scenario 9: each switch's memory while forwarding scenario 1's rows."""
    cases = [c for c in result["cases"] if c["scenario"] == 1]
    lines = ["| Microflows | " + " | ".join(f"{label} RSS / hugepages MiB"
                                           for _, label in SWITCHES) + " |",
             "|---|" + "---|" * len(SWITCHES)]
    any_data = False
    for c in cases:
        cells = []
        for sw, _ in SWITCHES:
            ss = [s for s in result["samples"] if s["case"] == c["key"] and s["switch"] == sw
                  and not s.get("error") and s.get("rss_mib") is not None]
            if not ss:
                cells.append("n/a")
                continue
            any_data = True
            rss = summary.summarize([s["rss_mib"] for s in ss])["median"]
            huge = summary.summarize([s.get("hugepages_mib") for s in ss])
            cells.append(f"{rss:,.0f} / " + (f"{huge['median']:,.0f}" if huge else "n/a"))
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if any_data else ""


def settle_times(result, scenario):
    """How long each switch took, after the first packet reached the sink,
    until its datapath flows stopped changing: the flow set-up by upcalls
    that rows with many rules need before their window."""
    parts = []
    for c in result["cases"]:
        if c["scenario"] != scenario:
            continue
        key = c.get("same_as") or c["key"]
        per = []
        for sw, label in SWITCHES[1:]:
            st = summary.summarize([s.get("settle_s") for s in result["samples"]
                                    if s["case"] == key and s["switch"] == sw
                                    and not s.get("error")])
            if st:
                per.append(f"{label} {st['median']:.1f} s")
        if per:
            parts.append(f"{c['label']}: " + ", ".join(per))
    return ("Flow set-up before the window (from the first packet at the sink until "
            "the datapath flows and misses stopped changing for a second, medians): "
            + "; ".join(parts) + ".") if parts else ""


CONTAINERS_TEXT = """\
Two network-namespace containers (10.77.0.1 and 10.77.0.2) connected in turn
by each row's means; `iperf3` runs a TCP stream from the first to the second
for {seconds} s, then a UDP stream of 64-byte frames (18-byte payload, `-b 0`).
Figures are iperf3's receiver-side ones: TCP bits per second received, UDP
datagrams received per second. {rounds} round(s), the rows alternating within
a round, each set up afresh; median (lowest–highest). The switches' PMDs (OVS,
dpxd) run on the PMD CPU; iperf3 and the kernel's side of veth, bridge and
VXLAN run wherever the kernel puts them, on a two-core machine sharing the
PMD's CPU. The AF_XDP rows turn the containers' tx checksum offload off
(AF_XDP copies frames as they are), which costs TCP its offloads: every
1,398-byte segment crosses the switch as a packet of its own. AF_XDP on a
veth attaches in driver mode (`xdp`, not `xdpgeneric`) and copies (a veth has
no zero-copy). OVS userspace uses Debian's ovs-vswitchd-dpdk with ports of
OVS type `afxdp` (compiled into Debian's OVS 3.1), NORMAL flow; OVS-DPDK is
the same ovs-vswitchd-dpdk with `type=dpdk` ports, `dpdk-devargs=net_af_xdp<n>,
iface=<veth>` (DPDK's AF_XDP driver, as dpxd's `afxdp` ports use; a row
says so if it fell back to net_af_packet), NORMAL flow, one PMD on the PMD
CPU; dpxd (OVS) has the veths as `system` ports (AF_XDP sockets in dpxd),
NORMAL flow. Tap rows keep TCP's offloads: dpxd (OVS), tap ports attaches
the containers as dpx-cni's default mode does (docs/cni.md: `type=tap
options:netns=... options:ifname=eth0` on a `datapath_type=dpx` bridge, dpxd
creates the tap as the container's eth0, NORMAL flow); dpxd's dpxctl tap row
is programmed with dpxctl (a tap per container, one flow each way; the row's
label says whether dpxd created the tap in the container's namespace or the
harness moved it there). The two-host rows put each container behind a host
namespace, the hosts joined by an underlay veth pair (192.168.77.1 and .2),
containers with an MTU of 1450: kernel VXLAN is a Linux bridge with a VXLAN
device (VNI 42) in each host; OVS-DPDK VXLAN runs an ovs-vswitchd-dpdk with
its own ovsdb in each host (a `--file-prefix` each), the container's veth and
the underlay veth as net_af_xdp ports and a `vxlan` port to the other host,
native tunneling as in scenario 4 (the VTEP address on the bridge's own
port, underlay packets to it and encapsulated ones from it to the underlay,
the peer's MAC with `ovs-appctl tnl/arp/set`); in the dpxd VXLAN rows each
host runs its own dpxd (port 1 the container, port 2 the underlay veth as an
AF_XDP port, `vxlan_sys_4789`, the VTEP with `dpxctl tnl-ip add`, one flow
each way, as tests/tunnel_e2e_test.cc), the container attached by its veth
(AF_XDP) or by a tap dpxd creates as its eth0 (TSO: dpxd receives 64 KB
segments and cuts them to the inner MSS in software before encapsulating,
datapath/offload.cc). In every two-host row but the kernel's, two PMDs share
the PMD CPU; both back off when idle, so that one switch's empty polls do
not take the time slices the other needs: dpxd with `--pmd-sleep-max-us
250` (its default: after 128 empty polls it sleeps 1 µs, doubling up to
250), OVS with `other_config:pmd-maxsleep=250` (OVS 3.1: each iteration in
which no queue gave 16 packets or more sleeps 1 µs longer, up to 250).
Busy-polling both PMDs on one CPU, as an earlier version of this table did
for dpxd, makes every packet wait for the other PMD's time slice. The
overlay rows of switches do per-segment work where the kernel's VXLAN
carries 64 KB GSO packets end to end: the underlay has no offload (an
AF_XDP socket carries single frames), so each 1,450-byte packet is copied
into the sending host's AF_XDP socket and out of the receiving host's, and
in the tap row dpxd cuts each 64 KB segment from the container into about
35 packets before encapsulating them and writes them to the receiving
container's tap one by one (in dpxd's port counters, the underlay and the
receiving tap count about 35 packets for each one the sending tap
received). The JSON has, per sample, the share of the TCP run each PMD
spent on its CPU and waiting for it (`tcp_pmd_cpu`)."""


SETUP_TEXT = """\
Both switches are programmed by ovs-vswitchd with the same OpenFlow rules:
OVS-DPDK, and dpxd through our ovs-vswitchd (`datapath_type=dpx`). One
established flow (one microflow, rule `in_port=1,actions=output:2`) runs
alone for a window; then a second source port is added whose file holds N
microflows, each matched by its own exact 5-tuple rule to a second sink, so
that each needs its own megaflow and starts with a miss and an upcall. The
switch's own counters (datapath flow count, lookups missed and lost, port
counters) are polled every 10 ms until the datapath holds N more flows,
each poll a `dpctl/show -s` sent to ovs-vswitchd over one unixctl (JSON-RPC)
connection kept open, the same for both switches. (Until this method, polls
were 0.1 s apart, each an `ovs-appctl` process: coarse for storms of 0.15 to
0.3 s, and those processes ran on the CPU of dpx's control plane but not on
OVS-DPDK's PMD, where its upcalls run.)
**Set-up rate**: N over the time from the last poll before the flow count
rose to the first poll with all N (a storm that stops short is reported
with what it reached). **Established during the storm**: the established
flow's sink packets over the same span, beside its rate alone before the
storm and its rate after it, when both sources run set up (they then share
the PMD, so that is the baseline for "during"). OVS starts with a flow limit
of 10,000 datapath flows and raises it by at most 1,000 per revalidation
round, so N stays below 10,000 to measure set-up rather than that throttle.
Misses and lost are the datapath's lookup counters over the storm: lost
upcalls were dropped before reaching ovs-vswitchd (the packet is dropped).
dpxd (dpxctl) and testpmd have no control plane and do not run this.
**CPU off the PMD core**: the CPU time (schedstat) that each switch's
threads other than its PMD used from just before the storm port was added
to the end of the storm, per flow set up, by thread: ovs-vswitchd's upcall
handlers, revalidators, main thread and others (RCU, DPDK's), and dpxd's
threads off its PMD (its control thread). All of them share the one CPU
that is not the PMD's. OVS-DPDK has no handler threads: its PMD translates
upcalls, on the PMD core, whose busy-polling thread's CPU time says
nothing and is left out. The last column is the set-up rate that
ovs-vswitchd's own threads would allow on a CPU of their own, with dpxd
costing nothing: one second over their CPU per flow."""


def setup_table(result):
    """Scenario 6: one line per switch and case."""
    cases = [c for c in result["cases"] if c.get("kind") == "setup"]
    lines = []
    for c in cases:
        per = {}
        for sw, label in SWITCHES:
            ss = [s for s in result["samples"] if s["case"] == c["key"] and s["switch"] == sw]
            if not ss:
                continue
            ok = [s for s in ss if not s.get("error")]
            per[sw] = {k: summary.summarize([s.get(k) for s in ok]) for k in (
                "flows_per_s", "setup_s", "flows_set_up", "est_alone_mpps", "est_storm_mpps",
                "est_after_mpps", "misses", "lost")}
            per[sw]["rounds"] = [None if s.get("error") else s["flows_per_s"] for s in ss]
            per[sw]["storm_rounds"] = [None if s.get("error") else s["est_storm_mpps"]
                                       for s in ss]
            per[sw]["errors"] = [s["error"] for s in ss if s.get("error")]
        if not per:
            continue
        lines += [f"**{c['label']}**", "",
                  "| switch | set-up rate (flows/s) | time for N flows (s) | flows set up | "
                  "established alone Mpps | established during storm Mpps | "
                  "established after Mpps | misses | lost |", "|---|---|---|---|---|---|---|---|---|"]

        def num(x, f="{:,.0f}"):
            if x is None:
                return "n/a"
            if x["n"] == 1 or x["min"] == x["max"]:
                return f.format(x["median"])
            return f"{f.format(x['median'])} ({f.format(x['min'])}–{f.format(x['max'])})"

        for sw, label in SWITCHES:
            if sw not in per:
                continue
            d = per[sw]
            if d["flows_per_s"] is None:
                lines.append(f"| {label} | failed: {d['errors'][0] if d['errors'] else '?'} |"
                             + " |" * 7)
                continue
            lines.append(
                f"| {label} | {num(d['flows_per_s'])} | {num(d['setup_s'], '{:.2f}')} | "
                f"{num(d['flows_set_up'])} | {num(d['est_alone_mpps'], '{:.2f}')} | "
                f"{num(d['est_storm_mpps'], '{:.2f}')} | {num(d['est_after_mpps'], '{:.2f}')} | "
                f"{num(d['misses'])} | {num(d['lost'])} |")
        lines += cpu_lines(c, result)
        if "dpx" in per and "ovs" in per:
            r = summary.ratio(per["dpx"]["rounds"], per["ovs"]["rounds"])
            rs = summary.ratio(per["dpx"]["storm_rounds"], per["ovs"]["storm_rounds"])
            lines += ["", f"dpxd (OVS) / OVS-DPDK: set-up rate {fmt_ratio(r)}, established "
                      f"flow during the storm {fmt_ratio(rs)}."]
        lines.append("")
    return "\n".join(lines).strip()


CPU_GROUPS = ("handler", "revalidator", "main", "ovs other", "dpxd")


def cpu_lines(case, result):
    """Scenario 6: the CPU the switches' threads off the PMD core used
    over the storm, per flow set up (median of the rounds by thread group),
    with the rate that CPU alone would allow if one CPU did nothing else."""
    rows = []
    for sw, label in SWITCHES:
        ss = [s["control_cpu_us_per_flow"] for s in result["samples"]
              if s["case"] == case["key"] and s["switch"] == sw and not s.get("error")
              and s.get("control_cpu_us_per_flow")]
        if not ss:
            continue
        med = {g: summary.summarize([s.get(g, 0.0) for s in ss])["median"] for g in CPU_GROUPS}
        total = summary.summarize([sum(s.values()) for s in ss])["median"]
        ovs = summary.summarize([sum(v for g, v in s.items() if g != "dpxd")
                                 for s in ss])["median"]
        cells = " | ".join(f"{med[g]:.2f}" for g in CPU_GROUPS)
        # OVS-DPDK translates upcalls on its PMD, whose CPU is not counted
        # here, so no bound follows from its other threads.
        ceiling = ("n/a (upcalls on the PMD)" if sw == "ovs" else
                   f"{1e6 / ovs:,.0f}" if ovs else "n/a")
        rows.append(f"| {label} | {cells} | {total:.2f} | {ceiling} |")
    if not rows:
        return []
    return ["", "CPU off the PMD core over the storm, microseconds per flow set up "
            "(median of the rounds):", "",
            "| switch | " + " | ".join(f"{g}" for g in CPU_GROUPS)
            + " | all | set-up bound from ovs-vswitchd's threads alone, flows/s |",
            "|---" * (len(CPU_GROUPS) + 3) + "|", *rows]


def micro_table(result):
    rows = result.get("micro", [])
    if not rows:
        return "No micro-benchmark results (the executables were not found or failed)."
    lines = ["| benchmark | ns/packet | cycles/packet |", "|---|---|---|"]
    for r in rows:
        cyc = "n/a" if r["cycles_per_packet"] is None else f"{r['cycles_per_packet']:.1f}"
        lines.append(f"| `{r['executable']}` {r['name']} | {r['ns_per_packet']:.2f} | {cyc} |")
    return "\n".join(lines)


def machine_table(m):
    rows = [("CPU", m["cpu"].get("Model name", "?")),
            ("CPUs", f"{m['cpu'].get('CPU(s)', '?')} ({m['cpu'].get('Core(s) per socket', '?')} "
                     f"cores/socket, {m['cpu'].get('Thread(s) per core', '?')} threads/core)"),
            ("Hypervisor", m["cpu"].get("Hypervisor vendor", "none")),
            ("Caches", ", ".join(f"{k} {m['cpu'][k]}" for k in ("L1d cache", "L2 cache",
                                                                   "L3 cache") if k in m["cpu"])),
            ("Memory", f"{m['mem_gib']:.1f} GiB, hugepages: {m['hugepages']}"),
            ("Kernel", m["uname"]),
            ("DPDK", m["dpdk"]), ("Open vSwitch", f"{m['ovs']} (Debian ovs-vswitchd-dpdk)"),
            ("dpx", m["dpx_commit"]),
            ("Load average", f"{m['load_start']} at start, {m['load_end']} at end")]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def conditions(result):
    """How much of each window the PMD thread actually had its CPU.

    A PMD that busy-polls should be on its CPU for the whole window; time it
    spent waiting to run (another process on that CPU) or stolen by the
    hypervisor lowers its rate without saying anything about the switch.
    """
    ss = [s for s in result["samples"] if s.get("pmd_on_cpu_pct") is not None]
    if not ss:
        return []
    low = [s for s in ss if s["pmd_on_cpu_pct"] < 95 or (s.get("cpu_steal_pct") or 0) > 2]
    lines = ["## Run conditions", "",
             "Share of each measurement window the PMD thread spent running on its CPU "
             "(from /proc/PID/task/TID/schedstat), and the hypervisor's steal time on "
             "that CPU (/proc/stat). Below 95 % on-CPU, or above 2 % steal, the sample "
             "was taken while something else used the PMD's CPU.", "",
             "| switch | samples | median on-CPU | lowest on-CPU | median steal | "
             "samples disturbed |", "|---|---|---|---|---|---|"]
    for sw, label in SWITCHES:
        mine = [s for s in ss if s["switch"] == sw]
        if not mine:
            continue
        on = summary.summarize([s["pmd_on_cpu_pct"] for s in mine])
        steal = summary.summarize([s.get("cpu_steal_pct") for s in mine])
        lines.append(f"| {label} | {len(mine)} | {on['median']:.1f} % | {on['min']:.1f} % | "
                     + (f"{steal['median']:.1f} %" if steal else "n/a")
                     + f" | {sum(1 for s in low if s['switch'] == sw)} |")
    lines += ["", "The same samples divided by the PMD's on-CPU share (Mpps per second the "
              "PMD ran), which removes most of the effect of other processes on a busy "
              "machine (not of their cache pollution); the PMDs' cycle counters run on "
              "the TSC and count time off the CPU too, so the cycles per packet here are "
              "scaled by the on-CPU share:", "",
              "| scenario: row | testpmd | OVS-DPDK | dpxd (OVS) | dpxd (dpxctl) | "
              "dpxd (OVS) / OVS-DPDK | OVS cycles/pkt | dpxd (OVS) cycles/pkt |",
              "|---|---|---|---|---|---|---|---|"]
    for c in result["cases"]:
        e = result["summary"][c["key"]]
        if all(e[sw]["mpps_per_on_cpu_second"] is None for sw, _ in SWITCHES):
            continue
        lines.append(f"| {c['scenario']}: {c['label']} | "
                     + " | ".join(fmt_mpps(e[sw]["mpps_per_on_cpu_second"]) for sw, _ in SWITCHES)
                     + f" | {fmt_ratio(e['dpx_over_ovs_on_cpu'])} | "
                     + f"{fmt_cpp(e['ovs']['cycles_per_packet_on_cpu'])} | "
                     + f"{fmt_cpp(e['dpx']['cycles_per_packet_on_cpu'])} |")
    if low:
        low.sort(key=lambda s: s["pmd_on_cpu_pct"])
        lines += ["", "The most disturbed samples: " + "; ".join(
            f"{s['case']} round {s.get('round', 0) + 1} {s['switch']} "
            f"({s['pmd_on_cpu_pct']:.0f} % on-CPU"
            + (f", {s['cpu_steal_pct']:.0f} % steal" if s.get("cpu_steal_pct") else "")
            + (f", {s['mpps']:.2f} Mpps" if s.get("mpps") is not None else "") + ")"
            for s in low[:10]) + "."]
    return lines + [""]


def plot(result, img_dir):
    """One grouped bar chart per measured scenario; returns {scenario: file name}."""
    try:
        import matplotlib
    except ImportError:
        # scripts/install-deps.sh installs python3-matplotlib; without it
        # (--no-install on a bare machine) the report has tables only.
        print("harness: python3-matplotlib is not installed; no plots", flush=True)
        return {}
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(img_dir, exist_ok=True)
    titles = {1: "Scenario 1: p2p, one rule, 64-byte frames",
              2: "Scenario 2: p2p, many megaflows, 64-byte frames",
              3: "Scenario 3: packet sizes, one rule, 1,000 microflows"}
    xlabels = {1: "microflows on the one megaflow", 2: "rules", 3: "frame size"}
    colors = {"testpmd": "#9e9e9e", "ovs": "#1f77b4", "dpx": "#d62728", "dpxd": "#ff9896"}
    files = {}
    for sc, title in titles.items():
        cases = [c for c in result["cases"] if c["scenario"] == sc]
        if not cases:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        shown = [(sw, label) for sw, label in SWITCHES
                 if any(result["summary"][c["key"]][sw]["mpps"] for c in cases)]
        width = 0.8 / max(1, len(shown))
        for k, (sw, label) in enumerate(shown):
            xs, meds, lo, hi = [], [], [], []
            for i, c in enumerate(cases):
                s = result["summary"][c["key"]][sw]["mpps"]
                if s is None:
                    continue
                xs.append(i + (k - (len(shown) - 1) / 2) * width)
                meds.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=label, color=colors[sw])
            # Values inside the bars, clear of the error bars above them.
            for x, m in zip(xs, meds):
                ax.text(x, m / 2, f"{m:.1f}", ha="center", va="center", fontsize=7,
                        rotation=90, color="white")
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels([c["label"] for c in cases], fontsize=8)
        ax.set_xlabel(xlabels[sc], fontsize=9)
        ax.set_ylabel("Mpps (median, bars: min–max)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        name = f"bench-s{sc}.png"
        fig.savefig(os.path.join(img_dir, name))
        plt.close(fig)
        files[sc] = name
    return files


METHOD = """\
Each switch forwards the same traffic with the same forwarding decision, one
at a time, on the same CPU ({cpu}) with one PMD thread (testpmd: one
forwarding lcore):

- **Traffic**: a pcap file written by `dpx-pcapgen` (tools/pcapgen.cc),
  replayed by `net_pcap` with `infinite_rx=1`, into a `net_null` sink
  (`no-rx=1`). Microflows differ in UDP source port and IPv4 source address.
  Frame sizes count the 4-byte FCS that the file does not hold.
- **testpmd** (`dpdk-testpmd`, io forwarding, no lookup) is the ceiling of
  this source and sink on this core.
- **OVS-DPDK**: Debian's `ovs-vswitchd-dpdk` {ovs} with its own
  ovsdb-server and database in a temporary directory, `datapath_type=netdev`,
  `pmd-cpu-mask` for CPU {cpu}, default settings otherwise (EMC on, SMC off),
  ports of type `dpdk` with `dpdk-devargs`, bridge in `fail_mode=secure` with
  only the scenario's OpenFlow rules.
- **dpxd (OVS)**: the build tree's dpxd, `--pmd-cores {cpu} --pmd-sleep-max-us 0`,
  programmed by our ovs-vswitchd (`<build>/ovs/ovs-vswitchd`: OVS 3.1 with
  the dpx dpif provider) exactly as OVS-DPDK is: the same ovsdb-server
  set-up, `datapath_type=dpx`, the same `dpdk` ports and `dpdk-devargs`
  (which the provider hands to dpxd), the same `ovs-ofctl add-flows` text;
  megaflows reach dpxd through upcalls. This against OVS-DPDK is the
  comparison that counts. Both OVS-programmed switches start with
  `other_config:flow-restore-wait=true` and get `false` once every port is
  added, so that no upcall is handled before ofproto knows all ports (dpxd
  polls a port as soon as it exists; see docs/ovs.md, "Not done yet").
- **dpxd (dpxctl)** (full runs only): the same dpxd with its ports added by
  `dpxctl add-port` and the megaflows OVS-DPDK installs for the rules put
  with `dpxctl add-flow`, no ovs-vswitchd: what the control plane costs or
  changes, if anything, in steady state.
- **Rates** come from each switch's own counters: packets transmitted on the
  sink port (`show port stats all` in testpmd, `ovs-appctl dpctl/show -s`,
  `dpxctl show`) read before and after a {window:g} s window that starts
  {warmup:g} s after the datapath flows settled (no new flow and no miss for
  a second: flows set up by upcalls are in place) following the first packet
  at the sink. Cycles per packet are
  the PMD's processing cycles over the same window (`ovs-appctl
  dpif-netdev/pmd-stats-show`, `dpxctl pmd-stats-show`).
- **Repetition**: each switch is started afresh for every sample; the
  switches alternate ({order}, then again) for {rounds}
  rounds per row ({other_rounds} in scenarios 2 to 5 and 8). Tables give the median and, in parentheses, the lowest and
  highest sample. The ratio is that of the medians, with the range of the
  per-round ratios in parentheses.
- **Latency** (scenario 8) is measured differently: not from the switches'
  counters but by `dpx-latgen`, which stamps every packet with the TSC when
  it sends it and reads the TSC again when it receives it on the other
  vhost-user port, at 10 % and 80 % of the path's own maximum rate (its
  section says how).
"""


def write_markdown(result, path, img_files):
    m = result["machine"]
    p = result["params"]
    notes = []
    out = [
        "# Benchmarks",
        "",
        f"Generated by `bench/run.sh{' --quick' if p['quick'] else ''}` on {result['generated']} "
        "(do not edit by hand: run `bench/run.sh` again). Raw samples: "
        "[benchmarks.json](benchmarks.json).",
        "",
    ]
    if p.get("note"):
        out += [f"> {p['note']}", ""]
    out += headline(result)
    out += ["## Machine", "", machine_table(m), "", "## Method", "",
            METHOD.format(cpu=p["cpu"], ovs=m["ovs"], window=p["window_s"],
                          warmup=p["warmup_s"], rounds=p["rounds"],
                          other_rounds=p.get("other_rounds", p["rounds"]),
                          order=", ".join(dict(SWITCHES).get(sw, sw) for sw in
                                          p.get("switches", ("ovs", "dpxd", "testpmd"))))]
    for sc, title, first, gbps in ((1, "Scenario 1: p2p, one rule, 64-byte frames", "Microflows",
                                    False),
                                   (2, "Scenario 2: p2p, many megaflows, 64-byte frames", "Rules",
                                    False),
                                   (3, "Scenario 3: packet sizes, one rule, 1,000 microflows",
                                    "Frame size", True),
                                   (4, "Scenario 4: VXLAN, 64-byte inner frames, 1,000 "
                                    "inner microflows", "Direction", False),
                                   (5, "Scenario 5: v2v through vhost-user and a testpmd guest",
                                    "Traffic", False)):
        if not any(c["scenario"] == sc for c in result["cases"]):
            continue
        out += [f"## {title}", "", SCENARIO_TEXT[sc], "",
                throughput_table(result, sc, first, notes, gbps), ""]
        if sc == 1:
            out += [flow_counts(result, sc), ""]
        if sc == 2:
            out += [flow_counts(result, sc), "", settle_times(result, sc), ""]
        if sc in img_files:
            out += [f"![{title}](img/{img_files[sc]})", ""]
    setup = setup_table(result)
    if setup:
        out += ["## Scenario 6: flow set-up through the control plane", "",
                SETUP_TEXT, "", setup, ""]
    ct = containers.table(result.get("containers", []))
    if ct:
        out += ["## Scenario 7: containers", "", CONTAINERS_TEXT.format(
                    seconds=p.get("iperf_s", "?"),
                    rounds=p.get("rounds_override") or p.get("container_rounds", "?")), "", ct, "",
                "For reference, the figures of the \"Open vSwitch powered Docker\" talk, "
                "measured on another machine with other hardware (not comparable with the "
                "table above): " + ", ".join(f"{a} {b}" for a, b in scenarios.TALK_FIGURES)
                + ".", ""]
    lat = latency.table(result, SWITCHES)
    if lat:
        out += ["## Scenario 8: latency through two vhost-user ports", "",
                latency.TEXT.format(warmup=p.get("latency_warmup_s", 0),
                                    duration=p.get("latency_s", 0),
                                    rounds=p.get("rounds_override") or p.get("other_rounds", "?")),
                "", lat, ""]
    mem = memory_table(result)
    if mem:
        out += ["## Scenario 9: memory while forwarding scenario 1", "",
                "Resident memory of the switch's processes in ordinary pages (VmRSS) and "
                "in hugepages (HugetlbPages of /proc/PID/status) at the end of its "
                "window, medians over the rounds. OVS-DPDK is one process "
                "(ovs-vswitchd-dpdk); dpxd (OVS) is dpxd plus our ovs-vswitchd, "
                "dpxd (dpxctl) is dpxd alone; ovsdb-server is not counted. The packet pools hold every packet "
                "of the pcap file (net_pcap infinite_rx), so they grow with the "
                "microflow count for the harness's sake; OVS-DPDK sizes its shared "
                "pool at 262,144 mbufs whatever the traffic, dpxd and testpmd get "
                "32,768 more than the file has packets, and dpxd maps all of its "
                "--socket-mem at start (the harness gives it 512 MiB plus 2.5 KiB "
                "per mbuf).", "", mem, ""]
    if p.get("quick"):
        mem_note = ("The quick run stops scenario 1 at 100,000 microflows; the full run "
                    "has the 1,000,000 row.")
        if mem:
            out += [mem_note, ""]
    out += conditions(result)
    out += ["## Scenarios not measured yet", "", "| # | scenario | status |", "|---|---|---|"]
    ran = {c["scenario"] for c in result["cases"]} | ({7} if result.get("containers") else set())
    missing = [m for m in scenarios.NOT_YET if m[0] not in ran]
    if not mem:
        missing.append((9, "Memory: resident and hugepage footprint in scenario 1",
                        "no memory figures in this run (scenario 1 was not run)"))
    for n, what, why in missing:
        out.append(f"| {n} | {what} | n/a: {why} |")
    out += [""]
    out += ["## Micro-benchmarks", "",
            "Google Benchmark executables of `bench/`, pinned to CPU "
            f"{p['cpu']}; cycles from the TSC rate Google Benchmark reports "
            f"({result.get('micro_mhz') or '?'} MHz).", "", micro_table(result), ""]
    if notes:
        out += ["## Notes", ""] + [f"[^{i + 1}]: {n}" for i, n in enumerate(notes)] + [""]
    with open(path, "w") as f:
        f.write("\n".join(out))


SCENARIO_TEXT = {
    5: "The source's packets go to vhost-user port A (OpenFlow port 3, rule "
       "`in_port=1,actions=output:3`), through a `dpdk-testpmd` guest with two "
       "`net_virtio_user` ports in io mode (serving both sockets, `server=1`; both "
       "of its lcores on CPU 0, without hugepages, as tests/vhost_test.cc runs it), "
       "back in through vhost-user port B (port 4, rule `in_port=4,actions=output:2`) "
       "to the sink: every packet crosses two vhost-user ports, and Mpps is the "
       "sink's rate. Both switches have `dpdkvhostuserclient` ports "
       "(`options:vhost-server-path`); our provider makes them dpxd "
       "`vhostuserclient` ports. The guest's one forwarding core is part of what "
       "this measures, the same for both.",
    4: "dpxd through our ovs-vswitchd against OVS-DPDK's native tunneling "
       "(tnl_pop / tnl_push), one `vxlan` interface (`options:remote_ip=198.18.0.2 "
       "options:key=42`, OpenFlow port 3) in both. Decap: VXLAN frames from the "
       "remote VTEP 198.18.0.2 to this switch's 198.18.0.1 (inner 64-byte frames, "
       "114 bytes on the wire) arrive on port 1, rule `in_port=3,actions=output:2`; "
       "Mpps counts inner frames out of the sink. Encap: plain 64-byte frames on "
       "port 1, rule `in_port=1,actions=output:3`, encapsulated frames out of the "
       "sink (the underlay port). OVS-DPDK's VTEP address is on the bridge's tap "
       "port (ovs-vswitchd runs in a network namespace of its own for it), its "
       "remote neighbour set with `ovs-appctl tnl/arp/set`, and it needs one "
       "underlay rule more, because native tunneling takes underlay packets through "
       "the bridge's LOCAL port: `in_port=1,actions=LOCAL` (decap), "
       "`in_port=LOCAL,actions=output:2` (encap). dpxd decapsulates on the underlay "
       "port before the lookup and encapsulates on output to its `vxlan_sys_4789` "
       "port (the kernel model); its underlay (VTEP address, static neighbour) is "
       "set with `dpxctl tnl-ip add` / `neigh set`, because ovs-vswitchd does not "
       "configure dpxd's underlay. dpxd (dpxctl) runs both directions too (full "
       "runs), with the megaflows of those rules put by dpxctl. testpmd does "
       "no encapsulation.",
    1: "One OpenFlow rule `in_port=1,actions=output:2` (OVS-DPDK turns it into one "
       "megaflow `in_port(1),eth_type(0x0800),ipv4(frag=no)`, which dpxd gets as "
       "its datapath flow); the traffic has 1 to 100,000 (1,000,000 in the full "
       "run) microflows, all on that one megaflow.",
    2: "One rule per microflow on its exact UDP 5-tuple (one megaflow each), and "
       "1,000 rules spread over 20 masks (source prefix /0, /8, /16, /24, /32, "
       "destination address and destination port each matched or not; every rule "
       "matches its microflow's source port, so the rules are disjoint).",
    3: "The one rule of scenario 1 with 1,000 microflows, at frame sizes of 64, "
       "512 and 1518 bytes and IMIX (7:4:1 of 64, 570 and 1518 bytes in the file). "
       "Gbps counts Ethernet frames with FCS, without preamble and gap.",
}


def headline(result):
    """A few sentences with the figures a reader looks for first."""
    s = result["summary"]
    lines = []
    for key, what in (("s1-flows-1", "1 microflow"), ("s1-flows-1000", "1,000 microflows"),
                      ("s1-flows-100000", "100,000 microflows")):
        e = s.get(key)
        # The OVS-programmed dpxd when it ran; a JSON from before it had
        # only the dpxctl one.
        dp = "dpx" if e and e.get("dpx", {}).get("mpps") else "dpxd"
        if not e or e[dp]["mpps"] is None or e["ovs"]["mpps"] is None:
            continue
        ceil = e["testpmd"]["mpps"]
        on_cpu = e.get(f"{dp}_over_ovs_on_cpu")
        lines.append(
            f"- Scenario 1, {what}: {dict(SWITCHES)[dp]} {e[dp]['mpps']['median']:.2f} Mpps, "
            f"OVS-DPDK {e['ovs']['mpps']['median']:.2f} Mpps, ratio "
            f"{e[f'{dp}_over_ovs']['of_medians']:.2f}"
            + (f" ({on_cpu['of_medians']:.2f} per second on the PMD's CPU)" if on_cpu else "")
            + (f"; ceiling (testpmd) {ceil['median']:.2f} Mpps." if ceil else "."))
    return (["## Summary", ""] + lines + [""]) if lines else []


def write_json(result, path):
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
