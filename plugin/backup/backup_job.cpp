#include "backup/backup_job.hpp"

#include "backup/post_backup.hpp"
#include "backup/pre_backup.hpp"
#include "snapshot/layout.hpp"

#include <spdlog/spdlog.h>

namespace cwb::backup {

namespace {

/// restic's own status lines (backup --json) on the progress line: percent, bytes, files, an estimate of
/// the time left.
restic::BackupStreamParser::ProgressCallback restic_progress(util::ProgressLine& line) {
  if (!line.enabled()) return {};
  return [&line](const restic::BackupProgress& progress) {
    std::string text = std::to_string(static_cast<int>(progress.percent_done * 100.0)) + "%, " +
                       util::human_bytes(progress.bytes_done) + " / " + util::human_bytes(progress.total_bytes) + ", " +
                       std::to_string(progress.files_done) + "/" + std::to_string(progress.total_files) + " files";
    if (progress.percent_done > 0.01 && progress.percent_done < 1.0) {
      const double left = progress.seconds_elapsed * (1.0 - progress.percent_done) / progress.percent_done;
      text += ", ETA " + util::clock_text(std::chrono::seconds(static_cast<std::int64_t>(left)));
    }
    line.show("restic backup", text);
  };
}

} // namespace

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
  auto summary = context.restic.backup(request, restic_progress(*context.progress.line));
  if (context.progress.line->enabled()) context.progress.line->finish("restic backup", summary ? "done" : "failed");
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
