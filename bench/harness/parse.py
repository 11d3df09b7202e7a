"""Parsers for the text each switch prints about itself.

Every rate in the report comes from a switch's own counters, read as text
from its own tool (testpmd's `show port stats all`, `ovs-appctl dpctl/show
-s`, `dpxctl show`, the PMD statistics of both switches) and from Google
Benchmark's JSON. The parsers are pure functions of that text so that
test_parse.py can check them against captured output; a parser that does not
find what it looks for raises ParseError instead of returning zero, because a
silent zero would become a wrong row in the report.
"""

import re


class ParseError(ValueError):
    """The text does not contain what the parser expects."""


def _int(m, text_for_error, what):
    if m is None:
        raise ParseError(f"{what} not found in: {text_for_error[:400]!r}")
    return int(m.group(1))


# --- DPDK testpmd -----------------------------------------------------------

_TESTPMD_BLOCK = re.compile(
    r"#+ NIC statistics for port (\d+)\s+#+\n(.*?)\n\s*#{20,}", re.S)


def testpmd_port_stats(text):
    """Parses the output of testpmd's `show port stats all`.

    Returns {port_id: {"rx_packets", "rx_missed", "rx_nombuf", "tx_packets",
    "tx_errors"}} for the LAST block of each port in `text`, so a buffer that
    holds several successive reports yields the newest one.
    """
    ports = {}
    for m in _TESTPMD_BLOCK.finditer(text):
        body = m.group(2)
        ports[int(m.group(1))] = {
            "rx_packets": _int(re.search(r"RX-packets:\s*(\d+)", body), body, "RX-packets"),
            "rx_missed": _int(re.search(r"RX-missed:\s*(\d+)", body), body, "RX-missed"),
            "rx_nombuf": _int(re.search(r"RX-nombuf:\s*(\d+)", body), body, "RX-nombuf"),
            "tx_packets": _int(re.search(r"TX-packets:\s*(\d+)", body), body, "TX-packets"),
            "tx_errors": _int(re.search(r"TX-errors:\s*(\d+)", body), body, "TX-errors"),
        }
    if not ports:
        raise ParseError(f"no 'NIC statistics for port' block in: {text[-400:]!r}")
    return ports


# --- ovs-appctl dpctl/show -s and dpxctl show ---------------------------------

# Both print ports the way ovs-dpctl does:
#   port 2: null (dpdk: ...)
#     RX packets:0 errors:0 dropped:0 ...
#     TX packets:132418188 errors:0 dropped:0 ...
_PORT_HEAD = re.compile(r"^\s*port (\d+): (\S+)(?: \((.*)\))?\s*$")
_COUNTER_LINE = re.compile(r"^\s*(RX|TX) packets:(\d+) errors:(\d+|\?) dropped:(\d+|\?)")
_LOOKUPS = re.compile(r"lookups: hit:(\d+) missed:(\d+) lost:(\d+)")
_FLOWS = re.compile(r"^\s*flows: (\d+)\s*$", re.M)


def _opt_int(s):
    return None if s == "?" else int(s)


def dpctl_show(text):
    """Parses `ovs-appctl dpctl/show -s` or `dpxctl show`.

    Returns {"lookups": {"hit", "missed", "lost"}, "flows": n,
    "ports": {name: {"port_no", "rx_packets", "rx_errors", "rx_dropped",
    "tx_packets", "tx_errors", "tx_dropped"}}}. Counters OVS prints as "?"
    (not supported by the device) become None.
    """
    ports = {}
    current = None
    for line in text.splitlines():
        m = _PORT_HEAD.match(line)
        if m:
            current = {"port_no": int(m.group(1))}
            ports[m.group(2)] = current
            continue
        m = _COUNTER_LINE.match(line)
        if m and current is not None:
            d = m.group(1).lower()
            current[f"{d}_packets"] = int(m.group(2))
            current[f"{d}_errors"] = _opt_int(m.group(3))
            current[f"{d}_dropped"] = _opt_int(m.group(4))
    if not ports:
        raise ParseError(f"no ports in: {text[:400]!r}")
    for name, p in ports.items():
        if "rx_packets" not in p or "tx_packets" not in p:
            raise ParseError(f"port {name} has no RX/TX packet counters (was -s given?)")
    lk = _LOOKUPS.search(text)
    fl = _FLOWS.search(text)
    return {
        "lookups": None if lk is None else {
            "hit": int(lk.group(1)), "missed": int(lk.group(2)), "lost": int(lk.group(3))},
        "flows": None if fl is None else int(fl.group(1)),
        "ports": ports,
    }


# --- PMD statistics -------------------------------------------------------------

_PMD_HEAD = re.compile(r"^pmd thread numa_id (\d+) core_id (\d+):\s*$", re.M)


def pmd_stats(text):
    """Parses `ovs-appctl dpif-netdev/pmd-stats-show` or `dpxctl pmd-stats-show`.

    dpxctl prints the same lines as OVS for the counters both have. Returns
    a list with one dict per PMD thread: {"core", "numa", "packets",
    "cycles_per_packet", "processing_cycles_per_packet", "idle_pct",
    "hits": {"emc", "smc", "megaflow", "simple_match"}}; hit counters a
    switch does not print are absent. OVS's "main thread" section (packets
    the non-PMD thread handled) is not a PMD and is skipped.
    """
    heads = list(_PMD_HEAD.finditer(text))
    if not heads:
        raise ParseError(f"no 'pmd thread' section in: {text[:400]!r}")
    out = []
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[h.end():end]
        # OVS appends the main thread after the PMDs; stop there.
        main = body.find("main thread:")
        if main >= 0:
            body = body[:main]
        pmd = {
            "numa": int(h.group(1)),
            "core": int(h.group(2)),
            "packets": _int(re.search(r"packets received: (\d+)", body), body,
                            "packets received"),
            "hits": {},
        }
        m = re.search(r"avg cycles per packet: ([\d.]+)", body)
        pmd["cycles_per_packet"] = float(m.group(1)) if m else None
        m = re.search(r"avg processing cycles per packet: ([\d.]+)", body)
        pmd["processing_cycles_per_packet"] = float(m.group(1)) if m else None
        m = re.search(r"idle cycles: \d+ \(([\d.]+) ?%\)", body)
        pmd["idle_pct"] = float(m.group(1)) if m else None
        for key, label in (("emc", "emc hits"), ("smc", "smc hits"),
                           ("megaflow", "megaflow hits"),
                           ("simple_match", "simple match hits")):
            m = re.search(rf"^\s*{label}: (\d+)", body, re.M)
            if m:
                pmd["hits"][key] = int(m.group(1))
        out.append(pmd)
    return out


# --- Google Benchmark -------------------------------------------------------------


def gbench_ns_per_packet(doc):
    """Turns Google Benchmark JSON (already decoded) into per-packet figures.

    The micro-benchmarks report per-packet time in one of two ways: a
    counter "ns/pkt" or "per_pkt" with kIsRate|kInvert (its JSON value is
    seconds per packet), or SetItemsProcessed (items_per_second). Returns a
    list of {"name", "ns_per_packet", "cycles_per_packet"}, cycles from the
    context's mhz_per_cpu (the TSC rate on this class of machine). Errored
    runs (error_occurred) and aggregate rows are skipped.
    """
    mhz = doc.get("context", {}).get("mhz_per_cpu")
    rows = []
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
            continue
        ns = None
        for key in ("ns/pkt", "per_pkt"):
            if key in b:
                ns = float(b[key]) * 1e9
                break
        if ns is None and b.get("items_per_second"):
            ns = 1e9 / float(b["items_per_second"])
        if ns is None:
            raise ParseError(f"benchmark {b.get('name')} reports no per-packet figure")
        rows.append({
            "name": b["name"],
            "ns_per_packet": ns,
            "cycles_per_packet": ns * mhz / 1000.0 if mhz else None,
        })
    return rows


# --- machine description ---------------------------------------------------------------


def lscpu_summary(text):
    """Picks the lines of `lscpu` that identify the machine's CPUs."""
    want = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
            "Socket(s)", "NUMA node(s)", "L1d cache", "L2 cache", "L3 cache",
            "Hypervisor vendor", "CPU max MHz")
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() in want and k.strip() not in out:
            out[k.strip()] = v.strip()
    if "Model name" not in out:
        raise ParseError("lscpu output has no 'Model name'")
    return out


def meminfo_total_gib(text):
    """MemTotal of /proc/meminfo in GiB."""
    m = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    if not m:
        raise ParseError("no MemTotal in /proc/meminfo")
    return int(m.group(1)) / (1024 * 1024)


# --- pcap files ---------------------------------------------------------------------------


def pcap_frame_lengths(data):
    """Frame lengths (captured bytes) of a classic pcap file's records.

    Used to report the mean frame size of a traffic file, e.g. an IMIX one,
    from the file itself rather than from what its generator was asked for.
    Accepts either byte order; raises ParseError on anything else.
    """
    import struct

    if len(data) < 24:
        raise ParseError("pcap file shorter than its global header")
    magic = struct.unpack_from("<I", data)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        order = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        order = ">"
    else:
        raise ParseError(f"not a pcap file (magic {magic:#x})")
    lengths = []
    off = 24
    while off < len(data):
        if off + 16 > len(data):
            raise ParseError(f"truncated record header at byte {off}")
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        off += 16
        if off + incl > len(data):
            raise ParseError(f"truncated record at byte {off}")
        lengths.append(incl)
        off += incl
    return lengths


# --- scheduler accounting ----------------------------------------------------------------


def schedstat(text):
    """/proc/PID/task/TID/schedstat: (ns on the CPU, ns waiting to run)."""
    f = text.split()
    if len(f) < 2:
        raise ParseError(f"bad schedstat {text!r}")
    return int(f[0]), int(f[1])


def cpus_allowed(status_text):
    """Cpus_allowed_list of /proc/PID/task/TID/status, e.g. "1" or "0-1"."""
    m = re.search(r"^Cpus_allowed_list:\s*(\S+)", status_text, re.M)
    if not m:
        raise ParseError("no Cpus_allowed_list in status")
    return m.group(1)


def proc_stat_steal(text, cpu):
    """Steal time (USER_HZ ticks) of one CPU from /proc/stat: what the
    hypervisor took from this virtual CPU."""
    m = re.search(rf"^cpu{cpu} (.*)$", text, re.M)
    if not m:
        raise ParseError(f"no cpu{cpu} line in /proc/stat")
    f = [int(x) for x in m.group(1).split()]
    if len(f) < 8:
        raise ParseError(f"cpu{cpu} line of /proc/stat too short")
    return f[7]


def meminfo_field_kb(text, name):
    """A field of /proc/meminfo or /proc/PID/status, in kB (HugePages_* are
    page counts and come back as such)."""
    m = re.search(rf"^{re.escape(name)}:\s+(\d+)", text, re.M)
    if not m:
        raise ParseError(f"no {name} in the text")
    return int(m.group(1))


# --- dpx-latgen -----------------------------------------------------------------------------

_LATGEN_COUNTERS = ("sent", "received", "lost", "duplicates", "reordered", "tx_ring_full",
                    "bad_stamp", "unexpected", "warmup_sent", "warmup_received",
                    "schedule_skips")
_LATGEN_RATES = ("target_pps", "tx_seconds", "tx_pps", "rx_pps")
_LATGEN_LATENCY = ("samples", "min", "mean", "p50", "p90", "p99", "p999", "max")


def latgen_result(text):
    """Parses the JSON document dpx-latgen prints (tools/latgen.cc).

    Returns {"tsc_hz", "frame_bytes", "phases": [...]}, each phase with
    "rate" (as asked: "max", "10%", "50000"), the counters (sent, received,
    lost, duplicates, reordered, tx_ring_full, bad_stamp, unexpected,
    warmup_sent, warmup_received, schedule_skips: non-negative integers), the rates
    (target_pps, tx_seconds, tx_pps, rx_pps), "stopped_early" and
    "latency_ns" {samples, min, mean, p50, p90, p99, p999, max}. Checks what
    must hold in any run (lost = sent - received, one latency sample per
    packet received in time, ordered quantiles) and raises ParseError
    otherwise: numbers that contradict each other must not become a row.
    """
    import json

    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ParseError(f"dpx-latgen output is not JSON ({e}): {text[:400]!r}") from e
    if not isinstance(doc, dict) or doc.get("tool") != "dpx-latgen":
        raise ParseError(f"not a dpx-latgen document: {text[:400]!r}")
    if not isinstance(doc.get("tsc_hz"), int) or doc["tsc_hz"] <= 0:
        raise ParseError("dpx-latgen: no TSC rate")
    phases = doc.get("phases")
    if not isinstance(phases, list) or not phases:
        raise ParseError("dpx-latgen: no phases")

    def number(d, k, kind, where):
        v = d.get(k)
        if not isinstance(v, kind) or isinstance(v, bool) or v < 0:
            raise ParseError(f"dpx-latgen {where}: {k} missing or not a non-negative number")
        return v

    for i, ph in enumerate(phases):
        where = f"phase {i + 1}"
        if not isinstance(ph, dict) or not isinstance(ph.get("rate"), str):
            raise ParseError(f"dpx-latgen {where}: no rate")
        for k in _LATGEN_COUNTERS:
            number(ph, k, int, where)
        for k in _LATGEN_RATES:
            number(ph, k, (int, float), where)
        if not isinstance(ph.get("stopped_early"), bool):
            raise ParseError(f"dpx-latgen {where}: stopped_early missing")
        lat = ph.get("latency_ns")
        if not isinstance(lat, dict):
            raise ParseError(f"dpx-latgen {where}: no latency_ns")
        for k in _LATGEN_LATENCY:
            number(lat, k, (int, float), where)
        if ph["lost"] != ph["sent"] - ph["received"]:
            raise ParseError(f"dpx-latgen {where}: lost != sent - received")
        if lat["samples"] + ph["bad_stamp"] != ph["received"]:
            raise ParseError(f"dpx-latgen {where}: latency samples do not match packets received")
        order = [lat[k] for k in ("min", "p50", "p90", "p99", "p999", "max")]
        if order != sorted(order):
            raise ParseError(f"dpx-latgen {where}: latency quantiles out of order {order}")
    return doc
