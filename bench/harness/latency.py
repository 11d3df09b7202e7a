"""Scenario 8: one-way latency through the switch at 10 % and 80 % load.

`dpx-latgen` (tools/latgen.cc) is the "guest": two `net_virtio_user`
ports serving two vhost-user sockets (server=1), as the testpmd guest of
scenario 5, with its one lcore on CPU 0 while the switch's PMD runs on the
PMD CPU. The switch connects to them as `dpdkvhostuserclient` ports A
(OpenFlow port 3) and B (port 4) and forwards A to B by one rule,
`in_port=3,actions=output:4`: OVS-DPDK (datapath_type=netdev) and dpxd
through our ovs-vswitchd (datapath_type=dpx) alike. There is no pcap source
or sink in this scenario.

One latgen run per sample does three phases: "max" (as fast as its tx ring
takes packets: the throughput of this path, which is also the sample's
"mpps"), then 10 % and 80 % of that rate, each with a warm-up before it is
measured. Every packet carries its sequence number and the TSC of its tx
burst; latgen records rdtsc at the rx burst minus that stamp, so a packet's
latency covers the virtio-user rings on both sides, the switch's vhost-user
dequeue, lookup and enqueue, and latgen's own polling.
"""

import os
import subprocess
import time

from . import parse
from .measure import pmd_sched
from .switches import SwitchError, log_tail, spawn, stop_process, wait_for

VHOST_A, VHOST_B = 3, 4
RULES = [f"in_port={VHOST_A},actions=output:{VHOST_B}"]
PORTS = (("la", VHOST_A), ("lb", VHOST_B))
LOADS = ("10%", "80%")


class Latgen:
    """dpx-latgen serving two vhost-user sockets in `directory`; its JSON
    document is read when it exits (wait())."""

    def __init__(self, binary, directory, prefix, duration_s, warmup_s):
        self.binary = binary
        self.dir = directory
        self.prefix = prefix + "g"
        self.sockets = [os.path.join(directory, "la.sock"), os.path.join(directory, "lb.sock")]
        self.log = os.path.join(directory, "latgen.err")
        self.out = os.path.join(directory, "latgen.json")
        self.duration_s = duration_s
        self.warmup_s = warmup_s
        self.proc = None

    def command(self):
        # Without hugepages (memfd-backed memory the switch can map) and
        # with no runtime files, like the scenario 5 guest.
        cmd = [self.binary, "-l", "0", "--no-pci", "--no-huge", "-m", "256", "--no-shconf",
               "--file-prefix", self.prefix, "--log-level", "notice"]
        for i, path in enumerate(self.sockets):
            cmd += ["--vdev", f"net_virtio_user{i},queue_size=1024,server=1,path={path}"]
        return cmd + ["--", "--rates", "max," + ",".join(LOADS),
                      "--duration", f"{self.duration_s:g}", "--warmup", f"{self.warmup_s:g}"]

    def start(self):
        with open(self.out, "w") as out, open(self.log, "w") as err:
            self.proc = spawn(self.command(), stdout=out, stderr=err)

    def wait_socket(self, i):
        """virtio-user in server mode opens its sockets one after the other,
        each once the previous one has a backend (see v2v.Guest)."""
        wait_for(lambda: not self.alive() or os.path.exists(self.sockets[i]),
                 f"dpx-latgen's vhost-user socket {self.sockets[i]}", timeout=30)
        if not self.alive():
            raise SwitchError("dpx-latgen exited: " + log_tail(self.log))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """Waits for the run to end; returns its parsed JSON document."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise SwitchError(f"dpx-latgen did not finish in {timeout:.0f} s: "
                              + log_tail(self.log)) from e
        if self.proc.returncode != 0:
            raise SwitchError(f"dpx-latgen exit {self.proc.returncode}: " + log_tail(self.log))
        with open(self.out) as f:
            return parse.latgen_result(f.read())

    def stop(self):
        stop_process(self.proc)


def run_seconds(duration_s, warmup_s, drain_s=0.2):
    """An upper bound on how long latgen runs once it forwards: three phases."""
    return (1 + len(LOADS)) * (duration_s + warmup_s + drain_s)


def measure_latency(sw, case, latgen_bin, duration_s, warmup_s):
    """One sample of scenario 8 on switch `sw`: the throughput of the path
    ("mpps", from the max phase) and the latency of each load phase.
    Failures are recorded in "error", as measure.measure() does."""
    sample = {"case": case.key, "scenario": case.scenario, "switch": sw.name, "mpps": None,
              "cycles_per_packet": None, "phases": [], "error": None}
    try:
        guest = Latgen(latgen_bin, sw.dir, sw.prefix, duration_s, warmup_s)
        sw.start_guest_only(guest, PORTS, case.openflow_rules)
        # How much of latgen's run the switch's PMD had its CPU (the run
        # conditions of the report): latency is what it suffers most from
        # another process on that CPU.
        t0, sched0 = time.monotonic(), pmd_sched(sw.pid(), sw.cpu)
        # Bounded only so that a hang cannot stop the run: start-up and the
        # wait for the first packet through the switch come on top.
        doc = guest.wait(timeout=90 + 3 * run_seconds(duration_s, warmup_s))
        t1, sched1 = time.monotonic(), pmd_sched(sw.pid(), sw.cpu)
        if sched0 and sched1 and t1 > t0:
            sample["pmd_on_cpu_pct"] = round((sched1[0] - sched0[0]) / ((t1 - t0) * 1e9) * 100, 1)
            sample["pmd_wait_pct"] = round((sched1[1] - sched0[1]) / ((t1 - t0) * 1e9) * 100, 1)
        sample["tsc_hz"] = doc["tsc_hz"]
        sample["phases"] = doc["phases"]
        probe = doc["phases"][0]
        sample["mpps"] = probe["rx_pps"] / 1e6
        for ph in doc["phases"][1:]:
            if ph["received"] == 0:
                raise SwitchError(f"no packet came back at {ph['rate']} load")
    except (SwitchError, OSError, ValueError, parse.ParseError) as e:
        sample["error"] = str(e)
        try:
            sample["detail"] = sw.describe_failure()
        except Exception as d:  # the failure report must not hide the failure
            sample["detail"] = f"(no detail: {d})"
    return sample


def describe(sample):
    """One log line of a sample."""
    if sample.get("mpps") is None:
        return "-"
    parts = [f"max {sample['mpps']:.2f} Mpps"]
    for ph in sample["phases"][1:]:
        lat = ph["latency_ns"]
        parts.append(f"{ph['rate']}: p50 {lat['p50'] / 1000:.1f} us, p99 {lat['p99'] / 1000:.1f} "
                     f"us, lost {ph['lost']}")
    return "; ".join(parts)


TEXT = """\
The guest is `dpx-latgen` (tools/latgen.cc), a DPDK program of ours with two
`net_virtio_user` ports serving two vhost-user sockets (`server=1`, without
hugepages), its one lcore on CPU 0; each switch connects to them as
`dpdkvhostuserclient` ports A (OpenFlow port 3) and B (port 4), with the
one rule `in_port=3,actions=output:4` and its PMD on the PMD CPU. latgen
sends 64-byte UDP frames (one microflow) on A, each carrying a sequence
number and the TSC read just before its tx burst, and receives them on B:
a packet's latency is the TSC read after the rx burst that returned it
minus its stamp, in ns from DPDK's TSC rate (the TSC is invariant,
`constant_tsc` and `nonstop_tsc`, which latgen checks; sender and receiver
are one thread, so they read one TSC). It covers both virtio-user rings,
the switch's vhost-user dequeue, lookup and enqueue, and latgen's own
polling. Each sample is one latgen run of three phases, each with a
{warmup:g} s warm-up at its rate that is not measured, then {duration:g} s
measured: **max** (as fast as latgen's tx ring takes packets: the
throughput of this path on this machine, latgen's core included), then
**10 %** and **80 %** of the rate received in that max phase, paced by the
TSC (packets that fall due together, after a stall, go out in one burst of
at most 32). Latencies go into a log-bucket histogram (128 buckets per
power of two: quantiles within 0.8 %, reported as the upper bound of their
bucket). {rounds} round(s), the switches alternating, each started afresh;
the table gives the medians over the rounds (lowest–highest in
parentheses), the largest max of any round, and lost packets over all
rounds (sent by latgen and never received within 200 ms of its last send;
duplicates and reordering are counted too and given below when any).
**Sent Mpps** is the rate latgen achieved, its target in parentheses: it
falls short when latgen's tx ring was full (the switch did not take the
packets; they are not sent, so they have no latency) or latgen was off its
CPU. A switch whose PMD does not have its CPU to itself looks better at
80 % than at 10 % here: at 80 % the ring fills while the PMD is off its CPU,
so what is sent is sent while it runs; at 10 % the ring never fills and
packets wait for it. The last column is the share of latgen's run the
switch's PMD thread spent on its CPU (medians over the rounds; 100 % on a
quiet machine)."""


def _us(values):
    vals = sorted(v / 1000 for v in values if v is not None)
    if not vals:
        return "n/a"
    med = vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1]
                                                      + vals[len(vals) // 2]) / 2
    if len(vals) == 1 or vals[0] == vals[-1]:
        return f"{med:.1f}"
    return f"{med:.1f} ({vals[0]:.1f}–{vals[-1]:.1f})"


def phase_rows(samples, load):
    """The phase `load` ("10%", "80%") of every good sample, in order."""
    out = []
    for s in samples:
        if s.get("error"):
            continue
        out += [ph for ph in s.get("phases", []) if ph.get("rate") == load]
    return out


def table(result, switches):
    """Markdown for scenario 8; "" when it did not run. switches: [(name, label)]."""
    from . import summary

    cases = [c for c in result["cases"] if c.get("kind") == "latency"]
    if not cases:
        return ""
    lines = []
    for c in cases:
        lines += ["| switch | path max Mpps | load | sent Mpps (target) | p50 µs | p90 µs | p99 µs | "
                  "p99.9 µs | max µs | lost / sent | PMD on CPU |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        medians = {}
        anomalies = []
        for sw, label in switches:
            ss = [s for s in result["samples"] if s["case"] == c["key"] and s["switch"] == sw]
            if not ss:
                continue
            errors = [s["error"] for s in ss if s.get("error")]
            thr = summary.summarize([s.get("mpps") for s in ss if not s.get("error")])
            if thr is None:
                lines.append(f"| {label} | failed: {errors[0] if errors else '?'} |" + " |" * 9)
                continue
            thr_cell = (f"{thr['median']:.2f}" if thr["n"] == 1 else
                        f"{thr['median']:.2f} ({thr['min']:.2f}–{thr['max']:.2f})")
            on_cpu = summary.summarize([s.get("pmd_on_cpu_pct") for s in ss
                                        if not s.get("error")])
            on_cpu_cell = "n/a" if on_cpu is None else f"{on_cpu['median']:.0f} %"
            for load in LOADS:
                phs = phase_rows(ss, load)
                if not phs:
                    continue
                lat = [ph["latency_ns"] for ph in phs]
                offered = summary.summarize([ph["tx_pps"] / 1e6 for ph in phs])
                target = summary.summarize([ph["target_pps"] / 1e6 for ph in phs])
                sent = sum(ph["sent"] for ph in phs)
                lost = sum(ph["lost"] for ph in phs)
                medians[(sw, load)] = {k: summary.summarize([x[k] for x in lat])["median"]
                                       for k in ("p50", "p99")}
                dup = sum(ph["duplicates"] for ph in phs)
                reo = sum(ph["reordered"] for ph in phs)
                if dup or reo:
                    anomalies.append(f"{label} at {load}: {dup} duplicate(s), {reo} reordered")
                lines.append(
                    f"| {label} | {thr_cell} | {load} | {offered['median']:.3f} "
                    f"({target['median']:.3f}) | "
                    + " | ".join(_us([x[k] for x in lat]) for k in ("p50", "p90", "p99", "p999"))
                    + f" | {max(x['max'] for x in lat) / 1000:.1f} | {lost:,} / {sent:,} | "
                    f"{on_cpu_cell} |")
                thr_cell = on_cpu_cell = ""
            if errors:
                lines.append(f"| {label} | {len(errors)} round(s) failed: {errors[0]} |" + " |" * 9)
        ratios = []
        for load in LOADS:
            a, b = medians.get(("dpx", load)), medians.get(("ovs", load))
            if a and b and b["p50"] and b["p99"]:
                ratios.append(f"at {load} load p50 {a['p50'] / b['p50']:.2f}, "
                              f"p99 {a['p99'] / b['p99']:.2f}")
        lines.append("")
        if ratios:
            lines += ["dpxd (OVS) / OVS-DPDK latency (ratio of the medians; below 1 is lower "
                      "latency for dpxd): " + "; ".join(ratios) + ". Each switch's loads are "
                      "fractions of its own path max, so the offered rates differ where the "
                      "maxima do.", ""]
        if anomalies:
            lines += ["Sequence anomalies: " + "; ".join(anomalies) + ".", ""]
    return "\n".join(lines).strip()
