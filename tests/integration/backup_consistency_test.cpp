// The database and the volume in a snapshot belong together even while someone keeps installing services
// during the backup: every services/<id>.yml of the snapshot's volume has its row in the snapshot's
// database archive, and no row lacks its file. In every quiesce mode: pause, verify, and optimistic (the
// default), which freezes nothing when nothing changes and retries paused when something did.

#include "integration/support/backup_fixture.hpp"

#include "snapshot/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cwb::integration {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;

class BackupConsistencyTest : public BackupTest {
protected:
  /// Restores the newest snapshot and checks that its archive's rows and its volume's files agree.
  /// Returns the service ids in it.
  std::set<std::string> expect_consistent_newest_snapshot() {
    auto snapshots = world().snapshots();
    EXPECT_TRUE(snapshots && !snapshots->empty());
    if (!snapshots || snapshots->empty()) return {};
    const fs::path restored = restore_snapshot(snapshots->back().id);
    const auto rows = service_rows_in_archive(restored / "db" / "connectware-db.tar");
    const auto files = service_files_in(restored / "volumes" / "service-manager");
    EXPECT_EQ(rows, files) << "database rows and volume files of the snapshot differ";
    EXPECT_GE(rows.size(), 3U) << "the seeded services are missing";
    return rows;
  }

  snapshot::Manifest newest_manifest() {
    auto snapshots = world().snapshots();
    EXPECT_TRUE(snapshots && !snapshots->empty());
    if (!snapshots || snapshots->empty()) return {};
    auto text = world().restic({"dump", snapshots->back().id, (staging_dir() / "manifest.json").string()});
    EXPECT_TRUE(text) << text.error().message;
    auto manifest = snapshot::parse_manifest(text.value_or(""));
    EXPECT_TRUE(manifest) << manifest.error().message;
    return manifest.value_or(snapshot::Manifest{});
  }
};

TEST_F(BackupConsistencyTest, PauseModeKeepsSnapshotConsistentWhileServicesAreInstalledAndPausesTheServiceManager) {
  // The export takes 3 s, so the writer's requests meet a paused service-manager and wait.
  set_faults({{"slow_export", "3"}});
  auto& connectware = world().connectware();
  ServiceWriter writer(connectware.base_url(), connectware.ca_file(), "paused-writer");
  ASSERT_TRUE(test::poll_until([&] { return writer.installed_count() >= 2; }, 20s, [] { return false; }))
      << "the writer installs nothing";
  ContainerStateWatcher watcher(world().docker(), test::EmulatorContainers::service_manager_container);

  const auto outcome = run_hook("connectware-backup", {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  const auto states = watcher.stop();
  const auto after_backup = writer.installed_count();
  // The requests that waited go through after the unpause.
  EXPECT_TRUE(test::poll_until([&] { return writer.installed_count() > after_backup; }, 20s, [] { return false; }));
  const auto installed = writer.stop();

  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_TRUE(states.contains("paused")) << "the service-manager was never seen paused";
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
  EXPECT_THAT(writer.failures(), ::testing::IsEmpty());
  const auto in_snapshot = expect_consistent_newest_snapshot();
  EXPECT_THAT(in_snapshot, Contains("paused-writer-0"));
  const auto manifest = newest_manifest();
  EXPECT_EQ(manifest.quiesce.mode, "pause");
  EXPECT_EQ(manifest.quiesce.attempts, 1);
  EXPECT_EQ(manifest.quiesce.paused_containers, std::vector<std::string>{connectware.service_manager_id()});
}

TEST_F(BackupConsistencyTest, VerifyModeDetectsAChangeDuringTheExportAndStagesAgain) {
  set_faults({{"slow_export", "3"}});
  auto running = start_hook("connectware-backup", {}, {{"CONNECTWARE_QUIESCE", "verify"}});
  ASSERT_TRUE(wait_for_export_running(20s)) << "the export never started";
  // A change inside the first attempt's window; the second attempt need not be slow.
  auto& connectware = world().connectware();
  ASSERT_TRUE(install_service(connectware.base_url(), connectware.ca_file(), "changed-during-export"));
  set_faults({});
  const auto outcome = finish_hook(running);

  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.log(), HasSubstr("the configuration changed during attempt 1"));
  const auto manifest = newest_manifest();
  EXPECT_EQ(manifest.quiesce.mode, "verify");
  EXPECT_GT(manifest.quiesce.attempts, 1);
  EXPECT_TRUE(manifest.quiesce.paused_containers.empty());
  const auto in_snapshot = expect_consistent_newest_snapshot();
  EXPECT_THAT(in_snapshot, Contains("changed-during-export"));
}

// --- optimistic quiesce: the default where the Docker engine can pause ----------------------------------

TEST_F(BackupConsistencyTest, TheDefaultIsOptimisticAndFreezesNothingWhenNothingChanges) {
  // A slow export, so that a pause (were there one) would last long enough to be seen.
  set_faults({{"slow_export", "2"}});
  ContainerStateWatcher watcher(world().docker(), test::EmulatorContainers::service_manager_container);
  const auto outcome = run_hook("connectware-backup");
  const auto states = watcher.stop();

  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_FALSE(states.contains("paused")) << "the service-manager was paused although nothing changed";
  EXPECT_TRUE(states.contains("running")) << "the watcher saw nothing";
  EXPECT_THAT(outcome.log(), HasSubstr("nothing was paused"));
  const auto manifest = newest_manifest();
  EXPECT_EQ(manifest.quiesce.mode, "optimistic");
  EXPECT_EQ(manifest.quiesce.outcome, "unchanged");
  EXPECT_EQ(manifest.quiesce.attempts, 1);
  EXPECT_EQ(manifest.quiesce.window_seconds, 0.0);
  EXPECT_TRUE(manifest.quiesce.paused_containers.empty());
  const auto recorded = status();
  ASSERT_TRUE(recorded.is_object()) << "no status.json";
  EXPECT_EQ(recorded["quiesce"]["mode"], "optimistic");
  EXPECT_EQ(recorded["quiesce"]["outcome"], "unchanged");
  EXPECT_EQ(recorded["quiesce"]["window_seconds"], 0.0);
  expect_consistent_newest_snapshot();
}

TEST_F(BackupConsistencyTest, AChangeDuringTheOptimisticAttemptLeadsToAPausedRetry) {
  set_faults({{"slow_export", "3"}});
  ContainerStateWatcher watcher(world().docker(), test::EmulatorContainers::service_manager_container);
  auto running = start_hook("connectware-backup", {}, {{"CONNECTWARE_QUIESCE", "optimistic"}});
  ASSERT_TRUE(wait_for_export_running(20s)) << "the export never started";
  auto& connectware = world().connectware();
  // Nothing is paused yet: the change goes straight through.
  ASSERT_TRUE(install_service(connectware.base_url(), connectware.ca_file(), "changed-while-optimistic"));
  const auto outcome = finish_hook(running);
  const auto states = watcher.stop();

  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.log(), HasSubstr("staging again with its writers paused"));
  EXPECT_TRUE(states.contains("paused")) << "the retry never paused the service-manager";
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
  const auto manifest = newest_manifest();
  EXPECT_EQ(manifest.quiesce.mode, "optimistic");
  EXPECT_EQ(manifest.quiesce.outcome, "paused_retry");
  EXPECT_EQ(manifest.quiesce.attempts, 2);
  EXPECT_GT(manifest.quiesce.window_seconds, 0.0);
  EXPECT_EQ(manifest.quiesce.paused_containers, std::vector<std::string>{connectware.service_manager_id()});
  EXPECT_EQ(status()["quiesce"]["outcome"], "paused_retry");
  const auto in_snapshot = expect_consistent_newest_snapshot();
  EXPECT_THAT(in_snapshot, Contains("changed-while-optimistic"));
}

TEST_F(BackupConsistencyTest, OptimisticModeKeepsSnapshotConsistentWhileServicesAreInstalled) {
  // The same concurrent writer as in pause mode: it changes the configuration during the unpaused attempt,
  // so the paused retry makes the snapshot; its requests then wait for the unpause.
  set_faults({{"slow_export", "3"}});
  auto& connectware = world().connectware();
  ServiceWriter writer(connectware.base_url(), connectware.ca_file(), "optimistic-writer");
  ASSERT_TRUE(test::poll_until([&] { return writer.installed_count() >= 2; }, 20s, [] { return false; }))
      << "the writer installs nothing";
  const auto outcome = run_hook("connectware-backup");
  const auto after_backup = writer.installed_count();
  EXPECT_TRUE(test::poll_until([&] { return writer.installed_count() > after_backup; }, 20s, [] { return false; }));
  writer.stop();

  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(writer.failures(), ::testing::IsEmpty());
  const auto manifest = newest_manifest();
  EXPECT_EQ(manifest.quiesce.mode, "optimistic");
  EXPECT_EQ(manifest.quiesce.outcome, "paused_retry");
  const auto in_snapshot = expect_consistent_newest_snapshot();
  EXPECT_THAT(in_snapshot, Contains("optimistic-writer-0"));
}

} // namespace
} // namespace cwb::integration
