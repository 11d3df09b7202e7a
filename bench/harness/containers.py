"""Scenario 7: containers, the table of the "Open vSwitch powered Docker"
talk redone on this machine.

Containers are network namespaces. Two of them (addresses 10.77.0.1 and
10.77.0.2/24) are connected in turn by each variant below; iperf3 runs a
TCP stream from the first to the second for a fixed time, then a UDP
stream of 64-byte frames (18 bytes of payload) sent as fast as iperf3 can.
The figures are iperf3's receiver-side ones (TCP: bits per second received;
UDP: datagrams received per second). Variants alternate within each round,
and each is set up afresh and torn down for every sample.

One host:
  bridge      veth pairs, host ends in a Linux bridge
  macvlan     macvlan devices (bridge mode) on a dummy parent, no veth
  ovs-afxdp   Debian's ovs-vswitchd-dpdk, datapath_type=netdev, ports of
              OVS type `afxdp` on the veths' host ends (OVS userspace with
              AF_XDP; Debian's OVS 3.1 has the afxdp netdev compiled in),
              NORMAL flow, one PMD on the PMD CPU
  dpx-afxdp   dpxd programmed by our ovs-vswitchd, the veths' host ends as
              `system` ports (AF_XDP sockets in dpxd), NORMAL flow
  dpx-tap     dpxd with a `tap` port per container (programmed by dpxctl:
              `add-port NAME tap`, one flow each way); the tap device is
              created by dpxd and moved into the container's namespace, or
              created there by `--option netns=NS` when dpxd's tap has it

Two emulated hosts (each a namespace with its own underlay veth to the
other, 192.168.77.1 and .2/24, and a container behind it):
  kernel-vxlan  a Linux bridge with a VXLAN device (VNI 42) in each host
  dpx-vxlan     a dpxd in each host namespace (as tests/tunnel_e2e_test.cc):
                port 1 the container's veth, port 2 the underlay veth (AF_XDP
                both, af_packet if AF_XDP fails), port 3 vxlan_sys_4789, the
                VTEP on port 2, one flow each way programmed by dpxctl; the
                two PMDs share the PMD CPU

The AF_XDP variants turn off the containers' tx checksum offload (`ethtool
-K eth0 tx off`): AF_XDP copies frames as they are, and a frame whose
checksum was left to the (virtual) NIC would arrive with a wrong one.
"""

import json
import os
import subprocess
import time

from . import summary
from .switches import DpxOvs, Dpxd, OvsDpdk, SwitchError, run, spawn, wait_for

IP1, IP2 = "10.77.0.1", "10.77.0.2"
PORT = 5201 + os.getpid() % 1000
# 64-byte frames with FCS: 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload + 4.
UDP_PAYLOAD = 18

VARIANTS = [
    ("bridge", "Linux bridge + veth"),
    ("macvlan", "macvlan (bridge mode)"),
    ("ovs-afxdp", "OVS userspace, afxdp ports on veth (ovs-vswitchd-dpdk 3.1)"),
    ("dpx-afxdp", "dpxd (OVS), AF_XDP on veth"),
    ("dpx-tap", "dpxd (dpxctl), tap ports"),
    ("kernel-vxlan", "two hosts: kernel VXLAN + Linux bridge"),
    ("dpx-vxlan", "two hosts: dpxd VXLAN (dpxctl), AF_XDP ports, both PMDs on the PMD CPU"),
]



def iperf3_result(doc):
    """iperf3 -J output (decoded) -> {"bps", "pps", "lost_pct"} on the receiver.

    TCP: end.sum_received.bits_per_second (pps None). UDP: datagrams that
    arrived (sent minus lost, end.sum_received) per second, and the
    receiver's bits per second. Raises ValueError if the document reports an
    error or lacks the summary.
    """
    if doc.get("error"):
        raise ValueError(f"iperf3: {doc['error']}")
    proto = doc.get("start", {}).get("test_start", {}).get("protocol")
    r = (doc.get("end") or {}).get("sum_received")
    if not r or not r.get("seconds"):
        raise ValueError("iperf3 output has no receiver summary")
    if proto == "TCP":
        return {"bps": r["bits_per_second"], "pps": None, "lost_pct": None}
    if proto != "UDP" or "lost_packets" not in r:
        raise ValueError(f"iperf3 output of an unknown test ({proto})")
    return {"bps": r["bits_per_second"], "pps": (r["packets"] - r["lost_packets"]) / r["seconds"],
            "lost_pct": r.get("lost_percent")}


class Topology:
    """Namespaces and links of one sample; close() removes all of them."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.tag = tag
        self.ns = [f"dpxb{tag}c1", f"dpxb{tag}c2"]
        self.extra_ns = []
        self.links = []       # host-side links to delete
        self.switch = None
        self.switches = []    # several switches (one per emulated host)
        self.note = ""        # how the variant was set up, where it can vary

    def nsx(self, ns, *cmd, **kw):
        return run(["ip", "netns", "exec", ns, *cmd], **kw)

    def add_ns(self, name):
        run(["ip", "netns", "add", name])
        self.extra_ns.append(name)
        self.nsx(name, "ip", "link", "set", "lo", "up")

    def containers(self):
        for ns in self.ns:
            self.add_ns(ns)

    def veths(self, tx_off):
        """A veth per container: eth0 inside, dpxb<tag>h<i> on the host."""
        hosts = []
        for i, (ns, ip) in enumerate(zip(self.ns, (IP1, IP2)), 1):
            h = f"dpxb{self.tag}h{i}"
            run(["ip", "link", "add", h, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self.links.append(h)
            run(["ip", "link", "set", h, "up"])
            self.addr(ns, "eth0", ip)
            if tx_off:
                self.nsx(ns, "ethtool", "-K", "eth0", "tx", "off")
            hosts.append(h)
        return hosts

    def addr(self, ns, dev, ip, plen=24):
        self.nsx(ns, "ip", "addr", "add", f"{ip}/{plen}", "dev", dev)
        self.nsx(ns, "ip", "link", "set", dev, "up")

    def close(self):
        for sw in [self.switch] + self.switches:
            if sw is not None:
                sw.__exit__(None, None, None)
        self.switch, self.switches = None, []
        for ns in self.extra_ns:
            run(["ip", "netns", "del", ns], check=False)
        for link in self.links:
            run(["ip", "link", "del", link], check=False)


def _two_hosts(t):
    """Two host namespaces joined by an underlay veth u0, 192.168.77.1/.2."""
    hosts = [f"dpxb{t.tag}x1", f"dpxb{t.tag}x2"]
    for h in hosts:
        t.add_ns(h)
    t.nsx(hosts[0], "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0",
          "netns", hosts[1])
    for i, h in enumerate(hosts, 1):
        t.addr(h, "u0", f"192.168.77.{i}")
    return hosts


def setup(variant, topo, build_dir, cpu):
    """Connects the two containers of `topo` the way `variant` says."""
    t = topo
    t.containers()
    if variant == "bridge":
        br = f"dpxb{t.tag}br"
        run(["ip", "link", "add", br, "type", "bridge"])
        t.links.append(br)
        for h in t.veths(tx_off=False):
            run(["ip", "link", "set", h, "master", br])
        run(["ip", "link", "set", br, "up"])
    elif variant == "macvlan":
        # The parent: one end of a veth pair (this kernel has no dummy
        # driver), both ends up so that the parent has a carrier.
        parent = f"dpxb{t.tag}p"
        run(["ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "q"])
        t.links.append(parent)
        for dev in (parent, parent + "q"):
            run(["ip", "link", "set", dev, "up"])
        for i, (ns, ip) in enumerate(zip(t.ns, (IP1, IP2)), 1):
            m = f"dpxb{t.tag}m{i}"
            run(["ip", "link", "add", m, "link", parent, "type", "macvlan", "mode", "bridge"])
            run(["ip", "link", "set", m, "netns", ns])
            t.addr(ns, m, ip)
    elif variant in ("ovs-afxdp", "dpx-afxdp"):
        hosts = t.veths(tx_off=True)
        if variant == "ovs-afxdp":
            sw = t.switch = OvsDpdk(cpu=cpu)
            sw.boot(secure=False, dpdk=False)
            kind = ["type=afxdp"]
        else:
            sw = t.switch = DpxOvs(build_dir, cpu=cpu)
            sw.dp.launch(None, 200000)
            sw.boot(secure=False)
            kind = []  # system: AF_XDP in dpxd
        for i, h in enumerate(hosts, 1):
            sw.vsctl("add-port", sw.br, h, "--", "set", "interface", h, *kind,
                     f"ofport_request={i}")
            err = sw.vsctl("get", "interface", h, "error").strip()
            if err not in ("[]", ""):
                raise SwitchError(f"{variant}: could not add {h}: {err}")
    elif variant == "dpx-tap":
        sw = t.switch = Dpxd(build_dir, cpu=cpu)
        sw.launch(None, 1000)
        for i, (ns, ip) in enumerate(zip(t.ns, (IP1, IP2)), 1):
            tap = f"dpxb{t.tag}t{i}"
            try:
                sw.dpxctl("add-port", tap, "tap", "--port-no", str(i), "--option", f"netns={ns}")
                t.note = "tap created in the container by dpxd (netns option)"
            except SwitchError:
                # dpxd's tap without a netns option: create it in dpxd's
                # namespace and move it into the container's.
                sw.dpxctl("add-port", tap, "tap", "--port-no", str(i))
                run(["ip", "link", "set", tap, "netns", ns])
                t.note = "dpxd has no netns option for tap: tap moved into the container"
            t.addr(ns, tap, ip)
        sw.dpxctl("add-flow", "in_port(1)", "2")
        sw.dpxctl("add-flow", "in_port(2)", "1")
    elif variant == "kernel-vxlan":
        hosts = _two_hosts(t)
        for i, (h, ns, ip) in enumerate(zip(hosts, t.ns, (IP1, IP2)), 1):
            # Device names that ip(8) cannot take for keywords ("br" would
            # be read as "broadcast").
            t.nsx(h, "ip", "link", "add", "vxl0", "type", "vxlan", "id", "42", "dstport", "4789",
                  "remote", f"192.168.77.{3 - i}", "local", f"192.168.77.{i}", "dev", "u0")
            t.nsx(h, "ip", "link", "add", "bri0", "type", "bridge")
            t.nsx(h, "ip", "link", "add", "veh0", "type", "veth", "peer", "name", "eth0",
                  "netns", ns)
            for dev in ("vxl0", "veh0"):
                t.nsx(h, "ip", "link", "set", dev, "master", "bri0")
                t.nsx(h, "ip", "link", "set", dev, "up")
            t.nsx(h, "ip", "link", "set", "bri0", "up")
            # Inner MTU below the 1500-byte underlay's by the 50-byte header.
            t.nsx(ns, "ip", "link", "set", "eth0", "mtu", "1450")
            t.addr(ns, "eth0", ip)
    elif variant == "dpx-vxlan":
        hosts = _two_hosts(t)
        t.switches = []
        for i, (h, ns, ip) in enumerate(zip(hosts, t.ns, (IP1, IP2)), 1):
            t.nsx(h, "ip", "link", "add", "c0", "type", "veth", "peer", "name", "eth0",
                  "netns", ns)
            t.nsx(h, "ip", "link", "set", "c0", "up")
            t.nsx(ns, "ip", "link", "set", "eth0", "mtu", "1450")
            t.nsx(ns, "ethtool", "-K", "eth0", "tx", "off")
            t.addr(ns, "eth0", ip)
            sw = Dpxd(build_dir, cpu=cpu)
            sw.netns = h
            t.switches.append(sw)
            sw.launch(None, 1000)
            for dev, no in (("c0", 1), ("u0", 2)):
                try:
                    sw.dpxctl("add-port", dev, "afxdp", "--port-no", str(no))
                except SwitchError:
                    sw.dpxctl("add-port", dev, "afpacket", "--port-no", str(no))
                    t.note = "af_packet: AF_XDP failed on the veths"
            sw.dpxctl("add-port", "vxlan_sys_4789", "vxlan", "--port-no", "3")
            self_ip, peer = f"192.168.77.{i}", f"192.168.77.{3 - i}"
            sw.dpxctl("tnl-ip", "add", f"{self_ip}/24", "u0")
            sw.dpxctl("add-flow", "in_port(1)",
                      f"set(tunnel(tun_id=0x2a,dst={peer},ttl=64,flags(df|key))),3")
            sw.dpxctl("add-flow", f"in_port(3),tunnel(tun_id=0x2a,src={peer},dst={self_ip},"
                      "ttl=0/0)", "1")
    else:
        raise ValueError(f"unknown variant {variant}")
    # Reachability before measuring: the first pings also set up flows.
    wait_for(lambda: subprocess.run(
        ["ip", "netns", "exec", t.ns[0], "ping", "-c", "1", "-W", "1", IP2],
        capture_output=True).returncode == 0, f"{variant}: ping between the containers",
        timeout=30, interval=0.2)


def iperf(topo, seconds, udp):
    """One iperf3 run from the first container to the second."""
    server = spawn(["ip", "netns", "exec", topo.ns[1], "iperf3", "-s", "-1", "-p", str(PORT)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: str(PORT) in run(["ip", "netns", "exec", topo.ns[1], "ss", "-ltnH"]),
                 "iperf3 server", timeout=20)
        cmd = ["ip", "netns", "exec", topo.ns[0], "iperf3", "-c", IP2, "-p", str(PORT),
               "-t", str(seconds), "-J"]
        if udp:
            cmd += ["-u", "-b", "0", "-l", str(UDP_PAYLOAD)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            raise ValueError(f"iperf3 printed no JSON: {p.stderr.strip()[-300:]}") from e
        return iperf3_result(doc)
    finally:
        server.kill()
        server.wait(timeout=10)


def measure_variant(variant, build_dir, cpu, seconds):
    sample = {"scenario": 7, "variant": variant, "tcp_gbps": None, "udp_kpps": None,
              "error": None}
    topo = Topology()
    try:
        setup(variant, topo, build_dir, cpu)
        sample["tcp_gbps"] = iperf(topo, seconds, udp=False)["bps"] / 1e9
        time.sleep(0.2)
        u = iperf(topo, seconds, udp=True)
        sample["udp_kpps"] = u["pps"] / 1e3
        sample["udp_lost_pct"] = u["lost_pct"]
        sample["note"] = topo.note
    except (SwitchError, OSError, ValueError, subprocess.TimeoutExpired) as e:
        sample["error"] = f"{type(e).__name__}: {e}"
        sw = topo.switch or (topo.switches[0] if topo.switches else None)
        if sw is not None:
            try:
                sample["detail"] = sw.describe_failure()
            except Exception as d:  # the failure report must not hide the failure
                sample["detail"] = f"(no detail: {d})"
    finally:
        topo.close()
    return sample


def run_scenario(build_dir, cpu, rounds, seconds, log):
    samples = []
    for rnd in range(rounds):
        for variant, _ in VARIANTS:
            s = measure_variant(variant, build_dir, cpu, seconds)
            s["round"] = rnd
            samples.append(s)
            log(f"s7 {variant} round {rnd + 1}/{rounds}: "
                + (f"TCP {s['tcp_gbps']:.2f} Gbps, UDP {s['udp_kpps']:.0f} kpps"
                   if not s["error"] else f"ERROR {s['error']}"))
    return samples


def table(samples):
    """Markdown table of scenario 7 from its samples, or "" without any."""
    if not samples:
        return ""
    lines = ["| containers connected by | TCP Gbps | UDP 64-byte kpps |", "|---|---|---|"]
    for variant, label in VARIANTS:
        mine = [s for s in samples if s["variant"] == variant]
        if not mine:
            continue
        ok = [s for s in mine if not s.get("error")]
        cells = []
        for key, fmt in (("tcp_gbps", "{:.2f}"), ("udp_kpps", "{:,.0f}")):
            st = summary.summarize([s.get(key) for s in ok])
            cells.append("failed: " + mine[0]["error"].replace("|", "/")[:200] if st is None else
                         fmt.format(st["median"]) + (f" ({fmt.format(st['min'])}–"
                                                     f"{fmt.format(st['max'])})"
                                                     if st["n"] > 1 else ""))
        notes = sorted({s["note"] for s in ok if s.get("note")})
        label += "".join(f" ({n})" for n in notes)
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
