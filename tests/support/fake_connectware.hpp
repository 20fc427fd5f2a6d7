#pragma once
// A scripted Connectware on a loopback port for the client tests: the maintenance status answers follow a
// list (the last one repeats), and every request is counted.

#include "connectware/client.hpp"
#include "support/loopback_server.hpp"
#include "util/sha256.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cwb::test {

/// Returns a maintenance status body; `succeeded` uses the docs' spelling "succeded".
inline std::string status_json(bool running, const std::string& backup_id, std::optional<bool> succeeded,
                               const std::string& message = "") {
  nlohmann::json backup = {{"id", backup_id}};
  if (succeeded) backup["succeded"] = *succeeded;
  if (!message.empty()) backup["message"] = message;
  return nlohmann::json{{"running", running}, {"backup", backup}}.dump();
}

inline std::string restore_status_json(bool running, std::optional<bool> succeeded, const std::string& message,
                                       const std::string& id = "") {
  nlohmann::json restore = {{"message", message}};
  if (succeeded) restore["succeeded"] = *succeeded;
  if (!id.empty()) restore["id"] = id;
  return nlohmann::json{{"running", running}, {"backup", {{"id", "old"}, {"succeded", true}}}, {"restore", restore}}
      .dump();
}

class FakeConnectware {
public:
  FakeConnectware() {
    auto server = std::make_unique<httplib::Server>();
    server->Get("/api/maintenance/db", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      last_authorization = req.get_header_value("Authorization");
      ++status_gets;
      if (!statuses.empty()) {
        res.set_content(statuses[std::min(next_status_, statuses.size() - 1)], "application/json");
        ++next_status_;
      }
      if (status_code != 200) res.status = status_code;
    });
    server->Post("/api/maintenance/db/backup", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mutex_);
      ++backup_posts;
      res.status = scripted(backup_post_statuses, backup_posts, backup_post_status);
      if (res.status == 202) {
        res.set_content("Accepted. Database backup started.", "text/plain");
      } else if (res.status >= 500) {
        res.set_content("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html");
      } else {
        res.set_content("busy", "text/plain");
      }
      const auto delay = backup_post_delay;
      lock.unlock(); // status requests are answered meanwhile
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
    });
    server->Get("/api/maintenance/db/backup", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++downloads;
      if (archive.empty()) {
        res.status = 404;
        res.set_content("Not Found", "text/plain");
        return;
      }
      res.set_content(archive, "application/gzip");
    });
    server->Post("/api/maintenance/db/restore", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++restore_posts;
      if (req.has_file("file")) uploaded_sha256 = util::sha256_hex(req.get_file_value("file").content);
      res.status = scripted(restore_post_statuses, restore_posts, restore_post_status);
    });
    server->Get("/api/system/info", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"time":"2024-01-01T00:00:00Z","version":"1.10.2","license":{"valid":true},"extra":1})",
                      "application/json");
    });
    server->Get("/api/system/health", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      if (!healths.empty()) {
        res.set_content(healths[std::min(next_health_, healths.size() - 1)], "application/json");
        ++next_health_;
      }
    });
    server->Get("/api/services",
                [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/api/services/", 301); });
    server->Get("/api/services/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"([{"id":"svc1","currentState":"enabled"}])", "application/json");
    });
    server->Post("/api/login", [this](const httplib::Request& req, httplib::Response& res) {
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.is_discarded() && body.value("password", "") == "admin") {
        res.set_content(R"({"token":"jwt.token.value"})", "application/json");
      } else {
        res.status = 401;
      }
      std::lock_guard lock(mutex_);
      last_login_body = req.body;
    });
    loopback_ = std::make_unique<LoopbackServer>(std::move(server));
  }

  [[nodiscard]] std::string base_url() const { return loopback_->base_url(); }

  /// Options pointing at this server with fast, counted retries.
  [[nodiscard]] connectware::ClientOptions options() const {
    connectware::ClientOptions options;
    options.base_url = base_url() + "/";
    options.credentials = connectware::PasswordCredentials{"admin", connectware::Secret("admin")};
    options.retry.max_attempts = 2;
    options.retry.initial_delay = std::chrono::milliseconds(10);
    return options;
  }

  // Script and counters (set before use; read after).
  std::vector<std::string> statuses;
  int status_code = 200;
  std::vector<std::string> healths;
  int backup_post_status = 202;
  int restore_post_status = 202;
  /// Statuses of the 1st, 2nd, ... POST (the last repeats); empty: always backup_post_status.
  std::vector<int> backup_post_statuses;
  std::vector<int> restore_post_statuses;
  /// How long the backup POST takes to answer (to run into the client's request timeout).
  std::chrono::milliseconds backup_post_delay{0};
  std::string archive;
  int status_gets = 0;
  int backup_posts = 0;
  int downloads = 0;
  int restore_posts = 0;
  std::string uploaded_sha256;
  std::string last_authorization;
  std::string last_login_body;

private:
  static int scripted(const std::vector<int>& script, int call, int otherwise) {
    if (script.empty()) return otherwise;
    return script[std::min<std::size_t>(static_cast<std::size_t>(call - 1), script.size() - 1)];
  }

  std::mutex mutex_;
  std::size_t next_status_ = 0;
  std::size_t next_health_ = 0;
  std::unique_ptr<LoopbackServer> loopback_;
};

} // namespace cwb::test
