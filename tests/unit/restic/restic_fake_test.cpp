// Restic against a ProcessRunner that replays recorded restic 0.14 output: argv, environment and parsing.
#include "restic/restic.hpp"
#include "support/recorded_reply.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace cwb::restic {
namespace {

const std::filesystem::path golden_dir = std::filesystem::path(CWB_SOURCE_DIR) / "tests/unit/restic/golden";

std::string golden(const std::string& name) {
  auto text = util::read_file(golden_dir / name);
  EXPECT_TRUE(text) << name;
  return text ? *text : std::string{};
}

using Reply = test::RecordedReply;

// Replays replies in order and records every call.
class ReplayRunner final : public util::ProcessRunner {
public:
  std::deque<Reply> replies;
  std::vector<util::ProcessOptions> calls;

  Result<util::ProcessResult> run(const util::ProcessOptions& options) override {
    calls.push_back(options);
    if (replies.empty()) return fail(ErrorKind::internal, "no reply recorded");
    Reply reply = std::move(replies.front());
    replies.pop_front();
    return test::play_back(reply, options);
  }
};

ResticOptions options() {
  ResticOptions o;
  o.binary = "/usr/bin/restic";
  o.repository = "/srv/repo";
  o.password_file = "/etc/cwb/password";
  o.extra_environment = {{"AWS_ACCESS_KEY_ID", "id"}, {"AWS_SECRET_ACCESS_KEY", "secret"}};
  o.retry_lock = std::chrono::seconds(60);
  return o;
}

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

TEST(ResticCommands, BackupPassesTagsHostExcludesAndParsesTheSummary) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("backup_first.jsonl"), ""}};
  Restic restic(options(), runner, {{"PATH", "/usr/bin"}, {"RESTIC_PASSWORD", "inherited-must-go"}});
  int progress_calls = 0;
  auto summary = restic.backup({{"/staging"}, {"cwb", "daily"}, "edge-1", {"*.tmp"}},
                               [&](const BackupProgress&) { ++progress_calls; });
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->snapshot_id, "99489f82");
  EXPECT_EQ(progress_calls, 1);
  ASSERT_EQ(runner.calls.size(), 2u);
  EXPECT_EQ(runner.calls[0].argv, (std::vector<std::string>{"/usr/bin/restic", "version"}));
  const auto& backup = runner.calls[1];
  EXPECT_EQ(backup.argv,
            (std::vector<std::string>{"/usr/bin/restic", "backup", "--json", "--tag", "cwb", "--tag", "daily", "--host",
                                      "edge-1", "--exclude", "*.tmp", "--", "/staging"}));
  EXPECT_EQ(backup.env.at("RESTIC_REPOSITORY"), "/srv/repo");
  EXPECT_EQ(backup.env.at("RESTIC_PASSWORD_FILE"), "/etc/cwb/password");
  EXPECT_EQ(backup.env.count("RESTIC_PASSWORD"), 0u);
  EXPECT_EQ(backup.env.at("AWS_ACCESS_KEY_ID"), "id");
  EXPECT_EQ(backup.env.at("PATH"), "/usr/bin");
}

TEST(ResticCommands, PasswordGoesThroughTheEnvironmentNeverArgv) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""}, {0, "[]", ""}};
  auto o = options();
  o.password_file.clear();
  o.password = "hunter2-secret";
  Restic restic(o, runner, {});
  ASSERT_TRUE(restic.snapshots());
  ASSERT_EQ(runner.calls.size(), 2u);
  for (const auto& call : runner.calls) {
    for (const auto& argument : call.argv)
      EXPECT_EQ(argument.find("hunter2"), std::string::npos);
  }
  EXPECT_EQ(runner.calls.back().env.at("RESTIC_PASSWORD"), "hunter2-secret");
}

TEST(ResticCommands, UsesRetryLockOnlyWhenResticHasIt) {
  ReplayRunner old_runner;
  old_runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("snapshots.json"), ""}};
  Restic old_restic(options(), old_runner, {});
  ASSERT_TRUE(old_restic.snapshots());
  EXPECT_FALSE(old_restic.supports_retry_lock());
  EXPECT_FALSE(contains(old_runner.calls.back().argv, "--retry-lock=60s"));

  ReplayRunner new_runner;
  new_runner.replies = {{0, "restic 0.16.4 compiled with go1.21.6 on linux/amd64\n", ""}, {0, "[]", ""}};
  Restic new_restic(options(), new_runner, {});
  ASSERT_TRUE(new_restic.snapshots());
  EXPECT_TRUE(new_restic.supports_retry_lock());
  EXPECT_TRUE(contains(new_runner.calls.back().argv, "--retry-lock=60s"));
}

TEST(ResticCommands, SnapshotsAskForAllTagsAndTheHost) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("snapshots_filtered.json"), ""}};
  Restic restic(options(), runner, {});
  auto snapshots = restic.snapshots({"t1", "t2"}, "h1");
  ASSERT_TRUE(snapshots);
  ASSERT_EQ(snapshots->size(), 1u);
  EXPECT_EQ(snapshots->front().hostname, "h1");
  EXPECT_EQ(runner.calls.back().argv,
            (std::vector<std::string>{"/usr/bin/restic", "snapshots", "--json", "--tag", "t1,t2", "--host", "h1"}));
}

TEST(ResticCommands, FindSnapshotOfAnUnknownIdIsNotFound) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""},
                    {0, golden("snapshots_empty.json"), golden("err_snapshot_not_found.stderr")}};
  Restic restic(options(), runner, {});
  auto snapshot = restic.find_snapshot("deadbeef");
  ASSERT_FALSE(snapshot);
  EXPECT_EQ(snapshot.error().kind, ErrorKind::no_snapshot);
  EXPECT_NE(snapshot.error().message.find("deadbeef"), std::string::npos);
  EXPECT_EQ(failure_of(snapshot.error()), Failure::snapshot_not_found);
}

TEST(ResticCommands, WrongPasswordIsClassifiedAsTheErrorsCause) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""}, {1, "", golden("err_wrong_password.stderr")}};
  Restic restic(options(), runner, {});
  auto stats = restic.stats_raw_data();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().kind, ErrorKind::restic);
  EXPECT_EQ(stats.error().message,
            "restic stats: wrong repository password for /srv/repo (RESTIC_PASSWORD_FILE=/etc/cwb/password)");
  EXPECT_EQ(failure_of(stats.error()), Failure::wrong_password);
}

TEST(ResticCommands, IncompleteBackupNamesTheUnreadableFilesAndTheSavedSnapshot) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""},
                    {3, golden("backup_incomplete.jsonl"), golden("backup_incomplete.stderr")}};
  Restic restic(options(), runner, {});
  auto summary = restic.backup({{"/tmp/rg2/data"}, {}, {}, {}});
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().kind, ErrorKind::restic);
  EXPECT_EQ(failure_of(summary.error()), Failure::incomplete_snapshot);
  EXPECT_NE(summary.error().message.find("/tmp/rg2/data/unreadable"), std::string::npos) << summary.error().message;
  EXPECT_NE(summary.error().message.find("e276004c"), std::string::npos) << summary.error().message;
}

TEST(ResticCommands, RestoreAndCheckBuildTheirArguments) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""},
                    {0, golden("restore_verify.stdout"), ""},
                    {0, golden("check.stdout"), golden("check.stderr")}};
  Restic restic(options(), runner, {});
  ASSERT_TRUE(restic.restore("ef23acf8", "/restore/here", {"/data/db"}, Verify::yes));
  EXPECT_EQ(runner.calls[1].argv, (std::vector<std::string>{"/usr/bin/restic", "restore", "--target", "/restore/here",
                                                            "--include", "/data/db", "--verify", "--", "ef23acf8"}));
  ASSERT_TRUE(restic.check("10%"));
  EXPECT_EQ(runner.calls[2].argv, (std::vector<std::string>{"/usr/bin/restic", "check", "--read-data-subset=10%"}));
}

TEST(ResticCommands, CacertAndExtraGlobalFlagsComeFirst) {
  ReplayRunner runner;
  runner.replies = {{0, golden("version.stdout"), ""}, {0, "created restic repository\n", ""}};
  auto o = options();
  o.cacert = "/etc/cwb/ca.pem";
  o.extra_global_flags = {"--limit-upload", "500"};
  Restic restic(o, runner, {});
  ASSERT_TRUE(restic.init());
  EXPECT_EQ(runner.calls.back().argv, (std::vector<std::string>{"/usr/bin/restic", "--cacert", "/etc/cwb/ca.pem",
                                                                "--limit-upload", "500", "init"}));
}

TEST(ResticCommands, BackupWithoutPathsIsAUsageError) {
  ReplayRunner runner;
  Restic restic(options(), runner, {});
  auto summary = restic.backup({});
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().kind, ErrorKind::usage);
  EXPECT_TRUE(runner.calls.empty());
}

} // namespace
} // namespace cwb::restic
