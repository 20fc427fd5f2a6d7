#!/usr/bin/env bash
# Builds everything and runs every test in a normal build with warnings as errors, then again in an
# ASan+UBSan build: the unit and emulator tests and the integration suites labelled `sanitize`. Installs what it needs first (scripts/install-deps.sh). This is the README's test
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

# run_suite NAME TEST_FILTER [CMAKE_ARGS...]: configures and builds build/NAME, then runs its tests. TEST_FILTER
# is `all`, or `sanitize` for the sanitizer pass's selection (below).
run_suite() {
  local name="$1" filter="$2"; shift 2
  local dir="$root/build/$name"
  echo "== $name: configure and build"
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCWB_WARNINGS_AS_ERRORS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $name: test"
  # Every suite uses only private temporary folders, free loopback ports and its own Docker engine, database
  # and s3rver: they run side by side (most of an integration suite's time is waiting on its components).
  local unit_exclude=() integration_label=(-LE 'unit|emulator')
  if [ "$filter" = sanitize ]; then
    # A .deb of sanitizer-built hooks is not what ships: its tests (cpack, lintian) run in the normal pass.
    unit_exclude=(-E '^DebPackage\.')
    # The integration suites that drive each hook's main and failure paths (label `sanitize`,
    # tests/integration/CMakeLists.txt); the others repeat the same code through more variations.
    integration_label=(-L sanitize)
  fi
  (cd "$dir" && ctest --output-on-failure --timeout 600 -L 'unit|emulator' "${unit_exclude[@]}" -j "$jobs")
  (cd "$dir" && ctest --output-on-failure --timeout 900 "${integration_label[@]}" -j "$jobs")
}

echo "== format check"
bash scripts/check-format.sh

run_suite default all
if [ "${CWB_SKIP_SANITIZERS:-0}" != 1 ]; then
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_suite sanitize sanitize -DCWB_SANITIZE=ON
fi
echo "== all tests passed"
