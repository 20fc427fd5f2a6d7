#include "installation/run_state.hpp"

#include "util/file_system.hpp"

#include <nlohmann/json.hpp>

#include <system_error>
#include <thread>

namespace cwb::installation {

using nlohmann::json;

namespace {

bool file_exists(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

} // namespace

Result<util::FileLock> acquire_run_lock(const StatePaths& paths, LockWait wait) {
  CWB_TRY(util::create_private_directory(paths.state_dir));
  constexpr int attempts_while_waiting = 300; // every 100 ms: 30 s
  for (int attempt = 0;; ++attempt) {
    auto lock = util::FileLock::try_acquire(paths.lock());
    if (lock || lock.error().kind != ErrorKind::locked) return lock;
    if (wait == LockWait::no || attempt >= attempts_while_waiting)
      return fail(lock.error().with_context("a backup or restore is running"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<> write_run_marker(const StatePaths& paths, const RunMarker& marker) {
  json stages = json::array();
  for (const auto& [stage, seconds] : marker.stage_seconds)
    stages.push_back({{"stage", stage}, {"seconds", seconds}});
  const json out = {{"run_id", marker.run_id},
                    {"started", marker.started},
                    {"started_unix_ms", marker.started_unix_ms},
                    {"owner_pid", marker.owner.pid},
                    {"owner_start_ticks", marker.owner.start_ticks},
                    {"connectware_version", marker.connectware_version},
                    {"quiesce_mode", marker.quiesce_mode},
                    {"quiesce_outcome", marker.quiesce_outcome},
                    {"quiesce_window_seconds", marker.quiesce_window_seconds},
                    {"database_bytes", marker.database_bytes},
                    {"database_archive_bytes", marker.database_archive_bytes},
                    {"volume_bytes", marker.volume_bytes},
                    {"database_entries", marker.database_entries},
                    {"volume_files", marker.volume_files},
                    {"shrink_findings", marker.shrink_findings},
                    {"tags", marker.tags},
                    {"scope", marker.scope},
                    {"downtime_seconds", marker.downtime_seconds},
                    {"stage_seconds", stages},
                    {"staged", marker.staged}};
  CWB_TRY(util::create_private_directory(paths.state_dir));
  return util::write_file_atomic(paths.run_marker(), out.dump(2) + "\n");
}

Result<std::optional<RunMarker>> read_run_marker(const StatePaths& paths) {
  if (!file_exists(paths.run_marker())) return std::optional<RunMarker>{};
  auto text = util::read_file(paths.run_marker());
  if (!text) return fail(text.error());
  const json in = json::parse(*text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return std::optional<RunMarker>{};
  RunMarker marker;
  marker.run_id = in.value("run_id", "");
  marker.started = in.value("started", "");
  marker.started_unix_ms = in.value("started_unix_ms", std::int64_t{0});
  marker.owner.pid = in.value("owner_pid", 0);
  marker.owner.start_ticks = in.value("owner_start_ticks", std::uint64_t{0});
  marker.connectware_version = in.value("connectware_version", "");
  marker.quiesce_mode = in.value("quiesce_mode", "");
  marker.quiesce_outcome = in.value("quiesce_outcome", "");
  marker.quiesce_window_seconds = in.value("quiesce_window_seconds", 0.0);
  marker.database_bytes = in.value("database_bytes", std::uint64_t{0});
  marker.database_archive_bytes = in.value("database_archive_bytes", std::uint64_t{0});
  marker.volume_bytes = in.value("volume_bytes", std::uint64_t{0});
  marker.database_entries = in.value("database_entries", std::uint64_t{0});
  marker.volume_files = in.value("volume_files", std::uint64_t{0});
  marker.shrink_findings = in.value("shrink_findings", std::vector<std::string>{});
  marker.tags = in.value("tags", std::vector<std::string>{});
  marker.scope = in.value("scope", "");
  marker.downtime_seconds = in.value("downtime_seconds", 0.0);
  if (const auto stages = in.find("stage_seconds"); stages != in.end() && stages->is_array()) {
    for (const auto& stage : *stages) {
      marker.stage_seconds.emplace_back(stage.value("stage", ""), stage.value("seconds", 0.0));
    }
  }
  marker.staged = in.value("staged", false);
  return std::optional<RunMarker>{std::move(marker)};
}

Result<> remove_run_marker(const StatePaths& paths) {
  return util::remove_tree(paths.run_marker());
}

Result<> write_pre_backup_failure(const StatePaths& paths, const Error& error, int exit_code) {
  CWB_TRY(util::create_private_directory(paths.state_dir));
  const json record{{"kind", to_string(error.kind)}, {"exit_code", exit_code}, {"message", error.message}};
  // A message may quote a file name that is not UTF-8: replaced, not thrown.
  return util::write_file_atomic(paths.pre_backup_failure(),
                                 record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

std::optional<RecordedFailure> read_pre_backup_failure(const StatePaths& paths) {
  if (!file_exists(paths.pre_backup_failure())) return std::nullopt;
  auto text = util::read_file(paths.pre_backup_failure());
  if (!text) return std::nullopt;
  const json in = json::parse(*text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return std::nullopt;
  const auto message = in.find("message");
  const auto code = in.find("exit_code");
  if (message == in.end() || !message->is_string() || code == in.end() || !code->is_number_integer())
    return std::nullopt;
  const auto kind = in.find("kind");
  const auto named = kind != in.end() && kind->is_string() ? error_kind_named(kind->get<std::string>()) : std::nullopt;
  return RecordedFailure{Error{named.value_or(ErrorKind::internal), message->get<std::string>()}, code->get<int>()};
}

Result<> remove_pre_backup_failure(const StatePaths& paths) {
  return util::remove_tree(paths.pre_backup_failure());
}

namespace {

/// A marker listing container ids under `key`: {"paused": [...]}, {"stopped": [...]}.
Result<> write_container_marker(const StatePaths& paths, const std::filesystem::path& marker, const char* key,
                                const std::vector<std::string>& container_ids) {
  CWB_TRY(util::create_private_directory(paths.state_dir));
  return util::write_file_atomic(marker, json{{key, container_ids}}.dump() + "\n");
}

Result<std::vector<std::string>> read_container_marker(const std::filesystem::path& marker, const char* key) {
  if (!file_exists(marker)) return std::vector<std::string>{};
  auto text = util::read_file(marker);
  if (!text) return fail(text.error());
  const json in = json::parse(*text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return std::vector<std::string>{};
  const auto ids = in.find(key);
  if (ids == in.end() || !ids->is_array()) return std::vector<std::string>{};
  std::vector<std::string> found;
  for (const auto& id : *ids)
    if (id.is_string()) found.push_back(id.get<std::string>());
  return found;
}

} // namespace

Result<> write_pause_marker(const StatePaths& paths, const std::vector<std::string>& container_ids) {
  return write_container_marker(paths, paths.pause_marker(), "paused", container_ids);
}

Result<std::vector<std::string>> read_pause_marker(const StatePaths& paths) {
  return read_container_marker(paths.pause_marker(), "paused");
}

Result<> remove_pause_marker(const StatePaths& paths) {
  return util::remove_tree(paths.pause_marker());
}

Result<> write_stop_marker(const StatePaths& paths, const std::vector<std::string>& container_ids) {
  return write_container_marker(paths, paths.stop_marker(), "stopped", container_ids);
}

Result<std::vector<std::string>> read_stop_marker(const StatePaths& paths) {
  return read_container_marker(paths.stop_marker(), "stopped");
}

Result<> remove_stop_marker(const StatePaths& paths) {
  return util::remove_tree(paths.stop_marker());
}

Result<> refuse_if_restore_unfinished(const StatePaths& paths) {
  std::error_code error;
  if (!std::filesystem::exists(paths.restore_journal(), error)) return {};
  auto text = util::read_file(paths.restore_journal());
  if (!text) return fail(text.error());
  const auto journal = nlohmann::json::parse(*text, nullptr, false);
  // Unreadable: the restore's own reader says more; the backup must not guess that nothing changed.
  if (!journal.is_object() || !journal.contains("live_state_may_differ") ||
      !journal["live_state_may_differ"].is_boolean())
    return fail(ErrorKind::staging_io, "the restore journal " + paths.restore_journal().string() +
                                           " cannot be read: run connectware-restore to see what it says");
  if (!journal["live_state_may_differ"].get<bool>()) return {};
  return fail(ErrorKind::unfinished_restore,
              "a restore was killed after it began changing Connectware (" + paths.restore_journal().string() +
                  "): no backup until it is finished or rolled back: connectware-restore --resume --yes, or "
                  "connectware-restore --roll-back --yes");
}

} // namespace cwb::installation
