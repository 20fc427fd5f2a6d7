#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"
#include "installation/select.hpp"
#include "restore/restore.hpp"
#include "restore/restore_journal.hpp"

#include "backup/volume_staging.hpp"
#include "config/command_line.hpp"
#include "fake_parties.hpp"
#include "restore/snapshot_check.hpp"
#include "staging/tree.hpp"
#include "support/fake_container_runtime.hpp"
#include "support/tree_files.hpp"
#include "util/byte_text.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

constexpr const char* volume_name = "connectware_service-manager";

// A real .tgz (the safety export is checked as one) holding one file with `text`.
std::string make_tgz(const fs::path& dir, const std::string& text) {
  const auto folder = dir / ("tgz-" + text);
  EXPECT_TRUE(util::ensure_directories(folder));
  EXPECT_TRUE(util::write_file_atomic(folder / "dump.sql", text));
  util::ProcessOptions options;
  options.argv = {"tar", "-czf", (folder.string() + ".tgz"), "-C", folder.string(), "dump.sql"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto run = util::run_process(options);
  EXPECT_TRUE(run && run->status.success());
  auto bytes = util::read_file(folder.string() + ".tgz");
  return bytes ? *bytes : std::string();
}

using test::tree;
using test::write;

class RestoreTest : public testing::Test {
protected:
  void SetUp() override {
    auto created = util::TemporaryDirectory::create({}, "cwb-restore-test-");
    ASSERT_TRUE(created) << created.error().message;
    dir_ = std::move(*created);
    live_database_ = make_tgz(dir_.path(), "live-database");
    snapshot_database_ = make_tgz(dir_.path(), "snapshot-database");
    connectware_ = std::make_unique<test::StatefulConnectware>(live_database_);

    // The volume as it was backed up (state A) ...
    const auto original = dir_.path() / "original-volume";
    write(original / "services" / "a.yml", "a: 1\n");
    write(original / "services" / "secret.yml", "token: x\n", 0600);
    ASSERT_EQ(symlink("services/a.yml", (original / "current.yml").c_str()), 0);
    ASSERT_TRUE(util::ensure_directories(original / "empty"));
    // ... and the snapshot's staging folder made from it the way the backup makes it.
    layout_ = snapshot::Layout{dir_.path() / "staging"};
    auto staged = backup::stage_volumes({installation::Volume{"service-manager", volume_name, original, {}}}, layout_);
    ASSERT_TRUE(staged) << staged.error().message;
    manifest_.connectware_version = "1.10.2";
    manifest_.host = "testhost";
    manifest_.volumes = staged->records;
    // The entries as the backup writes them (spooled beside the index), read back into memory so that the
    // tests can change them and save the manifest again.
    ASSERT_TRUE(snapshot::write_manifest_file(manifest_, layout_.manifest()));
    auto written = snapshot::read_manifest_file(layout_.manifest());
    ASSERT_TRUE(written) << written.error().message;
    manifest_.volumes = written->volumes;
    ASSERT_TRUE(util::remove_tree(layout_.mirror_index("x").parent_path()));
    write(layout_.database_archive(), snapshot_database_, 0600);
    snapshot::DatabaseRecord database;
    database.file = "db/connectware-db.tgz";
    database.backup_id = "1.10.2_x";
    database.bytes = snapshot_database_.size();
    database.sha256 = util::sha256_hex(snapshot_database_);
    manifest_.database = database;
    save_manifest();
    expected_volume_ = tree(layout_.volume("service-manager"));

    // The live volume has changed since.
    live_ = dir_.path() / "live-volume";
    write(live_ / "services" / "b.yml", "b: 2\n");
    write(live_ / "notes.txt", "changed\n");
    live_before_ = tree(live_);

    runtime_.volumes[volume_name] = live_;
    runtime_.add("front", {{"io.cybus.connectware", "core"}, {"com.docker.compose.project", "connectware"}});
    runtime_.add("sm", {{"io.cybus.connectware", "core"}, {"com.docker.compose.project", "connectware"}},
                 {volume_name});
    runtime_.add("unrelated", {{"com.docker.compose.project", "other"}}, {"other_volume"});
    runner_.staging_root = layout_.root;
  }

  void save_manifest() { ASSERT_TRUE(util::write_file_atomic(layout_.manifest(), snapshot::to_json_text(manifest_))); }

  Result<RestoreOutcome> restore(RestoreRequest request, std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> args = {"hook",
                                     "--state-dir",
                                     (dir_.path() / "state").string(),
                                     "--connectware-url",
                                     connectware_->base_url(),
                                     "--repository",
                                     "s3:https://127.0.0.1:1/bucket",
                                     "--host",
                                     host_,
                                     "--health-timeout",
                                     "10"};
    args.insert(args.end(), extra_flags.begin(), extra_flags.end());
    CLI::App app;
    config::CommandLine command_line;
    config::add_options(app, command_line);
    std::vector<const char*> argv;
    for (const auto& arg : args)
      argv.push_back(arg.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    const util::Environment environment{{"CONNECTWARE_PASSWORD", "admin"}, {"RESTIC_PASSWORD", "pw"}};
    auto config = config::Config::resolve(command_line, environment);
    if (!config) return fail(config.error());
    config_ = std::make_unique<config::Config>(std::move(*config));

    connectware::ClientOptions options;
    options.base_url = connectware_->base_url();
    options.credentials = connectware::PasswordCredentials{"admin", connectware::Secret("admin")};
    options.retry.max_attempts = 1;
    transport_ = connectware::make_transport(options);
    client_ = std::make_unique<connectware::ConnectwareClient>(options, *transport_, sleeper_, clock_);
    restic::ResticOptions restic_options;
    restic_options.repository = config_->repository();
    restic_options.password = "pw";
    restic_ = std::make_unique<restic::Restic>(restic_options, runner_, environment);
    environment_ = environment;
    auto selected = installation::select_installation(*config_, &runtime_, runner_, environment_);
    if (!selected) return fail(selected.error());
    installation_ = std::move(selected->installation);
    RestoreContext context{*config_, *client_, *installation_, *restic_, out_, {}};
    return run_restore(context, request);
  }

  [[nodiscard]] fs::path rollback_dir() const { return dir_.path() / "state" / "rollback"; }
  [[nodiscard]] bool stopped(const std::string& id) const {
    return std::ranges::find(runtime_.calls, "stop " + id + " t=30") != runtime_.calls.end();
  }

  void expect_live_state_unchanged() {
    EXPECT_EQ(tree(live_), live_before_);
    EXPECT_EQ(connectware_->database(), live_database_);
  }

  std::string host_ = "testhost"; // the configured host (--host)
  util::TemporaryDirectory dir_;
  std::string live_database_;
  std::string snapshot_database_;
  std::unique_ptr<test::StatefulConnectware> connectware_;
  snapshot::Layout layout_;
  snapshot::Manifest manifest_;
  std::vector<staging::TreeEntry> expected_volume_;
  fs::path live_;
  std::vector<staging::TreeEntry> live_before_;
  test::FakeContainerRuntime runtime_;
  test::FakeProcessRunner runner_;
  util::Environment environment_;
  std::unique_ptr<installation::Installation> installation_;
  test::FakeClock clock_;
  test::FakeSleeper sleeper_{&clock_};
  std::ostringstream out_;
  std::unique_ptr<config::Config> config_;
  std::unique_ptr<http::Transport> transport_;
  std::unique_ptr<connectware::ConnectwareClient> client_;
  std::unique_ptr<restic::Restic> restic_;
};

// --- the whole restore -----------------------------------------------------------------------------------

TEST_F(RestoreTest, RestoresDatabaseAndVolumeRestartsConnectwareAndKeepsTheSafetyCopy) {
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;

  EXPECT_EQ(connectware_->database(), snapshot_database_);
  EXPECT_EQ(tree(live_), expected_volume_);
  EXPECT_TRUE(stopped("sm"));
  EXPECT_FALSE(stopped("front"));
  EXPECT_FALSE(stopped("unrelated"));
  EXPECT_EQ(runtime_.state_of("sm"), "running");
  EXPECT_THAT(runtime_.calls, testing::Contains("restart front t=30"));
  EXPECT_THAT(runtime_.calls, testing::Not(testing::Contains(HasSubstr("restart unrelated"))));
  // The safety copy holds the state before the restore.
  EXPECT_EQ(tree(rollback_dir() / "volumes" / "service-manager"), live_before_);
  EXPECT_EQ(*util::read_file(rollback_dir() / "db" / "connectware-db.tgz"), live_database_);
  EXPECT_THAT(out_.str(), HasSubstr(rollback_dir().string()));
  EXPECT_THAT(out_.str(), HasSubstr("Admin-UI browser sessions"));
  // No restic --verify: step 2 checks every fetched file against the manifest's SHA-256 anyway. The
  // fetched copy is gone.
  EXPECT_THAT(runner_.calls, testing::Not(testing::Contains(HasSubstr("--verify"))));
  EXPECT_FALSE(fs::exists(dir_.path() / "state" / "restore"));
  // One file system here: the volume was swapped by rename, and the journal says it finished.
  EXPECT_THAT(*util::read_file(rollback_dir() / "volumes" / "service-manager.swap"), HasSubstr("done"));
}

TEST_F(RestoreTest, AContainerItsOperatorStoppedIsNeitherStoppedNorStartedNorRestarted) {
  runtime_.add("mapper", {{"io.cybus.connectware", "core"}, {"com.docker.compose.project", "connectware"}},
               {volume_name}, "exited");
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(tree(live_), expected_volume_);
  EXPECT_TRUE(stopped("sm"));
  EXPECT_EQ(runtime_.state_of("mapper"), "exited");
  EXPECT_THAT(runtime_.calls, testing::Not(testing::Contains(HasSubstr("mapper"))));
  EXPECT_THAT(done->plan, HasSubstr("mapper (not running: left so)"));
}

// database-storage = unpacked: the snapshot holds the export gunzipped, and the restore gzips it again.
class UnpackedDatabaseRestoreTest : public RestoreTest {
protected:
  void SetUp() override {
    RestoreTest::SetUp();
    const auto exported = dir_.path() / "exported.tgz";
    write(exported, snapshot_database_);
    archive::ValidateOptions options;
    options.unpack_to = layout_.database_tar();
    auto info = archive::validate_tar_gz(exported, options);
    ASSERT_TRUE(info) << info.error().message;
    exported_entries_ = info->entries_sha256;
    ASSERT_TRUE(util::remove_tree(layout_.database_archive()));
    auto tar_hash = util::sha256_file(layout_.database_tar());
    ASSERT_TRUE(tar_hash);
    snapshot::DatabaseRecord record;
    record.file = "db/connectware-db.tar";
    record.backup_id = "1.10.2_x";
    record.bytes = fs::file_size(layout_.database_tar());
    record.sha256 = *tar_hash;
    record.format = snapshot::database_format_tar;
    record.entries_sha256 = info->entries_sha256;
    record.archive_bytes = snapshot_database_.size();
    record.archive_sha256 = info->sha256;
    manifest_.database = record;
    manifest_.format = snapshot::manifest_format_version;
    save_manifest();
  }

  std::string exported_entries_;
};

TEST_F(UnpackedDatabaseRestoreTest, UploadsAnArchiveWithExactlyTheEntriesConnectwareExported) {
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  const auto uploaded = dir_.path() / "uploaded.tgz";
  write(uploaded, connectware_->database());
  auto info = archive::validate_tar_gz(uploaded);
  ASSERT_TRUE(info) << info.error().message; // a gzip-compressed tar, as Connectware expects
  EXPECT_EQ(info->entries_sha256, exported_entries_);
  EXPECT_EQ(tree(live_), expected_volume_);
}

// The export as a zlib-based writer makes it, with the recipe the backup proved for it: the upload is the
// exported archive itself, byte for byte.
TEST_F(UnpackedDatabaseRestoreTest, WithTheRecipeTheBackupProvedTheUploadIsTheExportByteForByte) {
  const auto exported = dir_.path() / "exported-by-zlib.tgz";
  ASSERT_TRUE(archive::gzip_file(layout_.database_tar(), exported, 6));
  auto recipe = archive::find_gzip_recipe(exported, layout_.database_tar());
  ASSERT_TRUE(recipe && recipe->has_value());
  const auto exported_bytes = util::read_file(exported).value();
  manifest_.database->archive_sha256 = util::sha256_hex(exported_bytes);
  manifest_.database->archive_bytes = exported_bytes.size();
  manifest_.database->gzip_header = (*recipe)->header;
  manifest_.database->gzip_level = (*recipe)->level;
  manifest_.database->gzip_mem_level = (*recipe)->mem_level;
  save_manifest();
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(connectware_->database(), exported_bytes);
}

// Another zlib on the restoring machine may deflate otherwise: the upload then is an archive with the
// exported entries, as without a recipe.
TEST_F(UnpackedDatabaseRestoreTest, ARecipeThatDoesNotReproduceTheExportHereFallsBackToTheEntriesCheck) {
  manifest_.database->gzip_header = std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  manifest_.database->gzip_level = 9;
  manifest_.database->gzip_mem_level = 9;
  save_manifest();
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  const auto uploaded = dir_.path() / "uploaded.tgz";
  write(uploaded, connectware_->database());
  auto info = archive::validate_tar_gz(uploaded);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->entries_sha256, exported_entries_);
  EXPECT_NE(info->sha256, manifest_.database->archive_sha256);
}

TEST_F(UnpackedDatabaseRestoreTest, ATarThatDoesNotRebuildTheExportedEntriesIsRefusedBeforeAnythingChanges) {
  manifest_.database->entries_sha256 = std::string(64, '0');
  save_manifest();
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(done.error().message, HasSubstr("does not hold the entries"));
  EXPECT_EQ(connectware_->restore_posts, 0);
  EXPECT_EQ(connectware_->database(), live_database_);
  EXPECT_EQ(tree(live_), live_before_);
}

TEST_F(RestoreTest, PrintsTheWallTimeOfEveryStepOnOneLine) {
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_THAT(out_.str(), testing::ContainsRegex("\ntimings: fetch [0-9]+\\.[0-9]{2} s, check [0-9]+\\.[0-9]{2} s, "
                                                 "safety_copy [0-9]+\\.[0-9]{2} s, database [0-9]+\\.[0-9]{2} s, "
                                                 "volumes [0-9]+\\.[0-9]{2} s, restart [0-9]+\\.[0-9]{2} s, "
                                                 "total [0-9]+\\.[0-9]{2} s\n"));
}

TEST_F(RestoreTest, SafetyExportRunsOnTheServerWhileTheSnapshotIsFetched) {
  int exports_started_before_fetch = -1;
  runner_.before_restore = [&] { exports_started_before_fetch = connectware_->backup_posts; };
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(exports_started_before_fetch, 1);
  EXPECT_EQ(connectware_->backup_posts, 1);
  EXPECT_EQ(*util::read_file(rollback_dir() / "db" / "connectware-db.tgz"), live_database_);
}

TEST_F(RestoreTest, StatusPollsStartAtAQuarterSecond) {
  auto done = restore({}, {"--poll-interval", "2s"});
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_FALSE(sleeper_.sleeps.empty());
  EXPECT_THAT(sleeper_.sleeps, testing::Each(std::chrono::milliseconds(250)));
}

TEST_F(RestoreTest, VolumeOnAnotherFileSystemIsCopiedInsteadOfMoved) {
  auto other = util::TemporaryDirectory::create("/dev/shm", "cwb-restore-test-");
  if (!other) GTEST_SKIP() << "no /dev/shm: " << other.error().message;
  live_ = other->path() / "live-volume";
  write(live_ / "services" / "b.yml", "b: 2\n");
  write(live_ / "notes.txt", "changed\n");
  live_before_ = tree(live_);
  runtime_.volumes[volume_name] = live_;

  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(tree(live_), expected_volume_);
  EXPECT_EQ(tree(rollback_dir() / "volumes" / "service-manager"), live_before_);
  EXPECT_FALSE(fs::exists(rollback_dir() / "volumes" / "service-manager.swap"));
  EXPECT_THAT(done->plan, HasSubstr("(by copy)"));
}

TEST_F(RestoreTest, RestartCommandRunsAsArgvInsteadOfRestartingContainers) {
  auto done = restore({}, {"--restart-command", "systemctl restart connectware"});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_THAT(runner_.calls, testing::Contains("systemctl restart connectware"));
  EXPECT_THAT(runtime_.calls, testing::Not(testing::Contains(HasSubstr("restart "))));
  EXPECT_THAT(runtime_.calls, testing::Contains("start sm"));
}

TEST_F(RestoreTest, DryRunChecksAndPrintsThePlanButChangesNothing) {
  RestoreRequest request;
  request.mode = Mode::dry_run;
  auto done = restore(request);
  ASSERT_TRUE(done) << done.error().message;
  expect_live_state_unchanged();
  EXPECT_EQ(connectware_->backup_posts, 0);
  EXPECT_FALSE(stopped("sm"));
  EXPECT_FALSE(fs::exists(rollback_dir()));
  EXPECT_THAT(out_.str(), HasSubstr("dry run"));
  EXPECT_THAT(out_.str(), HasSubstr("5. volume connectware_service-manager"));
  EXPECT_THAT(out_.str(), HasSubstr("6. restart Connectware"));
}

TEST_F(RestoreTest, DatabaseOnlyFetchesOnlyTheDatabaseAndLeavesTheVolume) {
  RestoreRequest request;
  request.parts = Parts::database_only;
  auto done = restore(request);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(connectware_->database(), snapshot_database_);
  EXPECT_EQ(tree(live_), live_before_);
  EXPECT_FALSE(stopped("sm"));
  EXPECT_THAT(runner_.calls, testing::Contains(HasSubstr("--include " + layout_.database_dir().string())));
}

TEST_F(RestoreTest, VolumeOnlyLeavesTheDatabase) {
  RestoreRequest request;
  request.parts = Parts::volumes_only;
  auto done = restore(request);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(tree(live_), expected_volume_);
  EXPECT_EQ(connectware_->database(), live_database_);
  EXPECT_EQ(connectware_->backup_posts, 0);
  EXPECT_EQ(connectware_->restore_posts, 0);
}

// --- which snapshot: this host's, or on a new machine another's -------------------------------------------

TEST_F(RestoreTest, OnAHostWithoutSnapshotsTheDefaultPickNamesTheHostsThatHaveSomeAndChangesNothing) {
  runner_.snapshot_host = "old-machine";
  runner_.other_snapshots = {{std::string(64, 'c'), "other-machine"}, {std::string(64, 'd'), "old-machine"}};
  auto outcome = restore({});
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().kind, ErrorKind::no_snapshot);
  EXPECT_THAT(outcome.error().message, HasSubstr("no snapshot of host testhost"));
  EXPECT_THAT(outcome.error().message, HasSubstr("old-machine (2, latest aaaaaaaa of 2026-11-25T15:29:09.54Z)"));
  EXPECT_THAT(outcome.error().message, HasSubstr("other-machine (1, latest cccccccc"));
  EXPECT_THAT(outcome.error().message, HasSubstr("--host old-machine"));
  EXPECT_THAT(outcome.error().message, HasSubstr("--snapshot ID"));
  EXPECT_EQ(outcome.error().message.find('\n'), std::string::npos) << "one line";
  EXPECT_THAT(runner_.calls, testing::Not(testing::Contains(HasSubstr("restic restore"))));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, AnEmptyRepositoryIsNoSnapshotOfAnyHost) {
  runner_.empty_repository = true;
  auto outcome = restore({});
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().kind, ErrorKind::no_snapshot);
  EXPECT_THAT(outcome.error().message, HasSubstr("no snapshot of host testhost"));
  EXPECT_THAT(outcome.error().message, HasSubstr("nor of any other host"));
  EXPECT_THAT(snapshot_listing({}, "testhost"), HasSubstr("no snapshots"));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, HostPicksTheLatestSnapshotOfThatHostAmongAllHosts) {
  runner_.snapshot_host = "old-machine";
  runner_.other_snapshots = {{std::string(64, 'c'), "testhost"}, {std::string(64, 'd'), "old-machine"}};
  auto own = restore({});
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->snapshot_id, std::string(64, 'c'));

  host_ = "old-machine";
  auto other = restore({});
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->snapshot_id, std::string(64, 'a'));
  EXPECT_EQ(tree(live_), expected_volume_);
}

TEST(SnapshotListing, ShowsEveryHostAndMarksThisHostsSnapshots) {
  const auto snapshot = [](const std::string& id, const std::string& host) {
    restic::Snapshot made;
    made.id = std::string(64, id[0]);
    made.short_id = id;
    made.time = "2026-12-01T10:00:00Z";
    made.hostname = host;
    made.tags = {"connectware", "nightly"};
    return made;
  };
  const std::vector<restic::Snapshot> snapshots{snapshot("aaaaaaaa", "old-machine"), snapshot("bbbbbbbb", "here")};
  const auto listing = snapshot_listing(snapshots, "here");
  EXPECT_THAT(listing, HasSubstr("\n  aaaaaaaa  2026-12-01T10:00:00Z  old-machine  connectware,nightly\n"));
  EXPECT_THAT(listing, HasSubstr("\n* bbbbbbbb  2026-12-01T10:00:00Z  here         connectware,nightly\n"));
  EXPECT_THAT(listing, HasSubstr("* = host here"));

  const auto elsewhere = snapshot_listing(snapshots, "new-machine");
  EXPECT_THAT(elsewhere, Not(HasSubstr("\n* ")));
  EXPECT_THAT(elsewhere, HasSubstr("none of host new-machine: restore another host's latest with --host NAME"));
}

TEST_F(RestoreTest, DeclinedConfirmationChangesNothing) {
  RestoreRequest request;
  std::string shown;
  request.confirm = [&shown](const std::string& plan) -> Result<> {
    shown = plan;
    return fail(ErrorKind::usage, "not confirmed");
  };
  auto done = restore(request);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::usage);
  EXPECT_THAT(shown, HasSubstr("4. upload the database archive"));
  expect_live_state_unchanged();
  EXPECT_EQ(connectware_->backup_posts, 0);
}

// --- step 2: checks before anything changes --------------------------------------------------------------

TEST_F(RestoreTest, FileNotMatchingTheManifestIsRefusedBeforeAnythingChanges) {
  write(layout_.volume("service-manager") / "services" / "a.yml", "a: 2\n");
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(done.error().message, HasSubstr("services/a.yml"));
  expect_live_state_unchanged();
  // The safety export started before the fetch changed nothing; no restore was started.
  EXPECT_EQ(connectware_->restore_posts, 0);
  EXPECT_FALSE(fs::exists(rollback_dir()));
}

TEST_F(RestoreTest, TamperedDatabaseArchiveIsRefused) {
  write(layout_.database_archive(), snapshot_database_ + "x", 0600);
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(done.error().message, HasSubstr("database archive"));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, FileMissingFromTheManifestIsRefused) {
  write(layout_.volume("service-manager") / "smuggled.yml", "x\n");
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(done.error().message, HasSubstr("smuggled.yml is in the snapshot but not in the manifest"));
}

TEST_F(RestoreTest, LinkPointingOutsideTheVolumeIsRestoredAsALinkAndNeverFollowed) {
  // A link's target is content (containers resolve it in their own file system): restored verbatim,
  // and nothing is ever written through it.
  const auto outside = dir_.path() / "outside.txt";
  write(outside, "not the volume's\n");
  const auto link = layout_.volume("service-manager") / "services" / "outside";
  ASSERT_EQ(symlink(outside.c_str(), link.c_str()), 0);
  snapshot::VolumeEntry entry;
  entry.path = "services/outside";
  entry.type = snapshot::EntryType::symlink;
  entry.mode = 0777;
  entry.link_target = outside.string();
  auto linked = staging::stat_entry(link);
  ASSERT_TRUE(linked);
  entry.mtime_ns = linked->mtime_ns;
  manifest_.volumes.front().entries.push_back(entry);
  save_manifest();
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(fs::read_symlink(live_ / "services" / "outside"), outside);
  EXPECT_EQ(*util::read_file(outside), "not the volume's\n");
}

TEST_F(RestoreTest, LinkTargetThatOldResticStoredWithReplacementCharactersGetsItsBytesBack) {
  // restic before 0.16 keeps a target that is not UTF-8 with U+FFFD for each such byte (restic #3311); the
  // manifest holds the bytes. Any other difference in a target is still refused.
  const std::string target = "bad\xff\n target";
  const auto fetched = layout_.volume("service-manager") / "services" / "odd";
  ASSERT_EQ(symlink(util::with_invalid_utf8_replaced(target).c_str(), fetched.c_str()), 0);
  snapshot::VolumeEntry entry;
  entry.path = "services/odd";
  entry.type = snapshot::EntryType::symlink;
  entry.mode = 0777;
  entry.link_target = target;
  auto linked = staging::stat_entry(fetched);
  ASSERT_TRUE(linked);
  entry.mtime_ns = linked->mtime_ns;
  manifest_.volumes.front().entries.push_back(entry);
  save_manifest();
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(fs::read_symlink(live_ / "services" / "odd").string(), target);
  auto restored = staging::stat_entry(live_ / "services" / "odd");
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->mtime_ns, entry.mtime_ns);
}

TEST_F(RestoreTest, LinkTargetThatDiffersOtherwiseIsRefusedOnOneLine) {
  const auto fetched = layout_.volume("service-manager") / "services" / "odd";
  ASSERT_EQ(symlink("bad?\n target", fetched.c_str()), 0);
  snapshot::VolumeEntry entry;
  entry.path = "services/odd";
  entry.type = snapshot::EntryType::symlink;
  entry.mode = 0777;
  entry.link_target = "bad\xff\n target";
  manifest_.volumes.front().entries.push_back(entry);
  save_manifest();
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(done.error().message,
              HasSubstr("services/odd links to \"bad?\\n target\", the manifest says \"bad\\xff\\n target\""));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, MetadataRestoredOtherwiseIsSetToTheManifests) {
  // What restic could not give back (here: the mode) is metadata, not content: set, not refused.
  ASSERT_EQ(chmod((layout_.volume("service-manager") / "services" / "secret.yml").c_str(), 0644), 0);
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(tree(live_), expected_volume_);
}

TEST_F(RestoreTest, BackupFromANewerConnectwareIsRefused) {
  manifest_.connectware_version = "1.11.0";
  save_manifest();
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::incompatible_version);
  EXPECT_THAT(done.error().message, HasSubstr("1.11.0"));
  expect_live_state_unchanged();
}

// --- step 4: Connectware refuses the archive -------------------------------------------------------------

TEST_F(RestoreTest, ArchiveRefusedForItsVersionStopsBeforeTheVolumeWithTheDowngradePath) {
  connectware_->refuse_with = "1.4.9";
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::incompatible_version);
  EXPECT_THAT(done.error().message, HasSubstr("1.4.9"));
  EXPECT_THAT(out_.str(), HasSubstr("remove the volumes postgresql and service-manager"));
  EXPECT_THAT(out_.str(), HasSubstr("Connectware 1.4.9"));
  EXPECT_THAT(done.error().message, HasSubstr("put back from the safety export"));
  expect_live_state_unchanged();
  EXPECT_FALSE(stopped("sm")); // the volumes were never touched
}

TEST_F(RestoreTest, AFailureNamingAVersionInOtherWordsIsRolledBackAndShowsTheDowngradePath) {
  connectware_->fail_with = "Import aborted: archive schema requires Connectware 1.3.2";
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(out_.str(), HasSubstr("Import aborted: archive schema requires Connectware 1.3.2"));
  EXPECT_THAT(out_.str(), HasSubstr("downgrade Connectware to 1.3.2"));
  expect_live_state_unchanged();
}

// --- step 7: failures after the safety copy are rolled back ----------------------------------------------

TEST_F(RestoreTest, ServerSideRestoreFailureIsRolledBack) {
  connectware_->failing_restores = 1;
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("step 4 (database)"));
  expect_live_state_unchanged();
  EXPECT_EQ(connectware_->restore_posts, 2); // the snapshot's archive, then the safety export
}

TEST_F(RestoreTest, ContainerThatWillNotStopIsRolledBack) {
  runtime_.fail_always("stop", "sm", Error{ErrorKind::container_runtime, "container sm did not stop"});
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("did not stop"));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, ContainerThatCannotBeRestartedIsRolledBack) {
  runtime_.fail_next("restart", "front", Error{ErrorKind::container_runtime, "cannot restart front"});
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("step 6 (restart)"));
  expect_live_state_unchanged();
  EXPECT_EQ(runtime_.state_of("sm"), "running");
}

TEST_F(RestoreTest, HealthNeverReachedIsRolledBack) {
  // health-timeout 10 s with polls after 0.25, 0.5, 1, 2, 2, 2, 2 and the last 0.25 s: 9 answers "exited"
  // exhaust the restore's wait; the rollback's wait then sees Connectware healthy.
  connectware_->unhealthy_answers = 9;
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("not healthy"));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, AServiceStoppedBeforeTheRestoreIsNoReasonToRollBack) {
  // Healthy means what ran before: the workbench was stopped, and stays so.
  connectware_->stopped_service = "workbench";
  auto done = restore({});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(tree(live_), expected_volume_);
}

TEST_F(RestoreTest, HealthAwaitsTheServicesThatRanBefore) {
  connectware_->stopped_service = "workbench";
  connectware_->unhealthy_answers = 9; // the service-manager, which ran before, does not come back
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("not running: service-manager=exited"));
  EXPECT_THAT(done.error().message, Not(HasSubstr("workbench")));
  expect_live_state_unchanged();
}

TEST_F(RestoreTest, SwapByRenameFailingHalfWayIsRolledBack) {
  // The snapshot's folder "services" (the last of its top-level entries) cannot be moved: the swap stops
  // after moving the others in, with every old entry aside.
  fs::path stuck;
  int flags_fd = -1;
  const auto set_immutable = [&](bool on) {
    if (flags_fd < 0) return false;
    int flags = 0;
    if (ioctl(flags_fd, FS_IOC_GETFLAGS, &flags) != 0) return false;
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    return ioctl(flags_fd, FS_IOC_SETFLAGS, &flags) == 0;
  };
  bool immutable = false;
  runner_.after_restore = [&](const fs::path& fetched) {
    stuck = snapshot::Layout{fetched}.volume("service-manager") / "services";
    flags_fd = open(stuck.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    immutable = set_immutable(true);
  };
  auto done = restore({});
  const bool was_immutable = immutable;
  if (flags_fd >= 0) {
    set_immutable(false);
    close(flags_fd);
  }
  if (!was_immutable) GTEST_SKIP() << "cannot make a folder immutable here (needs CAP_LINUX_IMMUTABLE)";
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::restore_rolled_back);
  EXPECT_THAT(done.error().message, HasSubstr("step 5 (volume)"));
  EXPECT_THAT(done.error().message, HasSubstr("by rename"));
  expect_live_state_unchanged();
  EXPECT_EQ(runtime_.state_of("sm"), "running");
  EXPECT_TRUE(tree(rollback_dir() / "volumes" / "service-manager").empty());
  EXPECT_THAT(*util::read_file(rollback_dir() / "volumes" / "service-manager.swap"), HasSubstr("undone"));
}

TEST_F(RestoreTest, FailedRollbackSaysWhatStateThingsAreInAndWhereTheSafetyCopiesAre) {
  connectware_->failing_restores = 2;
  auto done = restore({});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().kind, ErrorKind::rollback_failed);
  EXPECT_THAT(done.error().message, HasSubstr("database possibly changed"));
  EXPECT_THAT(done.error().message, HasSubstr((rollback_dir() / "db" / "connectware-db.tgz").string()));
  EXPECT_TRUE(fs::exists(rollback_dir() / "db" / "connectware-db.tgz"));
}

// --- the journal: a restore that did not end is dealt with first ------------------------------------------

TEST_F(RestoreTest, AJournalLeftByARestoreThatChangedThingsIsRefusedUntilRolledBack) {
  // A rollback that fails keeps the journal, as a killed restore does.
  connectware_->failing_restores = 2;
  ASSERT_EQ(restore({}).error().kind, ErrorKind::rollback_failed);
  const auto journal_file = dir_.path() / "state" / "restore-journal.json";
  auto journal = read_journal(journal_file);
  ASSERT_TRUE(journal && *journal);
  EXPECT_EQ((*journal)->phase, JournalPhase::rolling_back);
  EXPECT_TRUE((*journal)->database_changed);

  auto refused = restore({});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::unfinished_restore);
  EXPECT_THAT(refused.error().message, HasSubstr("was killed during step 7 (rolling back)"));
  EXPECT_THAT(refused.error().message, HasSubstr("the database may have changed"));
  EXPECT_THAT(refused.error().message, HasSubstr("--roll-back"));
  EXPECT_TRUE(fs::exists(rollback_dir() / "db" / "connectware-db.tgz"));

  RestoreRequest roll_back;
  roll_back.continuation = Continuation::roll_back;
  auto rolled_back = restore(roll_back);
  ASSERT_TRUE(rolled_back) << rolled_back.error().message;
  expect_live_state_unchanged();
  EXPECT_FALSE(fs::exists(journal_file));
  EXPECT_TRUE(fs::exists(rollback_dir() / "db" / "connectware-db.tgz"));

  RestoreRequest again;
  again.continuation = Continuation::roll_back;
  auto nothing = restore(again);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().kind, ErrorKind::usage);
}

TEST_F(RestoreTest, ResumeFinishesTheRestoreOfTheJournalsSnapshotKeepingItsSafetyCopy) {
  connectware_->failing_restores = 2;
  ASSERT_EQ(restore({}).error().kind, ErrorKind::rollback_failed);
  const auto kept = util::read_file(rollback_dir() / "db" / "connectware-db.tgz");
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, live_database_);

  RestoreRequest resume;
  resume.continuation = Continuation::resume;
  auto resumed = restore(resume);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(resumed->snapshot_id, runner_.snapshot_id);
  EXPECT_EQ(connectware_->database(), snapshot_database_);
  EXPECT_EQ(tree(live_), expected_volume_);
  // The safety copy is still the state before the first restore, not one made of the half-restored state.
  EXPECT_EQ(util::read_file(rollback_dir() / "db" / "connectware-db.tgz").value_or(""), live_database_);
  EXPECT_FALSE(fs::exists(dir_.path() / "state" / "restore-journal.json"));
}

TEST(RestoreJournal, RoundTripsAndAForeignFileIsAnError) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-journal-test-");
  ASSERT_TRUE(dir);
  const auto path = dir->path() / "restore-journal.json";
  auto none = read_journal(path);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  RestoreJournal journal;
  journal.snapshot_id = std::string(64, 'a');
  journal.snapshot_short_id = "aaaaaaaa";
  journal.parts = Parts::volumes_only;
  journal.started = "2026-12-06T04:00:00Z";
  journal.phase = JournalPhase::volumes;
  journal.volumes_changed = true;
  journal.rollback_dir = "/var/lib/connectware-backup/rollback";
  journal.volumes = {
      {"service-manager", "connectware_service-manager", "/var/lib/docker/volumes/x/_data", VolumeMethod::rename}};
  journal.stopped = {{"c0ffee", "connectware-service-manager-1"}};
  journal.running_before = std::vector<std::string>{"admin-web-app", "service-manager"};
  ASSERT_TRUE(write_journal(path, journal));
  auto read = read_journal(path);
  ASSERT_TRUE(read && *read) << (read ? "" : read.error().message);
  const auto& back = **read;
  EXPECT_EQ(back.snapshot_id, journal.snapshot_id);
  EXPECT_EQ(back.parts, Parts::volumes_only);
  EXPECT_EQ(back.phase, JournalPhase::volumes);
  EXPECT_TRUE(back.volumes_changed);
  EXPECT_FALSE(back.database_changed);
  ASSERT_EQ(back.volumes.size(), 1U);
  EXPECT_EQ(back.volumes[0].method, VolumeMethod::rename);
  EXPECT_EQ(back.volumes[0].path, journal.volumes[0].path);
  ASSERT_EQ(back.stopped.size(), 1U);
  EXPECT_EQ(back.stopped[0].name, "connectware-service-manager-1");
  EXPECT_EQ(back.running_before, journal.running_before);
  EXPECT_FALSE(back.full_scope);
  EXPECT_THAT(describe_interrupted(back), HasSubstr("killed during step 5 (volumes): the database did not change, "
                                                    "the volumes may be partly replaced, stopped: "
                                                    "connectware-service-manager-1"));
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);

  // A killed full restore is continued as one, whatever the configuration says then.
  journal.full_scope = true;
  ASSERT_TRUE(write_journal(path, journal));
  auto full = read_journal(path);
  ASSERT_TRUE(full && *full);
  EXPECT_TRUE((*full)->full_scope);

  ASSERT_TRUE(util::write_file_atomic(path, R"({"phase": "volumes"})"));
  auto foreign = read_journal(path);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().kind, ErrorKind::staging_io);
  EXPECT_THAT(foreign.error().message, HasSubstr("before removing it"));
}

// --- helpers ---------------------------------------------------------------------------------------------

TEST(CheckVersion, RefusesOnlyBackupsFromNewerVersions) {
  EXPECT_TRUE(check_version("1.4.0", "1.10.2"));
  EXPECT_TRUE(check_version("1.10.2", "1.10.2"));
  EXPECT_TRUE(check_version("unknown", "1.10.2"));
  auto newer = check_version("1.10.3", "1.10.2");
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().kind, ErrorKind::incompatible_version);
}

TEST(DowngradeGuidance, NamesTheLastVersionAndConnectwaresSteps) {
  const auto text = downgrade_guidance("Restore refused: needs Connectware version 1.4.9 or older");
  EXPECT_THAT(text, HasSubstr("downgrade Connectware to 1.4.9"));
  EXPECT_THAT(text, HasSubstr("remove the volumes postgresql and service-manager"));
  EXPECT_THAT(text, HasSubstr("upgrade Connectware again"));
}

} // namespace
} // namespace cwb::restore
