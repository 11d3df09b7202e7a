"""Scenario 4: VXLAN decapsulation to a local port and encapsulation from a
local port, 64-byte inner frames.

The underlay is a /24 of the benchmarking range (RFC 2544): this switch's
VTEP is LOCAL_VTEP on the underlay port, the remote VTEP is REMOTE_VTEP
with the MAC REMOTE_MAC. The traffic files:

- decap: pcapgen's inner frames (1,000 microflows), each wrapped in
  Ethernet (to UNDERLAY_MAC, the MAC of the switch's underlay port) / IPv4
  (REMOTE_VTEP -> LOCAL_VTEP) / UDP (a source port per microflow -> 4789) /
  VXLAN (VNI 42), written here by wrap_pcap();
- encap: pcapgen's plain frames, sent into a tunnel port by the rule.

How each switch is set up (switches.py, `tunnel` in the spec):

- OVS-DPDK, native tunneling (tnl_pop / tnl_push in dpif-netdev): the VTEP
  address is on the bridge's own port (LOCAL, a tap device), so
  ovs-vswitchd runs in a network namespace of its own where the harness
  gives that tap LOCAL_VTEP/24; the bridge's MAC is set to UNDERLAY_MAC
  (other_config:hwaddr); the remote's MAC is put with `ovs-appctl
  tnl/arp/set`. OVS's native tunneling takes underlay packets through the
  bridge's LOCAL port, so OVS-DPDK gets one underlay rule more than dpxd:
  `in_port=1,actions=LOCAL` (decap), `in_port=LOCAL,actions=output:2`
  (encap; the encapsulated packet re-enters the bridge from LOCAL).
- dpxd through our ovs-vswitchd (kernel model: a flow-based tunnel port
  vxlan_sys_4789, set(tunnel(...)) then output): the same vxlan interface
  in OVS; the underlay is dpxd's own, configured with dpxctl (tnl-ip add on
  the underlay port, neigh set for the remote), because ovs-vswitchd does
  not configure dpxd's underlay (docs/ovs.md, "Not done yet").
"""

import struct

from . import parse

LOCAL_VTEP = "198.18.0.1"
REMOTE_VTEP = "198.18.0.2"
VTEP_PLEN = 24
REMOTE_MAC = "02:00:c6:12:00:02"
# net_pcap's MAC for the first pcap device of a process (02:70:63:61:70:<n>):
# the source port in both switches. The OVS bridge's MAC is set to it too.
UNDERLAY_MAC = "02:70:63:61:70:00"
VNI = 42
VXLAN_PORT = 4789
TUNNEL_OFPORT = 3


def _mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def _ip(s):
    return bytes(int(x) for x in s.split("."))


def ipv4_checksum(hdr):
    """The one's-complement sum of a header whose checksum field is zero."""
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def outer_header(inner_len, src_port):
    """Ethernet/IPv4/UDP/VXLAN header (50 bytes) for an inner frame."""
    eth = _mac(UNDERLAY_MAC) + _mac(REMOTE_MAC) + b"\x08\x00"
    udp_len = 8 + 8 + inner_len
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                               _ip(REMOTE_VTEP), _ip(LOCAL_VTEP)))
    struct.pack_into("!H", ip, 10, ipv4_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", src_port, VXLAN_PORT, udp_len, 0)
    vxlan = struct.pack("!II", 0x08000000, VNI << 8)
    return eth + bytes(ip) + udp + vxlan


def wrap_pcap(inner, out):
    """Writes to `out` every frame of the pcap file `inner` in VXLAN.

    Frame i gets UDP source port 49152 + i % 16384, as a sender hashing
    its inner flows would spread them. Returns the number of frames.
    """
    with open(inner, "rb") as f:
        data = f.read()
    lengths = parse.pcap_frame_lengths(data)  # validates the file
    parts = [data[:24]]
    off = 24
    for i, n in enumerate(lengths):
        ts = data[off:off + 8]
        frame = data[off + 16:off + 16 + n]
        off += 16 + n
        wrapped = outer_header(n, 49152 + i % 16384) + frame
        parts.append(ts + struct.pack("<II", len(wrapped), len(wrapped)) + wrapped)
    with open(out, "wb") as f:
        f.write(b"".join(parts))
    return len(lengths)


def dp_flows(direction, sink):
    """Datapath flows for the dpxctl-programmed dpxd: the megaflows the
    OpenFlow rules stand for, with the tunnel port as odp port 3."""
    if direction == "decap":
        return [(f"in_port({TUNNEL_OFPORT}),tunnel(tun_id={VNI:#x},src={REMOTE_VTEP},"
                 f"dst={LOCAL_VTEP},ttl=0/0),eth(),eth_type(0x0800),ipv4(frag=no)", str(sink))]
    return [("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)",
             f"set(tunnel(tun_id={VNI:#x},dst={REMOTE_VTEP},ttl=64,tp_dst={VXLAN_PORT},"
             f"flags(df|key))),{TUNNEL_OFPORT}")]


def rules(direction, sink, ovs_native):
    """The OpenFlow rules of a direction ("decap" or "encap").

    ovs_native: add the underlay rule OVS-DPDK's native tunneling needs
    (see the module's docstring).
    """
    if direction == "decap":
        r = [f"in_port={TUNNEL_OFPORT},actions=output:{sink}"]
        return r + (["in_port=1,actions=LOCAL"] if ovs_native else [])
    r = [f"in_port=1,actions=output:{TUNNEL_OFPORT}"]
    return r + ([f"in_port=LOCAL,actions=output:{sink}"] if ovs_native else [])
