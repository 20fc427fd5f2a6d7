#!/usr/bin/env bash
# Builds everything and runs every test, twice: a normal build with warnings as errors, and an
# ASan+UBSan build. Installs what it needs first (scripts/install-deps.sh). This is the README's test
# command and what CI runs (.ci/run).
#
#   bash scripts/test.sh                 # everything
#   CWB_SKIP_SANITIZERS=1 bash scripts/test.sh   # only the normal build (quicker, for local iteration)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh

jobs="$(nproc)"
# Tests must never reach off this machine for credentials (restic would ask a cloud metadata address).
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-cwb-test-not-a-key}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-cwb-test-not-a-secret}"

run_suite() {
  local name="$1"; shift
  local dir="$root/build/$name"
  echo "== $name: configure and build"
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCWB_WARNINGS_AS_ERRORS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $name: test"
  # Unit tests and the emulator's own tests use only private temporary folders and free ports: run them
  # side by side. The harness and integration suites start Docker engines and databases on fixed resources: one at a
  # time.
  (cd "$dir" && ctest --output-on-failure --timeout 600 -L 'unit|emulator' -j "$jobs")
  (cd "$dir" && ctest --output-on-failure --timeout 900 -LE 'unit|emulator')
}

echo "== format check"
bash scripts/check-format.sh

run_suite default
if [ "${CWB_SKIP_SANITIZERS:-0}" != 1 ]; then
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_suite sanitize -DCWB_SANITIZE=ON
fi
echo "== all tests passed"
