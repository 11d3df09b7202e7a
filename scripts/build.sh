#!/usr/bin/env bash
# Configures and builds dpx. Usage: scripts/build.sh [--sanitize] [BUILD_DIR]
# Default build dir: build (or build-asan with --sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=OFF
if [[ "${1:-}" == "--sanitize" ]]; then sanitize=ON; shift; fi
dir=${1:-$([[ $sanitize == ON ]] && echo build-asan || echo build)}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f "$dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$dir" "${gen[@]}" -DDPX_SANITIZE=$sanitize \
    -DCMAKE_BUILD_TYPE=$([[ $sanitize == ON ]] && echo Debug || echo RelWithDebInfo) >/dev/null
fi
cmake --build "$dir" -j"$(nproc)"
