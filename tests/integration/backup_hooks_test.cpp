// The hooks as resticprofile runs them (pre, `restic backup` of the staging folder, post or post --failed),
// and secrets: no password reaches a spawned process's argv, a log, the status file or the manifest.

#include "integration/support/backup_fixture.hpp"

#include "support/support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

namespace cwb::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BackupHooksTest : public BackupTest {
protected:
  /// `restic backup` of the staging folder the way the resticprofile profile does it.
  Result<std::string> restic_backup_of_staging() {
    return world().restic({"backup", "--json", "--host", "cwb-integration", "--tag", "connectware", "--exclude",
                           (staging_dir() / ".mirror-index").string(), staging_dir().string()});
  }
};

TEST_F(BackupHooksTest, NoPasswordAppearsInSpawnedArgvLogsStatusOrManifest) {
  // A `restic` first in PATH that records its argv and its ancestors' command lines.
  const fs::path bin = test_dir() / "bin";
  const fs::path record = test_dir() / "restic-argv.log";
  ASSERT_TRUE(util::ensure_directories(bin));
  const auto real_restic = util::find_program("restic", test::base_environment());
  ASSERT_TRUE(real_restic);
  const std::string wrapper = "#!/bin/sh\n"
                              "{ printf 'argv:'; printf ' %s' \"$0\" \"$@\"; echo\n"
                              "  p=$PPID\n"
                              "  while [ \"$p\" -gt 1 ] 2>/dev/null; do\n"
                              "    printf 'ancestor %s:' \"$p\"; tr '\\0' ' ' < /proc/$p/cmdline; echo\n"
                              "    p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status)\n"
                              "  done\n"
                              "} >> '" +
                              record.string() + "'\nexec '" + real_restic->string() + "' \"$@\"\n";
  ASSERT_TRUE(util::write_file_atomic(bin / "restic", wrapper, 0755));

  const auto outcome = expect_successful_backup({{"PATH", bin.string() + ":" + hook_env_["PATH"]},
                                                 {"CONNECTWARE_RESTIC_BINARY", (bin / "restic").string()},
                                                 {"CONNECTWARE_LOG_LEVEL", "debug"}});
  auto recorded = util::read_file(record);
  ASSERT_TRUE(recorded) << "the restic wrapper never ran";
  EXPECT_THAT(*recorded, HasSubstr(" backup "));
  EXPECT_THAT(*recorded, HasSubstr("connectware-backup"));

  const std::string connectware_password = test::backup_credentials().password;
  auto status_text = util::read_file(status_file());
  ASSERT_TRUE(status_text);
  auto manifest_text = util::read_file(staging_dir() / "manifest.json");
  ASSERT_TRUE(manifest_text);
  auto metrics_text = util::read_file(metrics_file());
  ASSERT_TRUE(metrics_text);
  const std::map<std::string, std::string> places = {
      {"restic argv record", *recorded}, {"hook stdout", outcome.stdout_text}, {"hook stderr", outcome.stderr_text},
      {"status.json", *status_text},     {"manifest.json", *manifest_text},    {"metrics", *metrics_text}};
  for (const auto& [place, text] : places) {
    EXPECT_THAT(text, Not(HasSubstr(connectware_password))) << "the Connectware password is in the " << place;
    EXPECT_THAT(text, Not(HasSubstr(restic_password))) << "the restic password is in the " << place;
  }
}

TEST_F(BackupHooksTest, PreResticBackupAndPostRunSeparatelyProduceAConfirmedSnapshot) {
  const auto pre = run_hook("connectware-pre-backup");
  ASSERT_EQ(pre.exit_code, 0) << pre.log();
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
  ASSERT_TRUE(fs::exists(staging_dir() / "manifest.json"));
  ASSERT_TRUE(fs::exists(staging_dir() / "db" / "connectware-db.tar")); // database-storage = unpacked

  const auto before = snapshot_count();
  auto backed_up = restic_backup_of_staging();
  ASSERT_TRUE(backed_up) << backed_up.error().message;

  const auto post = run_hook("connectware-post-backup");
  ASSERT_EQ(post.exit_code, 0) << post.log();
  // The post hook may re-tag the snapshot (restic tag rewrites it under a new id): look afterwards.
  auto snapshots = world().snapshots();
  ASSERT_TRUE(snapshots);
  ASSERT_EQ(snapshots->size(), before + 1);
  const auto snapshot_id = snapshots->back().id;
  EXPECT_THAT(snapshots->back().tags, ::testing::Contains("connectware"));
  EXPECT_THAT(snapshots->back().tags, ::testing::Contains(std::string("connectware-") + connectware_version));
  const auto recorded = status();
  EXPECT_EQ(recorded.value("success", false), true) << recorded.dump();
  ASSERT_TRUE(recorded["snapshot_id"].is_string()) << recorded.dump();
  EXPECT_TRUE(snapshot_id.starts_with(recorded["snapshot_id"].get<std::string>())) << recorded.dump();
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tgz"));
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tar"));
  EXPECT_FALSE(fs::exists(state_dir() / "run.json"));

  // The restored snapshot holds the database archive the pre hook staged.
  const fs::path restored = restore_snapshot(snapshot_id);
  EXPECT_TRUE(fs::exists(restored / "db" / "connectware-db.tar"));
  EXPECT_TRUE(fs::exists(restored / "manifest.json"));
  EXPECT_FALSE(fs::exists(restored / ".mirror-index"));
}

TEST_F(BackupHooksTest, PostWithoutAResticSnapshotFailsWithRestic) {
  const auto pre = run_hook("connectware-pre-backup");
  ASSERT_EQ(pre.exit_code, 0) << pre.log();
  const auto post = run_hook("connectware-post-backup");
  EXPECT_EQ(post.exit_code, 9) << post.log();
  EXPECT_EQ(post.error_lines("connectware-post-backup").size(), 1U) << post.stderr_text;
  EXPECT_EQ(status().value("success", true), false) << status().dump();
}

TEST_F(BackupHooksTest, PostFailedWithResticprofileErrorVariablesRecordsTheFailureAndReleases) {
  const auto pre = run_hook("connectware-pre-backup");
  ASSERT_EQ(pre.exit_code, 0) << pre.log();
  const auto before = snapshot_count();

  const auto post = run_hook("connectware-post-backup", {"--failed"},
                             {{"ERROR", "backup failed"},
                              {"ERROR_MESSAGE", "restic backup failed: repository is locked"},
                              {"ERROR_EXIT_CODE", "1"},
                              {"ERROR_STDERR", "Fatal: unable to create lock in backend\nmore"}});
  EXPECT_EQ(post.exit_code, 0) << post.log();
  const auto recorded = status();
  EXPECT_EQ(recorded.value("success", true), false) << recorded.dump();
  EXPECT_EQ(recorded.value("exit_code", 0), 1) << recorded.dump();
  ASSERT_TRUE(recorded.contains("error")) << recorded.dump();
  EXPECT_THAT(recorded["error"].value("message", ""), HasSubstr("repository is locked"));
  EXPECT_THAT(recorded["error"].value("message", ""), HasSubstr("unable to create lock"));
  auto metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_success 0\n"));
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tgz"));
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tar"));
  EXPECT_FALSE(fs::exists(state_dir() / "run.json"));
  EXPECT_EQ(snapshot_count(), before);
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");

  // The run is released: the next one goes through.
  expect_successful_backup();
}

// resticprofile runs run-after-fail when the pre hook fails and tells it only "run-before failed, exit
// status 5": the status must record what actually failed.
TEST_F(BackupHooksTest, PostFailedAfterAFailedPreHookRecordsThePreHooksRealFailure) {
  set_faults({{"fail_export", "1"}});
  const auto pre = run_hook("connectware-pre-backup", {}, {{"CONNECTWARE_QUIESCE", "pause"}});
  ASSERT_EQ(pre.exit_code, 5) << pre.log();

  const auto post = run_hook("connectware-post-backup", {"--failed"},
                             {{"ERROR", "run-before failed"},
                              {"ERROR_MESSAGE", "run-before command 0 failed: exit status 5"},
                              {"ERROR_EXIT_CODE", "5"}});
  EXPECT_EQ(post.exit_code, 0) << post.log();
  const auto recorded = status();
  EXPECT_EQ(recorded.value("success", true), false) << recorded.dump();
  EXPECT_EQ(recorded.value("exit_code", 0), 5) << recorded.dump();
  ASSERT_TRUE(recorded.contains("error")) << recorded.dump();
  EXPECT_EQ(recorded["error"].value("kind", ""), "export_failed") << recorded.dump();
  EXPECT_THAT(recorded["error"].value("message", ""), HasSubstr("fail_export")) << recorded.dump();
  EXPECT_FALSE(fs::exists(state_dir() / "pre-backup-failure.json"));

  // Without resticprofile's variables (a plain pre/post routine) the same holds.
  set_faults({{"fail_export", "1"}});
  ASSERT_EQ(run_hook("connectware-pre-backup", {}, {{"CONNECTWARE_QUIESCE", "pause"}}).exit_code, 5);
  ASSERT_EQ(run_hook("connectware-post-backup", {"--failed"}).exit_code, 0);
  EXPECT_EQ(status()["error"].value("kind", ""), "export_failed") << status().dump();
  EXPECT_EQ(status().value("exit_code", 0), 5) << status().dump();
  set_faults({});
  expect_successful_backup();
}

} // namespace
} // namespace cwb::integration
