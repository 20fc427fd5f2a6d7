// What keeps an unattended backup honest, end to end through connectware-backup with the real Docker engine,
// emulator, PostgreSQL and restic on s3rver: the shrink alert (a volume emptied between two runs) and
// retention (restic forget with keep-last, pruned) without resticprofile.

#include "integration/support/backup_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cwb::integration {
namespace {

using ::testing::HasSubstr;

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

} // namespace
} // namespace cwb::integration
