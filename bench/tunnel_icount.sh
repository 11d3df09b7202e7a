#!/usr/bin/env bash
# Instructions per packet of scenario 4's datapath work (bench/harness/
# vxlan.py), counted by callgrind in a bounded dpxd run: repeatable whatever
# else runs on the machine, where timings are not.
#
# Usage: bench/tunnel_icount.sh BUILD_DIR [CASE...]
#   CASE: decap       VXLAN in on the underlay (pcap), inner frames to a null sink
#         decap-full  the same with a megaflow that also matches the inner
#                     TTL, which no simple-match pass covers: decap runs,
#                     then key extraction, EMC, the executor's output
#         encap       plain frames in, set(tunnel) + output to the VXLAN port,
#                     the megaflow OVS puts (ipv4(tos=0/0x3): the full path)
#         encap-simple the same with the megaflow bench/harness/vxlan.py puts
#                     through dpxctl (ipv4(frag=no))
#         encap-full  the same with a megaflow that also matches the IP
#                     TTL, which no simple-match pass covers: key
#                     extraction, EMC, the executor's tunnel output
#   (default: all five)
# Environment: PACKETS (frames in the file, default 32000); KEEP=DIR keeps
# each case's callgrind output there as CASE.callgrind.
#
# dpxd reads a pcap file once (1,000 inner microflows, 64 bytes inner, about
# PACKETS frames) and sends to net_null. Counted: the inclusive instructions
# of Pmd::process (the simple-match pass or key extraction, EMC, classifier,
# actions, encapsulation and the tx bursts that fill up inside it); for
# decap, of Pmd::rx_underlay instead, which holds the tunnel receive stage
# (tunnel_underlay_rx_runs) and the datapath pass of the decapsulated
# packets (the simple-match pass per run, or Pmd::process); divided by the
# packets the sink sent. Not counted: the pcap driver's receive and the idle
# polling around the bursts. Every classifier hit goes into the exact-match
# cache (--emc-insert-inv-prob 1), so that after the first 1,000 packets the
# lookups are EMC hits, as in the harness's long runs. (Before the decap
# runs, the decap case counted tunnel_underlay_rx and Pmd::process, the
# same code as rx_underlay less its call overhead.)
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR [CASE...]}")
shift
cases=("$@")
[[ ${#cases[@]} -gt 0 ]] || cases=(decap decap-full encap encap-simple encap-full)
here=$(cd "$(dirname "$0")" && pwd)
packets=${PACKETS:-32000}
dir=$(mktemp -d /tmp/dpx-icount.XXXXXX)
dpxd_pid=
cleanup() {
  [[ -n $dpxd_pid ]] && kill "$dpxd_pid" 2>/dev/null && wait "$dpxd_pid" 2>/dev/null
  rm -rf "$dir" "/var/run/dpdk/icount$$"
}
trap cleanup EXIT

# The harness's files: pcapgen's 1,024 frames of 1,000 microflows, and their
# VXLAN wrapping (one outer UDP source port per frame), each repeated to
# PACKETS frames, so that the flow keys the datapath sees are the harness's.
"$build/datapath/dpx-pcapgen" --out "$dir/inner.pcap" --flows 1000 --size 60 >/dev/null
(cd "$here" && /usr/bin/python3 -c "
import sys
from harness import vxlan
inner, d, packets = sys.argv[1], sys.argv[2], int(sys.argv[3])
vxlan.wrap_pcap(inner, d + '/vxlan1.pcap')
for src, dst in ((inner, d + '/plain.pcap'), (d + '/vxlan1.pcap', d + '/vxlan.pcap')):
    data = open(src, 'rb').read()
    n = 0
    off = 24
    while off < len(data):
        off += 16 + int.from_bytes(data[off + 8:off + 12], 'little')
        n += 1
    open(dst, 'wb').write(data[:24] + data[24:] * max(1, packets // n))
" "$dir/inner.pcap" "$dir" "$packets")

ctl() { "$build/datapath/dpxctl" --socket "$dir/dpxd.sock" "$@"; }

run_case() {
  local c=$1 pcap flow actions
  local tun='set(tunnel(tun_id=0x2a,dst=198.18.0.2,ttl=64,tp_dst=4789,flags(df|key))),3'
  case $c in
    decap)
      pcap=$dir/vxlan.pcap
      flow='recirc_id(0),in_port(3),tunnel(tun_id=0x2a,src=198.18.0.2,dst=198.18.0.1,ttl=0/0),eth(),eth_type(0x0800),ipv4(frag=no)'
      actions=2 ;;
    decap-full)
      pcap=$dir/vxlan.pcap
      flow='recirc_id(0),in_port(3),tunnel(tun_id=0x2a,src=198.18.0.2,dst=198.18.0.1,ttl=0/0),eth(),eth_type(0x0800),ipv4(ttl=64,frag=no)'
      actions=2 ;;
    encap)
      pcap=$dir/plain.pcap
      flow='recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(tos=0/0x3,frag=no)'
      actions=$tun ;;
    encap-simple)
      pcap=$dir/plain.pcap
      flow='recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)'
      actions=$tun ;;
    encap-full)
      pcap=$dir/plain.pcap
      flow='recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(tos=0/0x3,ttl=64,frag=no)'
      actions=$tun ;;
    *) echo "unknown case $c" >&2; return 1 ;;
  esac
  rm -f "$dir/dpxd.sock" "$dir"/callgrind.out*
  # Costs start from zero when the VTEP address is added: for decap, the
  # packets received before it (plain, missed) are not counted.
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" --dump-instr=no \
    --zero-before='dpx::TunnelControl::tnl_ip_add(*' \
    "$build/datapath/dpxd" --no-huge --socket-mem 512 --mbufs 65536 --pmd-cores 0 \
    --control-core 0 --pmd-sleep-max-us 0 --emc-insert-inv-prob 1 --control-socket "$dir/dpxd.sock" \
    --file-prefix "icount$$" --log-level warning -- --no-pci >"$dir/dpxd.log" 2>&1 &
  dpxd_pid=$!
  for _ in $(seq 600); do ctl show >/dev/null 2>&1 && break; sleep 0.5; done
  ctl add-port sink dpdk net_null0,no-rx=1 --port-no 2 >/dev/null
  ctl add-port vxlan_sys_4789 vxlan --port-no 3 >/dev/null
  ctl add-flow "$flow" "$actions" >/dev/null
  if [[ $c == decap* ]]; then
    ctl add-port src dpdk "net_pcap0,rx_pcap=$pcap" --port-no 1 >/dev/null
    ctl tnl-ip add 198.18.0.1/24 src >/dev/null
  else
    ctl tnl-ip add 198.18.0.1/24 sink >/dev/null
    ctl neigh set sink 198.18.0.2 02:00:c6:12:00:02 >/dev/null
    ctl add-port src dpdk "net_pcap0,rx_pcap=$pcap" --port-no 1 >/dev/null
  fi
  # Wait until the sink's count stops moving; then stop dpxd.
  local sent=0 prev=-1
  for _ in $(seq 600); do
    sent=$(ctl show | awk '/: sink / {f=1} f && /TX packets:/ {sub(/.*TX packets:/, ""); print $1; exit}')
    sent=${sent:-0}
    [[ $sent == "$prev" && $sent -gt 0 ]] && break
    prev=$sent
    sleep 2
  done
  kill -TERM "$dpxd_pid"
  wait "$dpxd_pid" || true
  dpxd_pid=
  [[ -z ${KEEP:-} ]] || cp "$dir/callgrind.out" "$KEEP/$c.callgrind"
  local ir
  # One function per case, so that nothing is counted twice (rx_underlay
  # calls Pmd::process for what the simple pass leaves).
  local fn='^dpx::Pmd::process\('
  [[ $c == decap* ]] && fn='^dpx::Pmd::rx_underlay\('
  ir=$(/usr/bin/python3 "$here/callgrind_incl.py" "$dir/callgrind.out" "$fn" |
    awk '/ total$/ {gsub(",", "", $1); print $1}')
  printf '%-13s %8d packets sent  %6.1f instructions/packet\n' "$c" "$sent" \
    "$(echo "$ir / $sent" | bc -l)"
}

for c in "${cases[@]}"; do run_case "$c"; done
