#pragma once
// connectware-backup: the whole run in one process, for cron and backup routines without resticprofile:
// pre-backup stage, `restic backup` of the staging folder, post-backup stage (or its failure path).

#include "backup/backup_context.hpp"
#include "core/error.hpp"

namespace cwb::backup {

struct BackupJobResult {
  std::string snapshot_id;
  restic::BackupSummary summary;
};

/// Runs the three stages. The first failure is returned (after the post stage recorded it and released
/// everything); a failing post stage after a good restic run is returned too. A run refused with locked
/// records nothing: the state belongs to the run in progress.
/// Errors: those of run_pre_backup, restic, and those of run_post_backup.
Result<BackupJobResult> run_backup_job(BackupContext& context);

/// Records a run that failed with `error` (the post stage's failure path: release, status, metrics, clean
/// up); problems while recording are logged. For failures before run_backup_job could start.
void record_failed_run(BackupContext& context, const Error& error, double restic_seconds = 0);

} // namespace cwb::backup
