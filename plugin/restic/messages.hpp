#pragma once
// restic's --json output: the line stream of `backup --json` (one object per line with a message_type;
// unknown types and fields are ignored because newer restic versions add them) and the documents of
// `snapshots --json` and `stats --json`. Parsers take a line or a stream so recorded output can be replayed.

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::restic {

/// message_type "status": progress of a running backup. Fields restic leaves out stay 0.
struct BackupProgress {
  double percent_done = 0;
  std::uint64_t total_files = 0;
  std::uint64_t files_done = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t error_count = 0;
  double seconds_elapsed = 0;
};

/// message_type "error": an item restic could not read (the snapshot will be incomplete).
struct BackupItemError {
  std::string item;
  std::string during;  // "archival", "scan"
  std::string message; // restic >= 0.17 has error.message; 0.14 only an Op/Path/Err object
};

/// message_type "summary", with the fields of restic 0.14.
struct BackupSummary {
  std::uint64_t files_new = 0;
  std::uint64_t files_changed = 0;
  std::uint64_t files_unmodified = 0;
  std::uint64_t dirs_new = 0;
  std::uint64_t dirs_changed = 0;
  std::uint64_t dirs_unmodified = 0;
  std::uint64_t data_blobs = 0;
  std::uint64_t tree_blobs = 0;
  std::uint64_t data_added = 0; // bytes before compression
  std::uint64_t total_files_processed = 0;
  std::uint64_t total_bytes_processed = 0;
  double total_duration = 0; // seconds
  std::string snapshot_id;   // short id (8 hex) in 0.14
};

/// Collects the line stream of `restic backup --json`.
class BackupStreamParser {
public:
  using ProgressCallback = std::function<void(const BackupProgress&)>;

  explicit BackupStreamParser(ProgressCallback on_progress = {}) : on_progress_(std::move(on_progress)) {}

  /// Takes one line. Lines that are not JSON objects, unknown message types and unknown fields are
  /// ignored (restic prints the odd plain-text line, and newer versions add types).
  void feed_line(std::string_view line);
  /// Takes every line of `input`.
  void feed_stream(std::istream& input);

  /// Returns the summary, or nullopt when none came (restic failed before finishing).
  [[nodiscard]] const std::optional<BackupSummary>& summary() const { return summary_; }
  /// Returns the items restic reported as unreadable, in order.
  [[nodiscard]] const std::vector<BackupItemError>& item_errors() const { return item_errors_; }
  /// Returns how many verbose_status lines came (only with --verbose).
  [[nodiscard]] std::size_t verbose_count() const { return verbose_count_; }

private:
  ProgressCallback on_progress_;
  std::optional<BackupSummary> summary_;
  std::vector<BackupItemError> item_errors_;
  std::size_t verbose_count_ = 0;
};

struct Snapshot {
  std::string id;       // 64 hex
  std::string short_id; // 8 hex
  std::string time;     // RFC 3339 as restic writes it
  std::string hostname;
  std::vector<std::string> tags;
  std::vector<std::string> paths;
};

/// Returns the Unix time (seconds) of an RFC 3339 time as restic writes it ("2026-12-07T02:15:04.123456789+01:00",
/// "...Z"), or nullopt when it is not one.
std::optional<std::int64_t> unix_seconds_of(std::string_view rfc3339);

/// Returns the snapshots of `snapshots --json` output (a JSON array). Errors: restic when it is not an
/// array of objects with id, time and paths.
Result<std::vector<Snapshot>> parse_snapshots(std::string_view json_text);

/// `stats --mode raw-data --json`.
struct RawDataStats {
  std::uint64_t total_size = 0;                         // bytes stored (after compression)
  std::optional<std::uint64_t> total_uncompressed_size; // restic >= 0.15
  std::optional<double> compression_ratio;              // restic >= 0.15
  std::uint64_t total_blob_count = 0;
  std::uint64_t snapshots_count = 0;
};

/// Returns the numbers of `stats --mode raw-data --json` output. Errors: restic when total_size is missing
/// or the text is not JSON.
Result<RawDataStats> parse_raw_data_stats(std::string_view json_text);

} // namespace cwb::restic
