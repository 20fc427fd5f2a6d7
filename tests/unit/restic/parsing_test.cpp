#include "restic/failure.hpp"
#include "restic/messages.hpp"
#include "restic/version.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace cwb::restic {
namespace {

const std::filesystem::path golden_dir = std::filesystem::path(CWB_SOURCE_DIR) / "tests/unit/restic/golden";

std::string golden(const std::string& name) {
  auto text = util::read_file(golden_dir / name);
  EXPECT_TRUE(text) << name;
  return text ? *text : std::string{};
}

TEST(ResticVersion, ParsesTheRecordedVersionLine) {
  auto version = parse_version(golden("version.stdout"));
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_EQ(*version, (Version{0, 14, 0}));
  EXPECT_EQ(version->to_string(), "0.14.0");
}

TEST(ResticVersion, RejectsTextThatIsNotAResticVersion) {
  auto version = parse_version("rustic 1.0\n");
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().kind, ErrorKind::restic);
  EXPECT_NE(version.error().message.find("rustic 1.0"), std::string::npos);
}

TEST(ResticVersion, NewerFeaturesStartAtTheirVersions) {
  EXPECT_FALSE(Features::of({0, 14, 0}).retry_lock);
  EXPECT_FALSE(Features::of({0, 14, 0}).detailed_exit_codes);
  EXPECT_FALSE(Features::of({0, 14, 0}).uncompressed_size);
  EXPECT_TRUE(Features::of({0, 15, 1}).uncompressed_size);
  EXPECT_FALSE(Features::of({0, 15, 1}).retry_lock);
  EXPECT_TRUE(Features::of({0, 16, 0}).retry_lock);
  EXPECT_TRUE(Features::of({0, 17, 3}).detailed_exit_codes);
  EXPECT_TRUE(Features::of({1, 0, 0}).retry_lock);
}

TEST(BackupStream, ReplaysTheRecordedFirstBackup) {
  std::istringstream stream(golden("backup_first.jsonl"));
  std::vector<BackupProgress> progress;
  BackupStreamParser parser([&](const BackupProgress& p) { progress.push_back(p); });
  parser.feed_stream(stream);
  ASSERT_TRUE(parser.summary());
  const auto& summary = *parser.summary();
  EXPECT_EQ(summary.files_new, 2u);
  EXPECT_EQ(summary.files_changed, 0u);
  EXPECT_EQ(summary.dirs_new, 4u);
  EXPECT_EQ(summary.data_blobs, 2u);
  EXPECT_EQ(summary.tree_blobs, 5u);
  EXPECT_EQ(summary.data_added, 102418u);
  EXPECT_EQ(summary.total_files_processed, 2u);
  EXPECT_EQ(summary.total_bytes_processed, 100006u);
  EXPECT_NEAR(summary.total_duration, 0.22567579, 1e-9);
  EXPECT_EQ(summary.snapshot_id, "99489f82");
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].total_files, 1u);
  EXPECT_EQ(progress[0].total_bytes, 6u);
  EXPECT_TRUE(parser.item_errors().empty());
}

TEST(BackupStream, CountsVerboseLinesAndIgnoresTheirFields) {
  std::istringstream stream(golden("backup_verbose.jsonl"));
  BackupStreamParser parser;
  parser.feed_stream(stream);
  EXPECT_EQ(parser.verbose_count(), 8u);
  ASSERT_TRUE(parser.summary());
  EXPECT_EQ(parser.summary()->files_new, 4u);
  EXPECT_EQ(parser.summary()->snapshot_id, "e97eae47");
}

TEST(BackupStream, CollectsUnreadableItemsOfAnIncompleteBackup) {
  // restic 0.14 writes "error" messages to stderr and the rest to stdout.
  std::istringstream stdout_stream(golden("backup_incomplete.jsonl"));
  std::istringstream stderr_stream(golden("backup_incomplete.stderr"));
  BackupStreamParser parser;
  parser.feed_stream(stdout_stream);
  parser.feed_stream(stderr_stream);
  ASSERT_EQ(parser.item_errors().size(), 1u);
  EXPECT_EQ(parser.item_errors()[0].item, "/tmp/rg2/data/unreadable");
  EXPECT_EQ(parser.item_errors()[0].during, "archival");
  EXPECT_NE(parser.item_errors()[0].message.find("errno 13"), std::string::npos);
  ASSERT_TRUE(parser.summary());
  EXPECT_EQ(parser.summary()->snapshot_id, "e276004c");
}

TEST(BackupStream, IgnoresUnknownTypesFieldsAndNonJsonLines) {
  BackupStreamParser parser;
  parser.feed_line("");
  parser.feed_line("some plain text restic printed");
  parser.feed_line("{not json");
  parser.feed_line(R"({"message_type":"brand_new","x":1})");
  parser.feed_line(R"({"message_type":"summary","files_new":7,"future_field":{"a":[1]},"snapshot_id":"abcd1234"})");
  parser.feed_line(R"({"message_type":"error","error":{"message":"permission denied"},"during":"scan","item":"/x"})");
  ASSERT_TRUE(parser.summary());
  EXPECT_EQ(parser.summary()->files_new, 7u);
  EXPECT_EQ(parser.summary()->snapshot_id, "abcd1234");
  ASSERT_EQ(parser.item_errors().size(), 1u);
  EXPECT_EQ(parser.item_errors()[0].message, "permission denied");
}

TEST(Snapshots, ParsesTheRecordedList) {
  auto snapshots = parse_snapshots(golden("snapshots.json"));
  ASSERT_TRUE(snapshots) << snapshots.error().message;
  ASSERT_EQ(snapshots->size(), 3u);
  const auto& first = snapshots->front();
  EXPECT_EQ(first.id, "99489f823130bdf2f7e4213f248fc3c2a0f1168cfea9c5a80d6388e11c9ddac3");
  EXPECT_EQ(first.short_id, "99489f82");
  EXPECT_EQ(first.time, "2026-11-25T15:29:09.54373772Z");
  EXPECT_EQ(first.hostname, "h1");
  EXPECT_EQ(first.tags, std::vector<std::string>{"t1"});
  EXPECT_EQ(first.paths, std::vector<std::string>{"/tmp/rg/data"});
  EXPECT_TRUE((*snapshots)[1].tags.empty());
}

TEST(Snapshots, AnEmptyArrayIsNoSnapshotsAndGarbageIsAnError) {
  auto empty = parse_snapshots(golden("snapshots_empty.json"));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto garbage = parse_snapshots("Fatal: something");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().kind, ErrorKind::restic);
  EXPECT_FALSE(parse_snapshots(R"([{"paths":["/x"]}])"));
}

TEST(Stats, ParsesRecordedRawDataStatsWithoutUncompressedSizeIn014) {
  auto stats = parse_raw_data_stats(golden("stats_raw_data.json"));
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->total_size, 104068u);
  EXPECT_EQ(stats->total_blob_count, 17u);
  EXPECT_EQ(stats->snapshots_count, 3u);
  EXPECT_FALSE(stats->total_uncompressed_size);
}

TEST(Stats, ReadsTheUncompressedSizeOfNewerVersions) {
  auto stats = parse_raw_data_stats(
      R"({"total_size":100,"total_uncompressed_size":250,"compression_ratio":2.5,"total_blob_count":3,"snapshots_count":1})");
  ASSERT_TRUE(stats);
  ASSERT_TRUE(stats->total_uncompressed_size);
  EXPECT_EQ(*stats->total_uncompressed_size, 250u);
  ASSERT_TRUE(stats->compression_ratio);
  EXPECT_DOUBLE_EQ(*stats->compression_ratio, 2.5);
}

// --- failure classification against recorded restic 0.14 stderr ---

util::ExitStatus exited(int code) {
  util::ExitStatus status;
  status.code = code;
  return status;
}

const FailureContext context{"snapshots", "/srv/repo", "RESTIC_PASSWORD_FILE=/etc/cwb/password"};

struct ClassificationCase {
  const char* golden_file;
  int exit_code;
  Failure expected;
  const char* message_part;
};

class RecordedFailure : public testing::TestWithParam<ClassificationCase> {};

TEST_P(RecordedFailure, IsClassifiedWithAOneLineMessageNamingCauseAndRepository) {
  const auto& c = GetParam();
  const auto classified = classify_failure(exited(c.exit_code), golden(c.golden_file), context);
  EXPECT_EQ(classified.failure, c.expected) << c.golden_file << " gave " << to_string(classified.failure);
  EXPECT_EQ(classified.error.kind, ErrorKind::restic);
  EXPECT_NE(classified.error.message.find(c.message_part), std::string::npos) << classified.error.message;
  EXPECT_NE(classified.error.message.find("/srv/repo"), std::string::npos) << classified.error.message;
  EXPECT_EQ(classified.error.message.find('\n'), std::string::npos) << classified.error.message;
}

INSTANTIATE_TEST_SUITE_P(
    Restic014, RecordedFailure,
    testing::Values(
        ClassificationCase{
            "err_wrong_password.stderr", 1, Failure::wrong_password,
            "restic snapshots: wrong repository password for /srv/repo (RESTIC_PASSWORD_FILE=/etc/cwb/password)"},
        ClassificationCase{"err_no_repository.stderr", 1, Failure::no_repository, "no repository at"},
        ClassificationCase{"err_empty_dir.stderr", 1, Failure::no_repository, "no repository at"},
        ClassificationCase{"err_locked.stderr", 1, Failure::locked, "locked by another process (unable to create lock"},
        ClassificationCase{"err_connection_refused.stderr", 1, Failure::unreachable_backend,
                           "unreachable: dial tcp 127.0.0.1:1: connect: connection refused"},
        ClassificationCase{"err_s3_connection_refused.stderr", 1, Failure::unreachable_backend, "connection refused"},
        ClassificationCase{"err_tls.stderr", 1, Failure::unreachable_backend,
                           "unreachable: x509: certificate signed by unknown authority"},
        ClassificationCase{"constructed_err_no_such_host.stderr", 1, Failure::unreachable_backend, "no such host"},
        ClassificationCase{"backup_incomplete.stderr", 3, Failure::incomplete_snapshot, "incomplete snapshot"},
        ClassificationCase{"err_init_exists.stderr", 1, Failure::repository_exists, "already exists"},
        ClassificationCase{"err_restore_not_found.stderr", 1, Failure::snapshot_not_found, "no matching ID"}));

TEST(FailureClassification, UsesTheExitCodesOfRestic016) {
  EXPECT_EQ(classify_failure(exited(10), "Fatal: repository does not exist", context).failure, Failure::no_repository);
  EXPECT_EQ(classify_failure(exited(11), "Fatal: unable to create lock", context).failure, Failure::locked);
  EXPECT_EQ(classify_failure(exited(12), "Fatal: wrong password or no key found", context).failure,
            Failure::wrong_password);
}

TEST(FailureClassification, UnknownTextKeepsResticsFatalLineAndTheStatus) {
  const auto classified = classify_failure(exited(1), "noise\nFatal: something new went wrong\n", context);
  EXPECT_EQ(classified.failure, Failure::other);
  EXPECT_EQ(classified.error.message, "restic snapshots: failed (exit code 1) on /srv/repo: something new went wrong");
}

TEST(FailureClassification, ATimeoutIsNotMistakenForAStderrPattern) {
  util::ExitStatus status;
  status.timed_out = true;
  const auto classified = classify_failure(status, "Fatal: wrong password or no key found", context);
  EXPECT_EQ(classified.failure, Failure::other);
}

TEST(FailureClassification, MessagesNeverContainThePassword) {
  const FailureContext env_context{"backup", "/srv/repo", "RESTIC_PASSWORD from the environment"};
  const auto classified = classify_failure(exited(1), golden("err_wrong_password.stderr"), env_context);
  EXPECT_NE(classified.error.message.find("RESTIC_PASSWORD from the environment"), std::string::npos);
}

TEST(RepositoryRedaction, HidesThePasswordInARepositoryUrl) {
  EXPECT_EQ(redact_repository("rest:https://user:s3cret@host:8000/repo"), "rest:https://user:***@host:8000/repo");
  EXPECT_EQ(redact_repository("s3:https://127.0.0.1:9000/bucket"), "s3:https://127.0.0.1:9000/bucket");
  EXPECT_EQ(redact_repository("/srv/restic-repo"), "/srv/restic-repo");
}

TEST(SnapshotTime, ResticsRfc3339TimesGiveTheirUnixSeconds) {
  EXPECT_EQ(unix_seconds_of("2026-12-07T02:15:04Z"), 1796609704);
  EXPECT_EQ(unix_seconds_of("2026-12-07T02:15:04.123456789Z"), 1796609704);
  // restic writes the local time with its offset: the same instant.
  EXPECT_EQ(unix_seconds_of("2026-12-07T03:15:04.5+01:00"), 1796609704);
  EXPECT_EQ(unix_seconds_of("2026-12-06T21:15:04-05:00"), 1796609704);
}

TEST(SnapshotTime, AnythingElseIsNoTime) {
  EXPECT_EQ(unix_seconds_of(""), std::nullopt);
  EXPECT_EQ(unix_seconds_of("yesterday"), std::nullopt);
  EXPECT_EQ(unix_seconds_of("2026-12-07 02:15:04Z"), std::nullopt);
  EXPECT_EQ(unix_seconds_of("2026-12-07T02:15:04"), std::nullopt);
  EXPECT_EQ(unix_seconds_of("2026-12-07T02:15:04+0100"), std::nullopt);
}

} // namespace
} // namespace cwb::restic
