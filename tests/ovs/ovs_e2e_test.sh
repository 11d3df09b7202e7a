#!/usr/bin/env bash
# End to end: Open vSwitch as dpxd's control plane.
#
#   ovs_e2e_test.sh OVS_VSWITCHD DPXD DPXCTL
#
# Runs Debian's ovsdb-server, our ovs-vswitchd (OVS 3.1 + the dpx dpif
# provider) and a real dpxd (--no-huge), each with its files in one temporary
# directory: OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR and OVS_SYSCONFDIR point there,
# so the system's Open vSwitch is never touched. Two "containers" (network
# namespaces with one end of a veth pair each) are system ports of a bridge
# with datapath_type=dpx. Then:
#
#   1. the datapath type is registered and the feature probes are logged;
#   2. with the default NORMAL flow, ping and iperf3 work, ovs-vswitchd learns
#      the MACs (fdb/show), dpctl/dump-flows shows the megaflows in dpxd
#      with counters that rise, and OVS's port statistics are dpxd's;
#   3. OpenFlow rules added and deleted with ovs-ofctl while traffic runs take
#      effect (revalidation), a controller action's packets come up from
#      dpxd's userspace() action as packet-ins, and idle flows expire
#      (max-idle);
#   4. ovs-vswitchd is killed with SIGKILL and restarted by OVS's documented
#      procedure (flow-restore-wait, rules restored with ovs-ofctl): a 100,000
#      packets per second UDP stream and a ping stream running throughout
#      lose nothing, and dpxd forwards while no ovs-vswitchd runs;
#   5. dpxd is restarted: ovs-vswitchd notices, re-adds its ports under the
#      same numbers and traffic flows again through new upcalls;
#   6. deleting the last dpx bridge deletes the datapath (dpif_delete, as
#      dpctl/del-dp does), the one thing that empties dpxd.
#
# Every wait is a poll with a generous bound; nothing depends on how long
# anything takes. Everything the test creates (processes, namespaces,
# interfaces, files) is removed on exit, failed or not; on failure the logs
# are printed first.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 OVS_VSWITCHD DPXD DPXCTL" >&2
  exit 2
fi
VSWITCHD=$1
DPXD=$2
DPXCTL=$3

. "$(dirname "$0")/lib.sh"
require_tools ovsdb-tool ovsdb-server ovs-vsctl ovs-ofctl ovs-appctl ip ping iperf3 ethtool

NS_A=dxoa$TAG NS_B=dxob$TAG
VETH_A=dxva$TAG VETH_B=dxvb$TAG
BR=dxbr$TAG
IP_A=10.91.0.1 IP_B=10.91.0.2

lib_init
new_instance "$DIR"
BG_PIDS=()
at_exit 'for p in "${BG_PIDS[@]}"; do kill "$p"; wait "$p"; done'
at_exit "ip link del '$BR'"

ping_ok() { ip netns exec "$NS_A" ping -c 1 -W 1 -q "$IP_B"; }
ping_fails() { ! ip netns exec "$NS_A" ping -c 1 -W 1 -q "$IP_B"; }
# Packet count of the dpxd flow that carries IPv4 from A to B.
ipv4_flow_packets() {
  ovs-appctl dpctl/dump-flows | grep "in_port($1),.*eth_type(0x0800)" | head -n 1 |
    sed -n 's/.*packets:\([0-9]*\).*/\1/p'
}
drop_flow_in_dpxd() { ovs-appctl dpctl/dump-flows | grep -q "proto=1.*actions:drop"; }
no_ipv4_flows() { ! ovs-appctl dpctl/dump-flows | grep -q 'eth_type(0x0800)'; }
# What the kernel dropped on the four ends of the two veth pairs, outside
# dpxd.
host_drops() {
  local n=0 f
  for f in /sys/class/net/{$VETH_A,$VETH_B}/statistics/{rx,tx}_dropped; do n=$((n + $(cat "$f"))); done
  for ns in "$NS_A" "$NS_B"; do
    for f in rx_dropped tx_dropped; do n=$((n + $(ifcount "$ns" "$f"))); done
  done
  echo "$n"
}
# Packets of dpxd's IPv4 flow from port A, read from dpxd itself.
ipv4_dpxd_packets() {
  dpxctl dump-flows | grep "in_port($PORT_A).*eth_type(0x0800)" |
    sed -n 's/.*packets:\([0-9]*\).*/\1/p' | head -n 1
}

# ------------------------------------------------------------------ start
step "starting ovsdb-server, dpxd and ovs-vswitchd in $DIR"
start_instance

step "1. datapath type dpx is registered"
types=$(ovs-vsctl get Open_vSwitch . datapath_types)
echo "datapath_types: $types"
[[ $types == *dpx* ]] || fail "dpx missing from datapath_types"
iface_types=$(ovs-vsctl get Open_vSwitch . iface_types)
for t in dpdk dpdkvhostuser dpdkvhostuserclient; do
  [[ $iface_types == *"$t"* ]] || fail "interface type $t missing from iface_types"
done

ovs-vsctl add-br "$BR" -- set bridge "$BR" datapath_type=dpx
poll 100 log_has "Datapath supports recirculation" || fail "no recirculation probe in the log"
log_has "Datapath supports unique flow ids" || fail "ufid probe did not succeed"
log_has "feature probe flow refused by dpxd" || fail "refused probes are not logged"
echo "probes in ovs-vswitchd.log:"
grep -E "ofproto_dpif\|INFO\|dpx@" "$DIR/ovs-vswitchd.log" | sed 's/.*|INFO|/  /' | head -n 30

# ------------------------------------------------------------ containers
step "2. two containers as system ports, NORMAL flow"
add_container "$NS_A" "$VETH_A" "$IP_A/24"
add_container "$NS_B" "$VETH_B" "$IP_B/24"
ovs-vsctl add-port "$BR" "$VETH_A" -- add-port "$BR" "$VETH_B"
ovs-vsctl show
ovs-appctl dpctl/show

poll 100 ping_ok || fail "no ping between the containers"
ip netns exec "$NS_A" ping -c 5 -i 0.2 -q "$IP_B"
PORT_A=$(ovs-appctl dpctl/show | sed -n "s/.*port \([0-9]*\): $VETH_A.*/\1/p")
PORT_B=$(ovs-appctl dpctl/show | sed -n "s/.*port \([0-9]*\): $VETH_B.*/\1/p")
[[ -n $PORT_A && -n $PORT_B ]] || fail "ports not in dpctl/show"
echo "odp ports: $VETH_A=$PORT_A $VETH_B=$PORT_B"

ovs-appctl dpctl/dump-flows
before=$(ipv4_flow_packets "$PORT_A")
[[ -n $before ]] || fail "no IPv4 megaflow from port $PORT_A in dpxd"
ip netns exec "$NS_A" ping -c 20 -i 0.05 -q "$IP_B" >/dev/null
after=$(ipv4_flow_packets "$PORT_A")
echo "megaflow counter: $before -> $after"
((after >= before + 20)) || fail "megaflow counter did not rise by 20 ($before -> $after)"

ovs-appctl fdb/show "$BR"
for side in A B; do
  ns_var=NS_$side
  mac=$(ip -n "${!ns_var}" link show eth0 | awk '/link\/ether/ {print $2}')
  ovs-appctl fdb/show "$BR" | grep -q "$mac" || fail "ovs-vswitchd did not learn $mac"
done

ip netns exec "$NS_B" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
BG_PIDS+=($!)
poll 50 sh -c "ip netns exec $NS_B ss -ltnH 'sport = :5301' | grep -q LISTEN" || fail "iperf3 server not listening"
iperf_out=$(ip netns exec "$NS_A" timeout 60 iperf3 -c "$IP_B" -p 5301 -t 2 -f g) || fail "iperf3 failed"
echo "$iperf_out" | tail -n 4
echo "$iperf_out" | grep -q receiver || fail "iperf3 did not complete"

step "dpx commands and statistics"
ovs-appctl dpx/show
ovs-appctl dpx/pmd-stats-show
ovs-appctl dpif/show
ovs-ofctl dump-flows "$BR"
n_of=$(ovs-ofctl dump-flows "$BR" | sed -n 's/.*n_packets=\([0-9]*\).*actions=NORMAL/\1/p')
((n_of > 0)) || fail "OpenFlow counters do not show dpxd's traffic"
# The interface's statistics are dpxd's port counters: OVS's figure (read
# live by dpctl/show -s) lies between two reads of dpxd's own.
r0=$(dpxd_port_count "$VETH_A" RX)
r_ovs=$(ovs-appctl dpctl/show -s | sed -n "/: $VETH_A /,/RX packets/p" | sed -n 's/.*RX packets:\([0-9]*\).*/\1/p')
r1=$(dpxd_port_count "$VETH_A" RX)
echo "$VETH_A rx packets: dpxd $r0..$r1, OVS $r_ovs"
((r0 > 0 && r0 <= r_ovs && r_ovs <= r1)) || fail "OVS's statistics of $VETH_A are not dpxd's"
ovs-appctl dpctl/show -s | grep -A 4 "$VETH_A"

# ------------------------------------------------------------ revalidation
step "3. OpenFlow changes while traffic runs"
ip netns exec "$NS_A" ping -i 0.05 -W 1 -q "$IP_B" >/dev/null 2>&1 &
BG_PIDS+=($!)
ovs-ofctl add-flow "$BR" "priority=100,icmp,actions=drop"
t0=$(date +%s%N)
poll 100 drop_flow_in_dpxd || fail "no drop megaflow in dpxd after the drop rule"
echo "drop rule in dpxd after $((($(date +%s%N) - t0) / 1000000)) ms (revalidation)"
poll 100 ping_fails || fail "drop rule did not take effect"
ovs-ofctl del-flows "$BR" "icmp"
t0=$(date +%s%N)
poll 100 ping_ok || fail "traffic did not resume after the drop rule was deleted"
echo "traffic back after $((($(date +%s%N) - t0) / 1000000)) ms"
drop_flow_in_dpxd && fail "the drop megaflow outlived its rule"
kill "${BG_PIDS[-1]}"
wait "${BG_PIDS[-1]}" 2>/dev/null || true
unset 'BG_PIDS[-1]'

# A userspace() action: packets sent to the controller come back up from
# dpxd as action upcalls with their userdata, which OVS turns into
# packet-ins.
ovs-ofctl add-flow "$BR" "priority=200,udp,tp_dst=9999,actions=controller"
ovs-ofctl monitor "$BR" 65534 >"$DIR/monitor.txt" 2>&1 &
MON=$!
BG_PIDS+=($MON)
send_udp() { ip netns exec "$NS_A" bash -c "echo dpx >/dev/udp/$IP_B/9999"; }
packet_ins() { grep -c "NXT_PACKET_IN" "$DIR/monitor.txt" || true; }
controller_flow_packets() {
  ovs-appctl dpctl/dump-flows | grep "userspace(pid=.*controller" | head -n 1 |
    sed -n 's/.*packets:\([0-9]*\).*/\1/p'
}
controller_flow_in_dpxd() { send_udp && [[ -n $(controller_flow_packets) ]]; }
poll 100 controller_flow_in_dpxd || fail "no userspace(controller) megaflow in dpxd"
n0=$(packet_ins) f0=$(controller_flow_packets)
for _ in 1 2 3; do send_udp; done
three_more() { (($(packet_ins) >= n0 + 3 && $(controller_flow_packets) >= f0 + 3)); }
poll 100 three_more || fail "action upcalls did not reach the controller ($(packet_ins) packet-ins)"
echo "controller action: $(controller_flow_packets) packets through dpxd's userspace action, $(packet_ins) packet-ins"
ovs-ofctl del-flows "$BR" "udp,tp_dst=9999"

ovs-vsctl set Open_vSwitch . other_config:max-idle=500
poll 200 no_ipv4_flows || fail "idle IPv4 flows did not expire with max-idle=500"
echo "idle flows expired"
ovs-vsctl remove Open_vSwitch . other_config max-idle

# ------------------------------------------------- ovs-vswitchd restart
step "4. ovs-vswitchd killed and restarted with flow-restore-wait"
ovs-ofctl add-flow "$BR" "priority=10,ip,actions=NORMAL"
ovs-ofctl add-flow "$BR" "priority=10,arp,actions=NORMAL"
saved=$DIR/flows.txt
ovs-ofctl dump-flows --no-stats "$BR" | grep -v "^NXST\|^OFPST" >"$saved"
poll 100 ping_ok || fail "no traffic before the restart"
# Static neighbours: the stream must not depend on an ARP exchange that
# happens to fall into the seconds without ovs-vswitchd (a miss then has no
# one to go to, exactly as with the kernel datapath).
ip -n "$NS_A" neigh replace "$IP_B" lladdr "$(ip -n "$NS_B" link show eth0 | awk '/link\/ether/ {print $2}')" dev eth0 nud permanent
ip -n "$NS_B" neigh replace "$IP_A" lladdr "$(ip -n "$NS_A" link show eth0 | awk '/link\/ether/ {print $2}')" dev eth0 nud permanent
# Kills ovs-vswitchd, checks that dpxd forwards alone (its IPv4 flow from A
# gains packets; how many depends on how busy the machine is), and restarts
# ovs-vswitchd by OVS's procedure.
kill_and_restart_vswitchd() {
  kill -9 "$(cat "$DIR/ovs-vswitchd.pid")"
  rm -f "$DIR/ovs-vswitchd.pid"
  local p0 p1
  p0=$(ipv4_dpxd_packets)
  sleep 1
  p1=$(ipv4_dpxd_packets)
  echo "no ovs-vswitchd for 1 s: dpxd's IPv4 flow from $VETH_A went from $p0 to $p1 packets"
  ((p1 > p0)) || fail "dpxd did not keep forwarding without ovs-vswitchd"
  ovs-vsctl --no-wait set Open_vSwitch . other_config:flow-restore-wait=true
  start_vswitchd
  ovs-ofctl add-flows "$BR" "$saved"
  ovs-vsctl set Open_vSwitch . other_config:flow-restore-wait=false
}

# Round 1: ping at 200 packets per second for 10 s through the kill and the
# restart, counted by ping itself.
kd0=$(host_drops) dd0=$(dpxd_drops) lost0=$(dpxd_lost)
ip netns exec "$NS_A" ping -i 0.005 -c 2000 -W 1 -q "$IP_B" >"$DIR/ping-restart.txt" 2>&1 &
STREAM=$!
BG_PIDS+=($STREAM)
ping_stream_in_dpxd() { (($(ipv4_dpxd_packets) > 0)); }
poll 100 ping_stream_in_dpxd || fail "no IPv4 flow in dpxd"
kill_and_restart_vswitchd
wait "$STREAM" || true
cat "$DIR/ping-restart.txt"
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$DIR/ping-restart.txt")
kd=$(($(host_drops) - kd0)) dd=$(($(dpxd_drops) - dd0)) lost=$(($(dpxd_lost) - lost0))
echo "ping stream: 2000 sent, $received answered; drops: $kd in the kernel, $dd in dpxd, $lost misses lost"
((dd == 0 && lost == 0)) || fail "dpxd dropped packets across the ovs-vswitchd restart"
((received == 2000)) || fail "pings were lost across the ovs-vswitchd restart"
log_has "dpxd has port $VETH_A" || fail "restarted ovs-vswitchd did not find its port in dpxd"

# Round 2: UDP at 100,000 packets per second for 10 s through another kill
# and restart. dpxd must forward every packet it receives (its port
# counters) and lose no miss; what the kernel drops before a packet reaches
# dpxd's AF_XDP socket (the host side of the veth, when dpxd's PMD is short
# of CPU) and what the receiving container cannot take is reported, not
# asserted: neither is the control plane's doing.
ip netns exec "$NS_B" iperf3 -s -1 -p 5302 >/dev/null 2>&1 &
BG_PIDS+=($!)
poll 50 sh -c "ip netns exec $NS_B ss -ltnH 'sport = :5302' | grep -q LISTEN" ||
  fail "iperf3 server not listening"
d_rx0=$(dpxd_port_count "$VETH_A" RX) d_tx0=$(dpxd_port_count "$VETH_B" TX)
lost0=$(dpxd_lost) dd0=$(dpxd_drops)
a_tx0=$(ifcount "$NS_A" tx_packets) b_rx0=$(ifcount "$NS_B" rx_packets)
k_drop0=$(cat "/sys/class/net/$VETH_A/statistics/rx_dropped")
ip netns exec "$NS_A" iperf3 -u -c "$IP_B" -p 5302 -l 64 -b 51200k -t 10 >"$DIR/udp-restart.txt" 2>&1 &
UDP=$!
BG_PIDS+=($UDP)
udp_flowing() { (($(dpxd_port_count "$VETH_A" RX) - d_rx0 > 20000)); }
poll 100 udp_flowing || fail "the UDP stream did not start"
kill_and_restart_vswitchd
wait "$UDP" || true
tail -n 4 "$DIR/udp-restart.txt" | head -n 2
dpxd_forwarded_all() { (($(dpxd_port_count "$VETH_B" TX) - d_tx0 >= $(dpxd_port_count "$VETH_A" RX) - d_rx0)); }
poll 50 dpxd_forwarded_all || true
d_rx=$(($(dpxd_port_count "$VETH_A" RX) - d_rx0)) d_tx=$(($(dpxd_port_count "$VETH_B" TX) - d_tx0))
echo "UDP stream: container A sent $(($(ifcount "$NS_A" tx_packets) - a_tx0)) packets," \
  "the kernel dropped $(($(cat "/sys/class/net/$VETH_A/statistics/rx_dropped") - k_drop0)) before dpxd," \
  "dpxd received $d_rx and sent $d_tx, container B received $(($(ifcount "$NS_B" rx_packets) - b_rx0))"
((d_rx > 10000)) || fail "the UDP stream was too short ($d_rx packets)"
# Port B may also send what the bridge floods from elsewhere, never less
# than A's stream.
((d_tx >= d_rx)) || fail "dpxd lost $((d_rx - d_tx)) packets across the ovs-vswitchd restart"
(($(dpxd_lost) == lost0)) || fail "dpxd lost misses across the ovs-vswitchd restart"
(($(dpxd_drops) == dd0)) || fail "dpxd dropped packets across the ovs-vswitchd restart"
poll 100 ping_ok || fail "no traffic after the restart"
log_has "dpxd has port $VETH_A" || fail "restarted ovs-vswitchd did not find its port in dpxd"

# ------------------------------------------------------------ dpxd restart
step "5. dpxd restarted under ovs-vswitchd"
stop_dpxd
start_dpxd
poll 300 ping_ok || fail "traffic did not resume after dpxd restarted"
ovs-appctl dpx/show
poll 100 log_has "added port $VETH_A back to dpxd as odp $PORT_A" ||
  fail "port $VETH_A not re-added under odp port $PORT_A"
ip netns exec "$NS_A" ping -c 5 -i 0.1 -q "$IP_B"
dpxctl dump-flows | grep -q "in_port($PORT_A)" ||
  fail "flows were not set up again through upcalls"

# ------------------------------------------------------------ del-dp
step "6. deleting the last dpx bridge destroys the datapath, and only that empties dpxd"
ovs-vsctl del-br "$BR"
dpxctl show
if dpxctl show | grep -q "$VETH_A"; then
  fail "deleting the last dpx bridge left its ports in dpxd"
fi
