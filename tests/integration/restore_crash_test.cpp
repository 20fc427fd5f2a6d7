// connectware-restore killed with SIGKILL (its whole process group, as a power loss would) at each step,
// then run again: the next run says what happened and always ends at the snapshot's state (a new restore,
// or --resume) or at the state before the killed restore (--roll-back), and the safety copy stays until one
// of them is reached. Between the two, backups are refused (exit 20): a snapshot of a half-restored
// installation would be neither state. The volume is edited rather than emptied before these restores
// (see restore_failure_test.cpp).

#include "harness/emulator.hpp"
#include "integration/support/restore_fixture.hpp"
#include "snapshot/layout.hpp"

#include <gmock/gmock.h>

#include <unistd.h>

namespace cwb::integration {
namespace {

using testing::HasSubstr;
using Containers = test::EmulatorContainers;

class RestoreCrash : public RestoreTest {
protected:
  /// State A backed up, then changed into the state the killed restore starts from. Returns the snapshot.
  std::string back_up_then_change() {
    auto installed = install_service(world().connectware().base_url(), world().connectware().ca_file(),
                                     "crash-" + std::to_string(getpid()) + "-" + std::to_string(++changes_));
    EXPECT_TRUE(installed) << installed.error().message;
    EXPECT_TRUE(util::write_file_atomic(volume_mountpoint() / "crash-state.txt", "state A\n", 0640));
    snapshot_state_ = live_state();
    const auto snapshot = back_up();
    change_everything(VolumeChange::edit);
    before_restore_ = live_state();
    EXPECT_NE(before_restore_, snapshot_state_);
    return snapshot;
  }

  [[nodiscard]] fs::path journal() const { return state_dir() / "restore-journal.json"; }
  [[nodiscard]] fs::path safety_database() const { return state_dir() / "rollback" / "db" / "connectware-db.tgz"; }

  void expect_connectware_running() {
    EXPECT_EQ(world().container_state(Containers::front_container), "running");
    EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  }

  /// After a kill that left the live state changed: the next plain run refuses (20) and says how to go
  /// on, a backup is refused too, and the safety copy and the journal are still there.
  void expect_refused_until_decided() {
    const auto refused = run_restore({"--yes"});
    EXPECT_EQ(refused.exit_code, 20) << refused.log();
    EXPECT_THAT(refused.stderr_text, HasSubstr("was killed during"));
    EXPECT_THAT(refused.stderr_text, HasSubstr("--resume"));
    EXPECT_THAT(refused.stderr_text, HasSubstr("--roll-back"));
    const auto backup = run_hook("connectware-backup");
    EXPECT_EQ(backup.exit_code, 20) << backup.log();
    EXPECT_THAT(backup.stderr_text, HasSubstr("no backup until it is finished or rolled back"));
    EXPECT_TRUE(fs::exists(journal()));
    EXPECT_TRUE(fs::exists(safety_database()));
  }

  LiveState snapshot_state_;
  LiveState before_restore_;
};

TEST_F(RestoreCrash, KilledDuringTheFetchTheNextRestoreStartsAfresh) {
  const auto snapshot = back_up_then_change();
  kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "fetching snapshot");
  EXPECT_EQ(live_state(), before_restore_);
  EXPECT_FALSE(fs::exists(journal()));

  const auto again = run_restore({"--snapshot", snapshot, "--yes"});
  ASSERT_EQ(again.exit_code, 0) << again.log();
  EXPECT_EQ(live_state(), snapshot_state_);
  expect_connectware_running();
}

TEST_F(RestoreCrash, KilledDuringTheSafetyCopyTheNextRunSaysNothingChangedAndRestores) {
  const auto snapshot = back_up_then_change();
  kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "step 3: safety copy");
  EXPECT_EQ(live_state(), before_restore_);

  const auto resumed = run_restore({"--resume", "--yes"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.log();
  EXPECT_THAT(resumed.stdout_text, HasSubstr("before it changed anything"));
  EXPECT_THAT(resumed.stdout_text, HasSubstr("restored snapshot " + snapshot.substr(0, 8)));
  EXPECT_EQ(live_state(), snapshot_state_);
  EXPECT_FALSE(fs::exists(journal()));
  expect_connectware_running();
}

TEST_F(RestoreCrash, KilledDuringTheDatabaseStepIsRolledBackOnRequest) {
  const auto snapshot = back_up_then_change();
  kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "step 4: uploading");
  expect_refused_until_decided();

  const auto rolled_back = run_restore({"--roll-back", "--yes"});
  ASSERT_EQ(rolled_back.exit_code, 0) << rolled_back.log();
  EXPECT_THAT(rolled_back.stdout_text, HasSubstr("rolled back"));
  EXPECT_EQ(live_state(), before_restore_);
  EXPECT_FALSE(fs::exists(journal()));
  EXPECT_TRUE(fs::exists(safety_database())); // kept, as after every restore
  expect_connectware_running();
  const auto backup = run_hook("connectware-backup");
  EXPECT_EQ(backup.exit_code, 0) << backup.log();
}

TEST_F(RestoreCrash, KilledDuringTheVolumeStepIsResumedOnRequest) {
  const auto snapshot = back_up_then_change();
  kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "step 5: stopping");
  expect_refused_until_decided();

  const auto resumed = run_restore({"--resume", "--yes"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.log();
  EXPECT_THAT(resumed.stdout_text, HasSubstr("safety copy of the state before the interrupted restore, kept"));
  EXPECT_EQ(live_state(), snapshot_state_);
  EXPECT_FALSE(fs::exists(journal()));
  expect_connectware_running();
  // The safety copy is still the state before the killed restore: a rollback by hand would find it.
  EXPECT_TRUE(fs::exists(safety_database()));
}

// restore-dir and rollback-dir beside the volume's folder (one mount): the volume is replaced by rename, and
// the kill comes after its entries were swapped. The next run rebuilds the swap from its record and puts the
// old entries back.
TEST_F(RestoreCrash, KilledAfterTheVolumeWasSwappedByRenameIsRolledBackOnRequest) {
  const auto beside_volume = volume_mountpoint().parent_path() / ("cwb-work-" + std::to_string(++changes_));
  const util::Environment on_the_volumes_mount{{"CONNECTWARE_RESTORE_DIR", (beside_volume / "restore").string()},
                                               {"CONNECTWARE_ROLLBACK_DIR", (beside_volume / "rollback").string()}};
  const auto snapshot = back_up_then_change();
  const auto killed =
      kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "top-level entries moved into", on_the_volumes_mount);
  ASSERT_THAT(killed.stderr_text, HasSubstr("replaced by rename"));
  EXPECT_NE(live_state(), before_restore_); // the volume holds the snapshot's entries now
  const auto refused = run_restore({"--yes"}, on_the_volumes_mount);
  EXPECT_EQ(refused.exit_code, 20) << refused.log();
  EXPECT_THAT(refused.stderr_text, HasSubstr("the volumes may be partly replaced"));

  const auto rolled_back = run_restore({"--roll-back", "--yes"}, on_the_volumes_mount);
  ASSERT_EQ(rolled_back.exit_code, 0) << rolled_back.log();
  EXPECT_EQ(live_state(), before_restore_);
  EXPECT_FALSE(fs::exists(journal()));
  expect_connectware_running();
  std::error_code ignored;
  fs::remove_all(beside_volume, ignored);
}

TEST_F(RestoreCrash, KilledDuringTheRestartIsRolledBackOnRequest) {
  const auto snapshot = back_up_then_change();
  kill_restore_when_logged({"--snapshot", snapshot, "--yes"}, "step 6: restarting");
  expect_refused_until_decided();

  const auto rolled_back = run_restore({"--roll-back", "--yes"});
  ASSERT_EQ(rolled_back.exit_code, 0) << rolled_back.log();
  EXPECT_EQ(live_state(), before_restore_);
  EXPECT_FALSE(fs::exists(journal()));
  expect_connectware_running();
}

TEST_F(RestoreCrash, ResumeOrRollBackWithoutAnInterruptedRestoreIsAUsageError) {
  const auto resumed = run_restore({"--resume", "--yes"});
  EXPECT_EQ(resumed.exit_code, 2) << resumed.log();
  EXPECT_THAT(resumed.stderr_text, HasSubstr("nothing to resume"));
  const auto rolled_back = run_restore({"--roll-back", "--yes"});
  EXPECT_EQ(rolled_back.exit_code, 2) << rolled_back.log();
  EXPECT_THAT(rolled_back.stderr_text, HasSubstr("nothing to roll back"));
}

} // namespace
} // namespace cwb::integration
