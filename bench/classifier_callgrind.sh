#!/usr/bin/env bash
# Instructions per key of the megaflow classifier's burst lookup, per lookup
# variant (cpu_isa.h), counted by callgrind on classifier_bench: repeatable
# on a busy machine, where the benchmark's own timings mean nothing.
#
#   bench/classifier_callgrind.sh BUILD_DIR [FLOWS...]
#
# For each flow count (default 1000), 1 / 5 / 20 subtables and narrow (2-3
# words) or wide (8-9 words) masks, prints the
# instructions per key of Classifier::lookup_batch (inclusive) for sse42 and
# avx2. valgrind emulates no AVX-512, so that variant cannot be counted here
# (tests/classifier_isa_test.cc checks it natively).
set -euo pipefail

build=$(realpath "${1:?usage: $0 BUILD_DIR [FLOWS...]}")
shift
flows=("${@:-1000}")
dir=$(mktemp -d /tmp/dpx-clscg.XXXXXX)
trap 'rm -rf "$dir"' EXIT

per_key() {  # callgrind output -> inclusive Ir of lookup_batch / (calls * 32)
  /usr/bin/python3 - "$1" <<'EOF'
import re, sys
names, calls, inclusive = {}, 0, 0
target = None
pending = 0
for line in open(sys.argv[1]):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        is_target = "Classifier::lookup_batch" in names.get(m.group(1), "")
        if line.startswith("cfn="):
            target = is_target
        continue
    m = re.match(r"calls=(\d+)", line)
    if m:
        pending = int(m.group(1)) if target else 0
        continue
    if pending:
        # The line after calls= is "<position> <inclusive Ir>".
        parts = line.split()
        calls += pending
        inclusive += int(parts[-1])
        pending = 0
print(f"{inclusive / (calls * 32):.1f}" if calls else "n/a")
EOF
}

printf "%-8s %-10s %-6s %-8s %s\n" flows subtables wide isa "Ir/key"
for f in "${flows[@]}"; do
  for wide in 0 1; do
    for st in 1 5 20; do
      for isa in 0 1; do
        name=$([[ $isa == 0 ]] && echo sse42 || echo avx2)
        valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" --compress-pos=no \
          "$build/bench/classifier_bench" --benchmark_min_time=0.01 \
          --benchmark_filter="ClassifierLookup/flows:$f/subtables:$st/isa:$isa/wide:$wide\$" \
          >/dev/null 2>&1
        printf "%-8s %-10s %-6s %-8s %s\n" "$f" "$st" "$wide" "$name" "$(per_key "$dir/cg.out")"
      done
    done
  done
done
