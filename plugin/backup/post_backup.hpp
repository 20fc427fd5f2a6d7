#pragma once
// The post-backup hook's work, on success and on failure alike: release whatever a run holds, confirm
// that restic really stored the snapshot, record the outcome (status JSON, Prometheus textfile) and clean
// the staging folder (the DB archive goes; the volume mirror stays for the next incremental run).

#include "backup/backup_context.hpp"
#include "core/error.hpp"
#include "restic/messages.hpp"

#include <optional>
#include <string>

namespace cwb::backup {

enum class RunOutcome { succeeded, failed };

struct PostBackupRequest {
  RunOutcome outcome = RunOutcome::succeeded;
  /// What failed, when the outcome is failed: our own error (connectware-backup) or resticprofile's
  /// ERROR_MESSAGE / ERROR_EXIT_CODE.
  std::optional<Error> failure;
  int failure_exit_code = 0;
  /// The snapshot restic reported, when known (connectware-backup knows it; resticprofile does not).
  std::string snapshot_id;
  std::optional<restic::BackupSummary> summary;
  double restic_seconds = 0;
  /// Set when the hook could not reach the installation (platform selection failed): nothing can be
  /// released now (the next run releases what the pre hook held), and the run is recorded as failed.
  std::optional<Error> installation_problem;
  /// connectware-backup: after a confirmed snapshot, apply the keep-* settings (restic forget, prune). The
  /// separate hooks leave retention to resticprofile or the agent that ran restic.
  bool apply_retention = false;
};

struct PostBackupResult {
  std::string snapshot_id; // the confirmed snapshot (success only)
};

/// Runs the post-backup stage. With outcome failed, it releases, records the failure and returns success
/// when that worked (the run's own failure is the caller's to report). With outcome succeeded, a snapshot
/// that cannot be confirmed, or a pre-backup stage that never completed, turns the run into a failure:
/// it is recorded as such and returned.
/// Errors: restic (snapshot missing, repository trouble), usage (no completed pre-backup), quiesce_failed
/// (containers stay paused), staging_io, locked. A failed forget is a warning in the log, status and metrics,
/// not a failed backup.
Result<PostBackupResult> run_post_backup(BackupContext& context, const PostBackupRequest& request);

} // namespace cwb::backup
