// What one `connectware-backup` run puts into the repository and leaves on this machine, checked through
// the real components: the snapshot restored with `restic restore --verify` against the live volume.

#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"
#include "integration/support/backup_fixture.hpp"

#include "snapshot/manifest.hpp"
#include "util/sha256.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

namespace cwb::integration {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

class BackupSnapshotTest : public BackupTest {
protected:
  /// Adds what a plain seeded volume lacks: nested folders, unusual modes, nanosecond mtimes, an empty
  /// file, a relative and a dangling symlink.
  void enrich_volume() {
    const fs::path volume = volume_mountpoint();
    ASSERT_TRUE(util::ensure_directories(volume / "resources" / "nested" / "deeper"));
    ASSERT_TRUE(util::write_file_atomic(volume / "resources" / "nested" / "deeper" / "settings.json",
                                        R"({"answer": 42})", 0640));
    ASSERT_TRUE(util::write_file_atomic(volume / "resources" / "nested" / "run.sh", "#!/bin/sh\necho hi\n", 0750));
    ASSERT_TRUE(util::write_file_atomic(volume / "resources" / "empty", "", 0600));
    std::error_code error;
    fs::remove(volume / "resources" / "settings-link", error);
    fs::remove(volume / "resources" / "dangling", error);
    fs::create_symlink("nested/deeper/settings.json", volume / "resources" / "settings-link", error);
    ASSERT_FALSE(error) << error.message();
    fs::create_symlink("/nowhere/at/all", volume / "resources" / "dangling", error);
    ASSERT_FALSE(error) << error.message();
    const struct timespec times[2] = {{1'600'000'000, 123'456'789}, {1'600'000'000, 987'654'321}};
    ASSERT_EQ(utimensat(AT_FDCWD, (volume / "resources" / "nested" / "run.sh").c_str(), times, 0), 0);
    ASSERT_EQ(utimensat(AT_FDCWD, (volume / "resources" / "nested" / "deeper").c_str(), times, 0), 0);
  }
};

TEST_F(BackupSnapshotTest, SnapshotHoldsManifestVerifiedDatabaseArchiveAndAnIdenticalVolumeTree) {
  enrich_volume();
  const auto before = snapshot_count();

  const auto outcome = expect_successful_backup();
  ASSERT_EQ(outcome.exit_code, 0);

  auto snapshots = world().snapshots();
  ASSERT_TRUE(snapshots) << snapshots.error().message;
  ASSERT_EQ(snapshots->size(), before + 1);
  const auto& snapshot = snapshots->back();
  EXPECT_THAT(snapshot.tags, Contains("connectware"));
  EXPECT_THAT(snapshot.tags, Contains(std::string("connectware-") + connectware_version));
  EXPECT_EQ(snapshot.host, "cwb-integration");

  const fs::path restored = restore_snapshot(snapshot.id);
  auto manifest_text = util::read_file(restored / "manifest.json");
  ASSERT_TRUE(manifest_text) << manifest_text.error().message;
  auto manifest = snapshot::parse_manifest(*manifest_text);
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->connectware_version, connectware_version);
  ASSERT_TRUE(manifest->database);
  const fs::path archive = restored / manifest->database->file;
  auto archive_hash = util::sha256_file(archive);
  ASSERT_TRUE(archive_hash) << archive_hash.error().message;
  EXPECT_EQ(*archive_hash, manifest->database->sha256);
  EXPECT_EQ(fs::file_size(archive), manifest->database->bytes);
  // By default the archive is stored gunzipped (restic deduplicates it across days), with the digest of
  // the entries of the archive Connectware exported; gzipping the stored tar gives those entries back.
  EXPECT_EQ(manifest->database->format, snapshot::database_format_tar);
  EXPECT_EQ(manifest->format, 2);
  EXPECT_EQ(manifest->database->archive_sha256.size(), 64u);
  EXPECT_GT(manifest->database->archive_bytes, 0u);
  const fs::path regzipped = restored / "db" / "regzipped.tgz";
  ASSERT_TRUE(archive::gzip_file(archive, regzipped, 6));
  auto regzipped_info = archive::validate_tar_gz(regzipped);
  ASSERT_TRUE(regzipped_info) << regzipped_info.error().message;
  EXPECT_EQ(regzipped_info->entries_sha256, manifest->database->entries_sha256);
  // The emulator writes its archives as Connectware's zlib-based writers do: the backup proved a recipe
  // that gives back the exported bytes themselves, which the restore uploads.
  ASSERT_FALSE(manifest->database->gzip_header.empty());
  const fs::path rebuilt = restored / "db" / "rebuilt.tgz";
  ASSERT_TRUE(archive::gzip_with_recipe(
      archive, rebuilt,
      {manifest->database->gzip_header, manifest->database->gzip_level, manifest->database->gzip_mem_level}));
  EXPECT_EQ(util::sha256_file(rebuilt).value_or(""), manifest->database->archive_sha256);

  // The restored volume equals the live one: every entry's type, size, mode, owner, mtime (ns) and link
  // target, and every file's contents.
  std::map<std::string, std::string> live_hashes;
  std::map<std::string, std::string> restored_hashes;
  const auto live = scan_with_hashes(volume_mountpoint(), live_hashes);
  const auto copy = scan_with_hashes(restored / "volumes" / "service-manager", restored_hashes);
  ASSERT_GT(live.size(), 8U);
  EXPECT_EQ(copy, live);
  EXPECT_EQ(restored_hashes, live_hashes);
  // The manifest describes the same files with the same digests.
  ASSERT_EQ(manifest->volumes.size(), 1U);
  for (const auto& entry : manifest->volumes.front().entries) {
    if (entry.type == snapshot::EntryType::file) {
      EXPECT_EQ(entry.sha256, live_hashes[entry.path]) << entry.path;
    }
  }

  // What the run leaves on this machine.
  const auto recorded = status();
  EXPECT_EQ(recorded.value("success", false), true) << recorded.dump();
  ASSERT_TRUE(recorded.contains("snapshot_id") && recorded["snapshot_id"].is_string()) << recorded.dump();
  EXPECT_TRUE(snapshot.id.starts_with(recorded["snapshot_id"].get<std::string>())) << recorded.dump();
  auto metrics = util::read_file(metrics_file());
  ASSERT_TRUE(metrics) << metrics.error().message;
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_success 1\n"));
  struct stat staging {};
  ASSERT_EQ(::stat(staging_dir().c_str(), &staging), 0);
  EXPECT_EQ(staging.st_mode & 07777, 0700U);
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tgz"));
  EXPECT_FALSE(fs::exists(staging_dir() / "db" / "connectware-db.tar"));
  EXPECT_EQ(world().container_state(test::EmulatorContainers::service_manager_container), "running");
}

TEST_F(BackupSnapshotTest, DatabaseArchiveInTheSnapshotHoldsTheServicesOfTheVolume) {
  ASSERT_TRUE(install_service(world().connectware().base_url(), world().connectware().ca_file(), "before-backup"));
  expect_successful_backup();
  auto snapshots = world().snapshots();
  ASSERT_TRUE(snapshots && !snapshots->empty());
  const fs::path restored = restore_snapshot(snapshots->back().id);
  const auto rows = service_rows_in_archive(restored / "db" / "connectware-db.tar");
  const auto files = service_files_in(restored / "volumes" / "service-manager");
  EXPECT_THAT(rows, Contains("before-backup"));
  EXPECT_EQ(rows, files);
}

} // namespace
} // namespace cwb::integration
