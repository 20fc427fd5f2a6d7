#!/usr/bin/env bash
# The benchmark's steps, run by bench/run.sh inside `cw-harness run --with emulator-containers` (which exports
# CONNECTWARE_URL, CONNECTWARE_CA_FILE, CONNECTWARE_USERNAME, CONNECTWARE_PASSWORD_FILE, DOCKER_HOST,
# CW_PG_CONNINFO, CW_VOLUME_MOUNTPOINT, CW_HARNESS_DIR). Samples go to $CWB_BENCH_RESULTS/samples.tsv, the table
# of medians to $CWB_BENCH_RESULTS/latest.md.
set -euo pipefail

bin="$CWB_BENCH_BIN"
results="$CWB_BENCH_RESULTS"
work="$CW_HARNESS_DIR/bench"
mkdir -p "$work"
umask 077
psql_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql"
volume_data="$CW_VOLUME_MOUNTPOINT"                 # .../volumes/connectware_service-manager/_data
volumes_dir="$(dirname "$(dirname "$volume_data")")" # the documented `cd /var/lib/docker/volumes`
volume_name="$(basename "$(dirname "$volume_data")")"
samples="$results/samples.tsv"
printf 'size_mib\trun\tmetric\tvalue\n' > "$samples"

# The manual procedure's `curl -u admin` prompts for the password; here it comes from a private curl config
# file so that it is never in argv.
curl_config="$work/curl.conf"
printf 'user = "%s:%s"\ncacert = "%s"\nsilent\nshow-error\nfail\n' "$CONNECTWARE_USERNAME" \
  "$(cat "$CONNECTWARE_PASSWORD_FILE")" "$CONNECTWARE_CA_FILE" > "$curl_config"
api() { curl -K "$curl_config" "$@"; }

export RESTIC_PASSWORD_FILE="$work/restic-password"
head -c 24 /dev/urandom | base64 > "$RESTIC_PASSWORD_FILE"
export CONNECTWARE_POLL_INTERVAL=1 # the baseline below polls every second too

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
record() { printf '%s\t%s\t%s\t%s\n' "$size" "$iteration" "$1" "$2" >> "$samples"; }
# peak RSS in KiB of a command: peak_rss FILE CMD...; FILE receives the number
peak_rss() { local out="$1"; shift; /usr/bin/time -f %M -o "$out" "$@"; }
# peak RSS in KiB of the process itself, without its children (e.g. restic): own_peak_rss FILE CMD...
# samples /proc/PID/status VmHWM (a high-water mark) every 50 ms, so it misses at most the last 50 ms.
own_peak_rss() {
  local out="$1"; shift
  "$@" & local pid=$! hwm=0 key value rest code=0
  while [ -r "/proc/$pid/status" ] && kill -0 "$pid" 2>/dev/null; do
    while read -r key value rest; do [ "$key" = VmHWM: ] && hwm="$value"; done < "/proc/$pid/status" 2>/dev/null || true
    sleep 0.05
  done
  wait "$pid" || code=$?
  echo "$hwm" > "$out"
  return "$code"
}
repo_bytes() { RESTIC_REPOSITORY="$1" restic stats --mode raw-data --json 2>/dev/null | jq '.total_size // 0'; }
wait_until_idle() { # polls the maintenance status every second, as the manual procedure's "status" call
  while :; do
    local status; status="$(api -H 'Content-Type: application/json' -X GET "$CONNECTWARE_URL/api/maintenance/db")"
    [ "$(jq -r '.running' <<< "$status")" = false ] && { jq -c . <<< "$status" > "$work/last-status.json"; return; }
    sleep 1
  done
}

# ---- data ---------------------------------------------------------------------------------------------------
generate_volume() { # generate_volume MIB FILES: ~10% small YAML files, ~60% random binaries, ~30% text
  local mib="$1" count="$2" dir="$volume_data/bench"
  rm -rf "$dir"; mkdir -p "$dir/services" "$dir/blobs" "$dir/logs"
  local yaml_bytes=$(( mib * 1048576 / 10 / count ))
  awk -v dir="$dir/services" -v n="$count" -v bytes="$yaml_bytes" 'BEGIN {
    srand(42)
    for (i = 1; i <= n; i++) {
      f = sprintf("%s/service-%05d.yml", dir, i)
      printf "description: bench service %d\nmetadata:\n  name: service-%d\n  version: 1.0.%d\nresources:\n", i, i, i % 97 > f
      w = 80
      for (j = 0; w < bytes; j++) {
        line = sprintf("  endpoint_%d:\n    type: Cybus::Endpoint\n    properties:\n      topic: factory/line-%d/sensor-%d\n      interval: %d\n", j, i % 13, j, int(rand() * 5000))
        printf "%s", line > f; w += length(line)
      }
      close(f)
    }
  }'
  local blobs=$(( mib >= 48 ? 6 : 2 )) blob_mib=$(( mib * 6 / 10 ))
  local i
  for (( i = 1; i <= blobs; i++ )); do
    head -c $(( blob_mib * 1048576 / blobs )) /dev/urandom > "$dir/blobs/firmware-$i.bin"
  done
  local text_mib=$(( mib * 3 / 10 )) texts=4
  for (( i = 1; i <= texts; i++ )); do
    awk -v lines=$(( text_mib * 1048576 / texts / 72 )) -v seed="$i" 'BEGIN {
      srand(seed)
      for (k = 0; k < lines; k++)
        printf "2026-11-25T%02d:%02d:%02dZ INFO line-%d sensor-%03d value=%8.3f state=ok\n", k / 3600 % 24, k / 60 % 60, k % 60, k % 7, k % 211, rand() * 1000
    }' > "$dir/logs/history-$i.log"
  done
}

change_one_percent() { # 1% of the files (every 100th of the sorted list): text appended, binaries patched in place
  local n=0
  while IFS= read -r file; do
    case "$file" in
      *.bin) head -c 65536 /dev/urandom | dd of="$file" bs=65536 seek=3 conv=notrunc status=none ;;
      *) printf '# changed at %s\n' "$(date +%s.%N)" >> "$file" ;;
    esac
    n=$(( n + 1 ))
  done < <(find "$volume_data/bench" -type f | sort | awk -v off="$((RANDOM % 100))" 'NR % 100 == off % 100')
  echo "$n"
}

# Rows of 96 random-looking bytes in base64 (~130 bytes of text, ~100 bytes after gzip) in a table that the
# emulator's pg_dump exports, so that the archive grows by about KIB. grow_database KIB
grow_database() {
  local rows=$(( $1 * 1024 / 100 ))
  "$psql_bin" -X -q -v ON_ERROR_STOP=1 "$CW_PG_CONNINFO" <<SQL
CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL);
INSERT INTO bench_events (payload)
  SELECT encode(sha256(('a' || g)::bytea) || sha256(('b' || g)::bytea) || sha256(('c' || g || random())::bytea), 'base64')
  FROM generate_series(1, $rows) AS g;
SQL
}

# ---- the two sides ------------------------------------------------------------------------------------------
baseline_backup() { # baseline_backup RUN(first|second): the documented procedure, timed
  local label="$1" dir="$work/baseline"
  mkdir -p "$dir"
  export RESTIC_REPOSITORY="$work/repo-baseline"
  local before; before="$(repo_bytes "$RESTIC_REPOSITORY")"
  local start; start="$(now)"
  api -X POST "$CONNECTWARE_URL/api/maintenance/db/backup" > /dev/null
  wait_until_idle
  record "baseline_stage_export_${label}_s" "$(since "$start")"
  local mark; mark="$(now)"
  api -X GET "$CONNECTWARE_URL/api/maintenance/db/backup" --output "$dir/connectware-db-backup.tgz"
  local seconds; seconds="$(since "$mark")"
  record "baseline_stage_download_${label}_s" "$seconds"
  record "baseline_download_mib_s" "$(awk -v b="$(stat -c %s "$dir/connectware-db-backup.tgz")" -v s="$seconds" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
  mark="$(now)"
  (cd "$volumes_dir" && peak_rss "$work/rss" tar cvfz "$dir/connectware-volume-backup.tgz" "$volume_name" > /dev/null)
  record "baseline_stage_tar_${label}_s" "$(since "$mark")"
  record "baseline_tar_rss_kib" "$(cat "$work/rss")"
  record "baseline_freeze_${label}_s" "$(since "$start")"
  mark="$(now)"
  peak_rss "$work/rss" restic backup -q "$dir/connectware-db-backup.tgz" "$dir/connectware-volume-backup.tgz"
  record "baseline_stage_restic_${label}_s" "$(since "$mark")"
  record "baseline_restic_rss_kib" "$(cat "$work/rss")"
  record "baseline_wall_${label}_s" "$(since "$start")"
  record "baseline_growth_${label}_bytes" "$(( $(repo_bytes "$RESTIC_REPOSITORY") - before ))"
  if [ "${measure_unpacked:-0}" = 1 ]; then unpacked_experiment "$label" "$dir/connectware-db-backup.tgz"; fi
}

plugin_backup() { # plugin_backup RUN(first|second): connectware-backup, timed
  local label="$1"
  export RESTIC_REPOSITORY="$work/repo-plugin"
  export CONNECTWARE_STAGING_DIR="$work/plugin/staging" CONNECTWARE_STATE_DIR="$work/plugin/state"
  local before; before="$(repo_bytes "$RESTIC_REPOSITORY")"
  local start; start="$(now)"
  own_peak_rss "$work/rss" "$bin/connectware-backup" 2> "$work/plugin-backup.log" || { cat "$work/plugin-backup.log" >&2; exit 1; }
  record "plugin_wall_${label}_s" "$(since "$start")"
  record "plugin_backup_own_rss_kib" "$(cat "$work/rss")"
  record "plugin_growth_${label}_bytes" "$(( $(repo_bytes "$RESTIC_REPOSITORY") - before ))"
  local status="$CONNECTWARE_STATE_DIR/status.json"
  record "plugin_freeze_${label}_s" "$(jq '.quiesce.window_seconds * 1000 | round / 1000' "$status")"
  local stage
  for stage in $(jq -r '.stage_seconds | keys[]' "$status"); do
    record "plugin_stage_${stage}_${label}_s" "$(jq --arg k "$stage" '.stage_seconds[$k] * 1000 | round / 1000' "$status")"
  done
  if [ "${measure_download:-0}" = 1 ]; then download_throughput ""; fi
}

# A third plugin run in which a service file changes while the optimistic (unpaused) attempt exports: the
# run must notice it and stage again with the service-manager paused. Records its wall time, its freeze window
# and its quiesce outcome (1 when it was paused_retry).
plugin_backup_changed_during_window() {
  export RESTIC_REPOSITORY="$work/repo-plugin"
  export CONNECTWARE_STAGING_DIR="$work/plugin/staging" CONNECTWARE_STATE_DIR="$work/plugin/state"
  local start; start="$(now)"
  "$bin/connectware-backup" 2> "$work/plugin-retry.log" & local pid=$!
  local target; target="$(find "$volume_data/bench/services" -name '*.yml' | sort | head -1)"
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(api -H 'Content-Type: application/json' -X GET "$CONNECTWARE_URL/api/maintenance/db" | jq -r '.running')" = true ]; then
      printf '# changed during the export at %s\n' "$(now)" >> "$target"
      break
    fi
    sleep 0.05
  done
  wait "$pid" || { cat "$work/plugin-retry.log" >&2; exit 1; }
  record "plugin_wall_retry_s" "$(since "$start")"
  local status="$CONNECTWARE_STATE_DIR/status.json"
  record "plugin_freeze_retry_s" "$(jq '.quiesce.window_seconds * 1000 | round / 1000' "$status")"
  record "plugin_paused_retry" "$(jq '.quiesce.outcome == "paused_retry" | if . then 1 else 0 end' "$status")"
}

# Download throughput: the plugin's download stage (the transfer, written and hashed as it arrives) against
# curl fetching the same archive from the same emulator into a file right afterwards. download_throughput SUFFIX
download_throughput() {
  local status="$CONNECTWARE_STATE_DIR/status.json" bytes download curl_stats
  # The archive as downloaded (bytes.database is what was stored: the unpacked tar by default).
  bytes="$(jq '.bytes.database_archive // .bytes.database' "$status")"; download="$(jq '.stage_seconds.download' "$status")"
  record "plugin_download${1}_mib_s" "$(awk -v b="$bytes" -v s="$download" 'BEGIN { if (s + 0 == 0) print "n/a"; else printf "%.2f", b / 1048576 / s }')"
  record "db_archive${1}_bytes" "$bytes"
  # Into a file on the same disk, as the plugin writes its archive (the plugin also hashes it meanwhile).
  curl_stats="$(api -X GET "$CONNECTWARE_URL/api/maintenance/db/backup" -o "$work/curl-download.tgz" -w '%{size_download} %{time_total}')"
  rm -f "$work/curl-download.tgz"
  record "curl_download${1}_mib_s" "$(awk -v b="${curl_stats% *}" -v s="${curl_stats#* }" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
}

# Would storing the database archive unpacked let restic deduplicate it across days? The same archive, once
# as downloaded (gzip) and once gunzipped (the tar), each into its own repository; the growth of the second
# day is compared. Runs outside the timed sections. unpacked_experiment RUN ARCHIVE
unpacked_experiment() {
  local label="$1" archive="$2" dir="$work/unpacked" repo before
  mkdir -p "$dir/packed" "$dir/unpacked"
  if [ "$label" = first ]; then
    rm -rf "$work/repo-packed" "$work/repo-unpacked"
    RESTIC_REPOSITORY="$work/repo-packed" restic init -q
    RESTIC_REPOSITORY="$work/repo-unpacked" restic init -q
  fi
  cp "$archive" "$dir/packed/db.tgz"
  gzip -dc "$archive" > "$dir/unpacked/db.tar"
  for repo in packed unpacked; do
    before="$(repo_bytes "$work/repo-$repo")"
    RESTIC_REPOSITORY="$work/repo-$repo" restic backup -q --host bench "$dir/$repo"
    record "db_${repo}_growth_${label}_bytes" "$(( $(repo_bytes "$work/repo-$repo") - before ))"
  done
  record "db_unpacked_${label}_bytes" "$(stat -c %s "$dir/unpacked/db.tar")"
  rm -rf "$dir"
}

baseline_restore() { # restic restore of the two files, then the documented reverse procedure
  export RESTIC_REPOSITORY="$work/repo-baseline"
  local target="$work/baseline-restore" dir="$work/baseline"
  rm -rf "$target"
  local start; start="$(now)"
  restic restore -q latest --target "$target"
  record "baseline_restic_restore_s" "$(since "$start")"
  local manual; manual="$(now)"
  api -X POST -F "file=@$target$dir/connectware-db-backup.tgz" "$CONNECTWARE_URL/api/maintenance/db/restore" > /dev/null
  wait_until_idle
  [ "$(jq -r '.restore.succeded' "$work/last-status.json")" = true ] || { cat "$work/last-status.json" >&2; exit 1; }
  (cd "$volumes_dir" && rm -rf "./$volume_name/_data/"* && tar xzf "$target$dir/connectware-volume-backup.tgz")
  record "baseline_manual_restore_s" "$(since "$manual")"
  record "baseline_restore_s" "$(since "$start")"
}

plugin_restore() {
  export RESTIC_REPOSITORY="$work/repo-plugin"
  export CONNECTWARE_STAGING_DIR="$work/plugin/staging" CONNECTWARE_STATE_DIR="$work/plugin/state"
  local start; start="$(now)"
  own_peak_rss "$work/rss" "$bin/connectware-restore" --yes > "$work/plugin-restore.out" 2> "$work/plugin-restore.log" ||
    { cat "$work/plugin-restore.out" "$work/plugin-restore.log" >&2; exit 1; }
  record "plugin_restore_s" "$(since "$start")"
  record "plugin_restore_own_rss_kib" "$(cat "$work/rss")"
  # "timings: fetch 1.23 s, check 0.40 s, ..." from the restore's output
  local part name seconds
  while IFS= read -r part; do
    read -r name seconds _ <<< "$part"
    [ -n "$name" ] && record "plugin_restore_step_${name}_s" "$seconds"
  done < <(sed -n 's/^timings: //p' "$work/plugin-restore.out" | tr ',' '\n')
}

fresh_repositories() {
  rm -rf "$work/repo-baseline" "$work/repo-plugin" "$work/plugin" "$work/baseline"
  RESTIC_REPOSITORY="$work/repo-baseline" restic init -q
  RESTIC_REPOSITORY="$work/repo-plugin" restic init -q
}

# The hooks one by one (pre, restic, post), for each hook's own peak RSS (connectware-backup's figure includes
# its restic child), at the current database size.
hooks_rss() { # hooks_rss LABEL
  export RESTIC_REPOSITORY="$work/repo-plugin"
  export CONNECTWARE_STAGING_DIR="$work/plugin/staging" CONNECTWARE_STATE_DIR="$work/plugin/state"
  own_peak_rss "$work/rss" "$bin/connectware-pre-backup" 2> "$work/hooks.log" || { cat "$work/hooks.log" >&2; exit 1; }
  record "pre_backup_rss_$1_kib" "$(cat "$work/rss")"
  restic backup -q --tag connectware --exclude "$CONNECTWARE_STAGING_DIR/.mirror-index" "$CONNECTWARE_STAGING_DIR"
  own_peak_rss "$work/rss" "$bin/connectware-post-backup" 2>> "$work/hooks.log" || { cat "$work/hooks.log" >&2; exit 1; }
  record "post_backup_rss_$1_kib" "$(cat "$work/rss")"
  own_peak_rss "$work/rss" "$bin/connectware-backup" 2>> "$work/hooks.log" || { cat "$work/hooks.log" >&2; exit 1; }
  record "backup_own_rss_$1_kib" "$(cat "$work/rss")"
  download_throughput "_$1"
}

# ---- the runs -----------------------------------------------------------------------------------------------
db_kib=$(( CWB_BENCH_DB_MIB * 1024 ))
step "database: rows into bench_events for an export of about $CWB_BENCH_DB_MIB MiB"
iteration=0 size=data
grow_database "$db_kib"

# backups_at SIZE RUNS WITH_RESTORE: generates the volume, then RUNS times (alternating the order) both sides'
# first and second backup, and their restores when WITH_RESTORE is 1.
backups_at() {
  size="$1"
  local runs="$2" with_restore="$3" count=$(( CWB_BENCH_FILES * $1 / CWB_BENCH_VOLUME_MIB )) side
  (( count >= 100 )) || count=100
  step "volume: $size MiB, $count YAML files, random binaries and text into $volume_data/bench"
  iteration=0
  generate_volume "$size" "$count"
  record "volume_bytes" "$(du -sb "$volume_data" | cut -f1)"
  record "volume_files" "$(find "$volume_data" -type f | wc -l)"
  for (( iteration = 1; iteration <= runs; iteration++ )); do
    fresh_repositories
    # Alternate which side goes first, so that neither always gets the warm caches.
    if (( iteration % 2 )); then order=(baseline plugin); else order=(plugin baseline); fi
    # The download comparison and the unpacked-archive experiment in the first run at the main size.
    measure_download="$with_restore"
    (( iteration == 1 )) && measure_unpacked="$with_restore" || measure_unpacked=0
    for side in "${order[@]}"; do step "size $size MiB, run $iteration/$runs: $side, first backup (empty repository)"; "${side}_backup" first; done
    record "changed_files" "$(change_one_percent)"
    grow_database $(( db_kib / 100 ))
    for side in "${order[@]}"; do step "size $size MiB, run $iteration/$runs: $side, second backup (1% changed)"; "${side}_backup" second; done
    step "size $size MiB, run $iteration/$runs: plugin, a service file changed during its unpaused export"
    plugin_backup_changed_during_window
    if [ "$with_restore" = 1 ]; then
      for side in "${order[@]}"; do step "size $size MiB, run $iteration/$runs: $side restore"; "${side}_restore"; done
    fi
  done
  measure_download=0 measure_unpacked=0
  # The generated data is deleted between sizes, so that the disk holds one size at a time.
  rm -rf "$volume_data/bench" "$work/repo-baseline" "$work/repo-plugin" "$work/plugin" "$work/baseline" "$work/baseline-restore"
}

backups_at "$CWB_BENCH_VOLUME_MIB" "$CWB_BENCH_RUNS" 1
for scaling in ${CWB_BENCH_SCALING_MIB//,/ }; do
  [ "$scaling" = "$CWB_BENCH_VOLUME_MIB" ] && continue
  backups_at "$scaling" "$CWB_BENCH_SCALING_RUNS" 0
done

step "peak RSS of each hook as the database grows"
iteration=1 size=rss
fresh_repositories
hooks_rss small
grow_database $(( (CWB_BENCH_LARGE_DB_MIB - CWB_BENCH_DB_MIB) * 1024 ))
hooks_rss large

# ---- the table ----------------------------------------------------------------------------------------------
bash "$(dirname "${BASH_SOURCE[0]}")/report.sh" "$samples" > "$results/latest.md"
step "results ($results/latest.md)"
cat "$results/latest.md"
