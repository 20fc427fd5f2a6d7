#include "backup/backup_job.hpp"

#include "backup/post_backup.hpp"
#include "backup/pre_backup.hpp"
#include "snapshot/layout.hpp"

#include <spdlog/spdlog.h>

namespace cwb::backup {

void record_failed_run(BackupContext& context, const Error& error, double restic_seconds) {
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  request.failure = error;
  request.restic_seconds = restic_seconds;
  if (auto post = run_post_backup(context, request); !post) {
    spdlog::error("while recording the failure: {}", post.error().message);
  }
}

Result<BackupJobResult> run_backup_job(BackupContext& context) {
  const auto record_failure = [&context](const Error& error, double restic_seconds = 0) {
    record_failed_run(context, error, restic_seconds);
  };

  auto pre = run_pre_backup(context);
  // Refused because another run is in progress: the run marker, the staged archive and the status belong
  // to that run, and the post stage would take them away from it.
  if (!pre && pre.error().kind == ErrorKind::locked) return fail(pre.error());
  if (!pre) {
    record_failure(pre.error());
    return fail(pre.error());
  }

  const snapshot::Layout layout{context.config.staging_dir()};
  restic::BackupRequest request;
  request.paths = {layout.root};
  request.tags = pre->restic_tags;
  request.host = context.config.host();
  // The mirror's index only speeds up the next run; restoring it would be meaningless.
  request.excludes = {layout.mirror_index("x").parent_path().string()};
  const auto restic_start = context.clock.now();
  auto summary = context.restic.backup(request);
  const double restic_seconds =
      std::chrono::duration_cast<std::chrono::duration<double>>(context.clock.now() - restic_start).count();
  if (!summary) {
    record_failure(summary.error(), restic_seconds);
    return fail(summary.error());
  }
  spdlog::info("restic stored snapshot {}: {} new, {} changed, {} unchanged files, {} bytes added",
               summary->snapshot_id, summary->files_new, summary->files_changed, summary->files_unmodified,
               summary->data_added);

  PostBackupRequest post_request;
  post_request.snapshot_id = summary->snapshot_id;
  post_request.summary = *summary;
  post_request.restic_seconds = restic_seconds;
  post_request.apply_retention = true;
  auto post = run_post_backup(context, post_request);
  if (!post) return fail(post.error());
  return BackupJobResult{post->snapshot_id, *summary};
}

} // namespace cwb::backup
