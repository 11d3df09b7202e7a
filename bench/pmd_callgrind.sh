#!/usr/bin/env bash
# Instructions per packet of a dpxd PMD, counted by callgrind: a bounded
# run of scenario 1 (pcap infinite_rx source -> one megaflow -> null sink)
# under `valgrind --tool=callgrind`, collecting only inside the PMD thread's
# loop (Pmd::run). Instruction counts do not depend on what else the machine
# runs, so two builds can be compared on a busy host where timings mean
# nothing. (Cache misses are not counted: the 100k-flow case costs more
# cycles than instructions suggest.)
#
#   bench/pmd_callgrind.sh BUILD_DIR [FLOWS [SECONDS [CPU_ISA]]]
#
# Prints the PMD's instructions per packet in all, and split into the pcap
# driver's rx, the null driver's tx, and dpxd's own work (the rest).
# Needs valgrind; no hugepages (--no-huge). valgrind has no AVX-512, so the
# ISA dpxd picks under it is AVX2 at most. KEEP=1 keeps the callgrind output;
# MATCH=full measures the full path, MATCH=exact FLOWS exact megaflows (see
# below). CACHESIM=1 adds callgrind's
# cache simulation (--cache-sim=yes: a first-level and a last-level cache
# sized like the host's, no hardware prefetcher) and prints a second line:
# simulated data misses per packet at each level, split the same way.
set -euo pipefail

build=$(realpath "${1:?usage: $0 BUILD_DIR [FLOWS [SECONDS [CPU_ISA]]]}")
flows=${2:-1}
seconds=${3:-20}
isa=${4:-}
dir=$(mktemp -d /tmp/dpx-callgrind.XXXXXX)
prefix="dpxcg$$"
pid=""
drv=""
cleanup() {
  if [[ -n "$drv" ]]; then kill -TERM "$drv" 2>/dev/null || true; fi
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "/var/run/dpdk/$prefix"
  if [[ -n "${KEEP:-}" ]]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

"$build/datapath/dpx-pcapgen" --out "$dir/in.pcap" --flows "$flows" >/dev/null
packets=$(( flows < 1024 ? 1024 : flows ))
mbufs=$(( packets + 32768 ))
mem=$(( 512 + mbufs * 2560 / 1048576 ))
ctl() { "$build/datapath/dpxctl" --socket "$dir/dpxd.sock" "$@"; }

valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" ${CACHESIM:+--cache-sim=yes} \
  --toggle-collect='dpx::Pmd::run*' --separate-threads=no \
  "$build/datapath/dpxd" --pmd-cores 1 --control-core 0 --no-huge \
  --control-socket "$dir/dpxd.sock" --file-prefix "$prefix" --socket-mem "$mem" \
  --mbufs "$mbufs" --log-level warning ${isa:+--cpu-isa "$isa"} -- --no-pci \
  >"$dir/dpxd.log" 2>&1 &
pid=$!
# shellcheck source=bench/callgrind_dpxd.sh
source "$(dirname "${BASH_SOURCE[0]}")/callgrind_dpxd.sh"
wait_dpxd_and_add_sink
# MATCH=full: a megaflow on the IPv4 destination too, so dpxd leaves simple
# mode and packets take key extraction, the EMC and the classifier.
# MATCH=exact: one exact megaflow per microflow (FLOWS of them, one subtable;
# past the EMC's size most packets are classifier lookups, as in scenario 2's
# exact-match rules), set up by dpx-flowsetup-driver answering the upcalls of
# one pass of the file at a time (the upcalls past the queue's bound are
# lost, so passes repeat until every flow is in); the PMD, idle between
# packets, naps, so the control thread gets to run under callgrind (which
# runs one thread at a time). Counters are zeroed once every flow is in.
if [[ "${MATCH:-simple}" == exact ]]; then
  "$build/bench/dpx-flowsetup-driver" "$dir/dpxd.sock" "$flows" 2 >"$dir/driver.log" 2>&1 &
  drv=$!
  for _ in $(seq 300); do grep -q ready "$dir/driver.log" && break; sleep 0.1; done
  while kill -0 "$drv" 2>/dev/null; do
    ctl add-port src dpdk "net_pcap0,rx_pcap=$dir/in.pcap" --port-no 1 >/dev/null
    sleep 15
    ctl del-port src >/dev/null
  done
  wait "$drv" || { cat "$dir/driver.log"; exit 1; }
  drv=""
  callgrind_control -z "$pid" >/dev/null
  ctl pmd-stats-clear >/dev/null
elif [[ "${MATCH:-simple}" == full ]]; then
  ctl add-flow "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1,frag=no)" 2 >/dev/null
else
  ctl add-flow "in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)" 2 >/dev/null
fi
ctl add-port src dpdk "net_pcap0,rx_pcap=$dir/in.pcap,infinite_rx=1" --port-no 1 >/dev/null
sleep "$seconds"
# Without its source the PMD goes idle (and sleeps): the counters are final.
ctl del-port src >/dev/null
stats=$(ctl pmd-stats-show)
echo "$stats" | grep -i "isa" || true
kill -TERM "$pid"
wait "$pid" || true
pid=""

rx=$(echo "$stats" | awk -F: '/packets received/ {gsub(/ /, "", $2); print $2; exit}')
callgrind_annotate --inclusive=yes "$dir/cg.out" >"$dir/annotate.txt"
ir_of() {  # inclusive Ir of the first function matching $1
  awk -v pat="$1" '$0 ~ pat { gsub(/,/, "", $1); print $1; exit }' "$dir/annotate.txt"
}
total=$(ir_of 'dpx::Pmd::run\(\)')
rx_ir=$(ir_of 'librte_net_pcap')  # the drivers' functions have no symbols
tx_ir=$(ir_of 'librte_net_null')
echo "flows=$flows packets=$rx"
awk -v t="$total" -v r="${rx_ir:-0}" -v x="${tx_ir:-0}" -v n="$rx" 'BEGIN {
  printf "Ir/packet: all %.1f  pcap rx %.1f  null tx %.1f  dpxd %.1f\n",
         t / n, r / n, x / n, (t - r - x) / n }'
if [[ -n "${CACHESIM:-}" ]]; then
  # The annotate columns are named on its "Events shown:" line; the drivers'
  # rows are their objects' unnamed functions, as for Ir above. Counts carry
  # a "(NN.NN%)" except zeros: the percentages go before fields are counted.
  awk -v n="$rx" '
    { gsub(/ \( *[0-9.]+%\)/, "") }
    /^Events shown:/ { for (i = 3; i <= NF; ++i) col[$i] = i - 2; next }
    !done_t && /dpx::Pmd::run\(\)/ { gsub(/,/, ""); t1 = $col["D1mr"] + $col["D1mw"]; tl = $col["DLmr"] + $col["DLmw"]; done_t = 1 }
    !done_r && /librte_net_pcap/ { gsub(/,/, ""); r1 = $col["D1mr"] + $col["D1mw"]; rl = $col["DLmr"] + $col["DLmw"]; done_r = 1 }
    !done_x && /librte_net_null/ { gsub(/,/, ""); x1 = $col["D1mr"] + $col["D1mw"]; xl = $col["DLmr"] + $col["DLmw"]; done_x = 1 }
    END {
      printf "D1 misses/packet: all %.3f  pcap rx %.3f  null tx %.3f  dpxd %.3f\n", t1 / n, r1 / n, x1 / n, (t1 - r1 - x1) / n
      printf "LL misses/packet: all %.3f  pcap rx %.3f  null tx %.3f  dpxd %.3f\n", tl / n, rl / n, xl / n, (tl - rl - xl) / n
    }' "$dir/annotate.txt"
fi
