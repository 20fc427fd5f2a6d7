// The pre-backup stage against a scripted Connectware, a fake container runtime and a fake clock.
#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"
#include "backup/pre_backup.hpp"
#include "installation/run_state.hpp"
#include "snapshot/run_report.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include "backup_fakes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>

namespace cwb::backup {
namespace {

using installation::read_run_marker;
using installation::RunMarker;
using installation::write_pause_marker;
using installation::write_run_marker;

using test::BackupRig;
using test::exists_at;
using test::previous_success;
using testing::HasSubstr;

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

/// Nothing of a failed run may be left: containers running, no markers, no archive (partial or whole).
void expect_everything_released(BackupRig& rig) {
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
  EXPECT_FALSE(exists_at(rig.layout().database_archive().string() + ".part"));
  EXPECT_FALSE(exists_at(rig.layout().database_tar()));
  EXPECT_FALSE(exists_at(rig.layout().database_tar().string() + ".part"));
}

TEST(PreBackup, StagesTheArchiveTheVolumeAndTheManifestWithTheContainersPausedMeanwhile) {
  BackupRig rig;
  std::vector<std::string> state_during_export;
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup") state_during_export.push_back(rig.containers.state_of("sm1"));
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;

  EXPECT_EQ(state_during_export, (std::vector<std::string>{"paused"}));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  // database-storage = unpacked (the default): the archive gunzipped, the download itself gone.
  EXPECT_TRUE(exists_at(rig.layout().database_tar()));
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
  EXPECT_FALSE(exists_at(rig.layout().database_archive().string() + ".part"));
  EXPECT_FALSE(exists_at(rig.layout().database_tar().string() + ".part"));
  EXPECT_TRUE(exists_at(rig.layout().volume("service-manager") / "services" / "svc1.yml"));
  EXPECT_TRUE(exists_at(rig.layout().manifest()));

  EXPECT_EQ(staged->manifest.connectware_version, "1.10.2");
  ASSERT_TRUE(staged->manifest.database);
  EXPECT_EQ(staged->manifest.database->backup_id, "1.10.2-export-1");
  EXPECT_EQ(staged->manifest.quiesce.mode, "pause");
  EXPECT_TRUE(contains(staged->restic_tags, "connectware"));
  EXPECT_TRUE(contains(staged->restic_tags, "connectware-1.10.2"));

  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_TRUE((*marker)->staged);
  EXPECT_EQ((*marker)->owner, rig.owner);
  EXPECT_EQ((*marker)->quiesce_mode, "pause");
}

TEST(PreBackup, AStagingFolderInsideAVolumeIsAUsageErrorBeforeAnythingIsWritten) {
  // The rig's staging folder lies in the temporary folder: given as the volume, it is inside the volume.
  BackupRig rig({{"volume-path", std::filesystem::temp_directory_path().string()}});
  auto context = rig.context(false);
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::usage);
  EXPECT_THAT(staged.error().message,
              HasSubstr("staging-dir " + rig.config().staging_dir().string() + " lies inside volume "));
  EXPECT_FALSE(exists_at(rig.config().staging_dir()));
  EXPECT_EQ(std::count(rig.server.requests.begin(), rig.server.requests.end(), "POST /api/maintenance/db/backup"), 0);
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker);
  EXPECT_FALSE(marker->has_value());
}

TEST(PreBackup, CopiesTheVolumeBeforeTheWindowAndTakesWhatChangedSinceInsideIt) {
  BackupRig rig;
  const auto staged_file = rig.layout().volume("service-manager") / "services" / "svc1.yml";
  bool staged_before_the_export = false;
  rig.server.on_request = [&](const std::string& call) {
    if (call != "POST /api/maintenance/db/backup") return;
    // The containers are paused now: the bulk copy happened before, while nothing was held.
    staged_before_the_export = exists_at(staged_file);
    // A change that landed between that first pass and the pause must still reach the snapshot.
    ASSERT_TRUE(util::write_file_atomic(rig.volume_dir() / "services" / "svc1.yml", "description: changed\n"));
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;

  EXPECT_TRUE(staged_before_the_export);
  auto content = util::read_file(staged_file);
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(*content, "description: changed\n");
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  const auto& stages = (*marker)->stage_seconds;
  for (const char* stage : {"prestage_volumes", "stage_volumes", "export", "download", "confirm_download",
                            "validate_archive", "pre_backup"}) {
    EXPECT_TRUE(std::ranges::any_of(stages, [&](const auto& entry) { return entry.first == stage; })) << stage;
  }
}

TEST(PreBackup, StoresTheDatabaseUnpackedWithTheDigestOfTheExportedArchivesEntries) {
  BackupRig rig;
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  ASSERT_TRUE(staged->manifest.database);
  const auto& database = *staged->manifest.database;
  EXPECT_EQ(database.format, snapshot::database_format_tar);
  EXPECT_EQ(database.file, "db/connectware-db.tar");
  EXPECT_EQ(staged->manifest.format, 2); // a plugin that knows only format 1 refuses it
  // The record describes what is stored (the tar) and what Connectware exported (the archive).
  const auto archive_bytes = rig.server.archive; // what Connectware served (gzip stamps its own time)
  EXPECT_EQ(database.archive_sha256, util::sha256_hex(archive_bytes));
  EXPECT_EQ(database.archive_bytes, archive_bytes.size());
  auto stored = util::sha256_file(rig.layout().database_tar());
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(database.sha256, *stored);
  EXPECT_EQ(database.bytes, std::filesystem::file_size(rig.layout().database_tar()));
  // The digest is that of the exported archive's entries, and the stored tar reads back with the same.
  ASSERT_TRUE(util::write_file_atomic(rig.root() / "exported.tgz", archive_bytes));
  auto exported = archive::validate_tar_gz(rig.root() / "exported.tgz");
  ASSERT_TRUE(exported) << exported.error().message;
  EXPECT_EQ(database.entries_sha256, exported->entries_sha256);
  auto tar = archive::read_tar(rig.layout().database_tar(), ErrorKind::export_invalid);
  ASSERT_TRUE(tar) << tar.error().message;
  EXPECT_EQ(tar->entries_sha256, exported->entries_sha256);
  // And the recipe proven for it gives back the exported bytes themselves.
  ASSERT_FALSE(database.gzip_header.empty());
  EXPECT_EQ(database.gzip_level, 6); // libarchive's gzip filter, zlib's default level
  const auto rebuilt = rig.root() / "rebuilt.tgz";
  ASSERT_TRUE(archive::gzip_with_recipe(rig.layout().database_tar(), rebuilt,
                                        {database.gzip_header, database.gzip_level, database.gzip_mem_level}));
  EXPECT_EQ(util::read_file(rebuilt).value_or(""), archive_bytes);
}

// An export no zlib parameter set reproduces (here: stored deflate blocks) would come back as other bytes:
// it is stored as downloaded instead, deduplicated less but returned exactly.
TEST(PreBackup, AnArchiveThatGzippingAgainDoesNotReproduceIsStoredAsDownloaded) {
  BackupRig rig;
  rig.server.archive = test::small_tar_gz("dump.sql", "CREATE TABLE x;\n", 0);
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  const auto& database = *staged->manifest.database;
  EXPECT_EQ(database.format, snapshot::database_format_archive);
  EXPECT_EQ(database.file, "db/connectware-db.tgz");
  EXPECT_TRUE(database.gzip_header.empty());
  EXPECT_EQ(util::read_file(rig.layout().database_archive()).value_or(""), rig.server.archive);
  EXPECT_FALSE(std::filesystem::exists(rig.layout().database_tar()));
}

TEST(PreBackup, WithDatabaseStorageArchiveStoresTheDownloadedBytes) {
  BackupRig rig(test::Settings{{"database-storage", "archive"}});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  const auto& database = *staged->manifest.database;
  EXPECT_EQ(database.format, snapshot::database_format_archive);
  EXPECT_EQ(database.file, "db/connectware-db.tgz");
  EXPECT_EQ(staged->manifest.format, 1);
  auto stored = util::read_file(rig.layout().database_archive());
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(*stored, rig.server.archive); // byte for byte what Connectware served
  EXPECT_EQ(database.sha256, util::sha256_hex(*stored));
  EXPECT_FALSE(exists_at(rig.layout().database_tar()));
}

TEST(PreBackup, ALeftoverArchiveOfTheOtherFormIsNotStagedAgain) {
  BackupRig rig;
  ASSERT_TRUE(util::ensure_directories(rig.layout().database_dir()));
  ASSERT_TRUE(util::write_file_atomic(rig.layout().database_archive(), "an older run's archive"));
  auto context = rig.context();
  ASSERT_TRUE(run_pre_backup(context));
  EXPECT_TRUE(exists_at(rig.layout().database_tar()));
  EXPECT_FALSE(exists_at(rig.layout().database_archive()));
}

TEST(PreBackup, PollsTheExportEveryHalfSecondAtMostWhileTheConfigurationIsHeld) {
  BackupRig rig;
  rig.server.polls_until_done = 5;
  auto context = rig.context();
  ASSERT_TRUE(run_pre_backup(context));
  using std::chrono::milliseconds;
  // Five answers "running", the sixth poll sees it done. poll-max-interval is 2 s by default: inside the
  // window the backoff stops at 500 ms.
  EXPECT_EQ(rig.sleeps(), (std::vector<milliseconds>{milliseconds(250), milliseconds(500), milliseconds(500),
                                                     milliseconds(500), milliseconds(500), milliseconds(500)}));
}

TEST(PreBackup, RefusesWithLockedWhileALiveOwnerHoldsTheRun) {
  BackupRig rig;
  RunMarker other;
  other.started = "2023-11-14T22:13:00.000Z";
  other.started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              (rig.clock.wall_now() - std::chrono::minutes(1)).time_since_epoch())
                              .count();
  other.owner = util::identify_process(getppid()).value_or(util::ProcessIdentity{});
  ASSERT_TRUE(util::is_alive(other.owner));
  ASSERT_NE(other.owner, rig.owner);
  ASSERT_TRUE(write_run_marker(rig.state(), other));
  ASSERT_TRUE(write_pause_marker(rig.state(), {"sm1"})); // the other run's pause must not be touched
  ASSERT_TRUE(rig.containers.pause("sm1"));

  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::locked);
  EXPECT_NE(staged.error().message.find(std::to_string(other.owner.pid)), std::string::npos);

  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_EQ((*marker)->owner, other.owner);
  EXPECT_EQ(rig.containers.state_of("sm1"), "paused");
  EXPECT_TRUE(exists_at(rig.state().pause_marker()));
  EXPECT_EQ(rig.server.exports_started, 0);
}

/// A marker of a run started `age` before the rig's clock by a process that lives on (our parent).
RunMarker live_run_started_before(BackupRig& rig, std::chrono::milliseconds age) {
  RunMarker forgotten;
  forgotten.started = "2023-11-13T22:00:00.000Z";
  forgotten.started_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>((rig.clock.wall_now() - age).time_since_epoch()).count();
  forgotten.owner = util::identify_process(getppid()).value_or(util::ProcessIdentity{});
  return forgotten;
}

TEST(PreBackup, ALiveOwnersRunIsNeverTakenOverForItsAgeAlone) {
  // A slow first upload to S3 can take longer than a day: its marker must stay its own.
  BackupRig rig;
  const auto slow = live_run_started_before(rig, std::chrono::hours(30));
  ASSERT_TRUE(util::is_alive(slow.owner));
  ASSERT_TRUE(write_run_marker(rig.state(), slow));
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::locked);
  EXPECT_NE(staged.error().message.find("stale-run-age"), std::string::npos) << staged.error().message;
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && *marker);
  EXPECT_EQ((*marker)->owner, slow.owner);
  EXPECT_EQ(rig.server.exports_started, 0);
}

TEST(PreBackup, ALiveOwnersRunOlderThanStaleRunAgeIsTakenOverWhenThatIsSet) {
  // A backup agent that ran the pre hook, never the post hook, and lives on.
  BackupRig rig(test::Settings{{"stale-run-age", "24h"}});
  const auto forgotten = live_run_started_before(rig, std::chrono::hours(24) + std::chrono::minutes(1));
  ASSERT_TRUE(util::is_alive(forgotten.owner));
  ASSERT_TRUE(write_run_marker(rig.state(), forgotten));
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && *marker);
  EXPECT_EQ((*marker)->owner, rig.owner);

  // Younger than the setting: left alone.
  BackupRig younger_rig(test::Settings{{"stale-run-age", "24h"}});
  ASSERT_TRUE(write_run_marker(younger_rig.state(), live_run_started_before(younger_rig, std::chrono::hours(23))));
  auto younger_context = younger_rig.context();
  auto refused = run_pre_backup(younger_context);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::locked);
}

// A restore killed after it began changing things (its journal says so): a backup now would store neither
// the old state nor the snapshot's.
TEST(PreBackup, AnUnfinishedRestoreIsRefusedBeforeAnythingHappensAndOneThatChangedNothingIsNot) {
  BackupRig rig;
  ASSERT_TRUE(util::ensure_directories(rig.state().state_dir));
  ASSERT_TRUE(
      util::write_file_atomic(rig.state().restore_journal(), R"({"phase": "volumes", "live_state_may_differ": true})"));
  auto context = rig.context();
  auto refused = run_pre_backup(context);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::unfinished_restore);
  EXPECT_THAT(refused.error().message, HasSubstr("--resume"));
  EXPECT_EQ(rig.server.exports_started, 0);

  ASSERT_TRUE(util::write_file_atomic(rig.state().restore_journal(), "not json"));
  auto unreadable = run_pre_backup(context);
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().kind, ErrorKind::staging_io);

  ASSERT_TRUE(util::write_file_atomic(rig.state().restore_journal(),
                                      R"({"phase": "safety_copy", "live_state_may_differ": false})"));
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
}

TEST(PreBackup, RecoversTheMarkerAndThePausedContainersOfADeadOwner) {
  BackupRig rig;
  RunMarker dead;
  dead.started = "2024-01-01T00:00:00Z";
  // Our own PID with another start time: the process that wrote it is gone, the PID was reused.
  dead.owner = util::ProcessIdentity{rig.owner.pid, rig.owner.start_ticks + 1};
  ASSERT_FALSE(util::is_alive(dead.owner));
  ASSERT_TRUE(write_run_marker(rig.state(), dead));
  ASSERT_TRUE(rig.containers.pause("sm1"));
  ASSERT_TRUE(write_pause_marker(rig.state(), {"sm1"}));
  rig.runner.replies.push_back({0, "", "successfully removed 1 locks\n"});

  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_EQ((*marker)->owner, rig.owner);
  EXPECT_TRUE((*marker)->staged);
  // The dead run may have been killed inside `restic backup`: its stale lock goes too.
  ASSERT_EQ(rig.runner.calls.size(), 1U);
  EXPECT_EQ(rig.runner.calls[0].back(), "unlock");
}

TEST(PreBackup, AFailingUnlockWhileRecoveringIsAWarningNotAFailedBackup) {
  BackupRig rig;
  RunMarker dead;
  dead.started = "2024-01-01T00:00:00Z";
  dead.owner = util::ProcessIdentity{rig.owner.pid, rig.owner.start_ticks + 1};
  ASSERT_TRUE(write_run_marker(rig.state(), dead));
  rig.runner.replies.push_back({1, "", "Fatal: unable to open config file: Stat: connection refused\n"});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  ASSERT_EQ(rig.runner.calls.size(), 1U);
  EXPECT_EQ(rig.runner.calls[0].back(), "unlock");
}

TEST(PreBackup, RefusesWhileAnotherProcessHoldsTheLock) {
  BackupRig rig;
  ASSERT_TRUE(util::ensure_directories(rig.state().state_dir));
  auto held = util::FileLock::try_acquire(rig.state().lock());
  ASSERT_TRUE(held);
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::locked);
  EXPECT_EQ(rig.server.exports_started, 0);
}

TEST(PreBackup, VerifyModeStagesAgainWhenTheConfigurationChangedAndSucceedsOnceItHoldsStill) {
  BackupRig rig({{"quiesce", "verify"}, {"verify-attempts", "3"}});
  int exports_seen = 0;
  rig.server.on_request = [&](const std::string& call) {
    // Someone edits a service file during the first export only.
    if (call == "POST /api/maintenance/db/backup" && ++exports_seen == 1) {
      ASSERT_TRUE(util::write_file_atomic(rig.volume_dir() / "services" / "svc2.yml", "description: two\n"));
    }
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(rig.server.exports_started, 2);
  EXPECT_EQ(staged->manifest.quiesce.mode, "verify");
  EXPECT_EQ(staged->manifest.quiesce.attempts, 2);
  ASSERT_TRUE(staged->manifest.database);
  EXPECT_EQ(staged->manifest.database->backup_id, "1.10.2-export-2");
  EXPECT_TRUE(exists_at(rig.layout().volume("service-manager") / "services" / "svc2.yml"));
  EXPECT_TRUE(rig.containers.calls.empty() ||
              std::none_of(rig.containers.calls.begin(), rig.containers.calls.end(),
                           [](const std::string& call) { return call.starts_with("pause"); }));
}

TEST(PreBackup, VerifyModeFailsWithQuiesceFailedWhenTheConfigurationKeepsChanging) {
  BackupRig rig({{"quiesce", "verify"}, {"verify-attempts", "2"}});
  int edits = 0;
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup") {
      ASSERT_TRUE(
          util::write_file_atomic(rig.volume_dir() / "services" / ("edit" + std::to_string(++edits) + ".yml"), "x\n"));
    }
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::quiesce_failed);
  EXPECT_NE(staged.error().message.find("2 attempts"), std::string::npos);
  EXPECT_EQ(rig.server.exports_started, 2);
  expect_everything_released(rig);
}

TEST(PreBackup, VerifyModeNoticesAChangedServiceListToo) {
  BackupRig rig({{"quiesce", "verify"}, {"verify-attempts", "1"}});
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup") rig.server.services = R"([{"id":"svc1"},{"id":"new"}])";
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::quiesce_failed);
}

// --- optimistic quiesce (the default where the writers can be paused) -------------------------------------

/// Records sm1's container state at each export's start into `states`, then calls `also` (when given)
/// with the export's number (1, 2, ...).
void states_at_each_export(BackupRig& rig, std::vector<std::string>& states, std::function<void(int)> also = {}) {
  rig.server.on_request = [&rig, &states, also = std::move(also)](const std::string& call) {
    if (call != "POST /api/maintenance/db/backup") return;
    states.push_back(rig.containers.state_of("sm1"));
    if (also) also(static_cast<int>(states.size()));
  };
}

TEST(PreBackup, AutoModeIsOptimisticAndPausesNothingWhenTheConfigurationHoldsStill) {
  BackupRig rig(test::Settings{{"quiesce", "auto"}});
  std::vector<std::string> states;
  states_at_each_export(rig, states);
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;

  EXPECT_EQ(states, (std::vector<std::string>{"running"}));
  EXPECT_TRUE(std::none_of(rig.containers.calls.begin(), rig.containers.calls.end(),
                           [](const std::string& call) { return call.starts_with("pause"); }));
  EXPECT_EQ(staged->manifest.quiesce.mode, "optimistic");
  EXPECT_EQ(staged->manifest.quiesce.outcome, "unchanged");
  EXPECT_EQ(staged->manifest.quiesce.attempts, 1);
  EXPECT_EQ(staged->manifest.quiesce.window_seconds, 0.0);
  EXPECT_TRUE(staged->manifest.quiesce.paused_containers.empty());
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_EQ((*marker)->quiesce_mode, "optimistic");
  EXPECT_EQ((*marker)->quiesce_outcome, "unchanged");
  EXPECT_EQ((*marker)->quiesce_window_seconds, 0.0);
}

TEST(PreBackup, OptimisticModeStagesAgainPausedWhenAFileChangedDuringTheUnpausedAttempt) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  std::vector<std::string> states;
  // Someone edits a service file during the first export; the paused retry sees it.
  states_at_each_export(rig, states, [&rig](int export_number) {
    if (export_number == 1) {
      ASSERT_TRUE(util::write_file_atomic(rig.volume_dir() / "services" / "svc2.yml", "description: two\n"));
    }
  });
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;

  EXPECT_EQ(states, (std::vector<std::string>{"running", "paused"}));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  EXPECT_EQ(staged->manifest.quiesce.mode, "optimistic");
  EXPECT_EQ(staged->manifest.quiesce.outcome, "paused_retry");
  EXPECT_EQ(staged->manifest.quiesce.attempts, 2);
  EXPECT_EQ(staged->manifest.quiesce.paused_containers, std::vector<std::string>{"sm1"});
  ASSERT_TRUE(staged->manifest.database);
  EXPECT_EQ(staged->manifest.database->backup_id, "1.10.2-export-2");
  EXPECT_TRUE(exists_at(rig.layout().volume("service-manager") / "services" / "svc2.yml"));
}

TEST(PreBackup, OptimisticModesPausedRetryEndsEvenWhenTheConfigurationKeepsChanging) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  std::vector<std::string> states;
  // A writer the pause does not stop (here: this test) changes a file during every export; the retry
  // holds the writers Connectware has, and is the run's last attempt.
  states_at_each_export(rig, states, [&rig](int export_number) {
    ASSERT_TRUE(util::write_file_atomic(
        rig.volume_dir() / "services" / ("edit" + std::to_string(export_number) + ".yml"), "x\n"));
  });
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(rig.server.exports_started, 2);
  EXPECT_EQ(staged->manifest.quiesce.outcome, "paused_retry");
}

TEST(PreBackup, OptimisticModeNoticesAFileRewrittenWithItsSizeAndMtimeKept) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  const auto file = rig.volume_dir() / "services" / "svc1.yml";
  // An old mtime, so that the mirror's racy-mtime rule cannot be what re-reads the file.
  const struct timespec old_times[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), old_times, 0), 0);
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  std::string changed;
  std::vector<std::string> states;
  states_at_each_export(rig, states, [&](int export_number) {
    if (export_number != 1) return;
    // Same length, same mtime afterwards: only the ctime (and here the inode, replaced by a rename) tell.
    auto text = util::read_file(file);
    ASSERT_TRUE(text);
    changed = *text;
    changed[0] = changed[0] == 'X' ? 'Y' : 'X';
    ASSERT_TRUE(util::write_file_atomic(file, changed));
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  });
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(states, (std::vector<std::string>{"running", "paused"}));
  EXPECT_EQ(staged->manifest.quiesce.outcome, "paused_retry");
  // The paused retry copied the rewrite although its size and mtime are the old ones.
  const auto staged_copy = util::read_file(rig.layout().volume("service-manager") / "services" / "svc1.yml");
  ASSERT_TRUE(staged_copy);
  EXPECT_EQ(*staged_copy, changed);
}

/// The number of GET /api/services (one per configuration fingerprint) before the first export starts.
int fingerprints_before_the_export(const std::vector<std::string>& requests) {
  const auto export_started = std::find(requests.begin(), requests.end(), "POST /api/maintenance/db/backup");
  return static_cast<int>(std::count_if(requests.begin(), export_started,
                                        [](const std::string& call) { return call.starts_with("GET /api/services"); }));
}

TEST(PreBackup, AChangeLessThanACtimeTickBeforeTheFingerprintIsWaitedOutAndFingerprintedAgain) {
  // A second write within the same ctime tick as one just before the "before" fingerprint could leave it
  // unchanged: such a fingerprint proves nothing, so it is taken again once that tick (1 s) is over.
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  ASSERT_TRUE(util::write_file_atomic(rig.volume_dir() / "services" / "svc1.yml", "description: just now\n"));
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(fingerprints_before_the_export(rig.server.requests), 2);
  EXPECT_EQ(staged->manifest.quiesce.outcome, "unchanged");
}

TEST(PreBackup, VolumesUnchangedForASecondAreFingerprintedOnce) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100)); // the rig's files, written just now, age
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(fingerprints_before_the_export(rig.server.requests), 1);
}

TEST(PreBackup, OptimisticModeNoticesAChangedServiceList) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  int exports = 0;
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup" && ++exports == 1)
      rig.server.services = R"([{"id":"svc1"},{"id":"new"}])";
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(staged->manifest.quiesce.outcome, "paused_retry");
  EXPECT_EQ(staged->manifest.quiesce.attempts, 2);
}

TEST(PreBackup, OptimisticModesPausedRetryFailingToPauseIsQuiesceFailedWithEverythingReleased) {
  BackupRig rig(test::Settings{{"quiesce", "optimistic"}});
  int exports = 0;
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup" && ++exports == 1) {
      ASSERT_TRUE(util::write_file_atomic(rig.volume_dir() / "services" / "svc2.yml", "description: two\n"));
    }
  };
  rig.containers.fail_next("pause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::quiesce_failed);
  EXPECT_EQ(rig.server.exports_started, 1);
  expect_everything_released(rig);
}

TEST(PreBackup, PauseModeFailsCleanlyWhenTheExportFails) {
  BackupRig rig;
  rig.server.export_succeeds = false;
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::export_failed);
  EXPECT_NE(staged.error().message.find("disk full"), std::string::npos);
  expect_everything_released(rig);
  EXPECT_EQ(std::count(rig.server.requests.begin(), rig.server.requests.end(), "GET /api/maintenance/db/backup"), 0);
}

TEST(PreBackup, PauseModeFailsCleanlyWhenTheDownloadIsMissing) {
  BackupRig rig;
  rig.server.archive.clear(); // 404 on the download
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::export_failed);
  expect_everything_released(rig);
}

TEST(PreBackup, ACorruptArchiveIsExportInvalidAndRemoved) {
  BackupRig rig;
  rig.server.archive = std::string(4096, 'x');
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::export_invalid);
  expect_everything_released(rig);
}

TEST(PreBackup, PauseModeWithAFailingPauseIsQuiesceFailedAndStartsNoExport) {
  BackupRig rig;
  rig.containers.fail_next("pause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::quiesce_failed);
  EXPECT_EQ(rig.server.exports_started, 0);
  expect_everything_released(rig);
}

TEST(PreBackup, PauseModeWithoutARuntimeIsAUsageError) {
  BackupRig rig;
  auto context = rig.context(/*with_runtime=*/false);
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::usage);
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
}

TEST(PreBackup, AutoModeFallsBackToVerifyWithoutARuntime) {
  BackupRig rig(test::Settings{{"quiesce", "auto"}});
  auto context = rig.context(/*with_runtime=*/false);
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_EQ(staged->manifest.quiesce.mode, "verify");
}

TEST(PreBackup, CancellationDuringTheExportEndsInterruptedWithEverythingReleased) {
  BackupRig rig;
  rig.server.polls_until_done = 5;
  int polls = 0;
  rig.server.on_request = [&](const std::string& call) {
    // SIGTERM arrives while we poll for the export (after the first poll of the running export).
    if (call == "GET /api/maintenance/db" && rig.server.exports_started == 1 && ++polls == 2)
      util::request_cancellation(SIGTERM);
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::interrupted);
  expect_everything_released(rig);
}

TEST(PreBackup, CancellationWhileStagingEndsInterruptedBeforeTheDownload) {
  BackupRig rig;
  rig.server.on_request = [&](const std::string& call) {
    if (call == "POST /api/maintenance/db/backup") util::request_cancellation(SIGINT);
  };
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::interrupted);
  expect_everything_released(rig);
}

TEST(PreBackup, AnotherExportFinishingDuringOurDownloadFailsTheRun) {
  BackupRig rig;
  rig.server.foreign_export_after_download = "1.10.2-someone-else";
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::export_failed);
  EXPECT_NE(staged.error().message.find("1.10.2-someone-else"), std::string::npos);
  expect_everything_released(rig);
}

TEST(PreBackup, UnreachableConnectwareFailsBeforeAnythingIsPausedAndLeavesNoMarker) {
  BackupRig rig;
  rig.server.failures["GET /api/system/info"] = Error{ErrorKind::unreachable, "connection refused"};
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::unreachable);
  EXPECT_TRUE(std::none_of(rig.containers.calls.begin(), rig.containers.calls.end(),
                           [](const std::string& call) { return call.starts_with("pause"); }));
  expect_everything_released(rig);
}

// --- the shrink alert ------------------------------------------------------------------------------------

TEST(PreBackup, AFirstBackupRecordsItsSizesAndRaisesNoShrinkAlert) {
  BackupRig rig({{"on-shrink", "fail"}, {"shrink-alert-percent", "0"}});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_EQ((*marker)->volume_files, 1U); // services/svc1.yml
  EXPECT_GT((*marker)->database_entries, 0U);
  ASSERT_TRUE(staged->manifest.database);
  EXPECT_EQ(staged->manifest.database->entry_count, (*marker)->database_entries);
  EXPECT_TRUE((*marker)->shrink_findings.empty());
}

TEST(PreBackup, WithOnShrinkFailABackupThatLostItsFilesFailsWithShrunkAndLeavesNothingBehind) {
  BackupRig rig(test::Settings{{"on-shrink", "fail"}});
  previous_success(rig, snapshot::RunSizes{0, 0, 1204, 0});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.error().kind, ErrorKind::shrunk);
  EXPECT_THAT(staged.error().message, HasSubstr("volume files: 1204 -> 1 (-99.9 %)"));
  EXPECT_THAT(staged.error().message, HasSubstr("2023-11-13T22:00:00Z"));
  expect_everything_released(rig);
}

TEST(PreBackup, WithOnShrinkWarnTheBackupGoesOnAndTheMarkerCarriesTheFindings) {
  BackupRig rig;
  previous_success(rig, snapshot::RunSizes{0, 0, 1204, 0});
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
  auto marker = read_run_marker(rig.state());
  ASSERT_TRUE(marker && marker->has_value());
  EXPECT_EQ((*marker)->shrink_findings, (std::vector<std::string>{"volume files: 1204 -> 1 (-99.9 %)"}));
}

TEST(PreBackup, ADropWithinShrinkAlertPercentIsNoAlert) {
  BackupRig rig({{"on-shrink", "fail"}, {"shrink-alert-percent", "60"}});
  previous_success(rig, snapshot::RunSizes{0, 0, 2, 0}); // 2 -> 1 files: -50 %
  auto context = rig.context();
  auto staged = run_pre_backup(context);
  ASSERT_TRUE(staged) << staged.error().message;
}

} // namespace
} // namespace cwb::backup
