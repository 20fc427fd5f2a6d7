#!/usr/bin/env bash
# The benchmark's table, from its samples: bench/report.sh SAMPLES.tsv > latest.md
# Called by bench/steps.sh at the end of a run (with CWB_BENCH_* set as bench/run.sh sets them); it can be
# run again on the samples of an earlier run. Ratios are plugin / baseline; a verdict compares the exact
# ratio, not the two decimals shown.
set -euo pipefail

samples="$1"
size="${CWB_BENCH_VOLUME_MIB:?}"

median() { # median SIZE METRIC
  awk -F'\t' -v s="$1" -v m="$2" '$1 == s && $3 == m { print $4 }' "$samples" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
exact_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.4f", a / b }'; }
ratio() { awk -v r="$(exact_ratio "$1" "$2")" 'BEGIN { if (r == "n/a") print "n/a"; else printf "%.2f", r }'; }
mib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print "n/a"; else printf "%.1f", a / 1048576 }'; }
kib_mib() { awk -v a="$1" 'BEGIN { if (a == "n/a") print "n/a"; else printf "%.1f", a / 1024 }'; }
verdict() { # verdict VALUE OP TARGET
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "n/a") print "n/a"; else if ((op == "<=" && v + 0 <= t + 0) || (op == ">=" && v + 0 >= t + 0)) print "met"; else print "**not met**" }'
}
# ratio_row ITEM TEXT BASELINE PLUGIN OP TARGET [BASELINE_SHOWN PLUGIN_SHOWN]
ratio_row() {
  local exact; exact="$(exact_ratio "$4" "$3")"
  echo "| $1 | $2 | ${7:-$3} | ${8:-$4} | $(ratio "$4" "$3") | $5 $6 | $(verdict "$exact" "$5" "$6") |"
}

# Item 5 pairs each download with the other side's download of the same database state (same run, same
# backup): the baseline's curl right after its export, the plugin's transfer right after its export. The
# archive's size comes from the baseline's file (the plugin's status.json gives the stored size, which is the
# unpacked tar with database-storage = unpacked).
download_pairs() { # prints "baseline_mib_s plugin_mib_s" per run and backup (first, second)
  awk -F'\t' -v s="$size" '
    $1 != s { next }
    $3 == "baseline_download_mib_s" { n[$2]++; rate[$2, n[$2]] = $4 }
    $3 == "baseline_stage_download_first_s" { bt[$2, 1] = $4 }
    $3 == "baseline_stage_download_second_s" { bt[$2, 2] = $4 }
    $3 == "plugin_stage_download_first_s" { pt[$2, 1] = $4 }
    $3 == "plugin_stage_download_second_s" { pt[$2, 2] = $4 }
    END {
      for (key in rate) {
        split(key, k, SUBSEP)
        if (!((k[1], k[2]) in bt) || !((k[1], k[2]) in pt) || pt[k[1], k[2]] + 0 == 0) continue
        mib = rate[key] * bt[k[1], k[2]]
        printf "%.2f %.2f\n", rate[key], mib / pt[k[1], k[2]]
      }
    }' "$samples"
}
median_of_column() { awk -v c="$1" '{ print $c }' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "Command: \`${CWB_BENCH_COMMAND:-bash bench/run.sh}\`; $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB;"
echo "restic $(restic version | awk '{ print $2 }'); medians of ${CWB_BENCH_RUNS:-?} runs at $size MiB; ratio = plugin / baseline."
echo
archive_mib="$(awk -F'\t' -v s="$size" '$1 == s && $3 == "db_packed_growth_first_bytes" { printf "%.1f", $4 / 1048576 }' "$samples")"
echo "### Volume $size MiB ($(median "$size" volume_files) files, $(mib "$(median "$size" volume_bytes)") MiB on disk), database archive about ${archive_mib:-n/a} MiB (gzip), $(mib "$(median "$size" db_unpacked_first_bytes)") MiB unpacked"
echo
echo "| # | item | baseline (manual) | plugin | ratio | target | verdict |"
echo "|---|---|---|---|---|---|---|"
for run in first second; do
  target=$([ $run = first ] && echo 1.0 || echo 0.5)
  ratio_row 1 "backup wall time, $run run (s)" "$(median "$size" "baseline_wall_${run}_s")" "$(median "$size" "plugin_wall_${run}_s")" "<=" "$target"
done
b="$(median "$size" baseline_growth_second_bytes)"; p="$(median "$size" plugin_growth_second_bytes)"
ratio_row 2 "repository growth, second run (MiB)" "$b" "$p" "<=" 0.1 "$(mib "$b")" "$(mib "$p")"
for run in first second; do
  target=$([ $run = first ] && echo 0.5 || echo 0.1)
  ratio_row 3 "freeze window, $run run (s)" "$(median "$size" "baseline_freeze_${run}_s")" "$(median "$size" "plugin_freeze_${run}_s")" "<=" "$target"
done
retried="$(awk -F'\t' -v s="$size" '$1 == s && $3 == "plugin_paused_retry" { n++; r += $4 } END { printf "%d of %d", r, n }' "$samples")"
echo "| 3 | freeze window, a file changed during the export (paused retry, $retried runs; baseline: its second run) (s) | $(median "$size" baseline_freeze_second_s) | $(median "$size" plugin_freeze_retry_s) | $(ratio "$(median "$size" plugin_freeze_retry_s)" "$(median "$size" baseline_freeze_second_s)") | - | - |"
own="$(median "$size" plugin_backup_own_rss_kib)"
echo "| 4 | peak RSS of connectware-backup itself (MiB; restic child not included) | tar $(kib_mib "$(median "$size" baseline_tar_rss_kib)"), restic $(kib_mib "$(median "$size" baseline_restic_rss_kib)") | $(kib_mib "$own") | - | <= 64 | $(verdict "$(kib_mib "$own")" "<=" 64) |"
b="$(download_pairs | median_of_column 1)"; p="$(download_pairs | median_of_column 2)"
ratio_row 5 "DB download throughput right after the export (MiB/s; baseline: its curl; both write a file)" "$b" "$p" ">=" 0.9
ratio_row 6 "restore wall time (s; baseline = restic restore + documented reverse)" "$(median "$size" baseline_restore_s)" "$(median "$size" plugin_restore_s)" "<=" 1.1
echo
echo "Context (medians, seconds unless named):"
echo
for run in first second; do
  bs=""; for st in export download tar restic; do bs+="$st $(median "$size" "baseline_stage_${st}_${run}_s"), "; done
  ps=""; for st in prestage_volumes stage_volumes export download confirm_download validate_archive pre_backup restic; do
    ps+="$st $(median "$size" "plugin_stage_${st}_${run}_s"), "; done
  echo "- where the time goes, $run run: baseline ${bs%, }; plugin ${ps%, }."
done
b="$(median "$size" baseline_growth_first_bytes)"; p="$(median "$size" plugin_growth_first_bytes)"
echo "- the run with a change during its export (paused retry): wall $(median "$size" plugin_wall_retry_s) s, against $(median "$size" plugin_wall_second_s) s for the second run."
echo "- repository growth, first run: baseline $(mib "$b") MiB, plugin $(mib "$p") MiB (ratio $(ratio "$p" "$b"))."
echo "- download, once more: curl fetching the same archive again right after the plugin's run: $(median "$size" curl_download_mib_s) MiB/s."
rs=""; for st in fetch check safety_copy database volumes restart total; do rs+="$st $(median "$size" "plugin_restore_step_${st}_s"), "; done
echo "- restore: baseline restic restore $(median "$size" baseline_restic_restore_s), then upload + poll + rm + tar xzf $(median "$size" baseline_manual_restore_s); plugin steps ${rs%, }; connectware-restore's own peak RSS $(kib_mib "$(median "$size" plugin_restore_own_rss_kib)") MiB."
pk="$(median "$size" db_packed_growth_second_bytes)"; up="$(median "$size" db_unpacked_growth_second_bytes)"
echo "- the database archive alone, stored as downloaded (gzip) and unpacked (tar) in two more repositories (first run): second-day growth $(mib "$pk") MiB as gzip, $(mib "$up") MiB as a tar ($(mib "$(median "$size" db_unpacked_second_bytes)") MiB) (ratio $(ratio "$up" "$pk"))."
echo
echo "### Item 4: peak RSS of each hook as the database grows (target <= 64 MiB and flat)"
echo
echo "Each hook's own peak (VmHWM sampled every 50 ms; children such as restic not included), with the seeded volume"
echo "only (the generated files are gone by then), so that the database is what grows."
echo
echo "| database archive (as downloaded) | connectware-pre-backup | connectware-post-backup | connectware-backup (own) | verdict |"
echo "|---|---|---|---|---|"
for label in small large; do
  pre="$(kib_mib "$(median rss "pre_backup_rss_${label}_kib")")"; post="$(kib_mib "$(median rss "post_backup_rss_${label}_kib")")"
  all="$(kib_mib "$(median rss "backup_own_rss_${label}_kib")")"
  worst="$(awk -v a="$pre" -v b="$post" -v c="$all" 'BEGIN { m = a > b ? a : b; print (m > c ? m : c) }')"
  echo "| $(mib "$(median rss "db_archive_${label}_bytes")") MiB | $pre MiB | $post MiB | $all MiB | $(verdict "$worst" "<=" 64) |"
done
echo
echo "### Item 7: scaling with the volume size (database as above; ${CWB_BENCH_SCALING_RUNS:-1} run(s) per extra size)"
echo
echo "| volume (MiB on disk / files) | baseline wall 1st / 2nd (s) | plugin wall 1st / 2nd (s) | ratio 1st / 2nd | baseline tar, 1st (s) | plugin volume stages, 1st: prestage + restic (s) | freeze baseline / plugin, 2nd (s) | connectware-backup own peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
for scaling in $(printf '%s\n' ${CWB_BENCH_SCALING_MIB//,/ } "$size" | sort -n | uniq); do
  b1="$(median "$scaling" baseline_wall_first_s)"; b2="$(median "$scaling" baseline_wall_second_s)"
  p1="$(median "$scaling" plugin_wall_first_s)"; p2="$(median "$scaling" plugin_wall_second_s)"
  vb="$(median "$scaling" volume_bytes)"
  volume_stages="$(awk -v a="$(median "$scaling" plugin_stage_prestage_volumes_first_s)" -v b="$(median "$scaling" plugin_stage_restic_first_s)" 'BEGIN { printf "%.2f", a + b }')"
  echo "| $(mib "$vb") / $(median "$scaling" volume_files) | $b1 / $b2 | $p1 / $p2 | $(ratio "$p1" "$b1") / $(ratio "$p2" "$b2") | $(median "$scaling" baseline_stage_tar_first_s) | $volume_stages | $(median "$scaling" baseline_freeze_second_s) / $(median "$scaling" plugin_freeze_second_s) | $(kib_mib "$(median "$scaling" plugin_backup_own_rss_kib)") |"
done
