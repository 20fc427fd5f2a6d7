#pragma once
// The pre-backup hook's work: take the run, hold the configuration still, export the database and
// mirror the volumes into the staging folder, and describe it all in manifest.json.

#include "backup/backup_context.hpp"
#include "core/error.hpp"
#include "snapshot/manifest.hpp"

namespace cwb::backup {

struct PreBackupResult {
  snapshot::Manifest manifest;          // as written, but without the volume entries (they are in manifest.json)
  std::vector<std::string> restic_tags; // what `restic backup --tag` should get
};

/// Runs the pre-backup stage. On success the staging folder is complete, the run marker says so, and
/// every container is running again. On failure everything is released (containers unpaused, the
/// partial DB archive removed, the run marker dropped) before the error is returned, so a caller that
/// never runs the post hook leaves nothing behind.
/// Errors: locked (another run), usage, unreachable, authentication, export_failed, export_invalid,
/// quiesce_failed, staging_io, container_runtime, interrupted.
Result<PreBackupResult> run_pre_backup(BackupContext& context);

} // namespace cwb::backup
