#!/usr/bin/env bash
# End to end: dpx-cni run exactly as a container runtime runs a CNI plugin.
#
#   cni_test.sh DPX_CNI OVS_VSWITCHD DPXD DPXCTL
#
# Debian's ovsdb-server, our ovs-vswitchd and a real dpxd run in one private
# directory (tests/ovs/lib.sh); the "containers" are network namespaces.
# Every plugin call gets only the CNI_* variables and a PATH in its
# environment and the network configuration on stdin, with Debian's
# host-local as the delegated IPAM plugin (found through CNI_PATH, its
# leases in the private directory). Then:
#
#   1. VERSION answers the versions dpx-cni speaks;
#   2. afxdp mode: ADD two containers; the result, the OVS port with its
#      external_ids, dpxd's port and the container side (addresses, routes,
#      tx checksum off) are checked and the containers ping each other
#      through dpxd; CHECK passes, and fails once an address or the OVS port
#      is removed; DEL twice, and nothing is left;
#   3. tap mode: the same with dpxd's tap ports made in the containers'
#      namespaces, which also survive an ovs-vswitchd restart (adopted as
#      OVS "tap" ports, not re-created); CHECK fails on a link set down;
#   4. failed ADDs (a bad IPAM range, an exhausted one, a missing
#      namespace, an interface name already taken, a vhost-user socket path
#      dpxd refuses) leave nothing behind, and DEL afterwards succeeds;
#      vhostuser mode: the dpxd vhost-user client port, the device-info
#      file, CHECK, DEL twice;
#   5. bad configurations and environments give the specification's error
#      codes on stdout and change nothing.
#
# Every wait is a bounded poll. Everything the test creates is removed on
# exit, failed or not.
set -euo pipefail

if (($# != 4)); then
  echo "usage: $0 DPX_CNI OVS_VSWITCHD DPXD DPXCTL" >&2
  exit 2
fi
CNI=$1 VSWITCHD=$2 DPXD=$3 DPXCTL=$4

# shellcheck source=../ovs/lib.sh
source "$(dirname "$0")/../ovs/lib.sh"

require_tools ovsdb-tool ovsdb-server ovs-vsctl ovs-appctl ip ping ethtool python3
HOST_LOCAL=/usr/lib/cni/host-local
[[ -x $HOST_LOCAL ]] || fail "$HOST_LOCAL not found: install containernetworking-plugins"

BR=dxcb$TAG
NET=dpxnet$TAG
lib_init
new_instance "$DIR/host"
# The runtime's CNI bin directory: dpx-cni next to the standard plugins.
mkdir "$DIR/bin"
ln -s "$(readlink -f "$CNI")" "$DIR/bin/dpx-cni"
CNI_PATH_DIRS=$DIR/bin:/usr/lib/cni

# A network namespace as a runtime makes one; its path is CNI_NETNS.
new_netns() {
  ip netns add "$1"
  at_exit "ip netns del '$1'"
  ip -n "$1" link set lo up
}

# The port name dpx-cni derives from a container id and an interface name
# (FNV-1a 64 of "id/ifname", 11 hex digits): how the test finds what a
# failed ADD may have left.
port_name() {
  python3 -c '
import sys
h = 0xcbf29ce484222325
for c in (sys.argv[1] + "/" + sys.argv[2]).encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print("dpx%011x" % (h & 0xfffffffffff))' "$1" "$2"
}

# netconf MODE [SUBNET] [EXTRA_JSON]: a network configuration.
netconf() {
  local mode=$1 subnet=${2:-10.93.0.0/24} extra=${3:-}
  cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "type": "dpx-cni",
  "bridge": "$BR",
  "mode": "$mode",
  "mtu": 1400,
  "ovsdbSocket": "unix:$INST_DIR/db.sock",
  "socketDir": "$DIR/vhost",
  "deviceInfoDir": "$DIR/devinfo",
  $extra
  "ipam": {
    "type": "host-local",
    "dataDir": "$DIR/ipam",
    "ranges": [[{"subnet": "$subnet"}]],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.200.0.0/16", "gw": "${subnet%.0/24}.254"}]
  }
}
EOF
}

# grep -q for the end of a pipeline: it reads all its input, so the writer
# never dies of SIGPIPE, which pipefail would count as a failure.
has() { grep "$@" >/dev/null; }

# A column of an OVS Interface row, without OVSDB's quotes.
ovs_get() { ovs-vsctl get interface "$1" "$2" | sed 's/^"\(.*\)"$/\1/'; }

# cni COMMAND ID NETNS IFNAME CONFIG: runs the plugin as a runtime does.
# Sets OUT (stdout) and RC (exit status); stderr goes to the test log.
cni() {
  local cmd=$1 id=$2 netns=$3 ifname=$4 config=$5
  set +e
  OUT=$(printf '%s' "$config" | env -i CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" \
    CNI_IFNAME="$ifname" CNI_PATH="$CNI_PATH_DIRS" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns$TAG;K8S_POD_NAME=pod-$id" \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "$DIR/bin/dpx-cni")
  RC=$?
  set -e
}

# json EXPR: evaluates a Python expression over j = json.loads($OUT).
json() { python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$OUT" "$1"; }

# expect_error CODE PATTERN: the last call failed with the specification's
# error object on stdout, this code and a message matching PATTERN.
expect_error() {
  ((RC != 0)) || fail "expected error $1, the plugin succeeded: $OUT"
  [[ $(json 'j["cniVersion"]') == 1.0.0 ]] || fail "error without cniVersion 1.0.0: $OUT"
  [[ $(json 'j["code"]') == "$1" ]] || fail "expected error code $1: $OUT"
  [[ $(json 'j["msg"]') =~ $2 ]] || fail "error message does not match '$2': $OUT"
  echo "  error $1 as expected: $(json 'j["msg"]')"
}
expect_ok() { ((RC == 0)) || fail "$1 failed: $OUT"; }

# The addresses host-local holds for container ID (a lease is a file named
# after the address: the container id, CRLF, the interface name).
leases_of() {
  local f
  for f in "$DIR/ipam/$NET"/[0-9]*; do
    [[ -f $f && $(head -n 1 "$f" | tr -d '\r') == "$1" ]] && basename "$f"
  done
  return 0
}

# Nothing of container ID's interface IFNAME is left: no OVS port (by name
# or by external_ids), no dpxd port, no host interface, no address lease,
# no vhost-user directory or device-info file.
assert_clean() {
  local id=$1 ifname=$2 port
  port=$(port_name "$id" "$ifname")
  [[ -z $(ovs-vsctl --if-exists get interface "$port" name) ]] || fail "OVS port $port left behind"
  [[ -z $(ovs-vsctl --bare --columns=name find interface "external_ids:container_id=$id") ]] ||
    fail "an OVS interface of container $id left behind"
  dpxctl show | has "$port" && fail "dpxd port $port left behind"
  ip link show "$port" >/dev/null 2>&1 && fail "host interface $port left behind"
  [[ -z $(leases_of "$id") ]] || fail "IPAM lease of $id not released"
  [[ -e $DIR/vhost/${id:0:12} ]] && fail "vhost-user directory of $id left behind"
  [[ -e $DIR/devinfo/$NET-$id-$ifname-device.json ]] && fail "device-info file of $id left behind"
  return 0
}
# No IPAM lease at all: every failed or deleted attachment gave its back.
assert_no_leases() {
  local n
  n=$(find "$DIR/ipam" -type f -name '10.*' 2>/dev/null | wc -l)
  ((n == 0)) || fail "$n IPAM leases left: $(ls "$DIR/ipam/$NET")"
}

# ------------------------------------------------------------------ start
step "starting ovsdb-server, dpxd and ovs-vswitchd in $DIR"
start_instance
ovs-vsctl add-br "$BR" -- set bridge "$BR" datapath_type=dpx
at_exit "ip link del '$BR'"

# ------------------------------------------------------------------ VERSION
step "1. VERSION"
cni VERSION "" "" "" '{"cniVersion": "1.0.0"}'
expect_ok VERSION
echo "  $OUT"
[[ $(json 'j["cniVersion"]') == 1.0.0 && $(json '"1.0.0" in j["supportedVersions"]') == True ]] ||
  fail "VERSION output wrong: $OUT"

# Attach containers A and B in MODE, ping between them, CHECK, DEL twice.
# Sets RESULT_A / RESULT_B.
attach_pair_and_ping() {
  local mode=$1 subnet=$2 conf side id ns port ifidx
  conf=$(netconf "$mode" "$subnet")
  for side in A B; do
    id=ctr${side}${mode}$TAG ns=cni${side}$mode$TAG
    new_netns "$ns"
    port=$(port_name "$id" eth0)
    # Deleting the namespace deletes the veth pair; this is for a host end
    # that lost its peer.
    at_exit "ip link del '$port'"
    cni ADD "$id" "/run/netns/$ns" eth0 "$conf"
    expect_ok "ADD $mode $side"
    printf -v "RESULT_$side" '%s' "$OUT"
    # The result, as the specification shapes it.
    [[ $(json 'j["cniVersion"]') == 1.0.0 ]] || fail "result without cniVersion: $OUT"
    ifidx=$(json '[i for i, x in enumerate(j["interfaces"]) if x.get("sandbox") == "/run/netns/'"$ns"'" and x["name"] == "eth0"][0]')
    [[ $(json "j['ips'][0]['interface']") == "$ifidx" ]] || fail "ips[0] not on the container interface: $OUT"
    [[ $(json "j['ips'][0]['address']") == ${subnet%.0/24}.*/24 ]] || fail "address not from the IPAM range: $OUT"
    [[ $(json "j['interfaces'][$ifidx]['mac']") == $(ip -n "$ns" -o link show eth0 | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p') ]] ||
      fail "result's MAC is not eth0's: $OUT"
    [[ $(leases_of "$id")/24 == "$(json "j['ips'][0]['address']")" ]] || fail "no host-local lease for $id"
    # The OVS port, as OVN and other controllers find it.
    [[ $(ovs_get "$port" external_ids:container_id) == "$id" ]] ||
      fail "OVS port $port has no external_ids:container_id=$id"
    [[ $(ovs_get "$port" external_ids:iface-id) == "ns${TAG}_pod-$id" ]] ||
      fail "OVS port $port has the wrong iface-id"
    ovs-vsctl list-ports "$BR" | grep -qx "$port" || fail "port $port not on bridge $BR"
    dpxctl show | has ": $port (" || fail "dpxd has no port $port"
    # The container side.
    addr=$(json "j['ips'][0]['address']")
    ip -n "$ns" -o addr show dev eth0 | has "inet $addr" || fail "$addr not on eth0 in $ns"
    ip -n "$ns" route show default | has "via ${subnet%.0/24}.1 dev eth0" || fail "no default route in $ns"
    ip -n "$ns" route show 10.200.0.0/16 | has "via ${subnet%.0/24}.254" || fail "no 10.200.0.0/16 route in $ns"
    [[ $(ip -n "$ns" -o link show eth0) == *"mtu 1400"* ]] || fail "mtu 1400 not applied in $ns"
    if [[ $mode == afxdp ]]; then
      ip netns exec "$ns" ethtool -k eth0 | has "^tx-checksumming: off" || fail "tx checksum offload still on in $ns"
    fi
  done
  ns_a=cniA$mode$TAG ns_b=cniB$mode$TAG
  OUT=$RESULT_B
  ip_b=$(json "j['ips'][0]['address'].split('/')[0]")
  poll 100 ip netns exec "$ns_a" ping -c 1 -W 1 "$ip_b" || fail "no ping from A to B through dpxd ($mode)"
  ip netns exec "$ns_a" ping -c 5 -i 0.2 -q "$ip_b"
  port_a=$(port_name "ctrA$mode$TAG" eth0)
  rx=$(dpxctl show | sed -n "/: $port_a (/,/RX packets/p" | sed -n 's/.*RX packets:\([0-9]*\).*/\1/p')
  ((rx >= 5)) || fail "dpxd counted $rx packets from $port_a, expected at least 5"
  echo "  $mode: A pings B ($ip_b) through dpxd; dpxd received $rx packets on $port_a"
}

# CHECK with prevResult = RESULT for container SIDE of MODE.
check_with_prev() {
  local mode=$1 side=$2 result=$3 conf
  conf=$(python3 -c 'import json, sys; c = json.loads(sys.argv[1]); c["prevResult"] = json.loads(sys.argv[2]); print(json.dumps(c))' \
    "$(netconf "$mode" "$4")" "$result")
  cni CHECK "ctr$side$mode$TAG" "/run/netns/cni$side$mode$TAG" eth0 "$conf"
}

del_pair_twice() {
  local mode=$1 subnet=$2 side id
  for side in A B; do
    id=ctr$side$mode$TAG
    for round in 1 2; do
      cni DEL "$id" "/run/netns/cni$side$mode$TAG" eth0 "$(netconf "$mode" "$subnet")"
      expect_ok "DEL $mode $side (round $round)"
      [[ -z $OUT ]] || fail "DEL printed something: $OUT"
    done
    assert_clean "$id" eth0
    ip -n "cni$side$mode$TAG" link show eth0 >/dev/null 2>&1 && fail "eth0 left in the container ($mode)"
  done
  assert_no_leases
  echo "  $mode: DEL twice each, nothing left"
}

# ------------------------------------------------------------------ afxdp
step "2. afxdp mode: two containers, ping through dpxd, CHECK, DEL"
SUB_X=10.93.1.0/24
attach_pair_and_ping afxdp $SUB_X
check_with_prev afxdp A "$RESULT_A" $SUB_X
expect_ok "CHECK afxdp A"
[[ -z $OUT ]] || fail "CHECK printed something: $OUT"
check_with_prev afxdp B "$RESULT_B" $SUB_X
expect_ok "CHECK afxdp B"
echo "  CHECK passes on both"
OUT=$RESULT_A
ip -n "cniAafxdp$TAG" addr del "$(json "j['ips'][0]['address']")" dev eth0
check_with_prev afxdp A "$RESULT_A" $SUB_X
expect_error 103 "address .* is missing from eth0"
ovs-vsctl del-port "$(port_name "ctrBafxdp$TAG" eth0)"
check_with_prev afxdp B "$RESULT_B" $SUB_X
expect_error 103 "OVS has no port"
cni CHECK "ctrBafxdp$TAG" "/run/netns/cniBafxdp$TAG" eth0 "$(netconf afxdp $SUB_X)"
expect_error 7 "prevResult"
del_pair_twice afxdp $SUB_X

# ------------------------------------------------------------------ tap
step "3. tap mode: dpxd's tap ports in the containers"
SUB_T=10.93.2.0/24
attach_pair_and_ping tap $SUB_T
PORT_TA=$(port_name "ctrAtap$TAG" eth0)
[[ $(ovs_get "$PORT_TA" type) == tap && $(ovs_get "$PORT_TA" options:netns) == "/run/netns/cniAtap$TAG" &&
  $(ovs_get "$PORT_TA" options:ifname) == eth0 ]] || fail "OVS port $PORT_TA is not a tap with netns and ifname"
dpxctl show | has ": $PORT_TA (tap" || fail "dpxd's port $PORT_TA is not a tap port"
ip -n "cniAtap$TAG" -d link show eth0 | has "tun type tap" || fail "eth0 in the container is not dpxd's tap device"
check_with_prev tap A "$RESULT_A" $SUB_T
expect_ok "CHECK tap A"
# ovs-vswitchd killed and restarted: it adopts dpxd's tap ports as "tap"
# (dpx-tap) ports, so OVS keeps them instead of re-creating the devices,
# which would lose the containers' addresses.
kill -9 "$(cat "$INST_DIR/ovs-vswitchd.pid")"
rm -f "$INST_DIR/ovs-vswitchd.pid"
start_vswitchd
poll 100 log_has "dpxd has port $PORT_TA" || fail "the restarted ovs-vswitchd did not adopt $PORT_TA"
OUT=$RESULT_B
poll 100 ip netns exec "cniAtap$TAG" ping -c 1 -W 1 "$(json "j['ips'][0]['address'].split('/')[0]")" ||
  fail "no ping between the tap containers after ovs-vswitchd restarted"
check_with_prev tap A "$RESULT_A" $SUB_T
expect_ok "CHECK tap A after the ovs-vswitchd restart"
echo "  tap: ports kept across an ovs-vswitchd restart"
ip -n "cniBtap$TAG" link set eth0 down
check_with_prev tap B "$RESULT_B" $SUB_T
expect_error 103 "interface eth0 is down"
del_pair_twice tap $SUB_T

# ------------------------------------------------------------ failed ADDs
step "4. failed ADDs leave nothing behind"
new_netns "cnif$TAG"
# A range host-local refuses (rangeStart outside the subnet): IPAM's error.
bad_ipam=$(netconf afxdp 10.93.3.0/24 | python3 -c 'import json, sys; c = json.load(sys.stdin); c["ipam"]["ranges"][0][0]["rangeStart"] = "10.99.0.5"; print(json.dumps(c))')
cni ADD "badipam$TAG" "/run/netns/cnif$TAG" eth0 "$bad_ipam"
((RC != 0)) || fail "ADD with a bad IPAM range succeeded"
echo "  bad IPAM range: error $(json 'j["code"]'): $(json 'j["msg"]')"
assert_clean "badipam$TAG" eth0
# DEL with the same invalid configuration: host-local refuses it again and
# that error is DEL's, but every other step has run.
cni DEL "badipam$TAG" "/run/netns/cnif$TAG" eth0 "$bad_ipam"
expect_error 999 "RangeStart 10.99.0.5 not in network"
assert_clean "badipam$TAG" eth0

# A range with one address, taken: the second ADD fails in IPAM; its DEL
# succeeds and leaves the first container's lease alone.
one=$(netconf afxdp 10.93.5.0/24 | python3 -c 'import json, sys; c = json.load(sys.stdin); c["ipam"]["ranges"][0][0].update(rangeStart="10.93.5.10", rangeEnd="10.93.5.10"); print(json.dumps(c))')
new_netns "cnif1$TAG"
cni ADD "full1$TAG" "/run/netns/cnif1$TAG" eth0 "$one"
expect_ok "ADD into a one-address range"
cni ADD "full2$TAG" "/run/netns/cnif$TAG" eth0 "$one"
expect_error 999 "no IP addresses available"
assert_clean "full2$TAG" eth0
cni DEL "full2$TAG" "/run/netns/cnif$TAG" eth0 "$one"
expect_ok "DEL after the failed ADD (range exhausted)"
[[ $(leases_of "full1$TAG") == 10.93.5.10 ]] || fail "the DEL of a failed ADD released another container's lease"
cni DEL "full1$TAG" "/run/netns/cnif1$TAG" eth0 "$one"
expect_ok "DEL full1"
assert_clean "full1$TAG" eth0

cni ADD "nons$TAG" "/run/netns/nosuchns$TAG" eth0 "$(netconf afxdp)"
expect_error 3 "cannot open network namespace"
assert_clean "nons$TAG" eth0
cni DEL "nons$TAG" "/run/netns/nosuchns$TAG" eth0 "$(netconf afxdp)"
expect_ok "DEL with a missing namespace"
cni DEL "nons$TAG" "" eth0 "$(netconf afxdp)"
expect_ok "DEL without CNI_NETNS"

# The interface name is taken in the container: refused before IPAM, and
# the other interface survives.
ip -n "cnif$TAG" link add eth0 type veth peer name other0
cni ADD "taken$TAG" "/run/netns/cnif$TAG" eth0 "$(netconf afxdp)"
expect_error 101 "eth0 already exists"
ip -n "cnif$TAG" link show eth0 >/dev/null || fail "the container's own eth0 was deleted"
assert_clean "taken$TAG" eth0
assert_no_leases

# ------------------------------------------------------------ vhostuser
step "4b. vhostuser mode: a dpxd vhost-user client port and the device-info file"
new_netns "cniv$TAG"
VCONF=$(netconf vhostuser 10.93.4.0/24)
VPORT=$(port_name "vhost$TAG" net1)
VSOCK=$DIR/vhost/vhost$TAG/net1.sock
cni ADD "vhost$TAG" "/run/netns/cniv$TAG" net1 "$VCONF"
expect_ok "ADD vhostuser"
VRESULT=$OUT
[[ $(json 'j["interfaces"][0]["name"]') == "$VPORT" && $(json '"interface" in j["ips"][0]') == False &&
  $(json 'j["ips"][0]["address"]') == 10.93.4.*/24 ]] || fail "vhostuser result wrong: $OUT"
ip -n "cniv$TAG" link show net1 >/dev/null 2>&1 && fail "vhostuser mode created net1 in the container"
OUT=$(cat "$DIR/devinfo/$NET-vhost$TAG-net1-device.json") || fail "no device-info file"
[[ $(json 'j["type"]') == vhost-user && $(json 'j["version"]') == 1.1.0 && $(json 'j["vhost-user"]["mode"]') == server &&
  $(json 'j["vhost-user"]["path"]') == "$VSOCK" ]] || fail "device-info wrong: $OUT"
[[ -d $DIR/vhost/vhost$TAG ]] || fail "no socket directory"
[[ $(ovs_get "$VPORT" type) == dpdkvhostuserclient && $(ovs_get "$VPORT" options:vhost-server-path) == "$VSOCK" &&
  $(ovs_get "$VPORT" external_ids:container_id) == "vhost$TAG" ]] || fail "OVS port $VPORT wrong"
dpxctl show | has ": $VPORT (vhostuserclient: devargs=$VSOCK" || fail "dpxd has no vhostuserclient port $VPORT on $VSOCK"
OUT=$VRESULT
cni CHECK "vhost$TAG" "/run/netns/cniv$TAG" net1 "$(python3 -c 'import json, sys; c = json.loads(sys.argv[1]); c["prevResult"] = json.loads(sys.argv[2]); print(json.dumps(c))' "$VCONF" "$VRESULT")"
expect_ok "CHECK vhostuser"
mv "$DIR/devinfo/$NET-vhost$TAG-net1-device.json" "$DIR/devinfo.saved"
cni CHECK "vhost$TAG" "/run/netns/cniv$TAG" net1 "$(python3 -c 'import json, sys; c = json.loads(sys.argv[1]); c["prevResult"] = json.loads(sys.argv[2]); print(json.dumps(c))' "$VCONF" "$VRESULT")"
expect_error 103 "device.json does not exist"
mv "$DIR/devinfo.saved" "$DIR/devinfo/$NET-vhost$TAG-net1-device.json"
for round in 1 2; do
  cni DEL "vhost$TAG" "/run/netns/cniv$TAG" net1 "$VCONF"
  expect_ok "DEL vhostuser (round $round)"
done
assert_clean "vhost$TAG" net1
assert_no_leases
echo "  vhostuser: port, device-info, CHECK, DEL twice, nothing left"

# A socket path dpxd refuses (longer than a Unix socket address): the ADD
# fails after IPAM and leaves nothing, no socket directory, no device-info.
LONGDIR=$DIR/vhost/$(printf 'd%.0s' {1..100})
cni ADD "vlong$TAG" "/run/netns/cniv$TAG" net1 "$(netconf vhostuser 10.93.4.0/24 | sed "s|\"socketDir\": \"$DIR/vhost\"|\"socketDir\": \"$LONGDIR\"|")"
expect_error 100 "OVS could not add port"
[[ -e $LONGDIR/vlong$TAG ]] && fail "the failed vhostuser ADD left its socket directory"
[[ -e $DIR/devinfo/$NET-vlong$TAG-net1-device.json ]] && fail "the failed vhostuser ADD left a device-info file"
assert_clean "vlong$TAG" net1
assert_no_leases

# ------------------------------------------------------------ bad input
step "5. bad configuration and environment"
new_netns "cnib$TAG"
NS_B=/run/netns/cnib$TAG
ports_before=$(ovs-vsctl list-ports "$BR" | wc -l)
cni ADD bad1 "$NS_B" eth0 'this is not json'
expect_error 6 "cannot decode"
cni ADD bad2 "$NS_B" eth0 "$(netconf afxdp | sed 's/"cniVersion": "1.0.0"/"cniVersion": "0.3.1"/')"
expect_error 1 "incompatible CNI version 0.3.1"
cni ADD bad3 "$NS_B" eth0 "$(netconf bogus)"
expect_error 7 "unknown mode 'bogus'"
cni ADD bad4 "$NS_B" eth0 "$(netconf afxdp | sed "s/\"bridge\": \"$BR\"/\"bridge\": \"nobr$TAG\"/")"
expect_error 100 "bridge 'nobr$TAG' does not exist"
cni ADD bad5 "$NS_B" eth0 "$(netconf afxdp 10.93.0.0/24 '"ipMasq": true,')"
expect_error 2 "ipMasq"
cni ADD bad6 "$NS_B" eth0 "$(netconf afxdp | sed 's/"mtu": 1400/"mtu": "big"/')"
expect_error 7 "'mtu' must be an integer"
cni ADD bad7 "$NS_B" eth0 "$(netconf afxdp | sed 's/"type": "host-local"/"type": "no-such-ipam"/')"
expect_error 102 "IPAM plugin 'no-such-ipam' not found"
cni ADD bad8 "$NS_B" this-name-is-too-long "$(netconf afxdp)"
expect_error 4 "invalid CNI_IFNAME"
cni ADD 'bad/9' "$NS_B" eth0 "$(netconf afxdp)"
expect_error 4 "invalid CNI_CONTAINERID"
cni ADD bad10 "" eth0 "$(netconf afxdp)"
expect_error 4 "CNI_NETNS is not set"
cni ADD bad11 "$INST_DIR/conf.db" eth0 "$(netconf afxdp)"
expect_error 4 "not a network namespace"
cni FROB bad12 "$NS_B" eth0 "$(netconf afxdp)"
expect_error 4 "unknown CNI_COMMAND 'FROB'"
# OVS's database does not answer: "try again later", and DEL still does
# every other step (here: host-local releases nothing, as there is nothing).
cni DEL bad13 "$NS_B" eth0 "$(netconf afxdp 10.93.0.0/24 '"ovsTimeout": 1,' | sed "s|unix:$INST_DIR/db.sock|unix:$DIR/nothing.sock|")"
expect_error 11 "ovs-vsctl failed"
set +e
OUT=$(printf '%s' "$(netconf afxdp)" | env -i PATH=/usr/bin:/bin "$DIR/bin/dpx-cni")
RC=$?
set -e
expect_error 4 "CNI_COMMAND is not set"
for i in 1 2 3 4 5 6 7 8 10 11 12; do assert_clean "bad$i" eth0; done
ip -n "cnib$TAG" link show eth0 >/dev/null 2>&1 && fail "a bad ADD created eth0"
(($(ovs-vsctl list-ports "$BR" | wc -l) == ports_before)) || fail "a bad ADD left an OVS port"
assert_no_leases
