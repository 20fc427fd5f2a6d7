#!/usr/bin/env bash
# The benchmark against Connectware's documented manual procedure, in one command:
#
#   bash bench/run.sh [--volume-mib N[,N,...]] [--files N] [--db-rows N] [--runs N]
#
# defaults: --volume-mib 64 --files 2000 --db-rows 100000 --runs 3. A comma-separated --volume-mib
# (e.g. 64,128,256) repeats everything per size (item 7, scaling); --files then scales with the size.
#
# It builds a Release build of the hooks and the test tools (build/bench/), starts the real components
# through cw-harness (PostgreSQL, a private Docker engine, the Connectware emulator as containers with the
# real named volume), fills the volume and the database, and then runs, alternately and --runs times,
#   A: the manual procedure exactly as documented (curl POST backup, poll, curl download, tar cvfz of the
#      volume folder, restic backup of both files) into its own local restic repository, and
#   B: connectware-backup with a fixed staging folder into another local restic repository,
# each once on an empty repository and once more after 1% of the files changed. Then each side restores
# (A: restic restore + curl -F upload + poll + rm -rf + tar xzf; B: connectware-restore --yes).
# It prints a Markdown table of medians and ratios (plugin / baseline) and writes it to
# bench/results/latest.md (raw samples in bench/results/samples.tsv). Nothing outside the fixture's temporary
# folder and bench/results/ is touched; every component is stopped at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

volume_mib=64
files=2000
db_rows=100000
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --volume-mib) volume_mib="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    --db-rows) db_rows="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for number in "$files" "$db_rows" "$runs" ${volume_mib//,/ }; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "bench: not a positive number: $number" >&2; exit 2; }
done

bash scripts/install-deps.sh

build="$root/build/bench"
echo "== building the hooks and the emulator (Release, $build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target connectware-backup connectware-pre-backup connectware-post-backup \
  connectware-restore connectware-emulator cw-harness

# Local repositories only; restic must not look elsewhere for credentials.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-bench-not-a-key}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-bench-not-a-secret}"
export CWB_BENCH_BIN="$build/hooks" CWB_BENCH_RESULTS="$root/bench/results"
export CWB_BENCH_VOLUME_MIB="$volume_mib" CWB_BENCH_FILES="$files" CWB_BENCH_DB_ROWS="$db_rows" CWB_BENCH_RUNS="$runs"
export CWB_BENCH_COMMAND="bash bench/run.sh --volume-mib $volume_mib --files $files --db-rows $db_rows --runs $runs"
mkdir -p "$CWB_BENCH_RESULTS"

echo "== starting PostgreSQL, a private Docker engine and the Connectware emulator containers"
exec "$build/tests/harness/cw-harness" run --with emulator-containers -- bash "$root/bench/steps.sh"
