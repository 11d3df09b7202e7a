#!/usr/bin/env bash
# The dpx demo: builds dpx, starts a real dpxd and
#  1. forwards 64-byte packets from a pcap source (net_pcap, infinite_rx) to a
#     null sink through one megaflow, for 1 and for 1,000 microflows, and
#     prints the rate and the PMD's cycles per packet;
#  2. attaches two "containers" (network namespaces with veth pairs) with
#     AF_XDP (af_packet if AF_XDP is unavailable), installs flows between
#     them, and runs ping and an iperf3 TCP test across dpxd;
#  3. does the same with tap ports, dpxd's default attachment for ordinary
#     containers: dpxd creates the tap in each namespace with TSO, so TCP
#     crosses the switch in large segments; prints iperf3's rate and the
#     average frame size dpxd forwarded.
# Usage (as root): scripts/demo.sh [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=5
[[ "${1:-}" == "--seconds" ]] && secs=$2

bash scripts/install-deps.sh
bash scripts/hugepages.sh 1024 || echo "demo: no hugepages, dpxd will use --no-huge (slower)"
bash scripts/build.sh >/dev/null
bin=$PWD/build/datapath

work=$(mktemp -d /tmp/dpxdemo.XXXXXX)
tag=dpxdemo$$
sock=$work/dpxd.sock
ctl() { "$bin/dpxctl" --socket "$sock" "$@"; }
dpxd_pid=
cleanup() {
  set +e
  [[ -n "$dpxd_pid" ]] && kill "$dpxd_pid" 2>/dev/null && wait "$dpxd_pid" 2>/dev/null
  for ns in "${tag}a" "${tag}b" "${tag}c" "${tag}d"; do
    # An iperf3 -1 server whose client never came (or whose test ended
    # oddly) would outlive its namespace.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  ip link del "${tag:0:8}A" 2>/dev/null
  ip link del "${tag:0:8}B" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_dpxd() {
  "$bin/dpxd" --control-socket "$sock" --file-prefix "$tag" "$@" >"$work/dpxd.log" 2>&1 &
  dpxd_pid=$!
  for _ in $(seq 300); do
    ctl show >/dev/null 2>&1 && return 0
    kill -0 "$dpxd_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: dpxd did not start:" >&2
  cat "$work/dpxd.log" >&2
  exit 1
}

# TX packets of a port, from `dpxctl show`.
tx_packets() {
  ctl show | awk -v p="$1" '$1 == "port" && $3 == p { f = 1; next }
                             $1 == "port" { f = 0 }
                             f && $1 == "TX" { sub("packets:", "", $2); print $2; exit }'
}
cycles_per_packet() {
  ctl pmd-stats-show | awk '/avg processing cycles per packet/ { print $6; exit }'
}

echo "== 1. pcap -> dpxd -> null, 64-byte packets, one megaflow, one PMD on CPU 1 =="
start_dpxd --pmd-cores 1 --pmd-sleep-max-us 0
ctl add-port sink dpdk net_null_sink,no-rx=1 --port-no 2 >/dev/null
ctl add-flow 'in_port(1),eth(),eth_type(0x0800),ipv4()' 2
for flows in 1 1000; do
  "$bin/dpx-pcapgen" --out "$work/t$flows.pcap" --flows "$flows" --size 64
  ctl add-port src dpdk "net_pcap_src$flows,rx_pcap=$work/t$flows.pcap,infinite_rx=1" \
    --port-no 1 >/dev/null
  sleep 1  # warm-up
  ctl pmd-stats-clear
  a=$(tx_packets sink)
  sleep "$secs"
  b=$(tx_packets sink)
  cpp=$(cycles_per_packet)
  ctl del-port src >/dev/null
  awk -v a="$a" -v b="$b" -v s="$secs" -v f="$flows" -v c="$cpp" \
    'BEGIN { printf "  %5d microflow(s): %6.2f Mpps  (%s cycles/packet in the PMD)\n", f, (b - a) / s / 1e6, c }'
done
ctl dump-flows
kill "$dpxd_pid"
wait "$dpxd_pid" || true
dpxd_pid=

# ping, then iperf3 TCP from namespace $1 to the server in namespace $2 at $3.
ping_and_iperf() {
  ip netns exec "$1" ping -c 3 -i 0.2 "$3" | sed 's/^/  /' | tail -3
  command -v iperf3 >/dev/null || return 0
  ip netns exec "$2" iperf3 -s -1 -D >/dev/null
  sleep 0.5
  ip netns exec "$1" iperf3 -c "$3" -t "$secs" -f g |
    awk '/sender|receiver/ { for (i = 1; i < NF; i++) if ($i ~ /bits\/sec/) r = $(i-1) " " $i
                             printf "  iperf3 TCP %s: %s\n", $NF, r }'
}

echo "== 2. two containers (network namespaces) attached to dpxd =="
start_dpxd --pmd-cores 1
for s in a b; do
  ns=$tag$s
  host=${tag:0:8}${s^^}
  ip netns add "$ns"
  ip link add "$host" type veth peer name eth0 netns "$ns"
  ip -n "$ns" addr add "10.99.0.$([[ $s == a ]] && echo 1 || echo 2)/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  # Real checksums on the container side: AF_XDP carries no offload metadata.
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
  ip link set "$host" up
done
kind=afxdp
if ! ctl add-port "${tag:0:8}A" afxdp --port-no 1 >/dev/null 2>"$work/err"; then
  echo "  AF_XDP unavailable ($(cat "$work/err")); using af_packet"
  kind=afpacket
  ctl add-port "${tag:0:8}A" afpacket --port-no 1 >/dev/null
fi
ctl add-port "${tag:0:8}B" $kind --port-no 2 >/dev/null
ctl add-flow 'in_port(1),eth()' 2
ctl add-flow 'in_port(2),eth()' 1
echo "  ports attached with $kind"
ping_and_iperf "${tag}a" "${tag}b" 10.99.0.2
ctl dump-flows
ctl show

echo "== 3. two containers on TSO-capable tap ports =="
ctl del-port "${tag:0:8}A" >/dev/null
ctl del-port "${tag:0:8}B" >/dev/null
for s in c d; do
  ns=$tag$s
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # dpxd creates the tap inside the namespace as eth0 and brings it up.
  ctl add-port "${tag:0:8}${s^^}" tap --port-no "$([[ $s == c ]] && echo 3 || echo 4)" \
    --option "netns=$ns" --option ifname=eth0 >/dev/null
  ip -n "$ns" addr add "10.99.1.$([[ $s == c ]] && echo 1 || echo 2)/24" dev eth0
done
ctl add-flow 'in_port(3),eth()' 4
ctl add-flow 'in_port(4),eth()' 3
ping_and_iperf "${tag}c" "${tag}d" 10.99.1.2
# The sender's port: bytes per frame far above the MTU means TSO segments
# crossed dpxd whole.
ctl show | awk -v p="${tag:0:8}C" '
  $0 ~ ": " p " " { on = 1; next }
  on && /RX packets:/ { split($2, a, ":"); pk = a[2] }
  on && /RX bytes:/ { split($2, b, ":"); by = b[2]; on = 0 }
  END { if (pk > 0) printf "  average frame received from the sender: %d bytes (%d frames)\n", by / pk, pk }'
