#!/usr/bin/env bash
# The benchmark against Connectware's documented manual procedure, in one command:
#
#   bash bench/run.sh [--volume-mib N] [--files N] [--db-mib N] [--large-db-mib N] [--runs N]
#                     [--scaling-mib N,N,...] [--scaling-runs N]
#
# defaults: --volume-mib 1024 --files 10000 --db-mib 256 --large-db-mib 2048 --runs 3
#           --scaling-mib 128,512 --scaling-runs 1 (about 30 minutes on 2 cores; a quick look:
#           --volume-mib 64 --files 1000 --db-mib 8 --large-db-mib 32 --runs 1 --scaling-mib 32,128).
#
# It builds a Release build of the hooks and the test tools (build/bench/), starts the real components
# through cw-harness (PostgreSQL, a private Docker engine, the Connectware emulator as containers with the
# real named volume), fills the volume (--volume-mib in --files files) and the database (rows until its
# export is about --db-mib of gzip), and then runs, alternately and --runs times,
#   A: the manual procedure exactly as documented (curl POST backup, poll, curl download, tar cvfz of the
#      volume folder, restic backup of both files) into its own local restic repository, and
#   B: connectware-backup with a fixed staging folder into another local restic repository,
# each once on an empty repository and once more after 1% of the files changed. Then each side restores
# (A: restic restore + curl -F upload + poll + rm -rf + tar xzf; B: connectware-restore --yes).
# Then the same backups (no restores) once per --scaling-mib volume size (item 7), and each hook's own
# peak memory at --db-mib and again after the database grew to --large-db-mib (item 4).
# It prints a Markdown table of medians and ratios (plugin / baseline) and writes it to
# bench/results/latest.md (raw samples in bench/results/samples.tsv). Nothing outside the fixture's temporary
# folder and bench/results/ is touched; every component is stopped at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

volume_mib=1024
files=10000
db_mib=256
large_db_mib=2048
runs=3
scaling_mib=128,512
scaling_runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --volume-mib) volume_mib="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    --db-mib) db_mib="$2"; shift 2 ;;
    --large-db-mib) large_db_mib="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --scaling-mib) scaling_mib="$2"; shift 2 ;;
    --scaling-runs) scaling_runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for number in "$volume_mib" "$files" "$db_mib" "$large_db_mib" "$runs" "$scaling_runs" ${scaling_mib//,/ }; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "bench: not a positive number: $number" >&2; exit 2; }
done
(( large_db_mib > db_mib )) || { echo "bench: --large-db-mib must be larger than --db-mib" >&2; exit 2; }

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
export CWB_BENCH_VOLUME_MIB="$volume_mib" CWB_BENCH_FILES="$files" CWB_BENCH_DB_MIB="$db_mib"
export CWB_BENCH_LARGE_DB_MIB="$large_db_mib" CWB_BENCH_RUNS="$runs" CWB_BENCH_SCALING_MIB="$scaling_mib"
export CWB_BENCH_SCALING_RUNS="$scaling_runs"
export CWB_BENCH_COMMAND="bash bench/run.sh --volume-mib $volume_mib --files $files --db-mib $db_mib --large-db-mib $large_db_mib --runs $runs --scaling-mib $scaling_mib --scaling-runs $scaling_runs"
mkdir -p "$CWB_BENCH_RESULTS"

echo "== starting PostgreSQL, a private Docker engine and the Connectware emulator containers"
exec "$build/tests/harness/cw-harness" run --with emulator-containers -- bash "$root/bench/steps.sh"
