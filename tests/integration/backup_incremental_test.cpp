// The staging mirror is incremental: a second run after one changed file rewrites only that file.

#include "integration/support/backup_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

namespace cwb::integration {
namespace {

using ::testing::HasSubstr;

struct FileIdentity {
  ino_t inode = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

/// inode, mtime and ctime of every regular file below `root`.
std::map<std::string, FileIdentity> file_identities(const fs::path& root) {
  std::map<std::string, FileIdentity> identities;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct stat info {};
    if (::lstat(entry.path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    identities[fs::relative(entry.path(), root).generic_string()] =
        FileIdentity{info.st_ino, info.st_mtim.tv_sec * 1'000'000'000LL + info.st_mtim.tv_nsec,
                     info.st_ctim.tv_sec * 1'000'000'000LL + info.st_ctim.tv_nsec};
  }
  return identities;
}

class BackupIncrementalTest : public BackupTest {};

TEST_F(BackupIncrementalTest, SecondRunAfterOneChangedFileRewritesOnlyThatFileInTheStagingMirror) {
  const fs::path changed = "services/historian.yml";
  expect_successful_backup();
  const fs::path mirror = staging_dir() / "volumes" / "service-manager";
  const auto before = file_identities(mirror);
  ASSERT_TRUE(before.contains(changed.string())) << "the seeded service file is not staged";
  ASSERT_GE(before.size(), 4U);

  ASSERT_TRUE(util::write_file_atomic(volume_mountpoint() / changed, "description: changed by the test\n", 0644));
  const auto second = expect_successful_backup();
  EXPECT_THAT(second.log(), HasSubstr("1 file(s) copied"));

  const auto after = file_identities(mirror);
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [path, identity] : before) {
    if (path == changed.string()) {
      EXPECT_NE(after.at(path), identity) << path << " was not rewritten";
    } else {
      EXPECT_EQ(after.at(path), identity) << path << " was rewritten although it did not change";
    }
  }
  auto staged = util::read_file(mirror / changed);
  ASSERT_TRUE(staged);
  EXPECT_EQ(*staged, "description: changed by the test\n");
}

} // namespace
} // namespace cwb::integration
