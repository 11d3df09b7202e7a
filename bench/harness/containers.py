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
  bridge        veth pairs, host ends in a Linux bridge
  macvlan       macvlan devices (bridge mode) on a dummy parent, no veth
  ovs-afxdp     Debian's ovs-vswitchd-dpdk, datapath_type=netdev, ports of
                OVS type `afxdp` on the veths' host ends (OVS userspace with
                AF_XDP; Debian's OVS 3.1 has the afxdp netdev compiled in),
                NORMAL flow, one PMD on the PMD CPU
  ovs-dpdk      the same ovs-vswitchd-dpdk with `type=dpdk` ports on the
                veths' host ends through DPDK's net_af_xdp driver (the one
                dpxd's afxdp ports use; net_af_packet if it cannot attach),
                NORMAL flow, one PMD on the PMD CPU
  dpx-afxdp     dpxd programmed by our ovs-vswitchd, the veths' host ends as
                `system` ports (AF_XDP sockets in dpxd), NORMAL flow
  dpx-ovs-tap   dpxd programmed by our ovs-vswitchd, containers attached as
                dpx-cni's default (tap) mode does: `type=tap options:netns=
                options:ifname=eth0`, dpxd creates the tap in the container
  dpx-tap       dpxd with a `tap` port per container (programmed by dpxctl:
                `add-port NAME tap`, one flow each way); the tap device is
                created by dpxd and moved into the container's namespace, or
                created there by `--option netns=NS` when dpxd's tap has it

Two emulated hosts (each a namespace with its own underlay veth to the
other, 192.168.77.1 and .2/24, and a container behind it):
  kernel-vxlan    a Linux bridge with a VXLAN device (VNI 42) in each host
  ovs-dpdk-vxlan  an ovs-vswitchd-dpdk with its own ovsdb in each host:
                  container veth and underlay veth as net_af_xdp ports, a
                  vxlan port, native tunneling (the VTEP on the bridge's
                  LOCAL port, the peer's MAC by tnl/arp/set)
  dpx-vxlan       a dpxd in each host namespace (as tests/tunnel_e2e_test.cc):
                  port 1 the container's veth, port 2 the underlay veth (AF_XDP
                  both, af_packet if AF_XDP fails), port 3 vxlan_sys_4789, the
                  VTEP on port 2, one flow each way programmed by dpxctl
  dpx-vxlan-tap   the same with the container attached by a tap dpxd creates
                  as its eth0 (TSO: segments cut in software before encap)
In the two-host rows of switches, the two PMDs share the PMD CPU, each
backing off when idle (SHARED_CPU_SLEEP_US).

The AF_XDP variants turn off the containers' tx checksum offload (`ethtool
-K eth0 tx off`): AF_XDP copies frames as they are, and a frame whose
checksum was left to the (virtual) NIC would arrive with a wrong one.
"""

import json
import os
import subprocess
import time

from . import measure, summary
from .switches import DpxOvs, Dpxd, OvsDpdk, SwitchError, keep_off_cpu, run, spawn, wait_for

IP1, IP2 = "10.77.0.1", "10.77.0.2"
PORT = 5201 + os.getpid() % 1000
# 64-byte frames with FCS: 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload + 4.
UDP_PAYLOAD = 18

VARIANTS = [
    ("bridge", "Linux bridge + veth"),
    ("macvlan", "macvlan (bridge mode)"),
    ("ovs-afxdp", "OVS userspace, afxdp ports on veth (ovs-vswitchd-dpdk 3.1)"),
    ("ovs-dpdk", "OVS-DPDK, dpdk ports with net_af_xdp on veth (ovs-vswitchd-dpdk 3.1)"),
    ("dpx-afxdp", "dpxd (OVS), AF_XDP on veth"),
    ("dpx-ovs-tap", "dpxd (OVS), tap ports (dpx-cni's tap mode)"),
    ("dpx-tap", "dpxd (dpxctl), tap ports"),
    ("kernel-vxlan", "two hosts: kernel VXLAN + Linux bridge"),
    ("ovs-dpdk-vxlan", "two hosts: OVS-DPDK VXLAN (native tunneling), net_af_xdp ports, "
     "both PMDs on the PMD CPU"),
    ("dpx-vxlan", "two hosts: dpxd VXLAN (dpxctl), AF_XDP ports, both PMDs on the PMD CPU"),
    ("dpx-vxlan-tap", "two hosts: dpxd VXLAN (dpxctl), tap containers, AF_XDP underlay, "
     "both PMDs on the PMD CPU"),
]
VARIANT_NAMES = [v for v, _ in VARIANTS]

# The two-host rows run two switches whose PMDs share the PMD CPU: each
# backs off when idle (dpxd: --pmd-sleep-max-us, OVS: other_config:
# pmd-maxsleep), so that one switch's empty polls do not take the time
# slices the other needs to forward. 250 us is dpxd's default.
SHARED_CPU_SLEEP_US = 250
# The underlay: each emulated host's end of a veth pair, and the MAC that
# OVS-DPDK's bridge in host i gets (the peer's tunnel neighbour entry).
UNDERLAY = "192.168.77.{}"
OVS_VTEP_MAC = "02:00:c0:a8:4d:{:02x}"
VNI = 42



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

    def all_switches(self):
        return [sw for sw in [self.switch] + self.switches if sw is not None]

    def close(self):
        for sw in self.all_switches():
            sw.__exit__(None, None, None)
        self.switch, self.switches = None, []
        for ns in self.extra_ns:
            run(["ip", "netns", "del", ns], check=False)
        for link in self.links:
            run(["ip", "link", "del", link], check=False)


def _two_hosts(t, underlay_addr=True):
    """Two host namespaces joined by an underlay veth u0, 192.168.77.1/.2.

    underlay_addr: give each u0 its host's address; OVS-DPDK's rows leave
    it off (its VTEP is on the bridge's own port, and the kernel must not
    answer on a port an AF_XDP socket owns).
    """
    hosts = [f"dpxb{t.tag}x1", f"dpxb{t.tag}x2"]
    for h in hosts:
        t.add_ns(h)
    t.nsx(hosts[0], "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0",
          "netns", hosts[1])
    for i, h in enumerate(hosts, 1):
        if underlay_addr:
            t.addr(h, "u0", UNDERLAY.format(i))
        else:
            t.nsx(h, "ip", "link", "set", "u0", "up")
    return hosts


def _container_veth(t, host, ns, ip):
    """The container's veth: eth0 in `ns` (MTU 1450, room for the VXLAN
    header; tx checksum offload off for AF_XDP), c0 in `host`."""
    t.nsx(host, "ip", "link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns", ns)
    t.nsx(host, "ip", "link", "set", "c0", "up")
    t.nsx(ns, "ip", "link", "set", "eth0", "mtu", "1450")
    t.nsx(ns, "ethtool", "-K", "eth0", "tx", "off")
    t.addr(ns, "eth0", ip)


def _check_ovs_port(sw, name, variant):
    err = sw.vsctl("get", "interface", name, "error").strip()
    if err not in ("[]", ""):
        raise SwitchError(f"{variant}: could not add {name}: {err}")


def _ovs_dpdk_veth_port(t, sw, dev, ofport, n):
    """A `dpdk` port on the veth `dev`: net_af_xdp, or net_af_packet (with a
    note in the row) if DPDK's AF_XDP driver cannot attach there."""
    try:
        sw.add_port(dev, f"net_af_xdp{n},iface={dev}", ofport)
    except SwitchError:
        sw.vsctl("--if-exists", "del-port", dev)
        sw.add_port(dev, f"net_af_packet{n},iface={dev}", ofport)
        t.note = "net_af_packet: net_af_xdp failed on the veths"


def _setup_one_host_switch(variant, t, build_dir, cpu):
    """ovs-afxdp, ovs-dpdk, dpx-afxdp, dpx-ovs-tap: a bridge with the NORMAL
    flow and a port per container."""
    if variant == "ovs-dpdk":
        sw = t.switch = OvsDpdk(cpu=cpu)
        sw.boot(secure=False)
        for i, h in enumerate(t.veths(tx_off=True), 1):
            _ovs_dpdk_veth_port(t, sw, h, i, i - 1)
        return
    if variant == "ovs-afxdp":
        sw = t.switch = OvsDpdk(cpu=cpu)
        sw.boot(secure=False, dpdk=False)
    else:
        sw = t.switch = DpxOvs(build_dir, cpu=cpu)
        sw.dp.launch(None, 200000)
        sw.boot(secure=False)
    if variant == "dpx-ovs-tap":
        # As dpx-cni's default mode (docs/cni.md): dpxd creates the tap as
        # eth0 in the container's namespace; OVS keeps a dpx-tap proxy.
        for i, (ns, ip) in enumerate(zip(t.ns, (IP1, IP2)), 1):
            tap = f"dpxb{t.tag}t{i}"
            sw.vsctl("add-port", sw.br, tap, "--", "set", "interface", tap, "type=tap",
                     f"options:netns={ns}", "options:ifname=eth0", f"ofport_request={i}")
            _check_ovs_port(sw, tap, variant)
            t.addr(ns, "eth0", ip)
        return
    kind = ["type=afxdp"] if variant == "ovs-afxdp" else []  # system: AF_XDP in dpxd
    for i, h in enumerate(t.veths(tx_off=True), 1):
        sw.vsctl("add-port", sw.br, h, "--", "set", "interface", h, *kind, f"ofport_request={i}")
        _check_ovs_port(sw, h, variant)


def _setup_dpx_tap(t, build_dir, cpu):
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


def _setup_kernel_vxlan(t):
    hosts = _two_hosts(t)
    for i, (h, ns, ip) in enumerate(zip(hosts, t.ns, (IP1, IP2)), 1):
        # Device names that ip(8) cannot take for keywords ("br" would
        # be read as "broadcast").
        t.nsx(h, "ip", "link", "add", "vxl0", "type", "vxlan", "id", str(VNI), "dstport", "4789",
              "remote", UNDERLAY.format(3 - i), "local", UNDERLAY.format(i), "dev", "u0")
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


def _setup_ovs_dpdk_vxlan(t, cpu):
    """An ovs-vswitchd-dpdk with its own ovsdb in each host namespace:
    container veth (OpenFlow port 1) and underlay veth (2) as net_af_xdp
    ports, a vxlan port (3) to the other host. Native tunneling: the VTEP
    address is on the bridge's LOCAL tap, underlay packets go to LOCAL (where
    OVS pops the tunnel) and encapsulated ones come from LOCAL to port 2, as
    in scenario 4; the peer's MAC is a static tunnel neighbour."""
    hosts = _two_hosts(t, underlay_addr=False)
    for i, (h, ns, ip) in enumerate(zip(hosts, t.ns, (IP1, IP2)), 1):
        _container_veth(t, h, ns, ip)
        sw = OvsDpdk(cpu=cpu)
        sw.prefix += f"x{i}"  # two EALs at once: a --file-prefix each
        sw.pmd_maxsleep = SHARED_CPU_SLEEP_US
        t.switches.append(sw)
        sw.boot(netns=h, hwaddr=OVS_VTEP_MAC.format(i), hold=True)
        me, peer = UNDERLAY.format(i), UNDERLAY.format(3 - i)
        t.addr(h, sw.br, me)
        for dev, ofport in (("c0", 1), ("u0", 2)):
            _ovs_dpdk_veth_port(t, sw, dev, ofport, ofport - 1)
        sw.vsctl("add-port", sw.br, "vx", "--", "set", "interface", "vx", "type=vxlan",
                 f"options:remote_ip={peer}", f"options:key={VNI}", "ofport_request=3")
        _check_ovs_port(sw, "vx", "ovs-dpdk-vxlan")
        wait_for(lambda sw=sw, me=me: me in sw.appctl("ovs/route/show"),
                 "OVS route to the VTEP")
        sw.appctl("tnl/arp/set", sw.br, peer, OVS_VTEP_MAC.format(3 - i))
        sw.add_flows(["in_port=1,actions=output:3", "in_port=3,actions=output:1",
                      "in_port=2,actions=LOCAL", "in_port=LOCAL,actions=output:2"])
        sw.release()
        keep_off_cpu(sw.vswitchd.pid, cpu)


def _setup_dpx_vxlan(t, build_dir, cpu, tap):
    """A dpxd in each host namespace (as tests/tunnel_e2e_test.cc): port 1
    the container (its veth as AF_XDP, or with `tap` a tap dpxd creates as
    the container's eth0, offering TSO), port 2 the underlay veth (AF_XDP,
    af_packet if AF_XDP fails), port 3 vxlan_sys_4789, the VTEP on port 2,
    one flow each way programmed by dpxctl."""
    hosts = _two_hosts(t)
    for i, (h, ns, ip) in enumerate(zip(hosts, t.ns, (IP1, IP2)), 1):
        sw = Dpxd(build_dir, cpu=cpu)
        sw.netns = h
        sw.prefix += f"x{i}"
        sw.sleep_max_us = SHARED_CPU_SLEEP_US
        t.switches.append(sw)
        sw.launch(None, 1000)
        if tap:
            sw.dpxctl("add-port", "c0", "tap", "--port-no", "1", "--option", f"netns={ns}",
                      "--option", "ifname=eth0", "--option", "mtu=1450")
            t.addr(ns, "eth0", ip)
        else:
            _container_veth(t, h, ns, ip)
        for dev, no in ((() if tap else (("c0", 1),)) + (("u0", 2),)):
            try:
                sw.dpxctl("add-port", dev, "afxdp", "--port-no", str(no))
            except SwitchError:
                sw.dpxctl("add-port", dev, "afpacket", "--port-no", str(no))
                t.note = "af_packet: AF_XDP failed on the veths"
        sw.dpxctl("add-port", "vxlan_sys_4789", "vxlan", "--port-no", "3")
        me, peer = UNDERLAY.format(i), UNDERLAY.format(3 - i)
        sw.dpxctl("tnl-ip", "add", f"{me}/24", "u0")
        sw.dpxctl("add-flow", "in_port(1)",
                  f"set(tunnel(tun_id={VNI:#x},dst={peer},ttl=64,flags(df|key))),3")
        sw.dpxctl("add-flow", f"in_port(3),tunnel(tun_id={VNI:#x},src={peer},dst={me},"
                  "ttl=0/0)", "1")


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
    elif variant in ("ovs-afxdp", "ovs-dpdk", "dpx-afxdp", "dpx-ovs-tap"):
        _setup_one_host_switch(variant, t, build_dir, cpu)
    elif variant == "dpx-tap":
        _setup_dpx_tap(t, build_dir, cpu)
    elif variant == "kernel-vxlan":
        _setup_kernel_vxlan(t)
    elif variant == "ovs-dpdk-vxlan":
        _setup_ovs_dpdk_vxlan(t, cpu)
    elif variant in ("dpx-vxlan", "dpx-vxlan-tap"):
        _setup_dpx_vxlan(t, build_dir, cpu, tap=variant == "dpx-vxlan-tap")
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


def pmd_times(topo, cpu):
    """measure.pmd_sched() of each switch of the topology: (ns on the CPU,
    ns waiting for it) of its PMD thread so far, or None."""
    return [measure.pmd_sched(sw.pid(), cpu) for sw in topo.all_switches()]


def pmd_shares(before, after, elapsed_s):
    """Per switch, the share of `elapsed_s` its PMD spent on the CPU and
    waiting to run between two pmd_times() readings: with two PMDs on one
    CPU, a large waiting share says that they take turns rather than
    forward side by side. None where a reading is missing."""
    out = []
    for b, a in zip(before, after):
        if b is None or a is None or elapsed_s <= 0:
            out.append(None)
            continue
        out.append({"run": round((a[0] - b[0]) / 1e9 / elapsed_s, 3),
                    "wait": round((a[1] - b[1]) / 1e9 / elapsed_s, 3)})
    return out


def measure_variant(variant, build_dir, cpu, seconds):
    sample = {"scenario": 7, "variant": variant, "tcp_gbps": None, "udp_kpps": None,
              "error": None}
    topo = Topology()
    try:
        setup(variant, topo, build_dir, cpu)
        before, t0 = pmd_times(topo, cpu), time.monotonic()
        sample["tcp_gbps"] = iperf(topo, seconds, udp=False)["bps"] / 1e9
        sample["tcp_pmd_cpu"] = pmd_shares(before, pmd_times(topo, cpu), time.monotonic() - t0)
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


def run_scenario(build_dir, cpu, rounds, seconds, log, variants=None):
    """Every variant (or those named in `variants`) `rounds` times, the
    variants alternating within a round."""
    samples = []
    for rnd in range(rounds):
        for variant in variants or VARIANT_NAMES:
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
