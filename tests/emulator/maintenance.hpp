#pragma once
// Connectware's database maintenance operations: an asynchronous backup (pg_dump into a .tgz) and an
// asynchronous restore (validate the uploaded archive, check versions, load it with psql), sharing one
// `running` flag, with the status JSON of GET /api/maintenance/db.

#include "faults.hpp"
#include "util/subprocess.hpp"
#include "version.hpp"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace cwb::emulator {

struct MaintenanceConfig {
  std::string conninfo;               // libpq conninfo of the real database
  std::filesystem::path pg_bin_dir;   // where pg_dump and psql live
  std::filesystem::path work_dir;     // exports and uploads
  Version own_version;                // stamped into exports, compared on restore
  std::vector<CompatRule> compat;     // cross-version refusal rules
  util::Environment base_environment; // PATH, locale... for pg_dump and psql (the password is added from conninfo)
};

enum class StartOutcome { started, busy };

class Maintenance {
public:
  Maintenance(MaintenanceConfig config, FaultSet& faults);
  ~Maintenance();
  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

  /// Returns {"running", "backup": {...}|null, "restore": {...}|null}.
  [[nodiscard]] nlohmann::json status() const;
  /// Starts a backup in the background; busy when a backup or restore runs.
  StartOutcome start_backup();
  /// Starts restoring the uploaded archive at `upload` (taken over and deleted afterwards); busy when
  /// an operation runs (the upload is deleted then too).
  StartOutcome start_restore(const std::filesystem::path& upload);
  /// Returns the path of the newest finished export, nullopt before any.
  [[nodiscard]] std::optional<std::filesystem::path> latest_backup() const;
  /// Returns a fresh path in the work dir to receive an upload.
  std::filesystem::path new_upload_path();
  /// Stops waiting (slow/stuck faults) and joins the worker. Called by the destructor too.
  void shutdown();

private:
  void run_backup(const std::string& id, const std::string& created);
  void run_restore(const std::filesystem::path& upload);
  Result<> export_database(const std::string& id, const std::string& created);
  Result<std::string> restore_database(const std::filesystem::path& upload, std::string& archive_id);
  /// Returns false when shutdown interrupted the wait.
  bool wait_seconds(unsigned seconds);
  void finish(const char* operation, bool succeeded, const std::string& id, const std::string& message);
  void start_worker(std::function<void()> work);

  MaintenanceConfig config_;
  FaultSet& faults_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool running_ = false;
  bool stopping_ = false;
  nlohmann::json backup_ = nullptr;
  nlohmann::json restore_ = nullptr;
  std::optional<std::filesystem::path> latest_backup_;
  std::string latest_backup_id_; // the id inside the newest export's metadata
  unsigned upload_counter_ = 0;
  std::thread worker_;
};

/// Returns `time` as ISO 8601 UTC with milliseconds: "2022-02-16T15:37:19.242Z".
std::string iso_time(std::chrono::system_clock::time_point time);

} // namespace cwb::emulator
