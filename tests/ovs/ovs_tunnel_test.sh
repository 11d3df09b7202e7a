#!/usr/bin/env bash
# End to end: two emulated hosts joined by an overlay that Open vSwitch
# configures and dpxd builds.
#
#   ovs_tunnel_test.sh OVS_VSWITCHD DPXD DPXCTL vxlan|geneve [ipv4|ipv6]
#
#   netns ctr-a: eth0 10.93.0.1/24             netns ctr-b: eth0 10.93.0.2/24
#        | veth                                       | veth
#   netns host-a: ovsdb-server, ovs-vswitchd, dpxd    netns host-b: the same
#     br0:   ctr0 (system), vx0 (vxlan or geneve)      br0:   the same
#     brphy: ul0 (system) -- VTEP 10.0.93.1/24         brphy: ul0 -- VTEP 10.0.93.2/24
#        |                                                |
#        +------ netns wire: a Linux bridge (ula, ulb) ---+
#
# Each host runs its own ovsdb-server, our ovs-vswitchd and dpxd, with its
# own directory, sockets and EAL file prefix; both dpxd share PMD core 1
# (idle PMDs sleep). The underlay is dpxd's: ul0 is a dpxd port (in a bridge
# of its own, so that ovs-vswitchd keeps it), its VTEP address is set with
# `dpxctl tnl-ip add`, and dpxd resolves the other VTEP with ARP itself.
# The wire namespace is only a cable that tcpdump can watch (packets that
# dpxd sends and receives through AF_XDP bypass the taps of its own host).
#
# With ipv6 (the fifth argument) the underlay is IPv6: VTEPs fd93::1/64 and
# fd93::2/64, found by dpxd's Neighbour Discovery, OVS's remote_ip and
# tun_ipv6_dst IPv6 addresses, megaflows with ipv6_src/ipv6_dst in
# tunnel(...), outer IPv6 packets with a UDP checksum on the wire, and
# containers with an MTU of 1430 (70 bytes of outer headers). The
# containers themselves stay IPv4.
#
#   1. vx0 with options:remote_ip=<other VTEP> options:key=42, NORMAL
#      flows: ping and an iperf3 TCP stream cross; the outer packets on the
#      wire are well-formed VXLAN (Geneve) with VNI 42 around the
#      containers' frames; dpctl/dump-flows shows the tunnel megaflows:
#      set(tunnel(tun_id=0x2a,dst=<other VTEP>...)) on the sending side and
#      tunnel(tun_id=0x2a,src=<other VTEP>,dst=<own VTEP>...) in the key on
#      the receiving side (ipv6_dst=, ipv6_src= over IPv6), with counters
#      that rise;
#   2. the flow-based variant: options:remote_ip=flow options:key=flow and
#      OpenFlow rules with set_field:...->tun_dst/tun_id: ping crosses with
#      VNI 0x77, the decap side matches tun_id=0x77;
#   3. (geneve only) a TLV map makes tun_metadata0 a Geneve option: each
#      side sets a value and accepts only the other's; ping crosses, the
#      megaflows carry geneve({class=0xffff,type=0x1,len=4,...}) in
#      set(tunnel(...)) and in the decap key, the option is on the wire, and
#      a value the receiver does not accept stops there.
set -euo pipefail

if (($# != 4 && $# != 5)); then
  echo "usage: $0 OVS_VSWITCHD DPXD DPXCTL vxlan|geneve [ipv4|ipv6]" >&2
  exit 2
fi
VSWITCHD=$1 DPXD=$2 DPXCTL=$3 TYPE=$4 FAMILY=${5:-ipv4}
case $TYPE in
  vxlan) UDP_PORT=4789 DP_PORT=vxlan_sys_4789 ;;
  geneve) UDP_PORT=6081 DP_PORT=genev_sys_6081 ;;
  *) echo "unknown tunnel type $TYPE" >&2 && exit 2 ;;
esac

. "$(dirname "$0")/lib.sh"
require_tools ovsdb-tool ovsdb-server ovs-vsctl ovs-ofctl ovs-appctl ip ping iperf3 ethtool \
  tcpdump

HOST_A=dxha$TAG HOST_B=dxhb$TAG CTR_A=dxca$TAG CTR_B=dxcb$TAG WIRE=dxw$TAG
IP_A=10.93.0.1 IP_B=10.93.0.2
case $FAMILY in
  # The overlay carries 50 bytes of outer headers (VXLAN; Geneve without
  # options) inside the underlay's 1500 over IPv4, 70 over IPv6: the
  # containers get 1450 (1430), as with kernel VXLAN.
  ipv4) VTEP_A=10.0.93.1 VTEP_B=10.0.93.2 VTEP_PLEN=24 CTR_MTU=1450 ;;
  ipv6) VTEP_A=fd93::1 VTEP_B=fd93::2 VTEP_PLEN=64 CTR_MTU=1430 ;;
  *) echo "unknown underlay family $FAMILY" >&2 && exit 2 ;;
esac
# The tunnel metadata's address fields, in ODP flows (dpctl/dump-flows)
# and in OpenFlow (set_field).
if [[ $FAMILY == ipv6 ]]; then
  ODP_SRC=ipv6_src ODP_DST=ipv6_dst OF_DST=tun_ipv6_dst
else
  ODP_SRC=src ODP_DST=dst OF_DST=tun_dst
fi
VNI=42 VNI_FLOW=0x77

lib_init
BG_PIDS=()
at_exit 'for p in "${BG_PIDS[@]}"; do kill "$p"; wait "$p"; done'

step "namespaces: two hosts, their containers, the wire"
for ns in "$HOST_A" "$HOST_B" "$WIRE"; do
  ip netns add "$ns"
  at_exit "ip netns del '$ns'"
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
# No multicast snooping: the bridge must flood Neighbour Solicitations to
# the solicited-node groups, for which no MLD report is ever sent.
ip -n "$WIRE" link add wbr type bridge mcast_snooping 0
ip -n "$WIRE" link set wbr up
for side in a b; do
  host_var=HOST_${side^^}
  ip -n "$WIRE" link add "ul$side" type veth peer name ul0 netns "${!host_var}"
  ip -n "$WIRE" link set "ul$side" master wbr up
  ip -n "${!host_var}" link set ul0 up
done
add_container "$CTR_A" ctr0 "$IP_A/24" "$HOST_A" "$CTR_MTU"
add_container "$CTR_B" ctr0 "$IP_B/24" "$HOST_B" "$CTR_MTU"

# host SIDE: makes host a or b the current instance.
host() {
  local h=HOST_${1^^}
  use_instance "$DIR/$1" "${!h}"
}

for side in a b; do
  step "host $side: ovsdb-server, dpxd, ovs-vswitchd"
  host_var=HOST_${side^^}
  new_instance "$DIR/$side" "${!host_var}"
  start_instance
  ovs-vsctl add-br br0 -- set bridge br0 datapath_type=dpx
  ovs-vsctl add-port br0 ctr0
  ovs-vsctl add-br brphy -- set bridge brphy datapath_type=dpx -- add-port brphy ul0
done

# The underlay is dpxd's: its VTEP address (and with it the connected route)
# goes on the underlay port, as `ip addr add` would for the kernel datapath.
host a && dpxctl tnl-ip add "$VTEP_A/$VTEP_PLEN" ul0
host b && dpxctl tnl-ip add "$VTEP_B/$VTEP_PLEN" ul0

# add_tunnel SIDE PEER_VTEP [OPTION...]: the tunnel port vx0 of br0.
add_tunnel() {
  host "$1"
  shift
  local peer=$1
  shift
  ovs-vsctl add-port br0 vx0 -- set interface vx0 type="$TYPE" options:remote_ip="$peer" "$@"
}

ping_ok() { ip netns exec "$CTR_A" ping -c 1 -W 1 -q "$IP_B"; }

# check_capture FILE VNI: every packet of the capture is a well-formed
# outer packet between the VTEPs, to the tunnel's UDP port: over IPv4 with
# a correct header checksum and lengths, over IPv6 with a correct payload
# length and a UDP checksum that is present and verifies (dpxd always
# computes it over IPv6); then a VXLAN (Geneve) header with the VNI and one
# of the containers' frames inside; at least one each way.
check_capture() {
  /usr/bin/python3 - "$1" "$2" "$TYPE" "$UDP_PORT" "$FAMILY" "$VTEP_A" "$VTEP_B" "$IP_A" "$IP_B" <<'EOF'
import ipaddress
import sys
from scapy.all import rdpcap, Ether, IP, IPv6, UDP, raw
from scapy.layers.vxlan import VXLAN
from scapy.contrib.geneve import GENEVE

path, vni, kind, port, family = sys.argv[1], int(sys.argv[2], 0), sys.argv[3], int(sys.argv[4]), sys.argv[5]
vteps = {ipaddress.ip_address(a) for a in sys.argv[6:8]}
ctrs = set(sys.argv[8:10])


def ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


pkts = rdpcap(path)
assert pkts, "empty capture"
dirs = set()
for i, p in enumerate(pkts):
    where = f"packet {i}: {p.summary()}"
    if family == "ipv6":
        assert p.haslayer(IPv6) and p.haslayer(UDP), where
        ip = p[IPv6]
        src, dst = ipaddress.ip_address(ip.src), ipaddress.ip_address(ip.dst)
        assert ip.nh == 17, where + ": extension headers or not UDP"
        assert ip.plen == len(raw(ip)) - 40, where + ": bad IPv6 payload length"
        udp = raw(ip)[40:]
        assert p[UDP].len == ip.plen, where + ": bad UDP length"
        assert p[UDP].chksum != 0, where + ": no UDP checksum over IPv6"
        pseudo = src.packed + dst.packed + len(udp).to_bytes(4, "big") + b"\0\0\0\x11"
        assert ones_sum(pseudo + udp) == 0xFFFF, where + ": bad UDP checksum"
    else:
        assert p.haslayer(IP) and p.haslayer(UDP), where
        ip = p[IP]
        src, dst = ipaddress.ip_address(ip.src), ipaddress.ip_address(ip.dst)
        hdr = raw(ip)[: ip.ihl * 4]
        fixed = IP(hdr)
        del fixed.chksum
        assert IP(raw(fixed)).chksum == ip.chksum, where + ": bad IPv4 header checksum"
        assert ip.len == len(raw(ip)), where + ": bad IPv4 total length"
        assert p[UDP].len == ip.len - ip.ihl * 4, where + ": bad UDP length"
    assert {src, dst} == vteps, where
    assert p[UDP].dport == port, where
    payload = raw(p[UDP].payload)
    if kind == "vxlan":
        assert payload[0] == 0x08, where + ": VXLAN flags are not just I"
        got = int.from_bytes(payload[4:7], "big")
        inner = Ether(payload[8:])
    else:
        g = GENEVE(payload)
        assert g.version == 0 and g.proto == 0x6558, where + ": bad Geneve header"
        got = g.vni
        inner = Ether(payload[8 + 4 * g.optionlen :])
    assert got == vni, where + f": VNI {got}, expected {vni}"
    if inner.haslayer(IP):
        assert {inner[IP].src, inner[IP].dst} == ctrs, where + ": unexpected inner packet"
    dirs.add(src)
assert dirs == vteps, f"capture has one direction only: from {dirs}"
print(f"{len(pkts)} outer {family} packets checked: {kind}, VNI {vni:#x}, both directions")
EOF
}

# capture_pings VNI: captures the tunnel's packets on the wire while
# container A pings B, and checks them.
capture_pings() {
  local pcap=$DIR/underlay-$1.pcap
  ip netns exec "$WIRE" tcpdump -i ula -nn -U -c 20 -w "$pcap" "udp dst port $UDP_PORT" \
    2>"$DIR/tcpdump.log" &
  local cap=$!
  BG_PIDS+=($cap)
  poll 100 grep -q "listening on" "$DIR/tcpdump.log" || fail "tcpdump did not start"
  ip netns exec "$CTR_A" ping -c 12 -i 0.05 -q "$IP_B" >/dev/null
  poll 100 sh -c "! kill -0 $cap" || fail "tcpdump did not see 20 tunnel packets"
  wait "$cap" || fail "tcpdump failed"
  check_capture "$pcap" "$1"
}

# flow_of SIDE PATTERN [UFID]: "ufid packets" of the first megaflow in host
# SIDE's dpctl/dump-flows that matches PATTERN (grep -E) (and has UFID), or
# nothing.
flow_of() {
  host "$1"
  ovs-appctl dpctl/dump-flows -m | grep -E -- "$2" | grep -- "${3:-}" | head -n 1 |
    sed -n 's/^ufid:\([^ ,]*\).*packets:\([0-9]*\).*/\1 \2/p'
}

# check_megaflows VNI_HEX: the encap megaflow on A and the decap one on B,
# with counters that rise under 20 more pings. A round in which OVS
# replaced one of them (its ufid is gone: revalidation, see docs/ovs.md) is
# tried again, at most five times.
check_megaflows() {
  # The IPv4 megaflows (the ARP ones have also been set up).
  local encap="eth_type\(0x0800\).*actions:.*set\(tunnel\(tun_id=$1,$ODP_DST=${VTEP_B}[,)]"
  local decap="tunnel\(tun_id=$1,$ODP_SRC=$VTEP_A,$ODP_DST=${VTEP_B}[,)].*eth_type\(0x0800\)"
  local eu e0 du d0 eu1 e1 du1 d1 round
  for side in a b; do
    host $side
    echo "--- host $side: dpctl/dump-flows"
    ovs-appctl dpctl/dump-flows
  done
  for round in 1 2 3 4 5; do
    read -r eu e0 <<<"$(flow_of a "$encap")"
    read -r du d0 <<<"$(flow_of b "$decap")"
    [[ -n ${eu:-} ]] || fail "no encap megaflow set(tunnel(tun_id=$1,$ODP_DST=$VTEP_B...)) on host a"
    [[ -n ${du:-} ]] ||
      fail "no decap megaflow tunnel(tun_id=$1,$ODP_SRC=$VTEP_A,$ODP_DST=$VTEP_B...) on host b"
    ip netns exec "$CTR_A" ping -c 20 -i 0.02 -q "$IP_B" >/dev/null
    read -r eu1 e1 <<<"$(flow_of a "$encap" "$eu")"
    read -r du1 d1 <<<"$(flow_of b "$decap" "$du")"
    if [[ -z ${eu1:-} || -z ${du1:-} ]]; then
      echo "round $round: OVS replaced a megaflow under the pings; again"
      continue
    fi
    echo "encap megaflow on a: $e0 -> $e1 packets; decap megaflow on b: $d0 -> $d1 packets"
    ((e1 >= e0 + 20 && d1 >= d0 + 20)) || fail "tunnel megaflow counters did not rise by 20"
    return 0
  done
  fail "OVS replaced the tunnel megaflows in five rounds of pings"
}

# ------------------------------------------------------------ 1. fixed
step "1. $TYPE port with options:remote_ip=$VTEP_B ($FAMILY underlay) and options:key=$VNI"
add_tunnel a "$VTEP_B" options:key=$VNI
add_tunnel b "$VTEP_A" options:key=$VNI
for side in a b; do
  host $side
  ovs-appctl dpctl/show | grep -q "$DP_PORT" || fail "no $DP_PORT in host $side's datapath"
done
host a && ovs-appctl dpctl/show
poll 60 ping_ok || fail "no ping between the containers across $TYPE"
ip netns exec "$CTR_A" ping -c 5 -i 0.1 "$IP_B"
for side in a b; do host $side && dpxctl neigh show; done

capture_pings "$VNI"
check_megaflows "$(printf '0x%x' $VNI)"

ip netns exec "$CTR_B" iperf3 -s -1 -p 5401 >/dev/null 2>&1 &
BG_PIDS+=($!)
wait_listening "$CTR_B" 5401 tcp
iperf_out=$(ip netns exec "$CTR_A" timeout 60 iperf3 -c "$IP_B" -p 5401 -t 2 -f m) || fail "iperf3 failed"
echo "$iperf_out" | tail -n 4
echo "$iperf_out" | grep -q receiver || fail "iperf3 did not complete"
for side in a b; do
  host $side
  echo "--- host $side: dpxctl tnl-stats"
  dpxctl tnl-stats
done

# ------------------------------------------------------- 2. flow-based
step "2. flow-based $TYPE port: options:remote_ip=flow options:key=flow"
for side in a b; do
  host $side
  ovs-vsctl del-port br0 vx0
  # No MAC learning across the tunnel: each side's rules say where to go.
  ovs-ofctl del-flows br0
done
add_tunnel a flow options:key=flow
add_tunnel b flow options:key=flow
for side in a b; do
  host $side
  peer=$VTEP_B
  [[ $side == b ]] && peer=$VTEP_A
  ovs-ofctl add-flow br0 "in_port=ctr0,actions=set_field:$VNI_FLOW->tun_id,set_field:$peer->$OF_DST,output:vx0"
  ovs-ofctl add-flow br0 "in_port=vx0,tun_id=$VNI_FLOW,actions=output:ctr0"
  ovs-ofctl dump-flows br0
done
poll 60 ping_ok || fail "no ping across the flow-based $TYPE port"
capture_pings "$VNI_FLOW"
check_megaflows "$VNI_FLOW"

# ------------------------------------------- 3. Geneve TLV options
# OVS's tun_metadata0, mapped to a Geneve option by a TLV map, set by the
# sender's flows and matched by the receiver's: the megaflows carry it as
# OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS (set(tunnel(...,geneve(...))) on one side,
# tunnel(...,geneve(...)) on the other), and a packet whose option value no
# rule matches does not get through.
if [[ $TYPE == geneve ]]; then
  step "3. Geneve option tun_metadata0 set on each side, matched on the other"
  # geneve_rules SIDE SEND_VALUE ACCEPT_VALUE
  geneve_rules() {
    host "$1"
    local peer=$VTEP_B
    [[ $1 == b ]] && peer=$VTEP_A
    ovs-ofctl del-flows br0
    ovs-ofctl add-flow br0 "in_port=ctr0,actions=set_field:$VNI_FLOW->tun_id,set_field:$peer->$OF_DST,set_field:$2->tun_metadata0,output:vx0"
    ovs-ofctl add-flow br0 "in_port=vx0,tun_id=$VNI_FLOW,tun_metadata0=$3,actions=output:ctr0"
  }
  for side in a b; do
    host $side
    ovs-ofctl add-tlv-map br0 "{class=0xffff,type=0x1,len=4}->tun_metadata0"
  done
  geneve_rules a 0x1234abcd 0x5678
  geneve_rules b 0x5678 0x1234abcd
  # Step 2's megaflows were put for packets without options and do not
  # match the option length; OVS revalidates them into drops that would
  # also catch the packets with options (see docs/tunnels.md, "Not done
  # yet"), so they are purged here, with their udpif keys.
  for side in a b; do host $side && ovs-appctl revalidator/purge; done
  # What both sides did, when the pings do not cross.
  geneve_state() {
    host a
    echo "--- host a: one more ping, dpxctl show before and after"
    dpxctl show >"$DIR/show-before"
    ip netns exec "$CTR_A" ping -c 1 -W 1 "$IP_B" || true
    dpxctl show >"$DIR/show-after"
    diff "$DIR/show-before" "$DIR/show-after" || true
    ip netns exec "$CTR_A" ip neigh || true
    for side in a b; do
      host $side
      echo "--- host $side: tnl-stats, dpctl/dump-flows, OpenFlow rules, TLV map"
      dpxctl tnl-stats
      ovs-appctl dpctl/dump-flows
      ovs-ofctl dump-flows br0
      ovs-ofctl dump-tlv-map br0
    done
  }
  poll 60 ping_ok || { geneve_state; fail "no ping with Geneve options across the flow-based port"; }
  ip netns exec "$CTR_A" ping -c 5 -i 0.1 -q "$IP_B" >/dev/null || fail "pings with options lost"
  host a
  ovs-appctl dpctl/dump-flows
  ovs-appctl dpctl/dump-flows | grep -q "set(tunnel(.*geneve({class=0xffff,type=0x1,len=4,0x1234abcd})" ||
    fail "no encap megaflow with the Geneve option on host a"
  host b
  ovs-appctl dpctl/dump-flows
  ovs-appctl dpctl/dump-flows |
    grep -q "tunnel(tun_id=$VNI_FLOW,.*geneve({class=0xffff,type=0x1,len=4,0x1234abcd}).*actions:" ||
    fail "no decap megaflow matching the Geneve option on host b"
  # The option is on the wire: packets from a, parsed by scapy.
  capture_pings "$VNI_FLOW"
  pcap=$DIR/opts.pcap
  ip netns exec "$WIRE" tcpdump -i ula -nn -U -c 3 -w "$pcap" "udp dst port $UDP_PORT and src host $VTEP_A" \
    2>"$DIR/tcpdump-opts.log" &
  cap=$!
  BG_PIDS+=($cap)
  poll 100 grep -q "listening on" "$DIR/tcpdump-opts.log" || fail "tcpdump did not start"
  ip netns exec "$CTR_A" ping -c 5 -i 0.05 -q "$IP_B" >/dev/null
  poll 100 sh -c "! kill -0 $cap" || fail "tcpdump did not see 3 Geneve packets from a"
  wait "$cap" || fail "tcpdump failed"
  /usr/bin/python3 - "$pcap" <<'PY' || fail "the captured Geneve packet does not carry the option"
import sys
from scapy.all import rdpcap, UDP
from scapy.contrib.geneve import GENEVE
g = GENEVE(bytes(rdpcap(sys.argv[1])[0][UDP].payload))
assert g.optionlen == 2, g.optionlen
o = g.options[0]
assert (o.classid, o.type, o.length, o.data) == (0xffff, 1, 1, bytes.fromhex("1234abcd")), o
print("captured Geneve option:", hex(o.classid), o.type, o.data.hex())
PY
  # A value b does not accept: once OVS has revalidated a's megaflows, the
  # packets stop at b.
  geneve_rules a 0x1111 0x5678
  poll 60 sh -c "! ip netns exec $CTR_A ping -c 1 -W 1 -q $IP_B >/dev/null" ||
    fail "a's pings still get through with an option value b does not accept"
  ! ip netns exec "$CTR_A" ping -c 3 -W 1 -q "$IP_B" >/dev/null ||
    fail "a packet with an option value no rule matches got through"
  host b
  ovs-appctl dpctl/dump-flows | grep "geneve(" || true
fi
