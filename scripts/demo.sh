#!/usr/bin/env bash
# The main job, end to end, on local defaults: installs what is missing, builds the hooks and the test
# tools, starts a throwaway Connectware (our emulator on a real PostgreSQL, as containers on a private
# Docker engine with the real named volume), backs it up into a local restic repository, breaks it, and
# restores it. Nothing outside a temporary folder is touched; everything is stopped at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh

build="$root/build/demo"
echo "== building the hooks and the emulator (build/demo)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(connectware-pre-backup connectware-post-backup connectware-backup connectware-emulator cw-harness)
[ -f hooks/connectware-restore/main.cpp ] && targets+=(connectware-restore)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

# The demo talks only to loopback; restic must not look elsewhere for credentials.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-demo-not-a-key}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-demo-not-a-secret}"
export CWB_DEMO_BIN="$build/hooks"

echo "== starting PostgreSQL, a private Docker engine and the Connectware emulator containers"
exec "$build/tests/harness/cw-harness" run --with emulator-containers -- bash "$root/scripts/demo-steps.sh"
