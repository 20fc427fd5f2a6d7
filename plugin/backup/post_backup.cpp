#include "backup/post_backup.hpp"

#include "core/exit_codes.hpp"
#include "installation/run_state.hpp"
#include "restore/snapshot_check.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "snapshot/run_report.hpp"
#include "util/file_system.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace cwb::backup {
namespace {

using installation::RunMarker;
using installation::StatePaths;

/// Finds the snapshot this run made: the one restic reported, or else the newest snapshot of the staging
/// folder from this host with our tags that is not older than the run.
Result<restic::Snapshot> confirm_snapshot(BackupContext& context, const RunMarker& marker,
                                          const std::string& reported) {
  if (!reported.empty()) {
    auto snapshot = context.restic.find_snapshot(reported);
    if (!snapshot) {
      // The repository not having the snapshot restic just reported is restic's failure, not a lookup miss.
      return fail(ErrorKind::restic, "confirming snapshot " + reported + ": " + snapshot.error().message);
    }
    return *snapshot;
  }
  auto snapshots = context.restic.snapshots(context.config.tags(), context.config.host());
  if (!snapshots) return fail(snapshots.error().with_context("confirming the snapshot"));
  const auto staging = context.config.staging_dir().string();
  for (auto it = snapshots->rbegin(); it != snapshots->rend(); ++it) {
    const auto time = snapshot::parse_rfc3339_ms(it->time);
    // restic stamps the snapshot when its backup starts, after the pre hook began.
    if (!time || *time < marker.started_unix_ms) continue;
    if (std::find(it->paths.begin(), it->paths.end(), staging) == it->paths.end()) continue;
    return *it;
  }
  return fail(ErrorKind::restic, "no snapshot of " + staging + " from host " + context.config.host() + " newer than " +
                                     marker.started + " is in the repository");
}

/// Gives the snapshot the tags the manifest names (connectware-<version> among them) when restic was run
/// without them, as resticprofile's static `tag` list does. Returns the snapshot's id, which changes when
/// tags are added.
Result<std::string> complete_tags(BackupContext& context, const RunMarker& marker, const restic::Snapshot& snapshot) {
  std::vector<std::string> missing;
  for (const auto& tag : marker.tags) {
    if (std::find(snapshot.tags.begin(), snapshot.tags.end(), tag) == snapshot.tags.end()) missing.push_back(tag);
  }
  if (missing.empty()) return snapshot.id;
  CWB_TRY(context.restic.add_tags(snapshot.id, missing));
  auto tagged = context.restic.snapshots(marker.tags, context.config.host());
  if (!tagged) {
    return fail(tagged.error().with_context("finding snapshot " + snapshot.short_id + " after tagging it"));
  }
  for (auto it = tagged->rbegin(); it != tagged->rend(); ++it) {
    if (it->time == snapshot.time && it->paths == snapshot.paths) return it->id;
  }
  return fail(ErrorKind::restic, "snapshot " + snapshot.short_id + " is gone after adding its tags");
}

/// connectware-backup's retention: restic forget (and prune) over this host's snapshots with our tags, after a
/// confirmed snapshot. Its failure costs no backup: the snapshot is stored, and it is reported as a warning.
snapshot::RetentionOutcome apply_retention(BackupContext& context) {
  const auto policy = context.config.retention();
  restic::ForgetRequest request;
  request.tags = context.config.tags();
  request.host = context.config.host();
  request.prune = policy.prune;
  for (const auto& [rule, count] :
       {std::pair{"last", policy.last}, std::pair{"daily", policy.daily}, std::pair{"weekly", policy.weekly},
        std::pair{"monthly", policy.monthly}, std::pair{"yearly", policy.yearly}})
    if (count) request.keep.emplace_back(rule, *count);
  snapshot::RetentionOutcome outcome;
  outcome.pruned = policy.prune;
  auto forgotten = context.restic.forget(request);
  if (!forgotten) {
    outcome.error = forgotten.error().message;
    spdlog::warn("retention failed, the backup itself is stored: {}", forgotten.error().message);
    return outcome;
  }
  outcome.success = true;
  outcome.kept = forgotten->kept;
  outcome.removed = forgotten->removed;
  spdlog::info("retention: {} snapshot(s) kept, {} forgotten{}", outcome.kept, outcome.removed,
               policy.prune ? ", unused data pruned" : "");
  return outcome;
}

} // namespace

Result<PostBackupResult> run_post_backup(BackupContext& context, const PostBackupRequest& given_request) {
  const auto& config = context.config;
  const StatePaths paths{config.state_dir()};
  const snapshot::Layout layout{config.staging_dir()};
  // The post hook follows the pre hook of the same run; a lock still held means a hook of this run is
  // finishing (or another run's pre hook is deciding): wait a little instead of failing at once.
  auto lock = installation::acquire_run_lock(paths, installation::LockWait::a_while);
  if (!lock) return fail(lock.error());

  // On the failure path after a failed pre hook, resticprofile (or an agent) only knows "the pre hook
  // exited 5"; the pre hook recorded what actually failed, and that is what the report must say.
  PostBackupRequest request = given_request;
  if (request.outcome == RunOutcome::failed) {
    if (auto recorded = installation::read_pre_backup_failure(paths)) {
      request.failure = recorded->error;
      request.failure_exit_code = recorded->exit_code;
    }
  }

  std::optional<Error> problem; // the first thing that went wrong here
  const auto note = [&problem](Error error) {
    spdlog::error("{}", error.message);
    if (!problem) problem = std::move(error);
  };

  auto marker_read = installation::read_run_marker(paths);
  std::optional<RunMarker> marker;
  if (!marker_read) {
    note(marker_read.error());
  } else {
    marker = std::move(*marker_read);
  }
  // A run that is still alive and is not ours (our pre hook was refused while it ran, and resticprofile
  // calls us on that failure path): its marker, archive and paused containers are its own to release.
  if (marker && util::is_alive(marker->owner) && !(marker->owner == context.run_owner)) {
    return fail(ErrorKind::locked, "another backup run is in progress (started " + marker->started + " by pid " +
                                       std::to_string(marker->owner.pid) + "); leaving its state alone");
  }

  // Release first: whatever else fails, Connectware must be writable again.
  if (request.installation_problem) {
    note(*request.installation_problem);
  } else {
    auto released = context.installation.release_leftover_hold(paths);
    if (!released) {
      note(released.error());
    } else if (!released->empty()) {
      spdlog::warn("released {} container(s) left paused by the pre-backup stage", released->size());
    }
  }

  PostBackupResult result;
  const bool succeeded = request.outcome == RunOutcome::succeeded;
  if (succeeded) {
    if (!marker || !marker->staged) {
      note(Error{ErrorKind::usage, "no completed pre-backup stage to finish: connectware-pre-backup did not run or "
                                   "failed (see " +
                                       config.status_file().string() + ")"});
    } else if (config.repository().empty()) {
      // No restic here: a backup agent stores the staging folder itself. What it finds there must be what its
      // restore would accept: the staging is checked against its manifest exactly like a fetched snapshot.
      auto manifest = restore::read_fetched_manifest(layout);
      auto checked =
          manifest ? restore::check_fetched_snapshot(layout, *manifest, restore::Parts::all, restore::Metadata::require)
                   : Result<>(fail(manifest.error()));
      if (!checked) {
        note(checked.error().with_context("the staging folder " + layout.root.string() +
                                          " does not match its manifest"));
      } else {
        spdlog::info("no restic repository configured: the staging folder {} matches its manifest, ready for the "
                     "backup agent",
                     layout.root.string());
      }
    } else {
      // connectware-backup ran restic itself with the manifest's tags, and the summary line of a backup
      // that exited 0 names the snapshot restic saved: asking the repository again would only cost another
      // restic process (key derivation, index load) for the same answer. Otherwise (resticprofile, a
      // backup agent) the repository is asked, and missing tags are added.
      const bool reported_by_our_restic = request.summary && !request.summary->snapshot_id.empty() &&
                                          request.summary->snapshot_id == request.snapshot_id;
      Result<std::string> snapshot = request.snapshot_id;
      if (!reported_by_our_restic) {
        auto confirmed = confirm_snapshot(context, *marker, request.snapshot_id);
        snapshot =
            confirmed ? complete_tags(context, *marker, *confirmed) : Result<std::string>(fail(confirmed.error()));
      }
      if (!snapshot) {
        note(snapshot.error());
      } else {
        result.snapshot_id = *snapshot;
        spdlog::info("snapshot {} {}", snapshot->substr(0, 8),
                     reported_by_our_restic ? "saved (restic's summary)" : "confirmed in the repository");
      }
    }
  }
  // The archive is in the repository now (or this run failed): it must not linger on disk, unless a backup
  // agent reads the staging folder after this hook (staging-cleanup = next-run; the next pre hook replaces
  // it). The volume mirror stays, so that the next run copies only what changed.
  if (!succeeded || config.staging_cleanup() == config::StagingCleanup::post) {
    for (const auto& staged : {layout.database_archive(), layout.database_tar()}) {
      if (auto removed = util::remove_tree(staged); !removed) note(removed.error());
    }
  } else {
    spdlog::info("the staged database stays in {} for the backup agent (staging-cleanup = next-run)",
                 layout.root.string());
  }

  std::optional<snapshot::RetentionOutcome> retention;
  if (succeeded && !problem && request.apply_retention && config.retention().any() && !result.snapshot_id.empty())
    retention = apply_retention(context);

  snapshot::RunReport report;
  report.retention = retention;
  const auto now = context.clock.wall_now();
  report.finished = snapshot::iso8601_utc(now);
  report.finished_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (marker) {
    report.started = marker->started;
    report.connectware_version = marker->connectware_version;
    report.quiesce_mode = marker->quiesce_mode;
    report.quiesce_outcome = marker->quiesce_outcome;
    report.quiesce_window_seconds = marker->quiesce_window_seconds;
    report.scope = marker->scope;
    report.downtime_seconds = marker->downtime_seconds;
    report.database_bytes = marker->database_bytes;
    report.database_archive_bytes = marker->database_archive_bytes;
    report.volume_bytes = marker->volume_bytes;
    for (const auto& [stage, seconds] : marker->stage_seconds)
      report.stage_seconds[stage] = seconds;
    if (marker->staged)
      report.sizes = snapshot::RunSizes{marker->database_archive_bytes, marker->database_entries, marker->volume_files,
                                        marker->volume_bytes};
    report.shrink_findings = marker->shrink_findings;
  }
  if (request.restic_seconds > 0) report.stage_seconds["restic"] = request.restic_seconds;
  if (request.summary) report.restic_data_added = request.summary->data_added;
  report.snapshot_id = result.snapshot_id;
  report.success = succeeded && !problem;
  report.shrink_alert =
      !report.shrink_findings.empty() || (request.failure && request.failure->kind == ErrorKind::shrunk);
  if (!report.success) {
    const Error failure =
        succeeded ? *problem : request.failure.value_or(Error{ErrorKind::internal, "the backup run failed"});
    report.error_kind = to_string(failure.kind);
    report.error_message = failure.message;
    report.exit_code =
        !succeeded && request.failure_exit_code != 0 ? request.failure_exit_code : to_int(exit_code_for(failure.kind));
  }
  const std::filesystem::path metrics = config.metrics_file().value_or(std::filesystem::path{});
  if (auto written = snapshot::write_run_report(report, config.status_file(), metrics); !written) note(written.error());

  if (auto removed = installation::remove_run_marker(paths); !removed) note(removed.error());
  if (auto removed = installation::remove_pre_backup_failure(paths); !removed) note(removed.error());
  if (problem) return fail(*problem);
  return result;
}

} // namespace cwb::backup
