// Enterprise backup routines without restic: a backup agent calls connectware-pre-backup, stores the staging
// folder with its own means, calls connectware-post-backup, and later brings the folder back and hands it
// to connectware-restore --from. Neither hook may need restic: here there is none on the PATH and no
// repository is configured.

#include "integration/support/restore_fixture.hpp"

#include "staging/mirror.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>

namespace cwb::integration {
namespace {

using testing::HasSubstr;

class BackupAgent : public RestoreTest {
protected:
  void SetUp() override {
    RestoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(util::create_private_directory(test_dir() / "no-restic-bin"));
    agent_ = {{"PATH", (test_dir() / "no-restic-bin").string()},
              {"RESTIC_REPOSITORY", ""},
              {"RESTIC_PASSWORD_FILE", ""},
              {"CONNECTWARE_QUIESCE", "pause"}};
  }

  /// What the agent keeps: a copy of the staging folder as it was after the post hook.
  fs::path agent_copy() const { return test_dir() / "agent-storage" / "staging"; }

  /// The agent's backup: pre hook, copy the staging folder, post hook.
  void agent_backs_up() {
    const auto pre = run_hook("connectware-pre-backup", {}, agent_);
    ASSERT_EQ(pre.exit_code, 0) << pre.log();
    const auto post = run_hook("connectware-post-backup", {}, agent_);
    ASSERT_EQ(post.exit_code, 0) << post.log();
    EXPECT_THAT(post.stderr_text, HasSubstr("matches its manifest, ready for the backup agent"));
    // staging-cleanup = auto keeps the staged database when there is no repository.
    ASSERT_TRUE(fs::exists(staging_dir() / "manifest.json"));
    ASSERT_TRUE(fs::exists(staging_dir() / "db" / "connectware-db.tar"));
    ASSERT_TRUE(util::create_private_directory(agent_copy().parent_path()));
    ASSERT_TRUE(util::create_private_directory(agent_copy()));
    auto copied = staging::mirror_tree(staging_dir(), agent_copy());
    ASSERT_TRUE(copied) << copied.error().message;
    EXPECT_EQ(status().value("success", false), true) << status().dump();
  }

  util::Environment agent_;
};

TEST_F(BackupAgent, PreAndPostWithoutResticStageAndCheckAFolderThatRestoresWithFrom) {
  const auto state_a = live_state();
  agent_backs_up();
  change_everything();
  ASSERT_NE(live_state(), state_a);

  const auto restored = run_restore({"--from", agent_copy().string(), "--yes"}, agent_);
  ASSERT_EQ(restored.exit_code, 0) << restored.log();
  EXPECT_THAT(restored.stderr_text, HasSubstr("restoring from the folder"));
  const auto after = live_state();
  EXPECT_EQ(after.database, state_a.database);
  EXPECT_EQ(after.volume, state_a.volume);
  EXPECT_EQ(after.hashes, state_a.hashes);
  // The agent's folder is read, never written.
  EXPECT_FALSE(fs::exists(agent_copy() / "db" / "connectware-db.tgz"));
}

TEST_F(BackupAgent, AFolderThatNoLongerMatchesItsManifestIsRefusedBeforeAnythingChanges) {
  agent_backs_up();
  const auto before = live_state();
  // The agent's storage damaged one file of the volume.
  for (const auto& entry : fs::recursive_directory_iterator(agent_copy() / "volumes")) {
    if (entry.is_regular_file()) {
      ASSERT_TRUE(util::write_file_atomic(entry.path(), "damaged\n"));
      break;
    }
  }
  const auto refused = run_restore({"--from", agent_copy().string(), "--yes"}, agent_);
  EXPECT_EQ(refused.exit_code, 12) << refused.log();
  EXPECT_EQ(live_state(), before);
}

TEST_F(BackupAgent, PostWithoutResticFailsWhenTheStagingNoLongerMatchesItsManifest) {
  const auto pre = run_hook("connectware-pre-backup", {}, agent_);
  ASSERT_EQ(pre.exit_code, 0) << pre.log();
  ASSERT_TRUE(util::write_file_atomic(staging_dir() / "db" / "connectware-db.tar", "not the export\n"));
  const auto post = run_hook("connectware-post-backup", {}, agent_);
  EXPECT_EQ(post.exit_code, 12) << post.log();
  EXPECT_THAT(post.error_lines("connectware-post-backup").front(), HasSubstr("does not match its manifest"));
  EXPECT_EQ(status().value("success", true), false) << status().dump();
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
}

} // namespace
} // namespace cwb::integration
