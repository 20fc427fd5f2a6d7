// The check of a staged or fetched snapshot against its manifest walks the folder (depth first) instead of
// holding it: these cases are the ones where depth-first order and the manifest's byte order differ.
#include "restore/snapshot_check.hpp"

#include "backup/volume_staging.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class SnapshotCheck : public testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-snapshot-check-test");
    ASSERT_TRUE(temp);
    temp_ = std::move(*temp);
    source_ = temp_.path() / "volume";
    layout_ = snapshot::Layout{temp_.path() / "staging"};
    // "a.b" sorts before "a/x" ('.' < '/'), but a depth-first walk meets "a/x" first.
    ASSERT_TRUE(util::ensure_directories(source_ / "a"));
    ASSERT_TRUE(util::write_file_atomic(source_ / "a.b", "shared\n", 0644));
    ASSERT_EQ(link((source_ / "a.b").c_str(), (source_ / "a" / "x").c_str()), 0);
    ASSERT_TRUE(util::write_file_atomic(source_ / "a" / "y", "own\n", 0644));
  }

  /// Stages the volume and writes its manifest as the pre-backup hook does.
  void stage() {
    auto staged = backup::stage_volumes({installation::Volume{"service-manager", "sm", source_, {}}}, layout_);
    ASSERT_TRUE(staged) << staged.error().message;
    snapshot::Manifest manifest;
    manifest.connectware_version = "1.10.2";
    manifest.volumes = staged->records;
    ASSERT_TRUE(snapshot::write_manifest_file(manifest, layout_.manifest()));
  }

  /// Gives the staged folder "a" back the mtime it had before the test changed what is in it, so that the
  /// check meets the change itself, not its folder's new mtime.
  void restore_folder_time(const struct stat& before) {
    ASSERT_TRUE(util::set_owner_and_times(staged_a(), before.st_uid, before.st_gid,
                                          before.st_mtim.tv_sec * 1'000'000'000LL + before.st_mtim.tv_nsec));
  }
  fs::path staged_a() const { return layout_.volume("service-manager") / "a"; }
  struct stat folder_before() const {
    struct stat info {};
    EXPECT_EQ(lstat(staged_a().c_str(), &info), 0);
    return info;
  }

  /// The staged volume checked against its record in manifest.json, as the restore checks a volume.
  Result<> check() {
    auto manifest = snapshot::read_manifest_file(layout_.manifest());
    if (!manifest) return fail(manifest.error());
    return check_live_volume(layout_.volume("service-manager"), manifest->volumes.at(0));
  }

  util::TemporaryDirectory temp_;
  fs::path source_;
  snapshot::Layout layout_;
};

TEST_F(SnapshotCheck, AHardLinkWhoseLeaderComesLaterInTheWalkIsRestorable) {
  stage();
  auto manifest = snapshot::read_manifest_file(layout_.manifest());
  ASSERT_TRUE(manifest) << manifest.error().message;
  const auto& entries = manifest->volumes.at(0).entries;
  const auto member = std::ranges::find(entries, std::string("a/x"), &snapshot::VolumeEntry::path);
  ASSERT_NE(member, entries.end());
  EXPECT_EQ(member->hard_link_to, "a.b");
  auto checked = check();
  EXPECT_TRUE(checked) << checked.error().message;
}

TEST_F(SnapshotCheck, AStagedHardLinkThatIsNoLongerOneIsRefused) {
  stage();
  // The same bytes and metadata, but its own data: not the group the manifest describes.
  const auto folder = folder_before();
  const auto staged_member = layout_.volume("service-manager") / "a" / "x";
  struct stat before {};
  ASSERT_EQ(lstat(staged_member.c_str(), &before), 0);
  ASSERT_EQ(unlink(staged_member.c_str()), 0);
  ASSERT_TRUE(util::write_file_atomic(staged_member, "shared\n", before.st_mode & 07777));
  ASSERT_TRUE(util::set_owner_and_times(staged_member, before.st_uid, before.st_gid,
                                        before.st_mtim.tv_sec * 1'000'000'000LL + before.st_mtim.tv_nsec));
  restore_folder_time(folder);
  auto checked = check();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_THAT(checked.error().message, HasSubstr("a/x is not a hard link of a.b"));
}

TEST_F(SnapshotCheck, AFileTheManifestDoesNotListIsRefusedWherever) {
  stage();
  const auto folder = folder_before();
  ASSERT_TRUE(util::write_file_atomic(staged_a() / "smuggled", "x\n", 0644));
  restore_folder_time(folder);
  auto checked = check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("a/smuggled is in the snapshot but not in the manifest"));
}

TEST_F(SnapshotCheck, AFileMissingFromTheStagingIsRefused) {
  stage();
  const auto folder = folder_before();
  ASSERT_EQ(unlink((staged_a() / "y").c_str()), 0);
  restore_folder_time(folder);
  auto checked = check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("a/y is in the manifest but missing from the snapshot"));
}

} // namespace
} // namespace cwb::restore
