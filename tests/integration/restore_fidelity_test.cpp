// Bit for bit through the real components: a service-manager volume that holds what real volumes hold
// (tests/support/hostile_tree.hpp: holes, every mode, any owner, extreme times, links of every kind,
// hard-link groups, FIFOs, devices, xattrs, ACLs, names of any bytes, long paths) is backed up by
// hooks/connectware-backup into real restic on s3rver, changed, and restored by hooks/connectware-restore
// into the real Docker volume, by rename and by copy. An independent tree comparison (lstat and
// llistxattr, not the plugin's scanner) must find no difference.

#include "integration/support/restore_fixture.hpp"
#include "support/hostile_tree.hpp"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>

namespace cwb::integration {
namespace {

using testing::HasSubstr;

class RestoreFidelity : public RestoreTest {
protected:
  void SetUp() override {
    RestoreTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    if (geteuid() != 0) GTEST_SKIP() << "the hostile volume needs root (owners, trusted.* attributes, devices)";
    ASSERT_TRUE(util::remove_tree(hostile()));
  }
  void TearDown() override {
    (void)util::remove_tree(hostile());
    RestoreTest::TearDown();
  }

  [[nodiscard]] fs::path hostile() const { return volume_mountpoint() / "hostile"; }

  static std::map<std::string, std::string> described(const fs::path& root) {
    auto description = test::describe_tree(root);
    EXPECT_TRUE(description) << description.error().message;
    return description ? *description : std::map<std::string, std::string>{};
  }

  /// Changes the hostile tree in every way a restore has to undo, some of them invisible to a quick check
  /// (same size and mtime, other bytes).
  void change_hostile_tree() {
    const auto plain = hostile() / "plain.txt";
    struct stat before {};
    ASSERT_EQ(lstat(plain.c_str(), &before), 0);
    {
      const int fd = open(plain.c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      EXPECT_EQ(pwrite(fd, "J", 1, 0), 1);
      close(fd);
    }
    const std::array<timespec, 2> same{before.st_mtim, before.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, plain.c_str(), same.data(), 0), 0);
    ASSERT_EQ(chmod((hostile() / "modes/setuid").c_str(), 0755), 0);
    ASSERT_EQ(unlink((hostile() / "special/fifo").c_str()), 0);
    ASSERT_TRUE(util::write_file_atomic(hostile() / "special/fifo", "a file now\n", 0644));
    ASSERT_EQ(unlink((hostile() / "hardlinks/second.txt").c_str()), 0);
    ASSERT_TRUE(util::write_file_atomic(hostile() / "hardlinks/second.txt", "one inode, three names\n", 0640));
    ASSERT_EQ(lsetxattr((hostile() / "xattrs/labelled").c_str(), "trusted.cwb", "changed", 7, 0), 0);
    ASSERT_EQ(lremovexattr((hostile() / "xattrs/acl").c_str(), "system.posix_acl_access"), 0);
    ASSERT_EQ(unlink((hostile() / "links/host").c_str()), 0);
    ASSERT_EQ(symlink("/etc/passwd", (hostile() / "links/host").c_str()), 0);
    ASSERT_TRUE(util::remove_tree(hostile() / "names"));
    ASSERT_TRUE(util::write_file_atomic(hostile() / "appeared.txt", "not in the snapshot\n", 0644));
  }

  /// Seeds the hostile tree, backs it up, changes it, restores with restore-dir and rollback-dir in
  /// `work`, and expects the volume to be what it was, entry for entry, replaced by `method`.
  void round_trip(const fs::path& work, const std::string& method) {
    ASSERT_TRUE(test::write_hostile_tree(hostile()));
    const auto before = described(volume_mountpoint());
    ASSERT_GT(before.size(), 60u);
    const auto snapshot = back_up();
    ASSERT_FALSE(snapshot.empty());
    change_hostile_tree();
    ASSERT_FALSE(test::tree_differences(before, described(volume_mountpoint())).empty());

    const auto outcome =
        run_restore({"--snapshot", snapshot, "--yes"}, {{"CONNECTWARE_RESTORE_DIR", (work / "restore").string()},
                                                        {"CONNECTWARE_ROLLBACK_DIR", (work / "rollback").string()}});
    ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
    EXPECT_THAT(outcome.stderr_text, HasSubstr("volume connectware_service-manager: replaced by " + method))
        << outcome.log();
    std::string differences;
    for (const auto& line : test::tree_differences(before, described(volume_mountpoint())))
      differences += line + "\n";
    EXPECT_EQ(differences, "");
  }

  /// A folder on another mount than the volume (the restore then copies), or empty when there is none.
  [[nodiscard]] fs::path folder_on_another_mount() const {
    struct stat volume {};
    if (stat(volume_mountpoint().c_str(), &volume) != 0) return {};
    for (const fs::path& candidate : {test_dir(), fs::path("/dev/shm"), fs::path("/run")}) {
      struct stat info {};
      if (stat(candidate.c_str(), &info) == 0 && info.st_dev != volume.st_dev) return candidate;
    }
    return {};
  }
};

TEST_F(RestoreFidelity, AHostileVolumeComesBackBitForBitByRename) {
  // Beside the engine's volumes: on the volume's own mount, so entries are moved, not copied.
  const auto work = volume_mountpoint().parent_path().parent_path().parent_path() / "cwb-fidelity-work";
  round_trip(work, "rename");
  (void)util::remove_tree(work);
}

TEST_F(RestoreFidelity, AHostileVolumeComesBackBitForBitByCopy) {
  const auto other_mount = folder_on_another_mount();
  if (other_mount.empty()) GTEST_SKIP() << "no folder on another mount than the volume here";
  auto work = util::TemporaryDirectory::create(other_mount, "cwb-fidelity-");
  ASSERT_TRUE(work) << work.error().message;
  round_trip(work->path(), "copy");
}

} // namespace
} // namespace cwb::integration
