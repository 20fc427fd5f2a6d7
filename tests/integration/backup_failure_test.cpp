// How `connectware-backup` fails: with the documented exit code (docs/exit-codes.md), one "error:" line,
// Connectware writable again, the run released (the next run works), the failure recorded in status.json
// and no snapshot stored.

#include "integration/support/backup_fixture.hpp"

#include "installation/run_state.hpp"
#include "support/support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include <csignal>
#include <iostream>
#include <map>

namespace cwb::integration {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* backup_hook = "connectware-backup";
constexpr const char* service_manager = test::EmulatorContainers::service_manager_container;

class BackupFailureTest : public BackupTest {
protected:
  void SetUp() override {
    BackupTest::SetUp();
    if (HasFatalFailure()) return;
    snapshots_before_ = snapshot_count();
  }

  /// Everything a failed run must leave behind, then proof that the next run is not blocked.
  void expect_clean_failure(const HookOutcome& outcome, int code) {
    SCOPED_TRACE(outcome.log());
    EXPECT_EQ(outcome.exit_code, code) << outcome.log();
    const auto lines = outcome.error_lines(backup_hook);
    EXPECT_EQ(lines.size(), 1U) << outcome.stderr_text;
    EXPECT_TRUE(outcome.stdout_text.find("error:") == std::string::npos) << outcome.stdout_text;
    EXPECT_EQ(world().container_state(service_manager), "running");
    const auto recorded = status();
    EXPECT_EQ(recorded.value("success", true), false) << recorded.dump();
    EXPECT_EQ(recorded.value("exit_code", 0), code) << recorded.dump();
    EXPECT_EQ(snapshot_count(), snapshots_before_) << "a failed run stored a snapshot";
    EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tgz"));
    EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tar"));
    EXPECT_FALSE(fs::exists(state_dir() / "run.json"));
  }

  void expect_next_run_succeeds() {
    set_faults({});
    const auto next = run_hook(backup_hook);
    EXPECT_EQ(next.exit_code, 0) << "the run after the failure is blocked:\n" << next.log();
    EXPECT_EQ(status().value("success", false), true);
  }

  bool wait_until_no_export_runs() {
    auto& connectware = world().connectware();
    return test::poll_until(
        [&] {
          auto status = maintenance_status(connectware.base_url(), connectware.ca_file());
          return status && !status->value("running", true);
        },
        30s, [] { return false; });
  }

  std::size_t snapshots_before_ = 0;
};

TEST_F(BackupFailureTest, ConnectwareDownEndsWithUnreachable) {
  auto& docker = world().docker();
  ASSERT_TRUE(docker.docker_checked({"stop", "-t", "2", test::EmulatorContainers::front_container}));
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_RETRIES", "1"}});
  ASSERT_TRUE(docker.docker_checked({"start", test::EmulatorContainers::front_container}));
  auto& connectware = world().connectware();
  ASSERT_TRUE(test::poll_until(
      [&] { return test::https_answers(connectware.port(), "/api/system/info", connectware.ca_file()); }, 20s,
      [] { return false; }));
  expect_clean_failure(outcome, 3);
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, WrongConnectwarePasswordEndsWithAuthentication) {
  const auto wrong = test_dir() / "wrong-password";
  ASSERT_TRUE(util::write_file_atomic(wrong, "not-the-password\n"));
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_PASSWORD_FILE", wrong.string()}});
  expect_clean_failure(outcome, 4);
  expect_next_run_succeeds();
}

// A role that lacks one of the documented rights: exit 4, naming the path and the right to grant.
TEST_F(BackupFailureTest, AMissingRightEndsWithAuthenticationNamingThePathAndTheRightToGrant) {
  const auto password = test_dir() / "maintainer-password";
  ASSERT_TRUE(util::write_file_atomic(password, "maintainer-secret\n", 0600));
  const auto outcome = run_hook(
      backup_hook, {}, {{"CONNECTWARE_USERNAME", "maintainer"}, {"CONNECTWARE_PASSWORD_FILE", password.string()}});
  expect_clean_failure(outcome, 4);
  EXPECT_THAT(outcome.error_lines(backup_hook).front(),
              HasSubstr("HTTP 403 from GET /api/system/info: the user has no read right on /api/system/info: grant "
                        "read on /api/system/info"));
  expect_next_run_succeeds();
}

// A proxy's HTML page where the API's JSON belongs is a malformed answer (17), quoted, not "unreachable".
TEST_F(BackupFailureTest, AnHtmlPageInsteadOfTheStatusEndsWithMalformedResponseQuotingIt) {
  set_faults({{"status_html", ""}});
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  expect_clean_failure(outcome, 17);
  const auto line = outcome.error_lines(backup_hook).front();
  EXPECT_THAT(line, HasSubstr("not JSON"));
  EXPECT_THAT(line, HasSubstr("<!DOCTYPE html> <html><head><title>Sign in - Corporate Proxy</title>"));
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, FailedExportEndsWithExportFailedAndUnpausesTheServiceManager) {
  set_faults({{"fail_export", ""}});
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  expect_clean_failure(outcome, 5);
  EXPECT_THAT(outcome.error_lines(backup_hook).front(), HasSubstr("fail_export"));
  expect_next_run_succeeds();
}

// A 502 to the start (a proxy in front of Connectware) may or may not have started the export: asked, the
// status says, and the backup follows the export or starts it again. Neither is a failed backup.
TEST_F(BackupFailureTest, ABadGatewayToTheStartIsFollowedOrRepostedAndTheBackupSucceeds) {
  set_faults({{"backup_started_502", "1"}});
  const auto followed = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_EQ(followed.exit_code, 0) << followed.log();
  EXPECT_THAT(followed.stderr_text, HasSubstr("the maintenance status shows the export started: following it"));
  EXPECT_EQ(snapshot_count(), snapshots_before_ + 1);

  set_faults({{"backup_start_502", "2"}});
  const auto reposted = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_EQ(reposted.exit_code, 0) << reposted.log();
  EXPECT_THAT(reposted.stderr_text, HasSubstr("nothing started; starting the export again (attempt 3 of"));
  EXPECT_EQ(snapshot_count(), snapshots_before_ + 2);
  EXPECT_EQ(world().container_state(service_manager), "running");
  EXPECT_EQ(status().value("success", false), true);
}

TEST_F(BackupFailureTest, ABadGatewayToEveryStartEndsWithExportFailedQuotingTheProxysPage) {
  set_faults({{"backup_start_502", ""}});
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}, {"CONNECTWARE_RETRIES", "2"}});
  expect_clean_failure(outcome, 5);
  EXPECT_THAT(outcome.error_lines(backup_hook).front(), HasSubstr("HTTP 502"));
  EXPECT_THAT(outcome.error_lines(backup_hook).front(), HasSubstr("502 Bad Gateway"));
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, StuckExportEndsWithExportFailedAfterTheExportTimeout) {
  set_faults({{"stuck_running", ""}});
  const auto started = std::chrono::steady_clock::now();
  const auto outcome =
      run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}, {"CONNECTWARE_EXPORT_TIMEOUT", "3"}});
  const auto took = std::chrono::steady_clock::now() - started;
  expect_clean_failure(outcome, 5);
  EXPECT_LT(took, 30s);
  set_faults({});
  ASSERT_TRUE(wait_until_no_export_runs());
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, TruncatedDownloadEndsWithExportInvalid) {
  set_faults({{"truncate_download", ""}});
  const auto outcome = run_hook(backup_hook);
  expect_clean_failure(outcome, 6);
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, CorruptArchiveEndsWithExportInvalid) {
  set_faults({{"corrupt_download", ""}});
  const auto outcome = run_hook(backup_hook);
  expect_clean_failure(outcome, 6);
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, UnreachableDockerEngineInPauseModeEndsWithContainerRuntime) {
  const auto outcome = run_hook(
      backup_hook, {},
      {{"DOCKER_HOST", "unix://" + (test_dir() / "no-such-docker.sock").string()}, {"CONNECTWARE_QUIESCE", "pause"}});
  expect_clean_failure(outcome, 16);
  EXPECT_THAT(outcome.error_lines(backup_hook).front(), HasSubstr("no-such-docker.sock"));
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, WrongResticPasswordEndsWithRestic) {
  const auto wrong = test_dir() / "wrong-restic-password";
  ASSERT_TRUE(util::write_file_atomic(wrong, "not-the-restic-password\n"));
  const auto outcome = run_hook(backup_hook, {}, {{"RESTIC_PASSWORD_FILE", wrong.string()}});
  expect_clean_failure(outcome, 9);
  EXPECT_THAT(outcome.error_lines(backup_hook).front(), HasSubstr("password"));
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, UnreachableRepositoryEndsWithRestic) {
  auto closed = test::free_loopback_port();
  ASSERT_TRUE(closed);
  const auto outcome = run_hook(
      backup_hook, {}, {{"RESTIC_REPOSITORY", "s3:https://127.0.0.1:" + std::to_string(*closed) + "/cwb-backups/x"}});
  expect_clean_failure(outcome, 9);
  expect_next_run_succeeds();
}

// A password written into a URL is a secret like any other: not in --show-config, the log, status.json.
TEST_F(BackupFailureTest, PasswordsInsideUrlsReachNeitherShowConfigNorTheLogNorTheStatus) {
  auto closed = test::free_loopback_port();
  ASSERT_TRUE(closed);
  const std::string port = std::to_string(*closed);
  const std::map<std::string, std::string> environment{
      {"CONNECTWARE_URL", "https://operator:cw-url-pass-731@127.0.0.1:" + port},
      {"RESTIC_REPOSITORY", "s3:https://AKIAEXAMPLE:s3-url-secret-842@127.0.0.1:" + port + "/cwb-backups/x"},
      {"CONNECTWARE_RETRIES", "1"}};
  const auto shown = run_hook(backup_hook, {"--show-config"}, environment);
  ASSERT_EQ(shown.exit_code, 0) << shown.log();
  EXPECT_THAT(shown.stdout_text, HasSubstr("connectware-url = https://operator:***@127.0.0.1:" + port));
  EXPECT_THAT(shown.stdout_text, HasSubstr("repository = s3:https://AKIAEXAMPLE:***@127.0.0.1:" + port));

  const auto outcome = run_hook(backup_hook, {}, environment);
  expect_clean_failure(outcome, 3);
  const std::string recorded = status().dump();
  for (const std::string& text :
       {shown.stdout_text, shown.stderr_text, outcome.stdout_text, outcome.stderr_text, recorded}) {
    EXPECT_THAT(text, ::testing::Not(HasSubstr("cw-url-pass-731")));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("s3-url-secret-842")));
  }
  expect_next_run_succeeds();
}

// A run that never reaches its pipeline is a failed run too: the last `success 1` must not stay.
TEST_F(BackupFailureTest, FailuresBeforeThePipelineAreRecordedInTheStatusAndMetrics) {
  ASSERT_EQ(run_hook(backup_hook).exit_code, 0);
  ASSERT_EQ(status().value("success", false), true);
  snapshots_before_ = snapshot_count(); // the good runs of this test add theirs
  const auto last_success = status().value("last_success_unix", std::int64_t{0});

  const auto no_repository = run_hook(backup_hook, {}, {{"RESTIC_REPOSITORY", ""}});
  expect_clean_failure(no_repository, 2);
  EXPECT_THAT(status()["error"].value("message", ""), HasSubstr("no restic repository"));
  EXPECT_EQ(status().value("last_success_unix", std::int64_t{0}), last_success);
  auto metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_success 0\n"));
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_exit_code 2\n"));

  ASSERT_EQ(run_hook(backup_hook).exit_code, 0);
  snapshots_before_ = snapshot_count();
  const auto bad_setting = run_hook(backup_hook, {"--quiesce", "fast"});
  expect_clean_failure(bad_setting, 2);
  EXPECT_THAT(status()["error"].value("message", ""), HasSubstr("invalid value \"fast\" for quiesce"));

  ASSERT_EQ(run_hook(backup_hook).exit_code, 0);
  const auto no_credentials = run_hook("connectware-pre-backup", {}, {{"CONNECTWARE_PASSWORD_FILE", ""}});
  EXPECT_EQ(no_credentials.exit_code, 2) << no_credentials.log();
  EXPECT_EQ(status().value("success", true), false) << status().dump();
  EXPECT_EQ(status().value("exit_code", 0), 2) << status().dump();
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, SigtermDuringTheExportEndsWithInterruptedAndUnpauses) {
  set_faults({{"slow_export", "4"}});
  auto running = start_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_TRUE(wait_for_export_running(20s));
  ASSERT_TRUE(wait_for_container_state(service_manager, "paused", 10s));
  std::this_thread::sleep_for(500ms); // well inside the export's 4 s
  ASSERT_EQ(::kill(running.process.pid(), SIGTERM), 0);
  const auto signalled = std::chrono::steady_clock::now();
  const auto outcome = finish_hook(running, 30s);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 3s) << "the hook did not stop promptly";
  expect_clean_failure(outcome, 11);
  ASSERT_TRUE(wait_until_no_export_runs());
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, SighupDuringTheExportIsHandledLikeSigterm) {
  set_faults({{"slow_export", "4"}});
  auto running = start_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_TRUE(wait_for_export_running(20s));
  ASSERT_TRUE(wait_for_container_state(service_manager, "paused", 10s));
  ASSERT_EQ(::kill(running.process.pid(), SIGHUP), 0);
  const auto outcome = finish_hook(running, 30s);
  expect_clean_failure(outcome, 11);
  ASSERT_TRUE(wait_until_no_export_runs());
  expect_next_run_succeeds();
}

// SIGKILL (or the OOM killer) runs no handler: the release watchdog, in a process group of its own,
// unpauses the service-manager as soon as the hook is gone, and ends the run so the next one is clean.
TEST_F(BackupFailureTest, SigkillInsideTheWindowIsReleasedByTheWatchdogWithinTwoSeconds) {
  set_faults({{"slow_export", "6"}});
  auto running = start_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_TRUE(wait_for_export_running(20s));
  ASSERT_TRUE(wait_for_container_state(service_manager, "paused", 10s));
  ASSERT_EQ(::kill(-running.process.pid(), SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for_container_state(service_manager, "running", 2s))
      << "still " << world().container_state(service_manager) << " 2 s after the kill";
  const auto unpaused_after = std::chrono::steady_clock::now() - killed_at;
  std::cout << "[ watchdog ] unpaused " << std::chrono::duration_cast<std::chrono::milliseconds>(unpaused_after).count()
            << " ms after SIGKILL" << std::endl;
  // The watchdog ended the run: failure recorded, nothing left for the next run to recover.
  ASSERT_TRUE(test::poll_until([this] { return !fs::exists(state_dir() / "run.json"); }, 10s, [] { return false; }));
  const auto outcome = finish_hook(running, 30s);
  EXPECT_EQ(outcome.signal, SIGKILL) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("connectware-backup (watchdog): ")) << outcome.log();
  EXPECT_EQ(status().value("exit_code", 0), 11) << status().dump();
  EXPECT_FALSE(fs::exists(state_dir() / "paused-containers.json"));
  ASSERT_TRUE(wait_until_no_export_runs());
  set_faults({});
  const auto next = run_hook(backup_hook);
  EXPECT_EQ(next.exit_code, 0) << next.log();
  EXPECT_THAT(next.stderr_text, ::testing::Not(HasSubstr("recovering")));
  EXPECT_THAT(next.stderr_text, ::testing::Not(HasSubstr("a previous run left paused")));
}

// The watchdog of a run that ends normally says nothing and is gone.
TEST_F(BackupFailureTest, AWatchdogOfARunThatEndsNormallyLeavesNoProcessBehind) {
  const auto outcome = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, ::testing::Not(HasSubstr("(watchdog)")));
  util::ProcessOptions pgrep;
  pgrep.argv = {"pgrep", "-f", "--", "--release-watchdog"};
  pgrep.env = test::base_environment();
  auto found = util::run_process(pgrep);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status.code, 1) << "a watchdog still runs: " << found->stdout_text;
}

TEST_F(BackupFailureTest, SecondConcurrentRunEndsWithLockedAndLeavesTheFirstRunAlone) {
  set_faults({{"slow_export", "3"}});
  auto first = start_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_TRUE(wait_for_container_state(service_manager, "paused", 20s));
  const auto second = run_hook(backup_hook, {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  // The first run is still in its window: the refused run did not unpause it.
  EXPECT_EQ(world().container_state(service_manager), "paused");
  const auto first_outcome = finish_hook(first);

  EXPECT_EQ(second.exit_code, 10) << second.log();
  EXPECT_EQ(second.error_lines(backup_hook).size(), 1U) << second.stderr_text;
  EXPECT_EQ(first_outcome.exit_code, 0) << "the second run disturbed the first:\n" << first_outcome.log();
  auto snapshots = world().snapshots();
  ASSERT_TRUE(snapshots);
  ASSERT_EQ(snapshots->size(), snapshots_before_ + 1);
  // The first run's snapshot is whole: the second run did not take its database archive away.
  const fs::path restored = restore_snapshot(snapshots->back().id);
  EXPECT_TRUE(fs::exists(restored / "db" / "connectware-db.tar")) << first_outcome.log() << second.log();
  EXPECT_EQ(status().value("success", false), true) << status().dump();
  EXPECT_EQ(world().container_state(service_manager), "running");
  expect_next_run_succeeds();
}

TEST_F(BackupFailureTest, StaleRunMarkerOfADeadOwnerIsRecoveredAndItsPausedContainerReleased) {
  // A run whose owner died (SIGKILL) with the service-manager paused.
  util::ProcessOptions short_lived;
  short_lived.argv = {"true"};
  short_lived.env = test::base_environment();
  auto child = util::ChildProcess::start(short_lived);
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->wait_for(10s));
  installation::RunMarker marker;
  marker.run_id = "2020-01-01T00:00:00Z-" + std::to_string(child->pid());
  marker.started = "2020-01-01T00:00:00Z";
  marker.started_unix_ms = 1'577'836'800'000;
  marker.owner = util::ProcessIdentity{child->pid(), 12345};
  const installation::StatePaths paths{state_dir()};
  ASSERT_TRUE(util::create_private_directory(state_dir()));
  ASSERT_TRUE(installation::write_run_marker(paths, marker));
  const auto& manager_id = world().connectware().service_manager_id();
  ASSERT_TRUE(installation::write_pause_marker(paths, {manager_id}));
  ASSERT_TRUE(world().docker().docker_checked({"pause", service_manager}));

  const auto outcome = run_hook(backup_hook);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.log(), HasSubstr("recovering from an unfinished run started 2020-01-01T00:00:00Z"));
  EXPECT_EQ(world().container_state(service_manager), "running");
  EXPECT_EQ(snapshot_count(), snapshots_before_ + 1);
  EXPECT_FALSE(fs::exists(paths.pause_marker()));
}

// SIGKILL inside `restic backup` leaves restic's lock in the repository. Later backups would work, but
// `restic check`, `forget --prune` and other exclusive operations would fail on it: recovering the dead run
// removes it.
TEST_F(BackupFailureTest, AStaleResticLockOfARunKilledDuringResticIsRemovedByTheNextRun) {
  // restic throttled to 8 KiB/s and a volume with 2 MiB to store: the kill lands while restic runs.
  const auto slow_restic = test_dir() / "slow-restic";
  ASSERT_TRUE(util::write_file_atomic(slow_restic, "#!/bin/sh\nexec restic --limit-upload 8 \"$@\"\n", 0755));
  std::string bulk(2 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < bulk.size(); ++i)
    bulk[i] = static_cast<char>((i * 2654435761U) >> 13);
  ASSERT_TRUE(util::write_file_atomic(volume_mountpoint() / "bulk.bin", bulk));
  const auto locks = [this] {
    auto listed = world().restic({"list", "locks", "--no-lock"});
    return listed ? *listed : std::string("(restic failed)");
  };
  ASSERT_EQ(locks(), "");

  // This process adopts the orphaned restic once the hook is killed, so that it can reap it: the init of
  // a test sandbox may not do so promptly.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  struct NoLongerSubreaper {
    ~NoLongerSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } reset_subreaper;
  auto running = start_hook(backup_hook, {}, {{"CONNECTWARE_RESTIC_BINARY", slow_restic.string()}});
  ASSERT_TRUE(test::poll_until([&] { return !locks().empty(); }, 60s, [] { return false; }))
      << "restic never took its lock";
  // restic runs in a process group of its own: a machine that goes down, or systemd stopping the unit,
  // kills it along with the hook.
  const auto lock_id = locks().substr(0, 64);
  auto lock = world().restic({"cat", "lock", lock_id, "--no-lock"});
  ASSERT_TRUE(lock) << lock.error().message;
  const int restic_pid = nlohmann::json::parse(*lock).at("pid").get<int>();
  ASSERT_EQ(::kill(-running.process.pid(), SIGKILL), 0);
  ASSERT_EQ(::kill(restic_pid, SIGKILL), 0);
  const auto killed = finish_hook(running, 30s);
  EXPECT_NE(killed.exit_code, 0);
  ASSERT_NE(locks(), "") << "the killed restic left no lock: the test proves nothing";

  // Reaped, as init would: a zombie's PID still exists, and restic keeps the lock of an existing process.
  EXPECT_EQ(::waitpid(restic_pid, nullptr, 0), restic_pid);
  const auto next = run_hook(backup_hook);
  ASSERT_EQ(next.exit_code, 0) << next.log();
  EXPECT_THAT(next.stderr_text, HasSubstr("removed stale restic locks"));
  EXPECT_EQ(locks(), "");
  auto checked = world().restic({"check"});
  EXPECT_TRUE(checked) << (checked ? "" : checked.error().message);
  std::error_code ignored;
  fs::remove(volume_mountpoint() / "bulk.bin", ignored);
}

} // namespace
} // namespace cwb::integration
