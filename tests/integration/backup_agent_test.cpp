// Restores from a folder with connectware-restore --from.
// Enterprise backup routines without restic: a backup agent calls connectware-pre-backup, stores the staging
// folder with its own means, calls connectware-post-backup, and later brings the folder back and hands it
// to connectware-restore --from. Neither hook may need restic: here there is none on the PATH and no
// repository is configured.
// resticprofile's restic-profiles/restore.yaml: restic's own restore fetches the snapshot named on
// resticprofile's command line into a fetch folder, and the hooks around it restore from that folder.

#include "integration/support/restore_fixture.hpp"

#include "staging/mirror.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

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

/// restore.yaml's restore section run the way resticprofile runs it, with the profile's paths moved into the
/// test's folder: run-before, `restic restore <snapshot>` with the section's target, tag and host, run-after,
/// then run-finally whatever happened.
class ResticprofileRestore : public RestoreTest {
protected:
  void SetUp() override {
    RestoreTest::SetUp();
    if (HasFatalFailure()) return;
    const fs::path profiles = fs::path(CWB_SOURCE_DIR) / "restic-profiles";
    section_ = YAML::LoadFile((profiles / "restore.yaml").string())["connectware-restore"]["restore"];
    ASSERT_TRUE(section_.IsMap());
    profile_target_ = section_["target"].as<std::string>();
    const auto backup = YAML::LoadFile((profiles / "profiles.yaml").string())["connectware"]["backup"];
    profile_staging_ = backup["source"][0].as<std::string>();
  }

  fs::path fetch_folder() const { return test_dir() / "restore-fetch"; }

  /// A profile command with its paths moved: the fetched staging folder first, then the target.
  std::vector<std::string> localised(const std::string& command) const {
    const std::string fetched_staging =
        (fs::path(profile_target_) / fs::path(profile_staging_).relative_path()).string();
    const std::string local_staging = (fetch_folder() / staging_dir().relative_path()).string();
    std::istringstream in(command);
    std::vector<std::string> words;
    for (std::string word; in >> word;) {
      if (word == fetched_staging) word = local_staging;
      if (word == profile_target_) word = fetch_folder().string();
      words.push_back(word);
    }
    return words;
  }

  HookOutcome run_profile_hooks(const std::string& key) {
    HookOutcome last;
    last.exit_code = 0;
    for (const auto& command : section_[key]) {
      const auto words = localised(command.as<std::string>());
      last = run_hook(words.front(), {words.begin() + 1, words.end()});
      if (last.exit_code != 0) break;
    }
    return last;
  }

  struct ProfileRun {
    HookOutcome before, after, finally;
    Result<std::string> fetched;
  };
  /// `resticprofile -c restore.yaml connectware-restore.restore <snapshot>`; `between` runs after restic's
  /// restore (a damaged fetch).
  ProfileRun restore_with_profile(const std::string& snapshot, const std::function<void()>& between = {}) {
    ProfileRun run;
    run.before = run_profile_hooks("run-before");
    if (run.before.exit_code == 0) {
      std::vector<std::string> restore = {"restore", snapshot, "--target", fetch_folder().string()};
      for (const auto& tag : section_["tag"])
        restore.insert(restore.end(), {"--tag", tag.as<std::string>()});
      // host: true is resticprofile's "this machine's name": here the tests' host setting.
      if (section_["host"].as<bool>(false)) restore.insert(restore.end(), {"--host", hook_env_["CONNECTWARE_HOST"]});
      run.fetched = world().restic(restore);
      if (run.fetched) {
        if (between) between();
        run.after = run_profile_hooks("run-after");
      }
    }
    run.finally = run_profile_hooks("run-finally");
    return run;
  }

  YAML::Node section_;
  std::string profile_target_;
  std::string profile_staging_;
};

TEST_F(ResticprofileRestore, RestoresTheSnapshotNamedOnResticprofilesCommandLineAndRemovesTheFetch) {
  const auto state_a = live_state();
  const auto snapshot_a = back_up();
  change_everything(VolumeChange::edit);
  const auto state_b = live_state();
  ASSERT_NE(state_b, state_a);
  back_up(); // the latest: a hook picking its own snapshot would restore this one
  change_everything();

  const auto run = restore_with_profile(snapshot_a);
  ASSERT_EQ(run.before.exit_code, 0) << run.before.log();
  ASSERT_TRUE(run.fetched) << run.fetched.error().message;
  ASSERT_EQ(run.after.exit_code, 0) << run.after.log();
  EXPECT_THAT(run.after.stderr_text, HasSubstr("restoring from the folder"));
  EXPECT_EQ(run.finally.exit_code, 0) << run.finally.log();
  const auto after = live_state();
  EXPECT_EQ(after.database, state_a.database);
  EXPECT_EQ(after.volume, state_a.volume);
  EXPECT_EQ(after.hashes, state_a.hashes);
  // The fetch held the database export: gone.
  EXPECT_FALSE(fs::exists(fetch_folder()));
}

TEST_F(ResticprofileRestore, ADamagedFetchIsRefusedAndTheFetchFolderStillGoesAway) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  const auto run = restore_with_profile(snapshot, [this] {
    const fs::path archive = fetch_folder() / staging_dir().relative_path() / "db" / "connectware-db.tar";
    ASSERT_TRUE(fs::exists(archive));
    ASSERT_TRUE(util::write_file_atomic(archive, "not the export\n"));
  });
  ASSERT_TRUE(run.fetched) << run.fetched.error().message;
  EXPECT_EQ(run.after.exit_code, 12) << run.after.log();
  EXPECT_EQ(run.finally.exit_code, 0) << run.finally.log();
  EXPECT_EQ(live_state(), before);
  EXPECT_FALSE(fs::exists(fetch_folder()));
}

} // namespace
} // namespace cwb::integration
