#pragma once
// The parties of a backup run, faked for the unit tests of plugin/backup:
// - ScriptedConnectware: an http::Transport that plays Connectware's maintenance API as a small state
//   machine (an export runs for a few status polls, then finishes with a new id), so the pipeline's
//   polling, download and "another export overwrote ours" check run without a server or wall time.
// - CancellableSleeper: advances a FakeClock instead of sleeping and honours util::cancellation like the
//   real SystemSleeper.
// - ResticReplay: a util::ProcessRunner replaying recorded restic 0.14 output (tests/unit/restic/golden).
// - BackupRig: all of the above plus a FakeContainerRuntime and a Config in a temporary folder.

#include "backup/backup_context.hpp"
#include "config/config.hpp"
#include "connectware/client.hpp"
#include "installation/run_state.hpp"
#include "installation/select.hpp"
#include "restic/restic.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/run_report.hpp"
#include "support/fake_container_runtime.hpp"
#include "support/loopback_server.hpp"
#include "support/recorded_reply.hpp"
#include "util/cancellation.hpp"
#include "util/file_system.hpp"
#include "util/process_identity.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cwb::test {

/// Returns a gzip-compressed tar holding one file: what Connectware's export looks like to the validator.
/// A .tgz as libarchive's gzip filter writes it (zlib underneath), at `level` (-1: zlib's default).
inline std::string small_tar_gz(const std::string& name = "dump.sql", const std::string& content = "CREATE TABLE x;\n",
                                int level = -1) {
  std::vector<char> buffer(64 * 1024);
  std::size_t used = 0;
  std::unique_ptr<struct archive, decltype(&archive_write_free)> writer(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  archive_write_add_filter_gzip(writer.get());
  if (level >= 0)
    archive_write_set_filter_option(writer.get(), "gzip", "compression-level", std::to_string(level).c_str());
  archive_write_open_memory(writer.get(), buffer.data(), buffer.size(), &used);
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(content.size()));
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_write_header(writer.get(), entry.get());
  archive_write_data(writer.get(), content.data(), content.size());
  archive_write_close(writer.get());
  return std::string(buffer.data(), used);
}

/// Connectware's maintenance API as a state machine behind http::Transport.
class ScriptedConnectware final : public http::Transport {
public:
  std::string version = "1.10.2";
  std::string last_backup_id = "1.10.2-previous";
  std::optional<bool> last_succeeded = true;
  /// Status polls that still report `running` after an export was started.
  int polls_until_done = 2;
  bool export_succeeds = true;
  std::string archive = small_tar_gz();
  std::string services = R"([{"id":"svc1","currentState":"enabled"}])";
  /// When set, another export with this id finishes right after our download (someone else started one).
  std::optional<std::string> foreign_export_after_download;
  /// Called with "METHOD /path" before every request is answered: tests change the world here.
  std::function<void(const std::string&)> on_request;
  /// Calls ("METHOD /path") that fail at the transport level, e.g. unreachable.
  std::map<std::string, Error> failures;

  std::vector<std::string> requests;
  int exports_started = 0;

  Result<http::Response> perform(const http::Request& request) override {
    const auto path = path_of(request.url);
    const auto call = request.method + " " + path;
    requests.push_back(call);
    if (on_request) on_request(call);
    if (util::cancellation_requested()) return fail(ErrorKind::interrupted, "interrupted: " + call);
    if (const auto failure = failures.find(call); failure != failures.end()) return fail(failure->second);
    http::Response response;
    response.status = 200;
    if (call == "GET /api/system/info") {
      response.body = nlohmann::json{{"version", version}}.dump();
    } else if (call == "GET /api/services" || call == "GET /api/services/") {
      response.body = services;
    } else if (call == "GET /api/maintenance/db") {
      if (running_ && polls_left_-- <= 0) {
        running_ = false;
        last_backup_id = pending_id_;
        last_succeeded = export_succeeds;
      }
      nlohmann::json backup = {{"id", last_backup_id}};
      if (last_succeeded) backup["succeded"] = *last_succeeded;
      if (last_succeeded == false) backup["message"] = "pg_dump: disk full";
      response.body = nlohmann::json{{"running", running_}, {"backup", backup}}.dump();
    } else if (call == "POST /api/maintenance/db/backup") {
      if (running_) {
        response.status = 409;
        response.body = "busy";
      } else {
        running_ = true;
        polls_left_ = polls_until_done;
        pending_id_ = version + "-export-" + std::to_string(++exports_started);
        response.status = 202;
        response.body = "Accepted. Database backup started.";
      }
    } else if (call == "GET /api/maintenance/db/backup") {
      if (archive.empty() || !request.download_to) {
        response.status = 404;
        response.body = "Not Found";
      } else {
        CWB_TRY(util::write_file_atomic(*request.download_to, archive));
        response.bytes = archive.size();
        response.sha256 = util::sha256_hex(archive);
        if (foreign_export_after_download) last_backup_id = *foreign_export_after_download;
      }
    } else {
      response.status = 404;
      response.body = "no route " + call;
    }
    return response;
  }

private:
  static std::string path_of(const std::string& url) {
    const auto scheme = url.find("://");
    const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    return slash == std::string::npos ? "/" : url.substr(slash, url.find('?', slash) - slash);
  }

  bool running_ = false;
  int polls_left_ = 0;
  std::string pending_id_;
};

/// Advances the fake clock instead of waiting; interrupted once cancellation is requested, like SystemSleeper.
class CancellableSleeper final : public http::Sleeper {
public:
  explicit CancellableSleeper(FakeClock& clock) : clock_(clock) {}
  Result<> sleep_for(std::chrono::milliseconds duration) override {
    if (util::cancellation_requested()) return fail(ErrorKind::interrupted, "interrupted while waiting");
    sleeps.push_back(duration);
    clock_.advance(duration);
    return {};
  }
  std::vector<std::chrono::milliseconds> sleeps;

private:
  FakeClock& clock_;
};

inline std::string golden(const std::string& name) {
  auto text = util::read_file(std::filesystem::path(CWB_SOURCE_DIR) / "tests/unit/restic/golden" / name);
  EXPECT_TRUE(text) << name;
  return text ? *text : std::string{};
}

using ResticReply = RecordedReply;

/// Replays restic output in order and records every argv; checks that restic always gets the AWS keys.
class ResticReplay final : public util::ProcessRunner {
public:
  std::deque<ResticReply> replies;
  std::vector<std::vector<std::string>> calls;

  Result<util::ProcessResult> run(const util::ProcessOptions& options) override {
    calls.push_back(options.argv);
    EXPECT_TRUE(options.env.contains("AWS_ACCESS_KEY_ID"));
    EXPECT_TRUE(options.env.contains("AWS_SECRET_ACCESS_KEY"));
    if (replies.empty()) return fail(ErrorKind::internal, "no restic reply recorded");
    auto reply = std::move(replies.front());
    replies.pop_front();
    return play_back(reply, options);
  }
};

/// `restic snapshots --json` output in restic 0.14's format (the recorded golden file, re-pointed): one
/// snapshot of `path` from `host` taken at `time` (RFC 3339).
inline std::string snapshots_json(const std::string& id, const std::string& time, const std::string& host,
                                  const std::string& path, const std::vector<std::string>& tags) {
  auto recorded = nlohmann::json::parse(golden("snapshots.json"));
  auto snapshot = recorded.at(0);
  snapshot["id"] = id;
  snapshot["short_id"] = id.substr(0, 8);
  snapshot["time"] = time;
  snapshot["hostname"] = host;
  snapshot["paths"] = {path};
  snapshot["tags"] = tags;
  return nlohmann::json::array({snapshot}).dump();
}

inline const std::string kSnapshotId = "99489f823130bdf2f7e4213f248fc3c2a0f1168cfea9c5a80d6388e11c9ddac3";

/// Config keys and raw values layered over the rig's defaults.
using Settings = std::map<std::string, std::string, std::less<>>;

/// Everything a backup stage needs, faked, in its own temporary folder.
class BackupRig {
public:
  explicit BackupRig(const Settings& settings = {}) {
    util::reset_cancellation();
    auto temp = util::TemporaryDirectory::create(std::filesystem::temp_directory_path(), "cwb-backup-test");
    EXPECT_TRUE(temp);
    temp_ = std::move(*temp);
    EXPECT_TRUE(util::ensure_directories(volume_dir() / "services"));
    EXPECT_TRUE(util::write_file_atomic(volume_dir() / "services" / "svc1.yml", "description: one\n"));
    containers.add("sm1",
                   {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "service-manager"}});
    containers.add("other1",
                   {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "postgresql"}});
    containers.add("sm-elsewhere",
                   {{"com.docker.compose.project", "another"}, {"com.docker.compose.service", "service-manager"}});

    config::CommandLine command_line;
    command_line.values = {{"connectware-url", "http://127.0.0.1:9"},
                           {"state-dir", (root() / "state").string()},
                           {"staging-dir", (root() / "staging").string()},
                           {"volume-path", volume_dir().string()},
                           {"metrics-file", (root() / "metrics.prom").string()},
                           {"quiesce", "pause"},
                           {"host", "edge-1"},
                           {"repository", "/srv/repo"}};
    for (const auto& [key, value] : settings)
      command_line.values[key] = value;
    auto resolved = config::Config::resolve(command_line, {});
    EXPECT_TRUE(resolved) << (resolved ? std::string() : resolved.error().message);
    config_ = std::make_unique<config::Config>(std::move(*resolved));

    connectware::ClientOptions options;
    options.base_url = "http://127.0.0.1:9";
    options.credentials = connectware::PasswordCredentials{"admin", connectware::Secret("admin")};
    options.retry.max_attempts = 1;
    client_ = std::make_unique<connectware::ConnectwareClient>(options, server, sleeper_, clock);

    restic::ResticOptions restic_options;
    restic_options.binary = "/usr/bin/restic";
    restic_options.repository = "/srv/repo";
    restic_options.password_file = "/etc/cwb/password";
    restic_options.extra_environment = {{"AWS_ACCESS_KEY_ID", "id"}, {"AWS_SECRET_ACCESS_KEY", "secret"}};
    restic_ = std::make_unique<restic::Restic>(restic_options, runner, util::Environment{});
    owner = util::identify_process(getpid()).value_or(util::ProcessIdentity{});
  }

  ~BackupRig() { util::reset_cancellation(); }
  BackupRig(const BackupRig&) = delete;
  BackupRig& operator=(const BackupRig&) = delete;

  [[nodiscard]] const std::filesystem::path& root() const { return temp_.path(); }
  [[nodiscard]] const std::vector<std::chrono::milliseconds>& sleeps() const { return sleeper_.sleeps; }
  [[nodiscard]] std::filesystem::path volume_dir() const { return root() / "volume"; }
  [[nodiscard]] const config::Config& config() const { return *config_; }
  [[nodiscard]] installation::StatePaths state() const { return installation::StatePaths{config_->state_dir()}; }
  [[nodiscard]] snapshot::Layout layout() const { return snapshot::Layout{config_->staging_dir()}; }

  /// The context the pipelines get, on the installation the configuration selects (platform = auto by
  /// default: compose over the fake runtime; `with_runtime` false means no Docker engine is configured,
  /// which with the rig's volume-path is a plain host).
  backup::BackupContext context(bool with_runtime = true) {
    auto selected =
        installation::select_installation(*config_, with_runtime ? &containers : nullptr, processes_, environment_);
    EXPECT_TRUE(selected) << (selected ? std::string() : selected.error().message);
    installation_ = selected ? std::move(selected->installation) : nullptr;
    return backup::BackupContext{*config_, *client_, *installation_, *restic_, clock, owner, {}, {}};
  }

  /// Returns the JSON of a file in the rig, or null when it is missing or not JSON.
  static nlohmann::json json_of(const std::filesystem::path& path) {
    auto text = util::read_file(path);
    if (!text) return nullptr;
    return nlohmann::json::parse(*text, nullptr, false);
  }

  FakeClock clock;
  ScriptedConnectware server;
  FakeContainerRuntime containers;
  ResticReplay runner;
  util::ProcessIdentity owner;

private:
  util::TemporaryDirectory temp_;
  util::SystemProcessRunner processes_;
  util::Environment environment_;
  std::unique_ptr<installation::Installation> installation_;
  CancellableSleeper sleeper_{clock};
  std::unique_ptr<config::Config> config_;
  std::unique_ptr<connectware::ConnectwareClient> client_;
  std::unique_ptr<restic::Restic> restic_;
};

inline bool exists_at(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

/// Writes the status file of an earlier successful backup (finished 2023-11-13T22:00:00Z), with `sizes` for
/// the shrink check when given.
inline void previous_success(BackupRig& rig, std::optional<snapshot::RunSizes> sizes = std::nullopt) {
  snapshot::RunReport earlier;
  earlier.success = true;
  earlier.finished = "2023-11-13T22:00:00Z";
  earlier.finished_unix = 1'699'912'800;
  earlier.sizes = sizes;
  ASSERT_TRUE(snapshot::write_run_report(earlier, rig.config().status_file(), {}));
}

} // namespace cwb::test
