#!/usr/bin/env bash
# Side-by-side benchmarks of dpxd against OVS-DPDK, with DPDK testpmd as the
# ceiling: installs what it needs, reserves hugepages, builds, runs every
# scenario and the micro-benchmarks, and writes docs/benchmarks.md,
# docs/benchmarks.json and docs/img/bench-*.png. Needs root (hugepages,
# DPDK) and a free CPU 1, where every switch's PMD runs in turn.
#
# Usage: bench/run.sh [--quick] [--build-dir DIR] [--no-install] [HARNESS-OPTIONS...]
#   --quick        short windows and no 1M-flow rows: under 5 minutes (the
#                  full run: under 30; `--plan` prints the harness's estimate
#                  of either, with the samples it would take, and exits)
#   --build-dir    dpx build tree (default: build; configured if missing)
#   --no-install   skip scripts/install-deps.sh
# Other options go to the harness (python3 -m harness --help from bench/),
# e.g. --scenarios 1,6 --switches ovs,dpx --rounds 5 --note "text quoted at the top".
# Scenarios: 1-3 p2p, 4 VXLAN, 5 v2v, 6 flow set-up, 7 containers (iperf3),
# 8 latency (dpx-latgen); 9 (memory) comes with 1. Switches: ovs (OVS-DPDK),
# dpx (dpxd programmed by our ovs-vswitchd), dpxd (dpxd programmed by
# dpxctl), testpmd.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build
quick=()
install=1
pass=()
while (($#)); do
  case $1 in
    --quick) quick=(--quick) ;;
    --build-dir) build=$(realpath -m "$2"); shift ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1") ;;
  esac
  shift
done
if ((EUID != 0)); then
  echo "bench/run.sh: needs root (hugepages and DPDK ports)" >&2
  exit 1
fi

((install)) && bash "$repo/scripts/install-deps.sh"

# The pcap source keeps every packet of its file in an mbuf, so the pools
# grow with the flow count: 1M microflows (full run) need about 3 GB for
# dpxd or testpmd, OVS-DPDK's pool is about 1 GB. One switch runs at a time,
# but for scenario 7's two-host rows: two OVS-DPDK (about 760 MB of
# hugepages each) or two dpxd (about 600 MB each) at once.
pages=$(( ${#quick[@]} ? 2048 : 3072 ))
bash "$repo/scripts/hugepages.sh" "$pages"

if [[ ! -f $build/CMakeCache.txt ]]; then
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$repo" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target dpxd dpxctl dpx-pcapgen dpx-latgen \
  key_extract_bench classifier_bench actions_bench tunnel_bench dpx-ovs-vswitchd

# Another busy process on the PMD CPU would halve whatever runs there.
echo "bench/run.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"

cd "$repo/bench"
PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 -m harness --build-dir "$build" \
  --repo "$repo" "${quick[@]}" "${pass[@]}"
