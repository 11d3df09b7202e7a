"""The scenarios of issue 3: traffic files and the rules each switch gets.

A case is one row of a table: one traffic file and one forwarding decision,
expressed as OpenFlow rules (the same text for OVS-DPDK and for dpxd
programmed by our ovs-vswitchd) and as datapath flows (megaflows) for dpxd
programmed by dpxctl. The microflows are those tools/pcapgen.cc writes: microflow i is
UDP 10.1.x.y:(1024 + i % 64512) -> 10.0.0.1:5001 with x.y = i / 64512; the
rule generators below follow the same formula, and test_parse.py checks
them against packets of a generated file.

Scenarios that need parts dpxd does not have yet are listed with the reason
their rows print n/a.
"""

from dataclasses import dataclass, field

from . import vxlan

SRC, SINK = 1, 2

# The megaflow OVS-DPDK installs for "in_port=1,actions=output:2" on IPv4
# traffic (without recirc_id and packet_type, which dpxd does not take from
# dpxctl): dpxd gets the same one.
ONE_MEGAFLOW = f"in_port({SRC}),eth(),eth_type(0x0800),ipv4(frag=no)"


@dataclass
class Case:
    scenario: int
    key: str              # stable id in the JSON, e.g. "s1-flows-1000"
    label: str            # row label in the tables
    flows: int            # microflows in the traffic
    size: str = "60"      # dpx-pcapgen --size: bytes written per frame (no FCS), or imix
    count: int = 0        # dpx-pcapgen --count (0: its default)
    openflow_rules: list = field(default_factory=list)
    dp_flows: list = field(default_factory=list)  # (flow, actions) for dpxctl add-flow
    not_for: dict = field(default_factory=dict)   # switch name -> why it cannot run this case
    same_as: str = ""     # key of an identical case whose samples this row reuses
    kind: str = "throughput"  # "throughput", "setup" (scenario 6) or "latency" (scenario 8)
    storm_flows: int = 0  # scenario 6: new microflows in the storm source's file
    tunnel: str = ""      # scenario 4: "decap" (the file is VXLAN) or "encap"
    # Switches run for this case even when the default list leaves them out
    # (scenario 4: dpxd programmed by dpxctl, which measures dpxd's tunnel
    # code without the control plane, and the fallback when a direction
    # does not work through ovs-vswitchd; see DPX_DECAP_VIA_OVS_BROKEN).
    also: tuple = ()
    v2v: bool = False     # scenario 5: through two vhost-user ports and a testpmd guest


def microflow(i):
    """(src_ip, src_port, dst_ip, dst_port) of pcapgen's microflow i."""
    hi = i // 64512
    return (f"10.1.{hi >> 8 & 0xff}.{hi & 0xff}", 1024 + i % 64512, "10.0.0.1", 5001)


def one_rule_case(scenario, key, label, flows, size="60", count=0):
    return Case(scenario, key, label, flows, size, count,
                openflow_rules=[f"in_port={SRC},actions=output:{SINK}"],
                dp_flows=[(ONE_MEGAFLOW, str(SINK))])


def exact_5tuple_rules(n):
    """One OpenFlow rule and one megaflow per microflow, matching its 5-tuple."""
    of, dp = [], []
    for i in range(n):
        s, sp, d, dport = microflow(i)
        of.append(f"in_port={SRC},udp,nw_src={s},nw_dst={d},tp_src={sp},tp_dst={dport},"
                  f"actions=output:{SINK}")
        dp.append((f"in_port({SRC}),eth(),eth_type(0x0800),"
                   f"ipv4(src={s},dst={d},proto=17,frag=no),udp(src={sp},dst={dport})",
                   str(SINK)))
    return of, dp


# 20 masks: the source address with 5 prefix lengths, times the destination
# address matched or not, times the destination port matched or not. Every
# rule also matches its microflow's source port exactly, which keeps the
# rules disjoint (source ports are unique below 64512 microflows) so that
# each packet has exactly one matching rule in either switch.
_PREFIXES = (0, 8, 16, 24, 32)


def _mask_variant(i):
    v = i % 20
    return _PREFIXES[v % 5], bool(v // 5 % 2), bool(v // 10)


def _ip_int(ip):
    a, b, c, d = (int(x) for x in ip.split("."))
    return a << 24 | b << 16 | c << 8 | d


def _ip_str(v):
    return ".".join(str(v >> s & 0xFF) for s in (24, 16, 8, 0))


def _prefix_mask(plen):
    return _ip_str((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)


def _masked_ip(ip, plen):
    return _ip_str(_ip_int(ip) & _ip_int(_prefix_mask(plen)))


def subtable_rules(n):
    """n disjoint rules spread over 20 masks (20 subtables in dpxd)."""
    if n > 64512:
        raise ValueError("source ports repeat above 64512 microflows; rules would overlap")
    of, dp = [], []
    for i in range(n):
        s, sp, d, dport = microflow(i)
        plen, with_dst, with_dport = _mask_variant(i)
        of_m = [f"in_port={SRC}", "udp"]
        ip_m = []
        if plen:
            net = _masked_ip(s, plen)
            of_m.append(f"nw_src={net}/{plen}")
            ip_m.append(f"src={net}/{_prefix_mask(plen)}")
        if with_dst:
            of_m.append(f"nw_dst={d}")
            ip_m.append(f"dst={d}")
        of_m.append(f"tp_src={sp}")
        udp_m = [f"src={sp}"]
        if with_dport:
            of_m.append(f"tp_dst={dport}")
            udp_m.append(f"dst={dport}")
        ip_m += ["proto=17", "frag=no"]
        of.append(",".join(of_m) + f",actions=output:{SINK}")
        dp.append((f"in_port({SRC}),eth(),eth_type(0x0800),ipv4({','.join(ip_m)}),"
                   f"udp({','.join(udp_m)})", str(SINK)))
    return of, dp


OVS_MEMPOOL_NOTE = ("OVS 3.1 sizes its shared mempool at 262,144 mbufs, and net_pcap "
                    "with infinite_rx keeps every packet of the file in an mbuf of the "
                    "port's pool: OVS fails to add the port (\"Not enough mbufs to "
                    "accommodate packets in pcap file\")")


def scenario1(quick):
    flows = [1, 1000, 100000] + ([] if quick else [1000000])
    cases = []
    for n in flows:
        c = one_rule_case(1, f"s1-flows-{n}", f"{n:,}", n)
        if n > 200000:
            c.not_for["ovs"] = OVS_MEMPOOL_NOTE
        cases.append(c)
    return cases


def scenario2(quick, max_dp_flows):
    # dpxd through OVS and OVS-DPDK get the 100,000 rules as OpenFlow rules
    # and set the megaflows up by upcalls, throttled by OVS's flow limit
    # (see STORM_FLOWS): the row's settle time says how long that took.
    cases = []
    for n in [1000] + ([] if quick else [100000]):
        of, dp = exact_5tuple_rules(n)
        c = Case(2, f"s2-exact-{n}", f"{n:,} exact 5-tuple rules", n,
                 openflow_rules=of, dp_flows=dp)
        if n > max_dp_flows:
            c.not_for["dpxd"] = (f"{n:,} flows through one dpxctl call each take too long; "
                                 "waits for a batch flow-put in dpxctl or the OVS control plane")
        cases.append(c)
    of, dp = subtable_rules(1000)
    cases.append(Case(2, "s2-subtables-20", "1,000 rules on 20 masks", 1000,
                      openflow_rules=of, dp_flows=dp))
    return cases


def frame_label(size):
    return "IMIX" if size == "imix" else f"{int(size) + 4} B"


def scenario3(quick):
    # Frame sizes on the wire include the 4-byte FCS that the pcap does not
    # hold: "64 B" frames are 60 bytes in the file. IMIX is pcapgen's 7:4:1
    # mix of 64, 570 and 1518 bytes in the file, 1,200 packets (100 mixes).
    # The 64-byte row is scenario 1's 1,000-microflow row: the same traffic
    # and rule, measured once when both scenarios run.
    # The quick run leaves out 512 B.
    cases = []
    for size in ("60", "1514", "imix") if quick else ("60", "508", "1514", "imix"):
        count = 1200 if size == "imix" else 0
        c = one_rule_case(3, f"s3-size-{size}", frame_label(size), 1000, size, count)
        if size == "60":
            c.same_as = "s1-flows-1000"
        cases.append(c)
    return cases


# Scenario 6: a second source (OpenFlow port 3) replays a file of
# STORM_FLOWS microflows, each matched by its own exact 5-tuple rule to a
# second sink (port 4), while the established flow keeps going from port 1
# to port 2. OVS starts with a flow limit of 10,000 datapath flows
# (ofproto-dpif-upcall.c: MIN(flow-limit, 10000)) and raises it by at most
# 1,000 per revalidation round; a storm below that limit measures how fast
# the control plane and datapath set flows up, not that throttle.
STORM_FLOWS = 9000
STORM_SRC, STORM_SINK = 3, 4
STORM_SINK_DEVARGS = "net_null1,no-rx=1"


def storm_src_devargs(pcap):
    return f"net_pcap1,rx_pcap={pcap},infinite_rx=1"


def scenario6(quick):
    of, _ = exact_5tuple_rules(STORM_FLOWS)
    storm = [r.replace(f"in_port={SRC},", f"in_port={STORM_SRC},")
             .replace(f"output:{SINK}", f"output:{STORM_SINK}") for r in of]
    c = Case(6, f"s6-setup-{STORM_FLOWS}",
             f"{STORM_FLOWS:,} new flows beside 1 established", 1,
             openflow_rules=[f"in_port={SRC},actions=output:{SINK}"] + storm,
             kind="setup", storm_flows=STORM_FLOWS)
    c.not_for["dpxd"] = "flow set-up goes through the control plane; dpxctl has none"
    c.not_for["testpmd"] = "no flows to set up"
    return [c]


# Set to the reason when decapsulation through ovs-vswitchd does not work in
# the dpx under test, to measure dpxd's decapsulation with dpxctl alone (at
# 99f5123 the upcalls of decapsulated packets lacked their tunnel metadata;
# fixed by the OVS tunnel work merged since).
DPX_DECAP_VIA_OVS_BROKEN = ""


def scenario4(quick):
    """VXLAN, 64-byte inner frames, 1,000 inner microflows (harness/vxlan.py)."""
    cases = []
    for direction, label in (("decap", "decap: VXLAN in, inner frame to a local port"),
                             ("encap", "encap: local port into VXLAN")):
        c = Case(4, f"s4-vxlan-{direction}", label, 1000, tunnel=direction,
                 openflow_rules=vxlan.rules(direction, SINK, ovs_native=False),
                 dp_flows=vxlan.dp_flows(direction, SINK),
                 also=() if quick else ("dpxd",))
        c.not_for["testpmd"] = "testpmd io forwarding does no encapsulation"
        if direction == "decap" and DPX_DECAP_VIA_OVS_BROKEN:
            c.not_for["dpx"] = DPX_DECAP_VIA_OVS_BROKEN
        cases.append(c)
    return cases


def scenario5(quick):
    """v2v: pcap -> vhost A -> testpmd io -> vhost B -> sink (harness/v2v.py)."""
    from . import v2v
    c = Case(5, "s5-v2v", "64 B, 1,000 microflows, through two vhost-user ports", 1000,
             openflow_rules=v2v.rules(SRC, SINK), v2v=True)
    c.not_for["testpmd"] = "the guest is a testpmd; no ceiling of its own here"
    c.not_for["dpxd"] = "vhost-user ports are programmed through ovs-vswitchd only"
    return [c]


def scenario8(quick):
    """Latency through two vhost-user ports, dpx-latgen as the guest (harness/latency.py)."""
    from . import latency
    c = Case(8, "s8-latency", "64 B, 1 microflow, vhost-user A -> B", 1, kind="latency",
             openflow_rules=list(latency.RULES))
    c.not_for["testpmd"] = "no switch between the two ports"
    c.not_for["dpxd"] = "vhost-user ports are programmed through ovs-vswitchd only"
    return [c]


# Rows of scenarios this version cannot measure yet, and why.
NOT_YET = [
    (4, "VXLAN decap to a local port / encap from a local port",
     "not run this time (--scenarios without 4)"),
    (5, "v2v: two vhost-user ports looped through testpmd virtio-user",
     "not run this time (--scenarios without 5)"),
    (6, "Flow set-up through ovs-vswitchd, and an established flow during a storm",
     "not run this time (--scenarios without 6)"),
    (7, "Containers: iperf3 TCP/UDP between namespaces and across emulated hosts",
     "not run this time (--scenarios without 7); OVS-DPDK with DPDK ports on the veths "
     "and OVS-DPDK VXLAN between emulated hosts are not in the harness yet"),
    (8, "Latency p50/p99/p999 at 10% and 80% load",
     "not run this time (--scenarios without 8)"),
]

# Figures of the "Open vSwitch powered Docker" talk, from another machine,
# shown beside scenario 7 once it runs.
TALK_FIGURES = [
    ("OVS", "24.6 Gbps"), ("Linux bridge", "18.5 Gbps"),
    ("macvlan", "20.9 Gbps"), ("OVS with veth", "19 Gbps"),
    ("OVS VXLAN", "494 Mbps"), ("Weave VXLAN", "89 Mbps"),
]
