#!/usr/bin/env bash
# Instructions of dpxd's control thread per new flow set up, counted by
# callgrind: the work bench/flowsetup_probe.py times per flow in a storm
# (upcall drained and published, FLOW_PUT and EXECUTE read, decoded and
# run, replies sent), but as a count that does not depend on what else the
# machine runs, so two builds can be compared on a busy host.
#
#   bench/flowsetup_callgrind.sh BUILD_DIR [FLOWS]
#
# dpxd (--no-huge, one PMD) runs under callgrind with a pcap source of
# FLOWS packets, one per new flow, and a null sink; dpx-flowsetup-driver
# answers every upcall as our ovs-vswitchd's handlers do (a FLOW_PUT of an
# exact megaflow and the packet's EXECUTE in one write; see its header).
# Collected: only inside the control thread's request and upcall work
# (ControlServer::handle_readable, flush, send_pushed; Datapath::tick, which
# drains upcalls and reaps executes), counters zeroed once the driver is
# subscribed, and counted per thread: the control thread's alone is
# reported. The PMD busy-polls (--pmd-sleep-max-us 0, as in the benchmark
# harness), so flow jobs (docs/architecture.md) run on it, as in a storm;
# what they do is not counted. The idle control loop (1 ms ticks) is
# measured first, for 3 s, and its rate times the storm's duration
# subtracted; it is printed and small. Not counted: syscalls' kernel time,
# the revalidator's flow dumps (no revalidator here), and the PMD. Needs
# valgrind. KEEP=1 keeps the output.
#
# JOBS=1 counts the other half instead: the flow jobs PMD 0 runs
# (Pmd::run_job: the puts, executes and upcall drains), summed over every
# thread (a job the control thread runs itself is counted too); there is
# no idle share to subtract. ANNOTATE=1 prints the inclusive profile.
set -euo pipefail

build=$(realpath "${1:?usage: $0 BUILD_DIR [FLOWS]}")
flows=${2:-2000}
dir=$(mktemp -d /tmp/dpx-fscg.XXXXXX)
prefix="dpxfscg$$"
pid=""
drv=""
cleanup() {
  for p in $drv $pid; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  rm -rf "/var/run/dpdk/$prefix"
  if [[ -n "${KEEP:-}" ]]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

"$build/datapath/dpx-pcapgen" --out "$dir/in.pcap" --flows "$flows" --count "$flows" >/dev/null
ctl() { "$build/datapath/dpxctl" --socket "$dir/dpxd.sock" "$@"; }

if [[ -n "${JOBS:-}" ]]; then
  collect=(--toggle-collect='dpx::Pmd::run_job*')
else
  collect=(--toggle-collect='dpx::ControlServer::handle_readable*'
    --toggle-collect='dpx::ControlServer::flush*'
    --toggle-collect='dpx::ControlServer::send_pushed*'
    --toggle-collect='dpx::Datapath::tick*')
fi
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "${collect[@]}" \
  --separate-threads=yes \
  "$build/datapath/dpxd" --pmd-cores 1 --control-core 0 --no-huge --pmd-sleep-max-us 0 \
  --control-socket "$dir/dpxd.sock" --file-prefix "$prefix" --socket-mem 600 \
  --mbufs 32768 --log-level warning -- --no-pci >"$dir/dpxd.log" 2>&1 &
pid=$!
# shellcheck source=bench/callgrind_dpxd.sh
source "$(dirname "${BASH_SOURCE[0]}")/callgrind_dpxd.sh"
wait_dpxd_and_add_sink
"$build/bench/dpx-flowsetup-driver" "$dir/dpxd.sock" "$flows" 2 >"$dir/driver.log" 2>&1 &
drv=$!
for _ in $(seq 300); do
  grep -q ready "$dir/driver.log" && break
  sleep 0.1
done
grep -q ready "$dir/driver.log" || { cat "$dir/driver.log"; exit 1; }

# The idle loop's rate: 3 s with nothing to do.
callgrind_control -z "$pid" >/dev/null
sleep 3
callgrind_control -d "$pid" >/dev/null
callgrind_control -z "$pid" >/dev/null
t0=$(date +%s.%N)
ctl add-port src dpdk "net_pcap0,rx_pcap=$dir/in.pcap" --port-no 1 >/dev/null
wait "$drv" || { cat "$dir/driver.log"; exit 1; }
drv=""
t1=$(date +%s.%N)
callgrind_control -d "$pid" >/dev/null
stats=$(ctl dp-stats 2>/dev/null || ctl show)
kill -TERM "$pid"
wait "$pid" || true
pid=""

total_of() { grep -m1 '^summary:' "$1" | awk '{print $2}'; }
if [[ -n "${JOBS:-}" ]]; then
  jobs_ir=$(cat "$dir"/cg.out.2-* | awk '/^summary:/ {s += $2} END {print s}')
  echo "flows=$flows pmd_job_ir_per_flow=$((jobs_ir / flows))"
  if [[ -n "${ANNOTATE:-}" ]]; then
    # The thread that ran them: PMD 0's.
    top=$(for f in "$dir"/cg.out.2-*; do echo "$(total_of "$f" || echo 0) $f"; done |
      sort -n | tail -1 | cut -d' ' -f2)
    callgrind_annotate --inclusive=yes "$top" 2>/dev/null | head -70
  fi
  exit 0
fi
# Thread 1 is the main thread: the control thread (lcore 0).
idle=$(total_of "$dir/cg.out.1-01")
storm=$(total_of "$dir/cg.out.2-01")
python3 - "$flows" "$idle" "$storm" "$t0" "$t1" <<'PY'
import sys
flows, idle, storm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
secs = float(sys.argv[5]) - float(sys.argv[4])
idle_part = idle / 3.0 * secs
print(f"flows={flows} storm_s={secs:.1f} (under callgrind) idle_ir_per_s={idle / 3.0:.0f}")
print(f"control_ir_per_flow={(storm - idle_part) / flows:.0f} "
      f"(raw {storm / flows:.0f}, idle share {idle_part / flows:.0f})")
PY
if [[ -n "${ANNOTATE:-}" ]]; then
  callgrind_annotate --inclusive=yes "$dir/cg.out.2-01" | head -60
fi
