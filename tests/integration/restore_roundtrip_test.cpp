// connectware-restore end to end, the successful paths: a backup made by hooks/connectware-backup is put
// back over a changed installation (database through the emulator's API, the real Docker volume, the real
// containers restarted), in whole or in part; --dry-run and --list change nothing; a new machine restores
// the old one's snapshot (disaster recovery, docs/restore.md).

#include "harness/emulator.hpp"
#include "integration/support/restore_fixture.hpp"

#include <gmock/gmock.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>

namespace cwb::integration {
namespace {

using testing::HasSubstr;
using Containers = test::EmulatorContainers;

class RestoreRoundTrip : public RestoreTest {
protected:
  /// State A: one more service, a file with its own mode, a symlink.
  void seed_state_a() {
    auto installed = install_service(world().connectware().base_url(), world().connectware().ca_file(),
                                     "state-a-" + std::to_string(getpid()) + "-" + std::to_string(++changes_));
    ASSERT_TRUE(installed) << installed.error().message;
    ASSERT_TRUE(util::ensure_directories(volume_mountpoint() / "extra"));
    ASSERT_TRUE(util::write_file_atomic(volume_mountpoint() / "extra" / "private.txt", "only the owner\n", 0640));
    std::error_code ignored;
    fs::remove(volume_mountpoint() / "current", ignored);
    ASSERT_EQ(symlink("extra/private.txt", (volume_mountpoint() / "current").c_str()), 0);
  }
};

TEST_F(RestoreRoundTrip, BringsBackDatabaseAndVolumeAndRestartsConnectware) {
  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  change_everything();
  ASSERT_NE(live_state(), state_a);
  const auto front_started = started_at(Containers::front_container);
  const auto manager_started = started_at(Containers::service_manager_container);

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();

  const auto restored = live_state();
  EXPECT_EQ(restored.database, state_a.database);
  EXPECT_EQ(restored.volume, state_a.volume);
  EXPECT_EQ(restored.hashes, state_a.hashes);
  EXPECT_NE(started_at(Containers::front_container), front_started);
  EXPECT_NE(started_at(Containers::service_manager_container), manager_started);
  EXPECT_EQ(world().container_state(Containers::front_container), "running");
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  EXPECT_THAT(outcome.stdout_text, HasSubstr("healthy"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("Admin-UI browser sessions"));
  const auto report = nlohmann::json::parse(util::read_file(state_dir() / "restore-status.json").value_or("{}"));
  EXPECT_EQ(report.value("success", false), true) << report.dump();
  EXPECT_EQ(report.value("snapshot_id", ""), snapshot) << report.dump();
  EXPECT_GT(report["stage_seconds"].value("database", 0.0), 0.0) << report.dump();
  const auto metrics = util::read_file(metrics_file().parent_path() / "connectware_restore.prom").value_or("");
  EXPECT_THAT(metrics, HasSubstr("connectware_restore_success 1\n"));
  EXPECT_THAT(metrics, HasSubstr("connectware_restore_last_success_timestamp_seconds "));
  EXPECT_THAT(metrics, HasSubstr("connectware_restore_stage_duration_seconds{stage=\"volumes\"}"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr((state_dir() / "rollback").string()));
  // One line of per-step wall times (bench/steps.sh greps it); shown in the test's output.
  std::istringstream lines(outcome.stdout_text);
  std::string timings;
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("timings: ")) timings = line;
  EXPECT_THAT(timings, testing::MatchesRegex("timings: fetch [0-9]+\\.[0-9]{2} s, check [0-9]+\\.[0-9]{2} s, "
                                             "safety_copy [0-9]+\\.[0-9]{2} s, database [0-9]+\\.[0-9]{2} s, "
                                             "volumes [0-9]+\\.[0-9]{2} s, restart [0-9]+\\.[0-9]{2} s, "
                                             "total [0-9]+\\.[0-9]{2} s"))
      << outcome.stdout_text;
  RecordProperty("timings", timings);
  std::cout << "[ timings  ] " << timings << std::endl;
  // By rename or by copy, depending on the mounts (the private engine's data root is its own mount here).
  EXPECT_THAT(outcome.stderr_text, HasSubstr("volume connectware_service-manager: replaced by "));
  // The upload is the archive Connectware exported, byte for byte (the backup's gzip recipe).
  EXPECT_THAT(outcome.stderr_text, HasSubstr("byte for byte the archive Connectware exported"));
}

// The same archive restored twice, each restore over before the upload is answered (`running` never seen):
// the status shows the very restore object of the first time. The end is the settle rule's (restore-settle),
// seconds, not the export timeout's minutes and a rollback.
TEST_F(RestoreRoundTrip, TheSameArchiveRestoredTwiceAndOverBeforeTheFirstPollEndsByTheSettleRule) {
  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  set_faults({{"instant_restore", ""}});
  // Connectware is not restarted in between (a restart-command that does nothing; the database alone is
  // restored): a restarted emulator would forget its status and its faults.
  const util::Environment bounded{{"CONNECTWARE_RESTORE_SETTLE", "2"},
                                  {"CONNECTWARE_EXPORT_TIMEOUT", "120"},
                                  {"CONNECTWARE_RESTART_COMMAND", "/bin/true"}};
  for (int time = 1; time <= 2; ++time) {
    SCOPED_TRACE("restore " + std::to_string(time));
    change_everything(VolumeChange::edit);
    const auto started = std::chrono::steady_clock::now();
    const auto outcome = run_restore({"--snapshot", snapshot, "--db-only", "--yes"}, bounded);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
    EXPECT_EQ(live_state().database, state_a.database);
    EXPECT_LT(seconds, 60.0) << outcome.log();
    if (time == 2) {
      EXPECT_THAT(outcome.stderr_text, HasSubstr("taken as over (restore-settle)")) << outcome.log();
    }
  }
  set_faults({});
}

// An operator stopped one of Connectware's containers (here one that mounts the volume too) before the
// restore; Connectware lists it as exited in /api/system/health. The restore neither starts it nor waits
// for it, and does not roll back because of it.
TEST_F(RestoreRoundTrip, AContainerStoppedBeforeTheRestoreStaysStoppedAndIsNotAwaited) {
  const std::string stopped = "connectware-protocol-mapper-1";
  auto restarted = world().restart_connectware({"stopped_service=protocol-mapper"});
  ASSERT_TRUE(restarted) << restarted.error().message;
  // Whatever happens below, the next test gets a Connectware without the fault and without the container
  // (which would keep the volume from being removed).
  struct Normal {
    util::Environment& hook_env;
    std::string container;
    ~Normal() {
      (void)world().docker().docker({"rm", "-f", container});
      auto again = world().restart_connectware();
      EXPECT_TRUE(again) << again.error().message;
      hook_env["CONNECTWARE_URL"] = world().connectware().base_url();
      hook_env["CONNECTWARE_CA_FILE"] = world().connectware().ca_file().string();
    }
  } normal{hook_env_, stopped};
  hook_env_["CONNECTWARE_URL"] = world().connectware().base_url();
  hook_env_["CONNECTWARE_CA_FILE"] = world().connectware().ca_file().string();
  auto created = world().docker().docker_checked(
      {"create", "--name", stopped, "--label", "com.docker.compose.project=connectware", "--label",
       "com.docker.compose.service=protocol-mapper", "--label", "io.cybus.connectware=core", "-v",
       std::string(Containers::volume) + ":/data", test::DockerEngine::busybox_image, "sleep", "3600"});
  ASSERT_TRUE(created) << created.error().message;
  const auto listed_stopped = [] {
    auto health =
        admin_get_json(world().connectware().base_url(), world().connectware().ca_file(), "/api/system/health");
    EXPECT_TRUE(health) << health.error().message;
    if (!health) return false;
    const auto& services = health->at("system").at("status");
    return std::ranges::any_of(services, [](const nlohmann::json& service) {
      return service.at("name") == "protocol-mapper" && service.at("status") == "exited";
    });
  };
  ASSERT_TRUE(listed_stopped()) << "the emulator does not list the stopped service";

  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  ASSERT_NE(live_state(), state_a);

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  const auto restored = live_state();
  EXPECT_EQ(restored.database, state_a.database);
  EXPECT_EQ(restored.volume, state_a.volume);
  EXPECT_EQ(world().container_state(stopped), "created") << outcome.log();
  EXPECT_TRUE(listed_stopped()) << "the restarted emulator lost its fault: the test proves nothing";
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  EXPECT_EQ(world().container_state(Containers::front_container), "running");
  EXPECT_THAT(outcome.stderr_text,
              HasSubstr("services running before the restore, awaited after the restart: connectware, postgresql, "
                        "service-manager\n"))
      << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("left stopped as before: " + stopped + " (created)")) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, testing::Not(HasSubstr("rolling back"))) << outcome.log();
}

TEST_F(RestoreRoundTrip, DatabaseOnlyLeavesTheVolumeAsItIs) {
  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  // Edited, not emptied: a restarted service-manager recreates its services folder in an empty volume.
  change_everything(VolumeChange::edit);
  const auto changed = live_state();

  const auto outcome = run_restore({"--snapshot", snapshot, "--db-only", "--yes"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  const auto after = live_state();
  EXPECT_EQ(after.database, state_a.database);
  EXPECT_EQ(after.volume, changed.volume);
}

// A 502 to the upload: uploaded again only when the status proves nothing started, else followed.
TEST_F(RestoreRoundTrip, ABadGatewayToTheUploadIsFollowedOrRepeatedAsTheStatusSays) {
  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);

  set_faults({{"restore_start_502", "1"}});
  const auto repeated = run_restore({"--snapshot", snapshot, "--db-only", "--yes"});
  ASSERT_EQ(repeated.exit_code, 0) << repeated.log();
  EXPECT_THAT(repeated.stderr_text, HasSubstr("the status proves nothing started; uploading again"));
  EXPECT_EQ(live_state().database, state_a.database);

  change_everything(VolumeChange::edit);
  set_faults({{"restore_started_502", "1"}});
  const auto followed = run_restore({"--snapshot", snapshot, "--db-only", "--yes"});
  ASSERT_EQ(followed.exit_code, 0) << followed.log();
  EXPECT_THAT(followed.stderr_text, HasSubstr("the maintenance status shows the restore started: following it"));
  EXPECT_EQ(live_state().database, state_a.database);
}

TEST_F(RestoreRoundTrip, VolumeOnlyLeavesTheDatabaseAsItIs) {
  seed_state_a();
  const auto state_a = live_state();
  const auto snapshot = back_up();
  change_everything();
  const auto changed = live_state();

  const auto outcome = run_restore({"--snapshot", snapshot, "--volume-only", "--yes"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  const auto after = live_state();
  EXPECT_EQ(after.database, changed.database);
  EXPECT_EQ(after.volume, state_a.volume);
  EXPECT_EQ(after.hashes, state_a.hashes);
}

TEST_F(RestoreRoundTrip, DryRunChecksThenChangesNothing) {
  const auto snapshot = back_up();
  change_everything();
  const auto changed = live_state();
  const auto manager_started = started_at(Containers::service_manager_container);

  const auto outcome = run_restore({"--snapshot", snapshot, "--dry-run"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.stdout_text, HasSubstr("dry run"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("passed its checks"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("connectware_service-manager"));
  EXPECT_EQ(live_state(), changed);
  EXPECT_EQ(started_at(Containers::service_manager_container), manager_started);
  EXPECT_FALSE(fs::exists(state_dir() / "rollback"));
}

TEST_F(RestoreRoundTrip, ListShowsOurSnapshotsAndWithoutYesOrTerminalNothingRuns) {
  const auto snapshot = back_up();
  const auto listed = run_restore({"--list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.log();
  EXPECT_THAT(listed.stdout_text, HasSubstr(snapshot.substr(0, 8)));
  EXPECT_THAT(listed.stdout_text, HasSubstr("cwb-integration"));

  const auto refused = run_restore({"--snapshot", snapshot});
  EXPECT_EQ(refused.exit_code, 2) << refused.log();
  EXPECT_THAT(refused.stderr_text, HasSubstr("--yes"));
}

// Disaster recovery as docs/restore.md describes it: on a new machine (Connectware installed, its own host
// name, an empty state folder) the default pick finds nothing of its own and says whose snapshots there
// are; one command with --host restores the old machine's latest.
TEST_F(RestoreRoundTrip, ANewMachineRestoresTheOldMachinesLatestSnapshotWithOneCommand) {
  seed_state_a();
  const auto state_a = live_state();
  const std::string old_machine = "old-machine-" + std::to_string(getpid());
  const auto snapshot = back_up({{"CONNECTWARE_HOST", old_machine}});
  change_everything();
  const auto fresh_install = live_state();
  const util::Environment new_machine{{"CONNECTWARE_HOST", "new-machine"},
                                      {"CONNECTWARE_STATE_DIR", (state_dir().parent_path() / "new-state").string()}};

  const auto listed = run_restore({"--list"}, new_machine);
  ASSERT_EQ(listed.exit_code, 0) << listed.log();
  EXPECT_THAT(listed.stdout_text, HasSubstr("\n  " + snapshot.substr(0, 8) + "  "));
  EXPECT_THAT(listed.stdout_text, HasSubstr(old_machine));
  EXPECT_THAT(listed.stdout_text, HasSubstr("none of host new-machine"));

  const auto own = run_restore({"--yes"}, new_machine);
  EXPECT_EQ(own.exit_code, 19) << own.log();
  EXPECT_THAT(own.stderr_text, HasSubstr("no snapshot of host new-machine"));
  EXPECT_THAT(own.stderr_text, HasSubstr(old_machine + " (1, latest " + snapshot.substr(0, 8)));
  EXPECT_THAT(own.stderr_text, HasSubstr("--host " + old_machine));
  EXPECT_EQ(live_state(), fresh_install);

  const auto recovered = run_restore({"--host", old_machine, "--yes"}, new_machine);
  ASSERT_EQ(recovered.exit_code, 0) << recovered.log();
  EXPECT_THAT(recovered.stdout_text, HasSubstr("restored snapshot " + snapshot.substr(0, 8)));
  EXPECT_EQ(live_state(), state_a);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
}

} // namespace
} // namespace cwb::integration
