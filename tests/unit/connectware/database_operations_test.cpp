#include "connectware/database_operations.hpp"

#include "support/fake_connectware.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace cwb::connectware {
namespace {

using namespace std::chrono_literals;
using test::FakeConnectware;
using test::restore_status_json;
using test::status_json;

struct Harness {
  explicit Harness(FakeConnectware& server) : client(server.options(), transport, sleeper, clock) {
    auto dir = util::TemporaryDirectory::create({}, "cwb-export-test-");
    EXPECT_TRUE(dir);
    directory = std::move(*dir);
  }
  http::CurlTransport transport;
  test::FakeClock clock;
  test::FakeSleeper sleeper{&clock};
  ConnectwareClient client;
  util::TemporaryDirectory directory;
};

ExportOptions export_options() {
  ExportOptions options;
  options.poll_initial = 1s;
  options.poll_max = 4s;
  options.timeout = 60s;
  options.wait_for_idle = 30s;
  return options;
}

RestoreOptions restore_options() {
  RestoreOptions options;
  options.poll_initial = 1s;
  options.poll_max = 4s;
  options.timeout = 60s;
  options.wait_for_idle = 30s;
  return options;
}

TEST(ExportDatabase, StartsPollsAndDownloadsTheNewBackup) {
  FakeConnectware server;
  server.statuses = {status_json(false, "1.10.2_old", true), status_json(true, "1.10.2_old", true),
                     status_json(true, "1.10.2_old", true), status_json(false, "1.10.2_new", true)};
  server.archive = std::string(500'000, 'a');
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "1.10.2_new");
  EXPECT_EQ(result->bytes, server.archive.size());
  EXPECT_EQ(result->sha256, util::sha256_hex(server.archive));
  EXPECT_EQ(util::sha256_file(setup.directory.path() / "db.tgz").value_or(""), result->sha256);
  EXPECT_EQ(server.backup_posts, 1);
  EXPECT_EQ(setup.sleeper.sleeps, (std::vector<std::chrono::milliseconds>{1s, 2s, 4s}));
  EXPECT_EQ(result->finished - result->started, 7s);
}

TEST(AwaitExport, AsksAtOnceWhenTheCallerWorkedLongerThanTheFirstPollInterval) {
  // The pre-backup stage mirrors the volumes between starting the export and awaiting it: an export that
  // finished meanwhile must not cost a sleep while the configuration is held still.
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(false, "new", true)};
  Harness setup(server);
  auto pending = start_export(setup.client, export_options());
  ASSERT_TRUE(pending) << pending.error().message;
  setup.clock.advance(1500ms); // staging the volumes
  auto id = await_export(setup.client, *pending, export_options());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "new");
  EXPECT_TRUE(setup.sleeper.sleeps.empty());
}

TEST(AwaitExport, WaitsFirstWhenCalledRightAfterTheStart) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(false, "new", true)};
  Harness setup(server);
  auto pending = start_export(setup.client, export_options());
  ASSERT_TRUE(pending) << pending.error().message;
  auto id = await_export(setup.client, *pending, export_options());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(setup.sleeper.sleeps, (std::vector<std::chrono::milliseconds>{1s}));
}

TEST(ExportDatabase, ReportsTheServerMessageWhenTheBackupFails) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(false, "new", false, "pg_dump: out of disk space")};
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("pg_dump: out of disk space"), std::string::npos);
  EXPECT_EQ(server.downloads, 0);
}

TEST(ExportDatabase, GivesUpWhenTheBackupIsStillRunningAfterTheTimeout) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(true, "old", true)};
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("still running after 60s"), std::string::npos) << result.error().message;
  // Backoff capped at poll_max, and never sleeping past the deadline.
  EXPECT_EQ(std::ranges::max(setup.sleeper.sleeps), 4s);
  std::chrono::milliseconds slept{0};
  for (const auto sleep : setup.sleeper.sleeps)
    slept += sleep;
  EXPECT_EQ(slept, 60s);
  EXPECT_EQ(server.downloads, 0);
}

TEST(ExportDatabase, KeepsPollingWhileTheIdIsUnchanged) {
  FakeConnectware server;
  // Not running and an old successful backup: that is not ours yet.
  server.statuses = {status_json(false, "old", true), status_json(false, "old", true), status_json(false, "old", true),
                     status_json(false, "new", true)};
  server.archive = "archive";
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "new");
  EXPECT_EQ(server.status_gets, 4);
}

TEST(ExportDatabase, ReportsWhenNoNewBackupEverAppears) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true)};
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("no new backup"), std::string::npos);
}

TEST(ExportDatabase, ConflictOnStartIsExportFailed) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true)};
  server.backup_post_status = 409;
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("already running"), std::string::npos);
}

// A POST answered 5xx (a proxy's 502, say) may or may not have started the export: the status decides.
TEST(ExportDatabase, AFailedPostWhoseExportStartedIsFollowedNotRepeated) {
  FakeConnectware server;
  // idle before the POST; after the 502 the status shows the export running, then finished.
  server.statuses = {status_json(false, "old", true), status_json(true, "old", true), status_json(false, "new", true)};
  server.backup_post_statuses = {502};
  server.archive = "db";
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "new");
  EXPECT_EQ(server.backup_posts, 1) << "an export that started was posted again";
}

TEST(ExportDatabase, AFailedPostThatStartedNothingIsPostedAgainWithBackoff) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(false, "old", true), status_json(false, "old", true),
                     status_json(false, "new", true)};
  server.backup_post_statuses = {500, 503, 202};
  server.archive = "db";
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "new");
  EXPECT_EQ(server.backup_posts, 3);
  // Backoff between the POSTs (1s, then 2s), then the first poll of the export (1s).
  ASSERT_GE(setup.sleeper.sleeps.size(), 2U);
  EXPECT_EQ(setup.sleeper.sleeps[0], 1s);
  EXPECT_EQ(setup.sleeper.sleeps[1], 2s);
}

TEST(ExportDatabase, RepeatedFailedPostsAreBoundedAndTheLastErrorIsReported) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true)};
  server.backup_post_statuses = {500};
  Harness setup(server);
  auto options = export_options();
  options.start_attempts = 3;
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("HTTP 500"), std::string::npos) << result.error().message;
  EXPECT_EQ(server.backup_posts, 3);
}

TEST(ExportDatabase, ARepeatedPostRefusedWithConflictFollowsTheExportTheFirstOneStarted) {
  FakeConnectware server;
  // The status read right after the 502 is from before the server noticed the export (still idle).
  server.statuses = {status_json(false, "old", true), status_json(false, "old", true), status_json(false, "new", true)};
  server.backup_post_statuses = {502, 409};
  server.archive = "db";
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "new");
  EXPECT_EQ(server.backup_posts, 2);
}

TEST(ExportDatabase, APostThatTimesOutIsAskedAboutAndFollowed) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true), status_json(true, "old", true), status_json(false, "new", true)};
  server.backup_post_delay = 600ms;
  server.archive = "db";
  auto client_options = server.options();
  client_options.timeouts.api.total = 150ms;
  http::CurlTransport transport;
  test::FakeClock clock;
  test::FakeSleeper sleeper{&clock};
  ConnectwareClient client(client_options, transport, sleeper, clock);
  auto dir = util::TemporaryDirectory::create({}, "cwb-export-test-");
  ASSERT_TRUE(dir);
  auto result = export_database(client, dir->path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "new");
  EXPECT_EQ(server.backup_posts, 1);
}

TEST(ExportDatabase, AClientErrorOnThePostIsNotRetried) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old", true)};
  server.backup_post_statuses = {400};
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(server.backup_posts, 1);
}

TEST(ExportDatabase, DoesNotStartWhileAnotherOperationRuns) {
  FakeConnectware server;
  server.statuses = {status_json(true, "old", true)};
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::export_failed);
  EXPECT_NE(result.error().message.find("still running after 30s"), std::string::npos) << result.error().message;
  EXPECT_EQ(server.backup_posts, 0);
}

TEST(ExportDatabase, WaitsForARunningOperationToClearFirst) {
  FakeConnectware server;
  server.statuses = {status_json(true, "other", true), status_json(false, "other", true),
                     status_json(false, "mine", true)};
  server.archive = "x";
  Harness setup(server);
  auto result = export_database(setup.client, setup.directory.path() / "db.tgz", export_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "mine");
  EXPECT_EQ(server.backup_posts, 1);
}

class RestoreDatabase : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(util::write_file_atomic(setup.directory.path() / "db.tgz", "archive")); }
  FakeConnectware server;
  Harness setup{server};
  std::filesystem::path archive() const { return setup.directory.path() / "db.tgz"; }
};

TEST_F(RestoreDatabase, RefusalNamingAVersionIsIncompatibleVersionWithTheWholeMessage) {
  const std::string message =
      "Restore rejected: the database structure changed. The last Connectware version that can restore this "
      "backup file is version 1.4.1.";
  server.statuses = {restore_status_json(false, true, "earlier restore"), restore_status_json(true, std::nullopt, ""),
                     restore_status_json(false, false, message)};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::incompatible_version);
  EXPECT_NE(result.error().message.find(message), std::string::npos);
  EXPECT_NE(result.error().message.find("1.4.1)"), std::string::npos);
  EXPECT_EQ(server.uploaded_sha256, util::sha256_hex("archive"));
}

TEST_F(RestoreDatabase, OtherFailuresAreHttpErrorsWithTheServerMessage) {
  server.statuses = {restore_status_json(false, true, "earlier"),
                     restore_status_json(false, false, "pg_restore: boom")};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::http);
  EXPECT_NE(result.error().message.find("pg_restore: boom"), std::string::npos);
}

TEST_F(RestoreDatabase, SucceedsOnceTheRunningRestoreEndsWell) {
  server.statuses = {restore_status_json(false, true, "earlier"), restore_status_json(true, std::nullopt, ""),
                     restore_status_json(false, true, "earlier")};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->message, "earlier");
  EXPECT_EQ(server.restore_posts, 1);
}

TEST_F(RestoreDatabase, AFailedUploadIsRepeatedOnlyWhenTheStatusProvesNothingStarted) {
  server.statuses = {restore_status_json(false, true, "earlier"), restore_status_json(false, true, "earlier"),
                     restore_status_json(true, std::nullopt, ""), restore_status_json(false, true, "restored")};
  server.restore_post_statuses = {503, 202};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->message, "restored");
  EXPECT_EQ(server.restore_posts, 2);
}

TEST_F(RestoreDatabase, AFailedUploadWhoseRestoreStartedIsFollowedNotRepeated) {
  server.statuses = {restore_status_json(false, true, "earlier"), restore_status_json(true, std::nullopt, ""),
                     restore_status_json(false, true, "restored")};
  server.restore_post_statuses = {502};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->message, "restored");
  EXPECT_EQ(server.restore_posts, 1);
}

TEST_F(RestoreDatabase, AFailedUploadIsNotRepeatedWhenTheStatusCannotBeRead) {
  server.statuses = {restore_status_json(false, true, "earlier"), "<html>proxy error</html>"};
  server.restore_post_statuses = {502};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(server.restore_posts, 1);
  EXPECT_NE(result.error().message.find("not uploaded again"), std::string::npos) << result.error().message;
}

TEST_F(RestoreDatabase, TheSameArchiveRestoredAgainEndsAfterTheSettleTimeNotTheTimeout) {
  // Never seen running, and the same object as before (no time field, the same message): the settle rule.
  server.statuses = {restore_status_json(false, true, "restored")};
  const auto started = setup.clock.now();
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->message, "restored");
  const auto waited = setup.clock.now() - started;
  EXPECT_GE(waited, restore_options().settle);
  EXPECT_LT(waited, restore_options().settle + restore_options().poll_max + 2s);
  EXPECT_EQ(server.restore_posts, 1);
}

TEST_F(RestoreDatabase, AnUnchangedFailedObjectAfterTheSettleTimeIsAFailure) {
  server.statuses = {restore_status_json(false, false, "pg_restore: boom")};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::http);
  EXPECT_NE(result.error().message.find("pg_restore: boom"), std::string::npos) << result.error().message;
}

TEST_F(RestoreDatabase, RunningSeenBeforeTheSettleTimeIsFollowedToItsEnd) {
  // Idle and unchanged at the first poll, then running: not over until the running restore ends.
  server.statuses = {restore_status_json(false, true, "earlier"), restore_status_json(false, true, "earlier"),
                     restore_status_json(true, std::nullopt, ""), restore_status_json(true, std::nullopt, ""),
                     restore_status_json(false, false, "the new one failed")};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("the new one failed"), std::string::npos) << result.error().message;
}

TEST_F(RestoreDatabase, ARestoreOverBeforeTheFirstPollIsSeenByItsChangedObjectAtOnce) {
  server.statuses = {restore_status_json(false, true, "restored", "2026-12-01T10:00:00Z"),
                     restore_status_json(false, true, "restored", "2026-12-05T22:00:00Z")};
  const auto started = setup.clock.now();
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_LT(setup.clock.now() - started, restore_options().settle);
}

TEST_F(RestoreDatabase, AServerWithoutARestoreObjectNeverSeenRunningEndsAfterTheSettleTime) {
  server.statuses = {R"({"running": false, "backup": {"id": "old", "succeded": true}})"};
  const auto started = setup.clock.now();
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_GE(setup.clock.now() - started, restore_options().settle);
  EXPECT_LT(setup.clock.now() - started, restore_options().timeout);
}

TEST_F(RestoreDatabase, TimesOutWhenTheRestoreNeverEnds) {
  server.statuses = {restore_status_json(false, true, "earlier"), restore_status_json(true, std::nullopt, "")};
  auto result = restore_database(setup.client, archive(), restore_options());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::http);
  EXPECT_NE(result.error().message.find("still running after 60s"), std::string::npos);
}

TEST(WaitUntilHealthy, PollsUntilEveryServiceRuns) {
  FakeConnectware server;
  server.healths = {
      R"({"system":{"status":[{"name":"broker","status":"starting"}]}})",
      R"({"system":{"status":[{"name":"broker","status":"running"},{"name":"db","status":"restarting"}]}})",
      R"({"system":{"status":[{"name":"broker","status":"running"},{"name":"db","status":"running"}]}})"};
  Harness setup(server);
  ASSERT_TRUE(wait_until_healthy(setup.client, 60s, 2s));
  EXPECT_EQ(setup.sleeper.sleeps.size(), 2u);
}

TEST(WaitUntilHealthy, PollsSoonAfterARestartThenBacksOffToTheMaximum) {
  FakeConnectware server;
  server.healths = {R"({"system":{"status":[{"name":"broker","status":"starting"}]}})",
                    R"({"system":{"status":[{"name":"broker","status":"starting"}]}})",
                    R"({"system":{"status":[{"name":"broker","status":"starting"}]}})",
                    R"({"system":{"status":[{"name":"broker","status":"starting"}]}})",
                    R"({"system":{"status":[{"name":"broker","status":"running"}]}})"};
  Harness setup(server);
  ASSERT_TRUE(wait_until_healthy(setup.client, 60s)); // defaults: from 250 ms, doubling up to 2 s
  using std::chrono::milliseconds;
  EXPECT_EQ(setup.sleeper.sleeps,
            (std::vector<milliseconds>{milliseconds(250), milliseconds(500), milliseconds(1000), milliseconds(2000)}));
}

TEST(WaitUntilHealthy, AwaitsOnlyTheServicesThatRanBeforeAndCountsAMissingOneAsNotRunning) {
  FakeConnectware server;
  server.healths = {
      R"({"system":{"status":[{"name":"broker","status":"running"},{"name":"workbench","status":"exited"}]}})"};
  Harness setup(server);
  EXPECT_TRUE(wait_until_healthy(setup.client, 10s, 250ms, 2s, std::set<std::string>{"broker"}));
  auto missing = wait_until_healthy(setup.client, 10s, 250ms, 2s, std::set<std::string>{"broker", "auth-server"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("auth-server=not listed"), std::string::npos) << missing.error().message;
  EXPECT_EQ(missing.error().message.find("workbench"), std::string::npos) << missing.error().message;
  // Without a record of what ran before, every listed service must run.
  EXPECT_FALSE(wait_until_healthy(setup.client, 5s, 250ms, 2s));
}

TEST(RunningServices, AreTheServicesTheHealthListingReportsRunning) {
  FakeConnectware server;
  server.healths = {R"({"system":{"status":[{"name":"broker","status":"running"},)"
                    R"({"name":"workbench","status":"exited"},{"name":"postgresql","status":"running"}]}})"};
  Harness setup(server);
  auto running = running_services(setup.client);
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ(*running, (std::set<std::string>{"broker", "postgresql"}));
}

TEST(WaitUntilHealthy, TimesOutNamingTheServicesNotRunning) {
  FakeConnectware server;
  server.healths = {R"({"system":{"status":[{"name":"broker","status":"running"},{"name":"db","status":"exited"}]}})"};
  Harness setup(server);
  auto result = wait_until_healthy(setup.client, 10s, 2s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::unreachable);
  EXPECT_NE(result.error().message.find("db=exited"), std::string::npos);
}

} // namespace
} // namespace cwb::connectware
