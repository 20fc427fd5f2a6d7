// What keeps an unattended backup honest, end to end through connectware-backup with the real Docker engine,
// emulator, PostgreSQL and restic on s3rver: the shrink alert (a volume emptied between two runs) and
// retention (restic forget with keep-last, pruned) without resticprofile, and the weekly restore drill
// (connectware-restore --drill) that proves the latest backup comes back without touching Connectware;
// and the pings of both to a monitoring service on loopback, including one that is down or hangs.

#include "integration/support/restore_fixture.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <thread>

namespace cwb::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BackupOperationsTest : public BackupTest {
protected:
  /// Moves the volume's services folder out of it (into the test's folder) until put back.
  void empty_the_volume() {
    moved_ = test_dir() / "services-moved-away";
    fs::copy(volume_mountpoint() / "services", moved_, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    fs::remove_all(volume_mountpoint() / "services");
  }
  void TearDown() override {
    if (moved_.empty()) return;
    fs::copy(moved_, volume_mountpoint() / "services", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }

  std::size_t snapshots_of(const std::string& host) {
    auto snapshots = world().snapshots();
    EXPECT_TRUE(snapshots) << (snapshots ? "" : snapshots.error().message);
    if (!snapshots) return 0;
    return static_cast<std::size_t>(
        std::ranges::count(*snapshots, host, [](const SnapshotInfo& snapshot) { return snapshot.host; }));
  }

  fs::path moved_;
};

TEST_F(BackupOperationsTest, AnEmptiedVolumeFailsWithShrunkUnderOnShrinkFailAndStoresNothing) {
  const util::Environment host{{"CONNECTWARE_HOST", "shrink-fail-host"}, {"CONNECTWARE_ON_SHRINK", "fail"}};
  expect_successful_backup(host);
  ASSERT_EQ(snapshots_of("shrink-fail-host"), 1U);
  const auto good_files = status().at("last_success_sizes").at("volume_files").get<std::uint64_t>();
  ASSERT_GE(good_files, 3U);

  empty_the_volume();
  const auto shrunk = run_hook("connectware-backup", {}, host);
  EXPECT_EQ(shrunk.exit_code, 21) << shrunk.log();
  const auto errors = shrunk.error_lines("connectware-backup");
  ASSERT_EQ(errors.size(), 1U) << shrunk.log();
  // Every file below services/ is gone; what the volume keeps beside it stays.
  EXPECT_THAT(errors.front(), HasSubstr("volume files: " + std::to_string(good_files) + " -> "));
  EXPECT_THAT(errors.front(), HasSubstr("by more than shrink-alert-percent (50 %)"));
  EXPECT_THAT(errors.front(), HasSubstr("nothing was stored"));
  EXPECT_EQ(snapshots_of("shrink-fail-host"), 1U) << "a shrunk backup reached the repository";
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
  const auto recorded = status();
  EXPECT_EQ(recorded.at("success"), false);
  EXPECT_EQ(recorded.at("exit_code"), 21);
  EXPECT_EQ(recorded.at("shrink_alert").at("raised"), true);
  EXPECT_EQ(recorded.at("last_success_sizes").at("volume_files"), good_files);
  auto metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_shrink_alert 1\n"));

  // The default, warn: the same backup is stored, with the alert in the log, status and metrics.
  const auto warned = run_hook("connectware-backup", {}, {{"CONNECTWARE_HOST", "shrink-fail-host"}});
  EXPECT_EQ(warned.exit_code, 0) << warned.log();
  EXPECT_THAT(warned.log(), HasSubstr("shrink alert: this backup is smaller than the last successful one"));
  EXPECT_EQ(snapshots_of("shrink-fail-host"), 2U);
  EXPECT_EQ(status().at("shrink_alert").at("raised"), true);
  metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_shrink_alert 1\n"));
}

TEST_F(BackupOperationsTest, KeepLastForgetsAndPrunesOnlyThisHostsSnapshots) {
  expect_successful_backup({{"CONNECTWARE_HOST", "retention-other-host"}});
  const util::Environment keep{
      {"CONNECTWARE_HOST", "retention-host"}, {"CONNECTWARE_KEEP_LAST", "2"}, {"CONNECTWARE_PRUNE", "true"}};
  for (int run = 0; run < 3; ++run)
    expect_successful_backup(keep);
  EXPECT_EQ(snapshots_of("retention-host"), 2U);
  EXPECT_EQ(snapshots_of("retention-other-host"), 1U);
  const auto retention = status().at("retention");
  EXPECT_EQ(retention.at("success"), true);
  EXPECT_EQ(retention.at("removed"), 1);
  EXPECT_EQ(retention.at("kept"), 2);
  EXPECT_EQ(retention.at("pruned"), true);
  auto metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_forget_success 1\n"));
  // What prune left is a whole repository.
  auto checked = world().restic({"check"});
  EXPECT_TRUE(checked) << (checked ? "" : checked.error().message);
}

class RestoreDrillTest : public RestoreTest {
protected:
  /// What a drill needs: restic and its own folders. No Docker engine answers, Connectware is not there and
  /// no Connectware credentials are set.
  util::Environment nothing_but_restic() const {
    return {{"DOCKER_HOST", "unix://" + (test_dir() / "no-docker.sock").string()},
            {"CONNECTWARE_URL", "https://127.0.0.1:9"},
            {"CONNECTWARE_PASSWORD_FILE", ""},
            {"CONNECTWARE_DRILL_READ_DATA_SUBSET", "100%"}};
  }
  fs::path drill_status_file() const { return state_dir() / "drill-status.json"; }
  fs::path drill_metrics_file() const { return metrics_file().parent_path() / "connectware_restore_drill.prom"; }
  nlohmann::json drill_status() const {
    auto text = util::read_file(drill_status_file());
    return text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json{};
  }
  /// The drill's scratch folders left in state-dir (none after any drill).
  std::size_t scratch_folders() const {
    std::size_t found = 0;
    for (const auto& entry : fs::directory_iterator(state_dir()))
      found += entry.is_directory() && entry.path().filename().string().starts_with("drill-") ? 1U : 0U;
    return found;
  }
};

TEST_F(RestoreDrillTest, TheLatestBackupComesBackWithoutDockerOrConnectwareAndIsRecorded) {
  back_up();
  const auto latest = back_up();
  const auto started = started_at(test::EmulatorContainers::service_manager_container);
  const auto before = live_state();

  const auto drill = run_hook("connectware-restore", {"--drill"}, nothing_but_restic());
  ASSERT_EQ(drill.exit_code, 0) << drill.log();
  EXPECT_THAT(drill.stdout_text, HasSubstr("drill: snapshot " + latest.substr(0, 8)));
  EXPECT_THAT(drill.stdout_text, HasSubstr("comes back"));
  EXPECT_THAT(drill.stderr_text, HasSubstr("--read-data-subset=100%"));
  const auto status = drill_status();
  EXPECT_EQ(status.value("success", false), true) << status.dump();
  EXPECT_EQ(status.value("snapshot_id", ""), latest) << status.dump();
  EXPECT_EQ(status.value("read_data_subset", ""), "100%");
  ASSERT_TRUE(status["snapshot_age_seconds"].is_number_integer()) << status.dump();
  EXPECT_LT(status["snapshot_age_seconds"].get<std::int64_t>(), 600);
  auto metrics = util::read_file(drill_metrics_file());
  ASSERT_TRUE(metrics) << "no drill metrics";
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_success 1\n"));
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_exit_code 0\n"));
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_snapshot_age_seconds "));
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_duration_seconds "));
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_last_success_timestamp_seconds "));
  // Nothing changed: the installation, its containers, the backup's own status.
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(started_at(test::EmulatorContainers::service_manager_container), started);
  EXPECT_EQ(scratch_folders(), 0U);
  EXPECT_EQ(BackupTest::status().value("snapshot_id", "").substr(0, 8), latest.substr(0, 8));
}

TEST_F(RestoreDrillTest, ATamperedSnapshotFailsTheDrillWithTwelveAndIsRecorded) {
  const auto good = back_up();
  const auto tampered = tampered_snapshot(good, [](const fs::path& copy) {
    for (const auto& entry : fs::recursive_directory_iterator(copy / "volumes")) {
      if (entry.is_regular_file()) {
        ASSERT_TRUE(util::write_file_atomic(entry.path(), "tampered\n"));
        return;
      }
    }
    FAIL() << "no file in the snapshot's volumes";
  });
  const auto before = live_state();
  const auto drill = run_hook("connectware-restore", {"--drill", "--snapshot", tampered}, nothing_but_restic());
  EXPECT_EQ(drill.exit_code, 12) << drill.log();
  const auto errors = drill.error_lines("connectware-restore");
  ASSERT_EQ(errors.size(), 1U) << drill.stderr_text;
  EXPECT_THAT(errors.front(), HasSubstr("the snapshot fails its check"));
  const auto status = drill_status();
  EXPECT_EQ(status.value("success", true), false) << status.dump();
  EXPECT_EQ(status.value("exit_code", 0), 12) << status.dump();
  auto metrics = util::read_file(drill_metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_success 0\n"));
  EXPECT_THAT(*metrics, HasSubstr("connectware_restore_drill_exit_code 12\n"));
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(scratch_folders(), 0U);

  // The good one still passes, and the last success goes back into the record.
  const auto again = run_hook("connectware-restore", {"--drill", "--snapshot", good}, nothing_but_restic());
  EXPECT_EQ(again.exit_code, 0) << again.log();
  EXPECT_EQ(drill_status().value("success", false), true);
}

/// A monitoring service in healthchecks.io's conventions on loopback: records each ping's path, rid and body.
/// `answer_after` delays every answer (a service that hangs).
class MonitoringService {
public:
  explicit MonitoringService(std::chrono::milliseconds answer_after = {}) {
    server_.Post(".*", [this, answer_after](const httplib::Request& request, httplib::Response& response) {
      if (answer_after.count() > 0) std::this_thread::sleep_for(answer_after);
      std::lock_guard lock(mutex_);
      pings_.push_back({request.path, request.has_param("rid") ? request.get_param_value("rid") : "", request.body});
      response.set_content("OK", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~MonitoringService() {
    server_.stop();
    thread_.join();
  }
  MonitoringService(const MonitoringService&) = delete;
  MonitoringService& operator=(const MonitoringService&) = delete;

  [[nodiscard]] std::string check_url(const std::string& check) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + check;
  }
  struct Ping {
    std::string path, rid, body;
  };
  std::vector<Ping> pings() {
    std::lock_guard lock(mutex_);
    return pings_;
  }

private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Ping> pings_;
};

class PingTest : public RestoreDrillTest {};

TEST_F(PingTest, ABackupPingsStartAndSuccessWithOneRunIdAndItsLogAsTheBody) {
  MonitoringService service;
  const auto backup = run_hook("connectware-backup", {}, {{"CONNECTWARE_PING_URL", service.check_url("backup-check")}});
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  const auto pings = service.pings();
  ASSERT_EQ(pings.size(), 2U);
  EXPECT_EQ(pings[0].path, "/backup-check/start");
  EXPECT_EQ(pings[1].path, "/backup-check");
  EXPECT_FALSE(pings[0].rid.empty());
  EXPECT_EQ(pings[0].rid, pings[1].rid);
  EXPECT_THAT(pings[1].body, HasSubstr("connectware-backup: "));
  EXPECT_LE(pings[1].body.size(), 10U * 1024U);
  // The ping URL is kept like a password: not in the log.
  EXPECT_THAT(backup.log(), Not(HasSubstr("backup-check")));
}

TEST_F(PingTest, AFailedBackupPingsItsExitCodeWithTheErrorLine) {
  MonitoringService service;
  const auto failed = run_hook("connectware-backup", {},
                               {{"CONNECTWARE_PING_URL", service.check_url("backup-check")},
                                {"RESTIC_REPOSITORY", (test_dir() / "no-such-repository").string()}});
  ASSERT_EQ(failed.exit_code, 9) << failed.log();
  const auto pings = service.pings();
  ASSERT_EQ(pings.size(), 2U);
  EXPECT_EQ(pings[1].path, "/backup-check/9");
  EXPECT_EQ(pings[1].rid, pings[0].rid);
  ASSERT_EQ(failed.error_lines("connectware-backup").size(), 1U);
  EXPECT_THAT(pings[1].body, HasSubstr(failed.error_lines("connectware-backup").front()));
}

TEST_F(PingTest, PreAndPostHooksPairTheirPingsThroughTheRunId) {
  MonitoringService service;
  const util::Environment pinging{{"CONNECTWARE_PING_URL", service.check_url("backup-check")}};
  const auto pre = run_hook("connectware-pre-backup", {}, pinging);
  ASSERT_EQ(pre.exit_code, 0) << pre.log();
  // The pre hook's success is only the start: a post --failed after it ends the run as failed.
  const auto post = run_hook("connectware-post-backup", {"--failed"},
                             {{"CONNECTWARE_PING_URL", service.check_url("backup-check")}, {"ERROR_EXIT_CODE", "3"}});
  ASSERT_EQ(post.exit_code, 0) << post.log();
  const auto pings = service.pings();
  ASSERT_EQ(pings.size(), 2U);
  EXPECT_EQ(pings[0].path, "/backup-check/start");
  EXPECT_EQ(pings[1].path, "/backup-check/3");
  EXPECT_EQ(pings[1].rid, pings[0].rid);
  EXPECT_FALSE(fs::exists(state_dir() / "ping-run-id"));
}

TEST_F(PingTest, AMonitoringServiceThatIsDownOrHangsIsAWarningNotAFailedBackup) {
  const auto port = test::free_loopback_port();
  ASSERT_TRUE(port);
  const std::string down = "http://127.0.0.1:" + std::to_string(*port) + "/backup-check";
  const auto backup = run_hook("connectware-backup", {}, {{"CONNECTWARE_PING_URL", down}});
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  EXPECT_THAT(backup.stderr_text, HasSubstr("ping (start) not delivered"));
  EXPECT_THAT(backup.stderr_text, HasSubstr("ping (success) not delivered"));
  EXPECT_EQ(status().value("success", false), true);

  MonitoringService hanging(std::chrono::seconds(5));
  const auto started = std::chrono::steady_clock::now();
  const auto slow = run_hook("connectware-backup", {},
                             {{"CONNECTWARE_PING_URL", hanging.check_url("backup-check")},
                              {"CONNECTWARE_PING_TIMEOUT", "500ms"},
                              {"CONNECTWARE_PING_RETRIES", "0"}});
  ASSERT_EQ(slow.exit_code, 0) << slow.log();
  EXPECT_THAT(slow.stderr_text, HasSubstr("ping (start) not delivered"));
  // Two pings of at most half a second each, not two hanging ones of 5 s.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(PingTest, ADrillPingsItsOwnCheck) {
  back_up();
  MonitoringService service;
  auto environment = nothing_but_restic();
  environment["CONNECTWARE_PING_URL"] = service.check_url("backup-check");
  environment["CONNECTWARE_DRILL_PING_URL"] = service.check_url("drill-check");
  const auto drill = run_hook("connectware-restore", {"--drill"}, environment);
  ASSERT_EQ(drill.exit_code, 0) << drill.log();
  const auto pings = service.pings();
  ASSERT_EQ(pings.size(), 2U);
  EXPECT_EQ(pings[0].path, "/drill-check/start");
  EXPECT_EQ(pings[1].path, "/drill-check");
  EXPECT_THAT(pings[1].body, HasSubstr("drill: fetching snapshot"));
}

// Progress is for a person at a terminal: shown there (progress = auto), never in a log, forced by
// --progress always.
TEST_F(BackupOperationsTest, AtATerminalABackupShowsProgressOfItsLongStepsAndNowhereElse) {
  const util::Environment automatic{{"CONNECTWARE_PROGRESS", "auto"}};
  const auto terminal = run_hook_in_terminal("connectware-backup", {}, automatic);
  ASSERT_EQ(terminal.exit_code, 0) << terminal.log();
  const auto& screen = terminal.stdout_text;
  EXPECT_THAT(screen, HasSubstr("\r\x1b[Kwaiting for the database export: "));
  EXPECT_THAT(screen, HasSubstr("\r\x1b[Kmirroring volume service-manager: "));
  EXPECT_THAT(screen, testing::ContainsRegex("mirroring volume service-manager: [0-9]+ entries, "));
  EXPECT_THAT(screen, HasSubstr("\r\x1b[Kdownloading database archive: "));
  // restic's own status lines (backup --json): percent, bytes, files.
  EXPECT_THAT(screen, testing::ContainsRegex(
                          "restic backup: [0-9]+%, [0-9.]+ [KMG]?i?B / [0-9.]+ [KMG]?i?B, [0-9]+/[0-9]+ files"));
  EXPECT_THAT(screen, HasSubstr("restic backup: done"));

  const auto logged = run_hook("connectware-backup", {}, automatic);
  ASSERT_EQ(logged.exit_code, 0) << logged.log();
  EXPECT_THAT(logged.log(), Not(HasSubstr("\x1b[K")));
  EXPECT_THAT(logged.log(), Not(HasSubstr("restic backup: ")));

  const auto forced = run_hook("connectware-backup", {"--progress", "always"});
  ASSERT_EQ(forced.exit_code, 0) << forced.log();
  EXPECT_THAT(forced.stderr_text, HasSubstr("\r\x1b[Kmirroring volume service-manager: "));
}

} // namespace
} // namespace cwb::integration
