#include "restic/messages.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace cwb::restic {
namespace {

using nlohmann::json;

std::uint64_t unsigned_field(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned() || it->is_number_integer()) {
    const auto value = it->get<std::int64_t>();
    return value < 0 ? 0 : static_cast<std::uint64_t>(value);
  }
  const double value = it->get<double>();
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

double double_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string string_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::vector<std::string> string_list(const json& object, const char* key) {
  std::vector<std::string> values;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return values;
  for (const auto& value : *it)
    if (value.is_string()) values.push_back(value.get<std::string>());
  return values;
}

BackupSummary to_summary(const json& object) {
  BackupSummary summary;
  summary.files_new = unsigned_field(object, "files_new");
  summary.files_changed = unsigned_field(object, "files_changed");
  summary.files_unmodified = unsigned_field(object, "files_unmodified");
  summary.dirs_new = unsigned_field(object, "dirs_new");
  summary.dirs_changed = unsigned_field(object, "dirs_changed");
  summary.dirs_unmodified = unsigned_field(object, "dirs_unmodified");
  summary.data_blobs = unsigned_field(object, "data_blobs");
  summary.tree_blobs = unsigned_field(object, "tree_blobs");
  summary.data_added = unsigned_field(object, "data_added");
  summary.total_files_processed = unsigned_field(object, "total_files_processed");
  summary.total_bytes_processed = unsigned_field(object, "total_bytes_processed");
  summary.total_duration = double_field(object, "total_duration");
  summary.snapshot_id = string_field(object, "snapshot_id");
  return summary;
}

BackupProgress to_progress(const json& object) {
  BackupProgress progress;
  progress.percent_done = double_field(object, "percent_done");
  progress.total_files = unsigned_field(object, "total_files");
  progress.files_done = unsigned_field(object, "files_done");
  progress.total_bytes = unsigned_field(object, "total_bytes");
  progress.bytes_done = unsigned_field(object, "bytes_done");
  progress.error_count = unsigned_field(object, "error_count");
  progress.seconds_elapsed = double_field(object, "seconds_elapsed");
  return progress;
}

BackupItemError to_item_error(const json& object) {
  BackupItemError error;
  error.item = string_field(object, "item");
  error.during = string_field(object, "during");
  if (const auto it = object.find("error"); it != object.end()) {
    if (it->is_string()) {
      error.message = it->get<std::string>();
    } else if (it->is_object()) {
      error.message = string_field(*it, "message");
      // restic 0.14 marshals Go's *PathError: {"Op":"open","Path":...,"Err":13}
      if (error.message.empty() && it->contains("Op"))
        error.message = string_field(*it, "Op") + " failed (errno " + std::to_string(unsigned_field(*it, "Err")) + ")";
    }
  }
  return error;
}

} // namespace

void BackupStreamParser::feed_line(std::string_view line) {
  if (line.empty() || line.front() != '{') return;
  const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return;
  const std::string type = string_field(object, "message_type");
  if (type == "status") {
    if (on_progress_) on_progress_(to_progress(object));
  } else if (type == "summary") {
    summary_ = to_summary(object);
  } else if (type == "error") {
    item_errors_.push_back(to_item_error(object));
  } else if (type == "verbose_status") {
    ++verbose_count_;
  }
}

void BackupStreamParser::feed_stream(std::istream& input) {
  std::string line;
  while (std::getline(input, line))
    feed_line(line);
}

std::optional<std::int64_t> unix_seconds_of(std::string_view rfc3339) {
  const std::string text{rfc3339};
  std::tm when{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &when.tm_year, &when.tm_mon, &when.tm_mday, &when.tm_hour,
                  &when.tm_min, &when.tm_sec, &consumed) != 6 ||
      consumed != 19)
    return std::nullopt;
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0)
      ++at;
  }
  std::int64_t offset = 0;
  if (text.substr(at) == "Z") {
    offset = 0;
  } else {
    int hours = 0, minutes = 0;
    char sign = 0;
    if (text.size() - at != 6 || std::sscanf(text.c_str() + at, "%c%2d:%2d", &sign, &hours, &minutes) != 3 ||
        (sign != '+' && sign != '-'))
      return std::nullopt;
    offset = (sign == '+' ? 1 : -1) * (hours * 3600 + minutes * 60);
  }
  when.tm_year -= 1900;
  when.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&when)) - offset;
}

Result<std::vector<Snapshot>> parse_snapshots(std::string_view json_text) {
  const json document = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!document.is_array()) return fail(ErrorKind::restic, "restic: snapshots --json did not print a JSON array");
  std::vector<Snapshot> snapshots;
  for (const auto& object : document) {
    if (!object.is_object() || !object.contains("id") || !object.contains("time"))
      return fail(ErrorKind::restic, "restic: snapshots --json printed an entry without id or time");
    Snapshot snapshot;
    snapshot.id = string_field(object, "id");
    snapshot.short_id = string_field(object, "short_id");
    if (snapshot.short_id.empty()) snapshot.short_id = snapshot.id.substr(0, 8);
    snapshot.time = string_field(object, "time");
    snapshot.hostname = string_field(object, "hostname");
    snapshot.tags = string_list(object, "tags");
    snapshot.paths = string_list(object, "paths");
    snapshots.push_back(std::move(snapshot));
  }
  return snapshots;
}

Result<RawDataStats> parse_raw_data_stats(std::string_view json_text) {
  const json object = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object() || !object.contains("total_size"))
    return fail(ErrorKind::restic, "restic: stats --json did not print an object with total_size");
  RawDataStats stats;
  stats.total_size = unsigned_field(object, "total_size");
  if (object.contains("total_uncompressed_size"))
    stats.total_uncompressed_size = unsigned_field(object, "total_uncompressed_size");
  if (object.contains("compression_ratio")) stats.compression_ratio = double_field(object, "compression_ratio");
  stats.total_blob_count = unsigned_field(object, "total_blob_count");
  stats.snapshots_count = unsigned_field(object, "snapshots_count");
  return stats;
}

} // namespace cwb::restic
