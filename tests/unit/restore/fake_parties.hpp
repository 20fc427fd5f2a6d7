#pragma once
// Fakes for the restore pipeline's unit tests: a stateful Connectware on a loopback port (its "database" is
// the archive last restored, an export returns it), and a ProcessRunner standing in for restic (snapshots,
// restore by copying a prepared staging folder) and for restart-command.

#include "staging/mirror.hpp"
#include "support/loopback_server.hpp"
#include "util/sha256.hpp"
#include "util/subprocess.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace cwb::test {

class StatefulConnectware {
public:
  /// `database`: the bytes an export returns until a restore replaces them.
  explicit StatefulConnectware(std::string database) : database_(std::move(database)) {
    auto server = std::make_unique<httplib::Server>();
    server->Get("/api/maintenance/db", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      nlohmann::json status = {{"running", false}};
      if (!backup_id_.empty()) status["backup"] = {{"id", backup_id_}, {"succeded", true}};
      if (!restore_.is_null()) status["restore"] = restore_;
      res.set_content(status.dump(), "application/json");
    });
    server->Post("/api/maintenance/db/backup", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++backup_posts;
      exported_ = database_;
      backup_id_ = "1.10.2_backup-" + std::to_string(backup_posts);
      res.status = 202;
    });
    server->Get("/api/maintenance/db/backup", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      res.set_content(exported_, "application/gzip");
    });
    server->Post("/api/maintenance/db/restore", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++restore_posts;
      const auto upload = req.get_file_value("file").content;
      const auto id = "restore-" + std::to_string(restore_posts);
      if (!refuse_with.empty() && upload != exported_) { // its own newest export is still taken
        restore_ = {{"id", id},
                    {"succeeded", false},
                    {"message", "Restore refused: the backup file needs Connectware version " + refuse_with +
                                    " or older to be restored."}};
      } else if (!fail_with.empty()) {
        restore_ = {{"id", id}, {"succeeded", false}, {"message", fail_with}};
        fail_with.clear();
      } else if (failing_restores > 0) {
        --failing_restores;
        restore_ = {{"id", id}, {"succeeded", false}, {"message", "Restore failed: psql exited with exit code 3."}};
      } else {
        database_ = upload;
        restore_ = {{"id", id}, {"succeeded", true}, {"message", "Restore finished."}};
      }
      res.status = 202;
    });
    server->Get("/api/system/info", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(nlohmann::json{{"version", version}}.dump(), "application/json");
    });
    server->Get("/api/system/health", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++health_gets;
      // Before the first upload Connectware is as it was before the restore: unhealthy answers only follow one.
      const bool down = restore_posts > 0 && unhealthy_answers > 0;
      if (down) --unhealthy_answers;
      nlohmann::json status = nlohmann::json::array();
      status.push_back({{"name", "connectware"}, {"status", "running"}});
      status.push_back({{"name", "service-manager"}, {"status", down ? "exited" : "running"}});
      if (!stopped_service.empty()) status.push_back({{"name", stopped_service}, {"status", "exited"}});
      res.set_content(nlohmann::json{{"system", {{"status", status}}}}.dump(), "application/json");
    });
    loopback_ = std::make_unique<LoopbackServer>(std::move(server));
  }

  [[nodiscard]] std::string base_url() const { return loopback_->base_url(); }
  [[nodiscard]] std::string database() {
    std::lock_guard lock(mutex_);
    return database_;
  }

  // Script (set before use) and counters (read after).
  std::string version = "1.10.2";
  std::string refuse_with;     // non-empty: every restore but of the newest export is refused naming this version
  std::string fail_with;       // non-empty: the next restore fails with this message
  int failing_restores = 0;    // the next N restores fail
  int unhealthy_answers = 0;   // the next N health answers after the first upload list the service-manager as exited
  std::string stopped_service; // non-empty: a service every health answer lists as exited
  int backup_posts = 0;
  int restore_posts = 0;
  int health_gets = 0;

private:
  std::mutex mutex_;
  std::string database_;
  std::string exported_;
  std::string backup_id_;
  nlohmann::json restore_;
  std::unique_ptr<LoopbackServer> loopback_;
};

/// restic (version, snapshots, restore) and any other command, recorded in `calls` as joined argv.
class FakeProcessRunner final : public util::ProcessRunner {
public:
  std::filesystem::path staging_root; // what the one snapshot holds
  std::string snapshot_id = std::string(64, 'a');
  std::string snapshot_host = "testhost";
  /// Further snapshots the repository lists before (older than) the one above: {id, hostname}.
  std::vector<std::pair<std::string, std::string>> other_snapshots;
  bool empty_repository = false; // `snapshots` lists none
  std::vector<std::string> calls;
  int restart_exit_code = 0;
  /// Runs when `restic restore` is called, before it writes anything.
  std::function<void()> before_restore;
  /// Runs after `restic restore` wrote the fetched copy, with the copy's staging folder.
  std::function<void(const std::filesystem::path&)> after_restore;

  Result<util::ProcessResult> run(const util::ProcessOptions& options) override {
    std::string joined;
    for (const auto& arg : options.argv)
      joined += (joined.empty() ? "" : " ") + arg;
    calls.push_back(joined);
    util::ProcessResult result;
    result.status.code = 0;
    const auto has = [&](const std::string& word) {
      return std::ranges::find(options.argv, word) != options.argv.end();
    };
    if (options.argv.front() != "restic") {
      result.status.code = restart_exit_code;
      if (restart_exit_code != 0) result.stderr_text = "restart failed\n";
    } else if (has("version")) {
      result.stdout_text = "restic 0.14.0 compiled with go1.19.8 on linux/amd64\n";
    } else if (has("snapshots")) {
      const auto snapshot = [this](const std::string& id, const std::string& host) {
        return nlohmann::json{{"time", "2026-11-25T15:29:09.54Z"}, {"tree", std::string(64, 'b')},
                              {"paths", {staging_root.string()}},  {"hostname", host},
                              {"tags", {"connectware"}},           {"id", id},
                              {"short_id", id.substr(0, 8)}};
      };
      auto listed = nlohmann::json::array();
      for (const auto& [id, host] : other_snapshots)
        listed.push_back(snapshot(id, host));
      listed.push_back(snapshot(snapshot_id, snapshot_host));
      if (empty_repository) listed = nlohmann::json::array();
      // `snapshots -- ID` (find_snapshot): the ones whose id starts with it.
      if (has("--")) {
        const auto& wanted = options.argv.back();
        auto matching = nlohmann::json::array();
        for (const auto& item : listed)
          if (item["id"].get<std::string>().starts_with(wanted)) matching.push_back(item);
        listed = matching;
      }
      result.stdout_text = listed.dump();
    } else if (has("restore")) {
      if (before_restore) before_restore();
      const auto target = std::find(options.argv.begin(), options.argv.end(), "--target")[1];
      const auto fetched = std::filesystem::path(target) / staging_root.relative_path();
      auto copied = staging::mirror_tree(staging_root, fetched);
      if (!copied) return fail(copied.error());
      if (after_restore) after_restore(fetched);
    }
    return result;
  }
};

} // namespace cwb::test
