#pragma once
// The outcome of one backup run, as the post-backup hook records it: a status JSON for people and
// monitoring scripts, and a Prometheus textfile (node_exporter's textfile collector) for alerting.
// Both are written on success and on failure alike; the last success is carried over from the previous
// status file so that "time since the last good backup" survives failed runs.

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cwb::snapshot {

/// How big a backup is, for the shrink alert (backup/shrink_check.hpp): each successful run's sizes are kept in
/// the status file, and the next run is compared with them.
struct RunSizes {
  std::uint64_t database_archive_bytes = 0; // as downloaded
  std::uint64_t database_entries = 0;       // tar entries in the archive
  std::uint64_t volume_files = 0;           // regular files in the staged volumes
  std::uint64_t volume_bytes = 0;           // their bytes
  bool operator==(const RunSizes&) const = default;
};

/// What connectware-backup's retention did after the backup (restic forget, with prune when set).
struct RetentionOutcome {
  bool success = false;
  bool pruned = false;
  std::uint64_t kept = 0;
  std::uint64_t removed = 0;
  std::string error; // when it failed
};

struct RunReport {
  /// "backup", "restore" or "restore_drill": names the metrics (connectware_<subject>_*). The quiesce and
  /// byte metrics are a backup's only; the snapshot age and duration a drill's.
  std::string subject = "backup";
  bool success = false;
  std::string error_kind; // empty on success
  std::string error_message;
  int exit_code = 0;
  std::string started;  // ISO 8601 UTC
  std::string finished; // ISO 8601 UTC
  std::int64_t finished_unix = 0;
  std::optional<std::int64_t> last_success_unix; // carried over when this run failed
  std::optional<std::string> last_success;       // ISO 8601 UTC
  std::map<std::string, double> stage_seconds;   // "export", "stage_volumes", "restic", ...
  double quiesce_window_seconds = 0;
  std::string quiesce_mode;
  std::string quiesce_outcome;              // backup::quiesce_outcome_* (optimistic mode), else empty
  std::string scope;                        // "configuration" or "full"; empty when the run never got that far
  double downtime_seconds = 0;              // scope = full: how long the installation was stopped
  std::uint64_t database_bytes = 0;         // as stored (unpacked tar or archive)
  std::uint64_t database_archive_bytes = 0; // as downloaded from Connectware
  std::uint64_t volume_bytes = 0;
  std::uint64_t restic_data_added = 0;
  std::string snapshot_id;
  std::string connectware_version;
  std::optional<RunSizes> sizes;                    // a backup that got as far as its manifest
  std::optional<RunSizes> last_success_sizes;       // this run's when it succeeded, else carried over
  bool shrink_alert = false;                        // this backup dropped by more than shrink-alert-percent
  std::vector<std::string> shrink_findings;         // what dropped, "volume files: 1204 -> 3 (-99.8 %)"
  std::optional<RetentionOutcome> retention;        // when connectware-backup applied keep-* settings
  std::optional<std::int64_t> snapshot_age_seconds; // a drill: how old the snapshot it proved was
  double duration_seconds = 0;                      // a drill: the whole run
  std::string read_data_subset;                     // a drill: what restic check read back
};

/// Returns the status JSON text of a report.
std::string status_json(const RunReport& report);

/// Returns the Prometheus text exposition of a report (metric prefix connectware_backup_).
std::string prometheus_text(const RunReport& report);

/// Reads the last success time from a previous status file; nullopt when there is none or it is unreadable.
std::optional<std::pair<std::int64_t, std::string>> read_last_success(const std::filesystem::path& status_file);

/// Reads the sizes of the last successful backup from a previous status file; nullopt when there is none, it
/// is unreadable, or it comes from a version that did not record them.
std::optional<RunSizes> read_last_success_sizes(const std::filesystem::path& status_file);

/// Writes the status JSON and (when `metrics_file` is not empty) the Prometheus textfile atomically,
/// carrying the last success (time and sizes) over from the previous status file when this run failed.
/// Errors: staging_io.
Result<> write_run_report(RunReport report, const std::filesystem::path& status_file,
                          const std::filesystem::path& metrics_file);

} // namespace cwb::snapshot
