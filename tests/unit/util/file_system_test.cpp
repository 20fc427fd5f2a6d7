#include "util/file_lock.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace cwb::util {
namespace {

TEST(Sha256, MatchesTheKnownDigestOfAbc) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileDigestEqualsStringDigest) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto file = dir->path() / "data";
  ASSERT_TRUE(write_file_atomic(file, "hello world"));
  auto digest = sha256_file(file);
  ASSERT_TRUE(digest);
  EXPECT_EQ(*digest, sha256_hex("hello world"));
}

TEST(FileSystem, PrivateDirectoryIsOwnerOnlyEvenWhenItExisted) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto target = dir->path() / "staging";
  ASSERT_TRUE(ensure_directories(target));
  ASSERT_EQ(chmod(target.c_str(), 0755), 0);
  ASSERT_TRUE(create_private_directory(target));
  struct stat info {};
  ASSERT_EQ(stat(target.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST(FileSystem, AtomicWriteReplacesContentAndSetsMode) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto file = dir->path() / "status.json";
  ASSERT_TRUE(write_file_atomic(file, "old"));
  ASSERT_TRUE(write_file_atomic(file, "new", 0644));
  auto content = read_file(file);
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "new");
  struct stat info {};
  ASSERT_EQ(stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

// A writer that is never committed (a process killed mid-write: destructors do not run) leaves its
// temporary file; remove_atomic_leftovers takes exactly those away, not a file that merely looks alike.
TEST(FileSystem, AnUncommittedWriterLeavesNothingAndLeftoversOfAKilledOneAreRemoved) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto file = dir->path() / "index.json";
  {
    auto writer = AtomicFileWriter::create(file);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->append(std::string(200'000, 'x'))); // more than the buffer: on disk already
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir->path()), fs::directory_iterator{}), 0);
  ASSERT_TRUE(write_file_atomic(file, "kept"));
  ASSERT_TRUE(write_file_atomic(dir->path() / "index.json.tmp.a1b2c3d4e5", "left by a killed run"));
  ASSERT_TRUE(write_file_atomic(dir->path() / "volume.tmp.named.json", "a volume's own index"));
  ASSERT_TRUE(remove_atomic_leftovers(dir->path()));
  EXPECT_TRUE(fs::exists(file));
  EXPECT_TRUE(fs::exists(dir->path() / "volume.tmp.named.json"));
  EXPECT_FALSE(fs::exists(dir->path() / "index.json.tmp.a1b2c3d4e5"));
}

TEST(FileSystem, TimesBeforeTheEpochKeepANonNegativeNanosecondPart) {
  const auto before = timespec_of(-1);
  EXPECT_EQ(before.tv_sec, -1);
  EXPECT_EQ(before.tv_nsec, 999'999'999);
  const auto after = timespec_of(1'500'000'001);
  EXPECT_EQ(after.tv_sec, 1);
  EXPECT_EQ(after.tv_nsec, 500'000'001);
}

TEST(FileSystem, SetsTheTimesOfASymbolicLinkItselfNotOfItsTarget) {
  auto dir = TemporaryDirectory::create({}, "cwb-fs-test-");
  ASSERT_TRUE(dir);
  const auto target = dir->path() / "target";
  const auto link = dir->path() / "link";
  ASSERT_TRUE(write_file_atomic(target, "x"));
  ASSERT_EQ(symlink("target", link.c_str()), 0);
  struct stat target_before {};
  ASSERT_EQ(stat(target.c_str(), &target_before), 0);
  const std::int64_t mtime_ns = 1'000'000'000'123'456'789;
  ASSERT_TRUE(set_owner_and_times(link, getuid(), getgid(), mtime_ns));
  struct stat link_after {};
  ASSERT_EQ(lstat(link.c_str(), &link_after), 0);
  EXPECT_EQ(link_after.st_mtim.tv_sec, 1'000'000'000);
  EXPECT_EQ(link_after.st_mtim.tv_nsec, 123'456'789);
  struct stat target_after {};
  ASSERT_EQ(stat(target.c_str(), &target_after), 0);
  EXPECT_EQ(target_after.st_mtim.tv_sec, target_before.st_mtim.tv_sec);
}

TEST(FileSystem, ReadingAMissingFileNamesThePath) {
  auto content = read_file("/nonexistent/cwb/file");
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().kind, ErrorKind::staging_io);
  EXPECT_NE(content.error().message.find("/nonexistent/cwb/file"), std::string::npos);
}

TEST(FileSystem, TemporaryDirectoryIsRemovedOnDestruction) {
  std::filesystem::path kept;
  {
    auto dir = TemporaryDirectory::create({}, "cwb-test-");
    ASSERT_TRUE(dir);
    kept = dir->path();
    ASSERT_TRUE(write_file_atomic(kept / "x", "y"));
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
}

TEST(FileSystem, InsideComparesWholeComponentsOfNormalisedPaths) {
  EXPECT_TRUE(is_same_or_inside("/srv/a", "/srv/a"));
  EXPECT_TRUE(is_same_or_inside("/srv/a/", "/srv/a"));
  EXPECT_TRUE(is_same_or_inside("/srv/a/b/c", "/srv/a"));
  EXPECT_TRUE(is_same_or_inside("/srv/x/../a/b", "/srv/./a"));
  EXPECT_TRUE(is_same_or_inside("/anything", "/"));
  EXPECT_FALSE(is_same_or_inside("/srv/ab", "/srv/a"));
  EXPECT_FALSE(is_same_or_inside("/srv", "/srv/a"));
  EXPECT_FALSE(is_same_or_inside("/srv/a/../b", "/srv/a"));
}

TEST(FileSystem, InsideFollowsLinksOfTheExistingPart) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  const auto real = dir->path() / "real";
  ASSERT_TRUE(ensure_directories(real));
  std::filesystem::create_directory_symlink(real, dir->path() / "alias");
  EXPECT_TRUE(is_same_or_inside(dir->path() / "alias" / "not-yet" / "x", real));
  EXPECT_TRUE(is_same_or_inside(real / "y", dir->path() / "alias"));
  EXPECT_EQ(resolved_path(dir->path() / "alias" / "not-yet"), resolved_path(real) / "not-yet");
  EXPECT_FALSE(is_same_or_inside(dir->path() / "alias", dir->path() / "other"));
}

TEST(FileLock, SecondAcquireFailsWithLockedAndNamesTheHolder) {
  auto dir = TemporaryDirectory::create({}, "cwb-test-");
  ASSERT_TRUE(dir);
  auto first = FileLock::try_acquire(dir->path() / "lock");
  ASSERT_TRUE(first);
  auto second = FileLock::try_acquire(dir->path() / "lock");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::locked);
  EXPECT_NE(second.error().message.find(std::to_string(getpid())), std::string::npos);
  first->release();
  EXPECT_TRUE(FileLock::try_acquire(dir->path() / "lock"));
}

} // namespace
} // namespace cwb::util
