#pragma once
// State that must outlive one hook process, kept in the state folder, and the one lock that keeps backups
// and restores of one installation apart:
//
// - The *run marker* ties a pre-backup hook to the post-backup hook of the same run. resticprofile and
//   enterprise routines start pre, restic and post as separate processes, so a flock held by one process
//   cannot span the run. The marker names the process that started the run (the pre hook's parent:
//   resticprofile, cron's shell, connectware-backup itself) by PID and start time; a second run is refused
//   while that process lives, and a marker whose owner died is recovered (its leftovers released) instead
//   of blocking backups forever.
// - The *pause marker* lists the containers a run paused. It is written before pausing, so a run killed
//   with SIGKILL while they were paused leaves enough behind for the post hook or the next run to unpause
//   them. (Other platforms hold the configuration differently; each records what it changed here before
//   changing it, under its own marker file.)
// - The *stop marker* does the same for the containers a full-installation backup stops (scope = full):
//   written before the first stop, so that whoever finds it starts them again.
// - The *run lock* (flock on backup.lock): held by whichever hook works on the installation right now.

#include "core/error.hpp"
#include "util/file_lock.hpp"
#include "util/process_identity.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cwb::installation {

struct RunMarker {
  std::string run_id;  // ISO start time + pid, unique enough to tell runs apart in logs
  std::string started; // ISO 8601 UTC
  std::int64_t started_unix_ms = 0;
  util::ProcessIdentity owner; // the process whose life bounds the run
  std::string connectware_version;
  std::string quiesce_mode;
  std::string quiesce_outcome; // backup::quiesce_outcome_* (optimistic mode), else empty
  double quiesce_window_seconds = 0;
  std::uint64_t database_bytes = 0;         // as stored in the staging folder
  std::uint64_t database_archive_bytes = 0; // as downloaded
  std::uint64_t volume_bytes = 0;
  std::uint64_t database_entries = 0; // tar entries of the database archive
  std::uint64_t volume_files = 0;     // regular files in the staged volumes
  /// What dropped against the last successful backup by more than shrink-alert-percent (on-shrink = warn).
  std::vector<std::string> shrink_findings;
  std::vector<std::string> tags;
  std::string scope;           // "configuration" or "full"
  double downtime_seconds = 0; // scope = full: the installation stopped, until healthy again
  std::vector<std::pair<std::string, double>> stage_seconds;
  bool staged = false; // the pre hook finished: the staging folder is complete
};

struct StatePaths {
  std::filesystem::path state_dir;

  [[nodiscard]] std::filesystem::path lock() const { return state_dir / "backup.lock"; }
  [[nodiscard]] std::filesystem::path run_marker() const { return state_dir / "run.json"; }
  [[nodiscard]] std::filesystem::path pause_marker() const { return state_dir / "paused-containers.json"; }
  /// The containers a full backup stopped, in stop order (written before the first stop).
  [[nodiscard]] std::filesystem::path stop_marker() const { return state_dir / "stopped-containers.json"; }
  /// How the pre-backup hook failed, for the post hook that resticprofile (or an agent) runs next.
  [[nodiscard]] std::filesystem::path pre_backup_failure() const { return state_dir / "pre-backup-failure.json"; }
  /// A restore's progress (restore/restore_journal.hpp); present while one runs or after one was killed.
  [[nodiscard]] std::filesystem::path restore_journal() const { return state_dir / "restore-journal.json"; }
};

/// How acquire_run_lock behaves when another process holds the lock.
enum class LockWait {
  no,      // fail at once: a second backup or restore must not queue up behind the first
  a_while, // up to 30 s: the post hook follows its own pre hook, whose process may still be exiting
};

/// Takes the run lock of the state folder (creating the folder, owner-only). Errors: locked (another backup
/// or restore holds it; with LockWait::a_while after waiting), staging_io.
Result<util::FileLock> acquire_run_lock(const StatePaths& paths, LockWait wait);

/// Writes the run marker atomically. Errors: staging_io.
Result<> write_run_marker(const StatePaths& paths, const RunMarker& marker);

/// Returns the run marker, or nullopt when there is none. Errors: staging_io when it exists but cannot be
/// read; a marker that is not valid JSON is treated as absent (a crash while writing cannot happen: it is
/// renamed into place), so it never blocks backups.
Result<std::optional<RunMarker>> read_run_marker(const StatePaths& paths);

/// Removes the run marker; succeeds when there is none.
Result<> remove_run_marker(const StatePaths& paths);

/// Records how the pre-backup hook failed: its exit code is all resticprofile's run-after-fail hook (or an
/// agent's post script) learns, and "restic, exit 9" is not what happened. Errors: staging_io.
Result<> write_pre_backup_failure(const StatePaths& paths, const Error& error, int exit_code);

/// A failure the pre-backup hook recorded.
struct RecordedFailure {
  Error error;
  int exit_code = 0;
};

/// Returns the pre-backup hook's recorded failure, or nullopt when there is none (or it is unreadable).
std::optional<RecordedFailure> read_pre_backup_failure(const StatePaths& paths);

/// Removes the record; succeeds when there is none.
Result<> remove_pre_backup_failure(const StatePaths& paths);

/// For the backup, called with the run lock held: unfinished_restore when a killed restore's journal says
/// the live installation may differ from before it (a backup would save a mix of two states). Errors:
/// unfinished_restore, staging_io (the journal cannot be read).
Result<> refuse_if_restore_unfinished(const StatePaths& paths);

/// Writes the list of paused container ids (before pausing them). Errors: staging_io.
Result<> write_pause_marker(const StatePaths& paths, const std::vector<std::string>& container_ids);

/// Returns the container ids a run recorded as paused (empty when there is no marker).
Result<std::vector<std::string>> read_pause_marker(const StatePaths& paths);

/// Removes the pause marker; succeeds when there is none.
Result<> remove_pause_marker(const StatePaths& paths);

/// Writes the ids of the containers a full backup is about to stop, in stop order. Errors: staging_io.
Result<> write_stop_marker(const StatePaths& paths, const std::vector<std::string>& container_ids);
/// Returns the container ids a run recorded as stopped, in stop order (empty when there is no marker).
Result<std::vector<std::string>> read_stop_marker(const StatePaths& paths);
/// Removes the stop marker; succeeds when there is none.
Result<> remove_stop_marker(const StatePaths& paths);

} // namespace cwb::installation
