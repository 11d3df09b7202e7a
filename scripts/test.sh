#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test with ctest.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: ASan + UBSan build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Unit tests run with --no-huge; the integration tests that need hugepages
# reserve them through this script (a no-op when already reserved).
bash scripts/hugepages.sh 512 >/dev/null || echo "test: no hugepages; hugepage tests will skip" >&2
sanitize=()
dir=build
if [[ "${1:-}" == "--sanitize" ]]; then sanitize=(--sanitize); dir=build-asan; fi
bash scripts/build.sh "${sanitize[@]}" "$dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
ctest --output-on-failure -j2 --timeout 600
