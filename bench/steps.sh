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

grow_database() { # grow_database ROWS: rows of ~100 bytes into a table that the emulator's pg_dump exports
  "$psql_bin" -X -q -v ON_ERROR_STOP=1 "$CW_PG_CONNINFO" <<SQL
CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL);
INSERT INTO bench_events (payload)
  SELECT 'sensor-' || (g % 211) || ' ' || md5(g::text) || md5((g::bigint * 7919)::text) FROM generate_series(1, $1) AS g;
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
  record "baseline_stage_download_${label}_s" "$(since "$mark")"
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
}

plugin_backup() { # plugin_backup RUN(first|second): connectware-backup, timed
  local label="$1"
  export RESTIC_REPOSITORY="$work/repo-plugin"
  export CONNECTWARE_STAGING_DIR="$work/plugin/staging" CONNECTWARE_STATE_DIR="$work/plugin/state"
  local before; before="$(repo_bytes "$RESTIC_REPOSITORY")"
  local start; start="$(now)"
  peak_rss "$work/rss" "$bin/connectware-backup" 2> "$work/plugin-backup.log" || { cat "$work/plugin-backup.log" >&2; exit 1; }
  record "plugin_wall_${label}_s" "$(since "$start")"
  record "plugin_backup_tree_rss_kib" "$(cat "$work/rss")"
  record "plugin_growth_${label}_bytes" "$(( $(repo_bytes "$RESTIC_REPOSITORY") - before ))"
  local status="$CONNECTWARE_STATE_DIR/status.json"
  record "plugin_freeze_${label}_s" "$(jq '.quiesce.window_seconds * 1000 | round / 1000' "$status")"
  local stage
  for stage in $(jq -r '.stage_seconds | keys[]' "$status"); do
    record "plugin_stage_${stage}_${label}_s" "$(jq --arg k "$stage" '.stage_seconds[$k] * 1000 | round / 1000' "$status")"
  done
  download_throughput ""
}

# Download throughput: the plugin's download stage (download + status check + archive validation) against
# curl fetching the same archive from the same emulator right afterwards. download_throughput SUFFIX
download_throughput() {
  local status="$CONNECTWARE_STATE_DIR/status.json" bytes download curl_stats
  bytes="$(jq '.bytes.database' "$status")"; download="$(jq '.stage_seconds.download' "$status")"
  record "plugin_download${1}_mib_s" "$(awk -v b="$bytes" -v s="$download" 'BEGIN { if (s + 0 == 0) print "n/a"; else printf "%.2f", b / 1048576 / s }')"
  record "db_archive${1}_bytes" "$bytes"
  curl_stats="$(api -X GET "$CONNECTWARE_URL/api/maintenance/db/backup" -o /dev/null -w '%{size_download} %{time_total}')"
  record "curl_download${1}_mib_s" "$(awk -v b="${curl_stats% *}" -v s="${curl_stats#* }" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
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
  peak_rss "$work/rss" "$bin/connectware-restore" --yes 2> "$work/plugin-restore.log" || { cat "$work/plugin-restore.log" >&2; exit 1; }
  record "plugin_restore_s" "$(since "$start")"
  record "plugin_restore_tree_rss_kib" "$(cat "$work/rss")"
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
base_files="$CWB_BENCH_FILES"
first_size="${CWB_BENCH_VOLUME_MIB%%,*}"
step "database: $CWB_BENCH_DB_ROWS rows into bench_events"
iteration=0 size="$first_size"
grow_database "$CWB_BENCH_DB_ROWS"
for size in ${CWB_BENCH_VOLUME_MIB//,/ }; do
  count=$(( base_files * size / first_size ))
  step "volume: $size MiB, $count YAML files, random binaries and text into $volume_data/bench"
  iteration=0
  generate_volume "$size" "$count"
  record "volume_bytes" "$(du -sb "$volume_data" | cut -f1)"
  record "volume_files" "$(find "$volume_data" -type f | wc -l)"
  for (( iteration = 1; iteration <= CWB_BENCH_RUNS; iteration++ )); do
    fresh_repositories
    # Alternate which side goes first, so that neither always gets the warm caches.
    if (( iteration % 2 )); then order=(baseline plugin); else order=(plugin baseline); fi
    for side in "${order[@]}"; do step "size $size MiB, run $iteration: $side, first backup (empty repository)"; "${side}_backup" first; done
    record "changed_files" "$(change_one_percent)"
    grow_database $(( CWB_BENCH_DB_ROWS / 100 ))
    for side in "${order[@]}"; do step "size $size MiB, run $iteration: $side, second backup (1% changed)"; "${side}_backup" second; done
    for side in "${order[@]}"; do step "size $size MiB, run $iteration: $side restore"; "${side}_restore"; done
  done
done

step "peak RSS of each hook as the database grows"
iteration=1 size=rss
hooks_rss small
grow_database $(( CWB_BENCH_DB_ROWS * 4 ))
hooks_rss large

# ---- the table ----------------------------------------------------------------------------------------------
median() { # median SIZE METRIC
  awk -F'\t' -v s="$1" -v m="$2" '$1 == s && $3 == m { print $4 }' "$samples" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print "n/a"; else printf "%.1f", a / 1048576 }'; }
kib_mib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print "n/a"; else printf "%.1f", a / 1024 }'; }
verdict() { # verdict VALUE OP TARGET
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "n/a") print "n/a"; else if ((op == "<=" && v + 0 <= t + 0) || (op == ">=" && v + 0 >= t + 0)) print "met"; else print "**not met**" }'
}

{
  echo "Command: \`$CWB_BENCH_COMMAND\`; $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(date -u +%Y-%m-%dT%H:%MZ);"
  echo "restic $(restic version | awk '{ print $2 }'), medians of $CWB_BENCH_RUNS runs per size, ratio = plugin / baseline."
  for size in ${CWB_BENCH_VOLUME_MIB//,/ }; do
    echo
    echo "### Volume $size MiB ($(median "$size" volume_files) files, $(mib "$(median "$size" volume_bytes)") MiB on disk), database archive $(mib "$(median "$size" db_archive_bytes)") MiB (gzip)"
    echo
    echo "| # | item | baseline (manual) | plugin | ratio | target | verdict |"
    echo "|---|---|---|---|---|---|---|"
    for run in first second; do
      b="$(median "$size" "baseline_wall_${run}_s")"; p="$(median "$size" "plugin_wall_${run}_s")"; r="$(ratio "$p" "$b")"
      target=$([ $run = first ] && echo 1.0 || echo 0.5)
      echo "| 1 | wall time, $run run (s) | $b | $p | $r | <= $target | $(verdict "$r" "<=" "$target") |"
    done
    b="$(median "$size" baseline_growth_second_bytes)"; p="$(median "$size" plugin_growth_second_bytes)"; r="$(ratio "$p" "$b")"
    echo "| 2 | repository growth, second run (MiB) | $(mib "$b") | $(mib "$p") | $r | <= 0.1 | $(verdict "$r" "<=" 0.1) |"
    b="$(median "$size" baseline_growth_first_bytes)"; p="$(median "$size" plugin_growth_first_bytes)"
    echo "| 2' | repository growth, first run (MiB, context) | $(mib "$b") | $(mib "$p") | $(ratio "$p" "$b") | - | - |"
    for run in first second; do
      b="$(median "$size" "baseline_freeze_${run}_s")"; p="$(median "$size" "plugin_freeze_${run}_s")"; r="$(ratio "$p" "$b")"
      target=$([ $run = first ] && echo 0.5 || echo 0.1)
      echo "| 3 | freeze window, $run run (s) | $b | $p | $r | <= $target | $(verdict "$r" "<=" "$target") |"
    done
    for run in first second; do
      bs=""; for st in export download tar restic; do bs+="$st $(median "$size" "baseline_stage_${st}_${run}_s"), "; done
      ps=""; for st in export stage_volumes download pre_backup restic; do ps+="$st $(median "$size" "plugin_stage_${st}_${run}_s"), "; done
      echo "| 1' | where the time goes, $run run (s) | ${bs%, } | ${ps%, } | - | - | context |"
    done
    echo "| 4 | peak RSS, connectware-backup incl. its restic child (MiB) | tar $(kib_mib "$(median "$size" baseline_tar_rss_kib)"), restic $(kib_mib "$(median "$size" baseline_restic_rss_kib)") | $(kib_mib "$(median "$size" plugin_backup_tree_rss_kib)") | - | - | context |"
    b="$(median "$size" curl_download_mib_s)"; p="$(median "$size" plugin_download_mib_s)"; r="$(ratio "$p" "$b")"
    echo "| 5 | DB download throughput (MiB/s; plugin incl. status check + archive validation) | curl $b | $p | $r | >= 0.9 | $(verdict "$r" ">=" 0.9) |"
    b="$(median "$size" baseline_restore_s)"; p="$(median "$size" plugin_restore_s)"; r="$(ratio "$p" "$b")"
    echo "| 6 | restore wall time (s; baseline = restic restore + documented reverse) | $b | $p | $r | <= 1.1 | $(verdict "$r" "<=" 1.1) |"
    m="$(median "$size" baseline_manual_restore_s)"
    echo "| 6' | restore, baseline's curl upload + poll + rm + tar xzf only (s) | $m | $p | $(ratio "$p" "$m") | - | context |"
  done
  echo
  echo "### Item 4: peak RSS of each hook as the database grows (target <= 64 MiB and flat)"
  echo
  echo "Each hook's own peak (VmHWM sampled every 50 ms, children such as restic not included)."
  echo
  echo "| database archive | connectware-pre-backup | connectware-post-backup | connectware-backup (own) | verdict |"
  echo "|---|---|---|---|---|"
  for label in small large; do
    pre="$(kib_mib "$(median rss "pre_backup_rss_${label}_kib")")"; post="$(kib_mib "$(median rss "post_backup_rss_${label}_kib")")"
    all="$(kib_mib "$(median rss "backup_own_rss_${label}_kib")")"
    worst="$(awk -v a="$pre" -v b="$post" -v c="$all" 'BEGIN { m = a > b ? a : b; print (m > c ? m : c) }')"
    echo "| $(mib "$(median rss "db_archive_${label}_bytes")") MiB | $pre MiB | $post MiB | $all MiB | $(verdict "$worst" "<=" 64) |"
  done
  echo
  echo "Item 5 again at both database sizes (one sample each):"
  for label in small large; do
    b="$(median rss "curl_download_${label}_mib_s")"; p="$(median rss "plugin_download_${label}_mib_s")"
    echo "archive $(mib "$(median rss "db_archive_${label}_bytes")") MiB: curl $b MiB/s, plugin $p MiB/s, ratio $(ratio "$p" "$b");"
  done
  echo
  echo "Items 7 (scaling): one table per size above; pass --volume-mib 64,256,1024 for three sizes."
} > "$results/latest.md"
step "results ($results/latest.md)"
cat "$results/latest.md"
