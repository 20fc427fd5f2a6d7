// The post-backup stage: confirming the snapshot through (replayed) restic, recording the outcome, releasing
// and cleaning up; and the whole job's exit paths.
#include "backup/backup_job.hpp"
#include "backup/post_backup.hpp"
#include "backup/pre_backup.hpp"
#include "installation/run_state.hpp"
#include "snapshot/run_report.hpp"

#include "backup_fakes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace cwb::backup {
namespace {

using installation::read_run_marker;
using installation::RunMarker;
using installation::write_pause_marker;
using installation::write_run_marker;

using test::BackupRig;
using test::exists_at;
using test::golden;
using test::kSnapshotId;
using test::previous_success;
using test::snapshots_json;

// The fake clock starts at 2023-11-14T22:13:20Z; a pre stage advances it by a few seconds.
constexpr const char* kDuringTheRun = "2023-11-14T22:14:00.123456789Z";
constexpr const char* kBeforeTheRun = "2023-11-14T21:00:00.5Z";

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

/// Runs a successful pre stage, so that the post stage has a completed run to finish.
void stage(BackupRig& rig) {
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
}

// The tags the pre stage records for the snapshot: the configured ones and the Connectware version.
const std::vector<std::string> kAllTags{"connectware", "connectware-1.10.2"};

TEST(PostBackup, ConfirmsTheSnapshotResticReportedByItsId) {
  BackupRig rig;
  stage(rig);
  rig.runner.replies = {
      {0, golden("version.stdout"), ""},
      {0, snapshots_json(kSnapshotId, kDuringTheRun, "edge-1", rig.config().staging_dir().string(), kAllTags), ""}};
  PostBackupRequest request;
  request.snapshot_id = "99489f82";
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->snapshot_id, kSnapshotId);
  ASSERT_EQ(rig.runner.calls.size(), 2u);
  const auto& argv = rig.runner.calls[1];
  EXPECT_TRUE(contains(argv, "snapshots"));
  EXPECT_EQ(argv.back(), "99489f82");

  const auto status = BackupRig::json_of(rig.config().status_file());
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status.at("success"), true);
  EXPECT_EQ(status.at("snapshot_id"), kSnapshotId);
  EXPECT_EQ(status.at("connectware_version"), "1.10.2");
  EXPECT_EQ(status.at("quiesce").at("mode"), "pause");
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
  auto metrics = util::read_file(*rig.config().metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("connectware_backup_success 1"), std::string::npos);
}

TEST(PostBackup, AddsTheVersionTagWhenResticRanWithoutIt) {
  // resticprofile's `tag` list is static: the post stage adds connectware-<version> itself.
  BackupRig rig;
  stage(rig);
  const auto staging = rig.config().staging_dir().string();
  const std::string retagged_id(64, 'c');
  rig.runner.replies = {{0, golden("version.stdout"), ""},
                        {0, snapshots_json(kSnapshotId, kDuringTheRun, "edge-1", staging, {"connectware"}), ""},
                        {0, "modified tags on 1 snapshots\n", ""},
                        {0, snapshots_json(retagged_id, kDuringTheRun, "edge-1", staging, kAllTags), ""}};
  PostBackupRequest request;
  request.snapshot_id = "99489f82";
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->snapshot_id, retagged_id); // restic rewrote the snapshot
  ASSERT_EQ(rig.runner.calls.size(), 4u);
  const auto& tag = rig.runner.calls[2];
  EXPECT_TRUE(contains(tag, "tag"));
  EXPECT_TRUE(contains(tag, "connectware-1.10.2"));
  EXPECT_FALSE(contains(tag, "connectware")); // already there
  EXPECT_EQ(tag.back(), kSnapshotId);
  EXPECT_EQ(BackupRig::json_of(rig.config().status_file()).at("snapshot_id"), retagged_id);
}

TEST(PostBackup, FindsTheSnapshotByTagHostTimeAndPathWhenNoIdIsKnown) {
  BackupRig rig;
  stage(rig);
  const auto staging = rig.config().staging_dir().string();
  auto older = nlohmann::json::parse(snapshots_json(std::string(64, 'a'), kBeforeTheRun, "edge-1", staging, {}));
  auto elsewhere = nlohmann::json::parse(snapshots_json(std::string(64, 'b'), kDuringTheRun, "edge-1", "/other", {}));
  auto ours = nlohmann::json::parse(snapshots_json(kSnapshotId, kDuringTheRun, "edge-1", staging, kAllTags));
  // Oldest first, as restic lists them: the newest matching one is ours.
  const auto listing = nlohmann::json::array({older.at(0), ours.at(0), elsewhere.at(0)}).dump();
  rig.runner.replies = {{0, golden("version.stdout"), ""}, {0, listing, ""}};
  auto context = rig.context();
  auto done = run_post_backup(context, PostBackupRequest{});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->snapshot_id, kSnapshotId);
  const auto& argv = rig.runner.calls.at(1);
  const auto tag = std::find(argv.begin(), argv.end(), "--tag");
  ASSERT_NE(tag, argv.end());
  EXPECT_EQ(*(tag + 1), "connectware");
  const auto host = std::find(argv.begin(), argv.end(), "--host");
  ASSERT_NE(host, argv.end());
  EXPECT_EQ(*(host + 1), "edge-1");
}

TEST(PostBackup, ASnapshotOlderThanTheRunIsNotAccepted) {
  BackupRig rig;
  stage(rig);
  previous_success(rig);
  rig.runner.replies = {
      {0, golden("version.stdout"), ""},
      {0, snapshots_json(kSnapshotId, kBeforeTheRun, "edge-1", rig.config().staging_dir().string(), {}), ""}};
  auto context = rig.context();
  auto done = run_post_backup(context, PostBackupRequest{});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restic);
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), false);
  EXPECT_EQ(status.at("error").at("kind"), "restic");
  EXPECT_EQ(status.at("exit_code"), 9);
  EXPECT_EQ(status.at("last_success_unix"), 1'699'912'800);
}

TEST(PostBackup, AReportedSnapshotMissingFromTheRepositoryIsAResticFailure) {
  BackupRig rig;
  stage(rig);
  // restic 0.14 prints [] and exits 0 for an unknown id.
  rig.runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("snapshots_empty.json"), ""}};
  PostBackupRequest request;
  request.snapshot_id = "deadbeef";
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restic);
  EXPECT_EQ(BackupRig::json_of(rig.config().status_file()).at("exit_code"), 9);
}

TEST(PostBackup, TheFailurePathOfARefusedRunLeavesALiveOtherRunAlone) {
  // resticprofile runs run-after-fail when our pre hook was refused because another job's run is live.
  BackupRig rig;
  stage(rig);
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && *marker);
  RunMarker other = **marker;
  other.owner = util::identify_process(getppid()).value_or(util::ProcessIdentity{});
  ASSERT_NE(other.owner, rig.owner);
  ASSERT_TRUE(write_run_marker(rig.state(), other));
  ASSERT_TRUE(write_pause_marker(rig.state(), {"sm1"}));
  ASSERT_TRUE(rig.containers.pause("sm1"));
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  request.failure = Error{ErrorKind::locked, "another backup run is in progress"};
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::locked);
  EXPECT_TRUE(exists_at(rig.state().run_marker()));
  EXPECT_TRUE(exists_at(rig.layout().database_tar()));
  EXPECT_EQ(rig.containers.state_of("sm1"), "paused"); // in the other run's window: not ours to release
  EXPECT_FALSE(exists_at(rig.config().status_file()));
}

TEST(PostBackup, TheFailurePathRecordsTheFailureAndCarriesTheLastSuccessOver) {
  BackupRig rig;
  stage(rig);
  previous_success(rig);
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  request.failure = Error{ErrorKind::restic, "restic backup failed: repository is already locked"};
  request.failure_exit_code = 1; // resticprofile's ERROR_EXIT_CODE
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_TRUE(done) << done.error().message; // recording worked; the failure is the caller's to report
  EXPECT_TRUE(rig.runner.calls.empty());     // nothing to confirm

  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), false);
  EXPECT_EQ(status.at("exit_code"), 1);
  EXPECT_EQ(status.at("error").at("kind"), "restic");
  EXPECT_NE(status.at("error").at("message").get<std::string>().find("already locked"), std::string::npos);
  EXPECT_EQ(status.at("last_success_unix"), 1'699'912'800);
  EXPECT_EQ(status.at("connectware_version"), "1.10.2"); // from the run marker
  auto metrics = util::read_file(*rig.config().metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("connectware_backup_success 0"), std::string::npos);
  EXPECT_NE(metrics->find("connectware_backup_last_success_timestamp_seconds 1699912800"), std::string::npos);
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
}

TEST(PostBackup, RemovesTheDatabaseArchiveButKeepsTheVolumeMirror) {
  BackupRig rig;
  stage(rig);
  ASSERT_TRUE(exists_at(rig.layout().database_tar()));
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  auto context = rig.context();
  ASSERT_TRUE(run_post_backup(context, request));
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
  EXPECT_FALSE(exists_at(rig.layout().database_tar()));
  EXPECT_TRUE(exists_at(rig.layout().volume("service-manager") / "services" / "svc1.yml"));
  EXPECT_TRUE(exists_at(rig.layout().mirror_index("service-manager")));
}

TEST(PostBackup, ReleasesContainersAKilledPreStageLeftPaused) {
  BackupRig rig;
  ASSERT_TRUE(rig.containers.pause("sm1"));
  ASSERT_TRUE(write_pause_marker(rig.state(), {"sm1"}));
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  request.failure = Error{ErrorKind::interrupted, "connectware-pre-backup was killed"};
  auto context = rig.context();
  ASSERT_TRUE(run_post_backup(context, request));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

TEST(PostBackup, AContainerThatStaysPausedFailsThePostStageButStillRecords) {
  BackupRig rig;
  stage(rig);
  ASSERT_TRUE(rig.containers.pause("sm1"));
  ASSERT_TRUE(write_pause_marker(rig.state(), {"sm1"}));
  rig.containers.fail_always("unpause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  rig.runner.replies = {
      {0, golden("version.stdout"), ""},
      {0, snapshots_json(kSnapshotId, kDuringTheRun, "edge-1", rig.config().staging_dir().string(), kAllTags), ""}};
  PostBackupRequest request;
  request.snapshot_id = kSnapshotId;
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::quiesce_failed);
  EXPECT_TRUE(exists_at(rig.state().pause_marker())); // kept, so the next run retries
  EXPECT_EQ(BackupRig::json_of(rig.config().status_file()).at("error").at("kind"), "quiesce_failed");
}

TEST(PostBackup, SuccessWithoutACompletedPreStageIsAUsageError) {
  BackupRig rig;
  auto context = rig.context();
  auto done = run_post_backup(context, PostBackupRequest{});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::usage);
  EXPECT_TRUE(rig.runner.calls.empty());
  EXPECT_EQ(BackupRig::json_of(rig.config().status_file()).at("success"), false);
}

TEST(PostBackup, AShrinkAlertThePreStageRaisedGoesIntoTheStatusAndTheMetric) {
  BackupRig rig;
  previous_success(rig, snapshot::RunSizes{0, 0, 50, 0});
  stage(rig);
  rig.runner.replies = {
      {0, golden("version.stdout"), ""},
      {0, snapshots_json(kSnapshotId, kDuringTheRun, "edge-1", rig.config().staging_dir().string(), kAllTags), ""}};
  PostBackupRequest request;
  request.snapshot_id = "99489f82";
  auto context = rig.context();
  auto done = run_post_backup(context, request);
  ASSERT_TRUE(done) << done.error().message;
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("shrink_alert").at("raised"), true);
  EXPECT_EQ(status.at("shrink_alert").at("findings").at(0), "volume files: 50 -> 1 (-98.0 %)");
  // The next run compares with this one: it succeeded, with a warning.
  EXPECT_EQ(status.at("last_success_sizes").at("volume_files"), 1);
  auto metrics = util::read_file(*rig.config().metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("connectware_backup_shrink_alert 1\n"), std::string::npos) << *metrics;
}

TEST(PostBackup, APreStageThatFailedWithShrunkIsAShrinkAlertAndKeepsTheLastGoodSizes) {
  BackupRig rig;
  previous_success(rig, snapshot::RunSizes{10, 2, 50, 100});
  PostBackupRequest request;
  request.outcome = RunOutcome::failed;
  request.failure = Error{ErrorKind::shrunk, "this backup is smaller than the last successful one"};
  auto context = rig.context();
  ASSERT_TRUE(run_post_backup(context, request));
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("exit_code"), 21);
  EXPECT_EQ(status.at("shrink_alert").at("raised"), true);
  EXPECT_EQ(status.at("last_success_sizes").at("volume_files"), 50);
  EXPECT_EQ(status.at("sizes"), nullptr);
}

// --- the whole job -------------------------------------------------------------------------------------------

TEST(BackupJob, AppliesTheKeepSettingsWithOurTagsAndHostAfterTheSnapshotAndRecordsTheOutcome) {
  BackupRig rig({{"keep-last", "3"}, {"keep-daily", "7"}, {"prune", "true"}});
  const std::string forget_output =
      R"([{"tags":null,"host":"edge-1","paths":["/x"],"keep":[{"id":"a"},{"id":"b"}],"remove":[{"id":"c"}]}])"
      "\nloading indexes...\n";
  rig.runner.replies = {
      {0, golden("version.stdout"), ""}, {0, golden("backup_first.jsonl"), ""}, {0, forget_output, ""}};
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(rig.runner.calls.size(), 3u);
  const auto& forget = rig.runner.calls.at(2);
  EXPECT_TRUE(contains(forget, "forget"));
  const auto after = [&forget](const std::string& flag) {
    const auto found = std::find(forget.begin(), forget.end(), flag);
    return found == forget.end() || found + 1 == forget.end() ? std::string{} : *(found + 1);
  };
  EXPECT_EQ(after("--keep-last"), "3");
  EXPECT_EQ(after("--keep-daily"), "7");
  EXPECT_EQ(after("--tag"), "connectware");
  EXPECT_EQ(after("--host"), "edge-1");
  EXPECT_TRUE(contains(forget, "--prune"));
  EXPECT_FALSE(contains(forget, "--keep-weekly"));

  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), true);
  EXPECT_EQ(status.at("retention").at("success"), true);
  EXPECT_EQ(status.at("retention").at("kept"), 2);
  EXPECT_EQ(status.at("retention").at("removed"), 1);
  auto metrics = util::read_file(*rig.config().metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("connectware_backup_forget_success 1\n"), std::string::npos) << *metrics;
  EXPECT_NE(metrics->find("connectware_backup_forget_removed_snapshots 1\n"), std::string::npos) << *metrics;
}

TEST(BackupJob, AFailedForgetIsAWarningNotAFailedBackup) {
  BackupRig rig(test::Settings{{"keep-last", "3"}});
  rig.runner.replies = {{0, golden("version.stdout"), ""},
                        {0, golden("backup_first.jsonl"), ""},
                        {1, "", "Fatal: unable to create lock in backend: repository is already locked by PID 7\n"}};
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_TRUE(done) << done.error().message;
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), true);
  EXPECT_EQ(status.at("retention").at("success"), false);
  EXPECT_THAT(status.at("retention").at("error").get<std::string>(), testing::HasSubstr("locked"));
  auto metrics = util::read_file(*rig.config().metrics_file());
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("connectware_backup_forget_success 0\n"), std::string::npos) << *metrics;
  EXPECT_NE(metrics->find("connectware_backup_success 1\n"), std::string::npos) << *metrics;
}

TEST(BackupJob, WithoutKeepSettingsNothingIsForgotten) {
  BackupRig rig;
  rig.runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("backup_first.jsonl"), ""}};
  auto context = rig.context();
  ASSERT_TRUE(run_backup_job(context));
  EXPECT_EQ(rig.runner.calls.size(), 2u);
  EXPECT_EQ(BackupRig::json_of(rig.config().status_file()).at("retention"), nullptr);
}

TEST(BackupJob, RunsPreResticAndPostAndRecordsTheSnapshot) {
  BackupRig rig;
  rig.runner.replies = {{0, golden("version.stdout"), ""}, {0, golden("backup_first.jsonl"), ""}};
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->snapshot_id, "99489f82"); // the id in restic's summary line
  EXPECT_EQ(done->summary.data_added, 102418u);
  const auto& backup = rig.runner.calls.at(1);
  EXPECT_TRUE(contains(backup, "backup"));
  EXPECT_TRUE(contains(backup, "connectware-1.10.2")); // the pre stage's tags reach restic
  EXPECT_EQ(backup.back(), rig.config().staging_dir().string());
  // restic ran with the manifest's tags and its summary named the snapshot: no second restic process
  // (another key derivation) to confirm or tag it.
  EXPECT_EQ(rig.runner.calls.size(), 2u);

  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), true);
  EXPECT_EQ(status.at("bytes").at("restic_data_added"), 102418);
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
  EXPECT_FALSE(exists_at(rig.layout().database_tar()));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
}

TEST(BackupJob, AFailingPreStageIsRecordedByThePostStageAndReturned) {
  BackupRig rig;
  previous_success(rig);
  rig.server.export_succeeds = false;
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::export_failed);
  EXPECT_TRUE(rig.runner.calls.empty()); // restic never ran
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), false);
  EXPECT_EQ(status.at("error").at("kind"), "export_failed");
  EXPECT_EQ(status.at("exit_code"), 5);
  EXPECT_EQ(status.at("last_success_unix"), 1'699'912'800);
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
}

TEST(BackupJob, AFailingResticIsRecordedAndTheArchiveRemoved) {
  BackupRig rig;
  rig.runner.replies = {{0, golden("version.stdout"), ""}, {1, "", golden("err_locked.stderr")}};
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restic);
  EXPECT_EQ(rig.runner.calls.size(), 2u); // no snapshot lookup after a failed backup
  const auto status = BackupRig::json_of(rig.config().status_file());
  EXPECT_EQ(status.at("success"), false);
  EXPECT_EQ(status.at("error").at("kind"), "restic");
  EXPECT_EQ(status.at("exit_code"), 9);
  EXPECT_EQ(status.at("connectware_version"), "1.10.2"); // the pre stage's marker was still there
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
  EXPECT_FALSE(exists_at(rig.layout().database_tar()));
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
}

TEST(BackupJob, ARunRefusedAsLockedLeavesTheOtherRunsStateAlone) {
  BackupRig rig;
  // Another run (a live process) has staged and is now in restic: its marker and archive must survive.
  RunMarker other;
  other.started = "2023-11-14T22:00:00Z";
  other.started_unix_ms = 1'699'999'200'000; // shortly before the fake clock's now
  other.owner = util::identify_process(getppid()).value_or(util::ProcessIdentity{});
  other.staged = true;
  ASSERT_TRUE(write_run_marker(rig.state(), other));
  ASSERT_TRUE(util::ensure_directories(rig.layout().database_dir()));
  ASSERT_TRUE(util::write_file_atomic(rig.layout().database_archive(), test::small_tar_gz()));
  auto context = rig.context();
  auto done = run_backup_job(context);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::locked);
  EXPECT_TRUE(exists_at(rig.state().run_marker()));
  EXPECT_TRUE(exists_at(rig.layout().database_archive()));
  EXPECT_TRUE(rig.runner.calls.empty());
}

} // namespace
} // namespace cwb::backup
