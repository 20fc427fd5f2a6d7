#include "maintenance.hpp"

#include "database.hpp"
#include "db_archive.hpp"
#include "util/file_system.hpp"

#include <cstdio>
#include <ctime>
#include <regex>

namespace cwb::emulator {
namespace {

constexpr auto pg_tool_timeout = std::chrono::minutes(10);

std::string last_line(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' '))
    trimmed.pop_back();
  const std::size_t newline = trimmed.rfind('\n');
  return newline == std::string::npos ? trimmed : trimmed.substr(newline + 1);
}

} // namespace

std::string iso_time(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return buffer;
}

Maintenance::Maintenance(MaintenanceConfig config, FaultSet& faults) : config_(std::move(config)), faults_(faults) {}

Maintenance::~Maintenance() {
  shutdown();
}

void Maintenance::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

namespace {

// One finished operation as a variant presents it (see faults.hpp: `variant`). Stored in the docs' form plus
// the times, which only some variants show.
nlohmann::json present_operation(const nlohmann::json& stored, std::string_view variant) {
  if (variant == "nulls") {
    // Every field present, null where there is nothing yet (the first backup of a fresh installation),
    // the other spelling, times as ISO text, and unknown fields, nested too.
    if (stored.is_null()) {
      return {{"id", nullptr},      {"succeeded", nullptr}, {"message", nullptr},
              {"created", nullptr}, {"finished", nullptr},  {"details", {{"running", nullptr}}}};
    }
    return {
        {"id", stored.at("id")},
        {"succeeded", stored.at("succeded")},
        {"message", stored.at("message").get<std::string>().empty() ? nlohmann::json(nullptr) : stored.at("message")},
        {"created", stored.value("created", "")},
        {"finished", stored.value("finished", "")},
        {"details", {{"running", "n/a"}, {"steps", nlohmann::json::array({1, 2})}}}};
  }
  if (variant == "terse") {
    // Only what is known: no message, times as Unix milliseconds (numbers), the other spelling.
    if (stored.is_null()) return nullptr;
    return {{"id", stored.at("id")},
            {"succeeded", stored.at("succeded")},
            {"finished", stored.value("finished_unix_ms", std::int64_t{0})}};
  }
  if (stored.is_null()) return nullptr;
  return {{"succeded", stored.at("succeded")}, {"id", stored.at("id")}, {"message", stored.at("message")}};
}

} // namespace

nlohmann::json Maintenance::status() const {
  const std::lock_guard lock(mutex_);
  const std::string variant = faults_.value("variant").value_or("docs");
  nlohmann::json out{{"running", running_}, {"backup", present_operation(backup_, variant)}};
  // terse leaves out a restore that never happened; the others show it (null, or all-null fields).
  if (variant != "terse" || !restore_.is_null()) out["restore"] = present_operation(restore_, variant);
  if (variant == "nulls") out["meta"] = {{"schema", 2}, {"running", "unknown"}, {"backup", {{"id", 7}}}};
  return out;
}

std::optional<std::filesystem::path> Maintenance::latest_backup() const {
  const std::lock_guard lock(mutex_);
  return latest_backup_;
}

std::filesystem::path Maintenance::new_upload_path() {
  const std::lock_guard lock(mutex_);
  return config_.work_dir / ("upload-" + std::to_string(++upload_counter_) + ".tgz");
}

void Maintenance::start_worker(std::function<void()> work) {
  // Called with mutex_ held and running_ just set: the previous worker has cleared running_ as its last
  // act, so joining it here does not wait for anything that needs the mutex.
  if (worker_.joinable()) worker_.join();
  worker_ = std::thread(std::move(work));
}

StartOutcome Maintenance::start_backup() {
  const std::lock_guard lock(mutex_);
  if (running_ || stopping_) return StartOutcome::busy;
  running_ = true;
  const auto now = std::chrono::system_clock::now();
  const std::string created = iso_time(now);
  const std::string id = config_.own_version.text + "_" + created;
  start_worker([this, id, created] { run_backup(id, created); });
  return StartOutcome::started;
}

StartOutcome Maintenance::start_restore(const std::filesystem::path& upload) {
  {
    const std::lock_guard lock(mutex_);
    if (running_ || stopping_) {
      std::error_code ignored;
      std::filesystem::remove(upload, ignored);
      return StartOutcome::busy;
    }
    running_ = true;
    start_worker([this, upload] { run_restore(upload); });
  }
  // instant_restore: answered only once the restore is over (finish() clears running_ under the mutex).
  while (faults_.active("instant_restore")) {
    std::unique_lock lock(mutex_);
    if (!running_ || wake_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stopping_; })) break;
  }
  return StartOutcome::started;
}

bool Maintenance::wait_seconds(unsigned seconds) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stopping_; });
}

void Maintenance::finish(const char* operation, bool succeeded, const std::string& id, const std::string& message) {
  // stuck_running keeps the flag up after the work is done, for as long as the fault stays set.
  while (faults_.active("stuck_running")) {
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) break;
  }
  const std::lock_guard lock(mutex_);
  nlohmann::json& target = std::string_view(operation) == "backup" ? backup_ : restore_;
  const auto now = std::chrono::system_clock::now();
  target = nlohmann::json{
      {"succeded", succeeded},
      {"id", id},
      {"message", message},
      {"created", iso_time(now)},
      {"finished", iso_time(now)},
      {"finished_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()}};
  running_ = false;
  std::fprintf(stderr, "connectware-emulator: %s %s: %s\n", operation, succeeded ? "finished" : "failed",
               message.c_str());
}

void Maintenance::run_backup(const std::string& id, const std::string& created) {
  if (!wait_seconds(faults_.seconds("slow_export")))
    return finish("backup", false, id, "Backup aborted: shutting down.");
  if (faults_.consume("fail_export"))
    return finish("backup", false, id, "Backup failed: pg_dump exited with exit code 1 (injected fault fail_export).");
  auto exported = export_database(id, created);
  if (!exported) return finish("backup", false, id, "Backup failed: " + exported.error().message);
  finish("backup", true, id, "Backup finished.");
}

Result<> Maintenance::export_database(const std::string& id, const std::string& created) {
  auto env = config_.base_environment;
  auto pg_env = libpq_environment(config_.conninfo);
  if (!pg_env) return fail(pg_env.error());
  for (const auto& [key, value] : *pg_env)
    env[key] = value;

  const auto dump = config_.work_dir / ("dump-" + id + ".sql");
  util::ProcessOptions options;
  options.argv = {(config_.pg_bin_dir / "pg_dump").string(), "--no-owner", "--no-privileges", "--file", dump.string()};
  options.env = env;
  options.timeout = pg_tool_timeout;
  auto result = util::run_process(options);
  if (!result) return fail(result.error());
  if (!result->status.success()) {
    std::error_code ignored;
    std::filesystem::remove(dump, ignored);
    return fail(ErrorKind::export_failed,
                "pg_dump " + result->status.describe() + ": " + last_line(result->stderr_text));
  }

  const auto archive = config_.work_dir / ("backup-" + id + ".tgz");
  const auto partial = config_.work_dir / ("backup-" + id + ".tgz.partial");
  auto written = write_db_archive(partial, ArchiveMetadata{config_.own_version.text, id, created}, dump);
  std::error_code ignored;
  std::filesystem::remove(dump, ignored);
  if (!written) {
    std::filesystem::remove(partial, ignored);
    return fail(written.error());
  }
  std::error_code error;
  std::filesystem::rename(partial, archive, error);
  if (error) return fail(ErrorKind::staging_io, "renaming the export: " + error.message());

  const std::lock_guard lock(mutex_);
  // Only the newest export is kept; a download in progress holds its own descriptor to the old one.
  if (latest_backup_) std::filesystem::remove(*latest_backup_, ignored);
  latest_backup_ = archive;
  latest_backup_id_ = id;
  return {};
}

void Maintenance::run_restore(const std::filesystem::path& upload) {
  std::string archive_id;
  auto outcome = [&]() -> Result<std::string> {
    if (!wait_seconds(faults_.seconds("slow_restore")))
      return fail(ErrorKind::interrupted, "Restore aborted: shutting down.");
    const bool reworded = faults_.value("variant") == "nulls";
    if (faults_.consume("fail_restore")) {
      // The nulls variant words its failures its own way: a generic one that quotes version numbers.
      return fail(ErrorKind::internal,
                  reworded ? "Restore failed: psql 15.4.0 exited with exit code 3 against server version 14.11.0 "
                             "(injected fault fail_restore)."
                           : "Restore failed: psql exited with exit code 3 (injected fault fail_restore).");
    }
    auto restored = restore_database(upload, archive_id);
    if (!restored && reworded && restored.error().kind == ErrorKind::incompatible_version) {
      // The same refusal, worded differently: only the version it names is the same.
      static const std::regex last_version(R"((\d+\.\d+\.\d+)[^0-9]*$)");
      std::smatch match;
      const std::string& message = restored.error().message;
      if (std::regex_search(message, match, last_version))
        return fail(ErrorKind::incompatible_version,
                    "Incompatible backup file: use Connectware " + match[1].str() + " to restore it");
    }
    return restored;
  }();
  std::error_code ignored;
  std::filesystem::remove(upload, ignored);
  if (outcome)
    finish("restore", true, archive_id, *outcome);
  else
    finish("restore", false, archive_id, outcome.error().message);
}

Result<std::string> Maintenance::restore_database(const std::filesystem::path& upload, std::string& archive_id) {
  const auto dump = std::filesystem::path(upload.string() + ".sql");
  struct RemoveDump {
    std::filesystem::path path;
    ~RemoveDump() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } remove_dump{dump};

  auto metadata = read_db_archive(upload, dump);
  if (!metadata)
    return fail(ErrorKind::export_invalid,
                "Restore failed: the uploaded file is not a valid database backup: " + metadata.error().message);
  archive_id = metadata->id;
  // As a server that no longer takes an older archive does: its own newest export (a restore's safety
  // copy, put back by a rollback) is still taken.
  const bool own_newest_export = [&] {
    const std::lock_guard lock(mutex_);
    return !latest_backup_id_.empty() && metadata->id == latest_backup_id_;
  }();
  if (const auto last = faults_.value("refuse_restore"); last && !own_newest_export)
    return fail(ErrorKind::incompatible_version, refusal_message(metadata->version, *last));
  auto archive_version = Version::parse(metadata->version);
  if (!archive_version)
    return fail(ErrorKind::export_invalid,
                "Restore failed: the backup file names no valid version: \"" + metadata->version + "\".");
  if (auto refusal = restore_refusal(*archive_version, config_.own_version, config_.compat))
    return fail(ErrorKind::incompatible_version, *refusal);

  auto env = config_.base_environment;
  auto pg_env = libpq_environment(config_.conninfo);
  if (!pg_env) return fail(pg_env.error());
  for (const auto& [key, value] : *pg_env)
    env[key] = value;
  util::ProcessOptions options;
  // One transaction: a dump that fails half-way leaves the database as it was.
  options.argv = {(config_.pg_bin_dir / "psql").string(),
                  "-X",
                  "-q",
                  "-v",
                  "ON_ERROR_STOP=1",
                  "--single-transaction",
                  "-c",
                  "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public; "
                  "ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;",
                  "-f",
                  dump.string()};
  options.env = env;
  options.timeout = pg_tool_timeout;
  auto result = util::run_process(options);
  if (!result) return fail(result.error().with_context("Restore failed"));
  if (!result->status.success())
    return fail(ErrorKind::internal,
                "Restore failed: psql " + result->status.describe() + ": " + last_line(result->stderr_text));
  return std::string("Restore finished.");
}

} // namespace cwb::emulator
