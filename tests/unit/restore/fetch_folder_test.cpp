#include "restore/fetch_folder.hpp"

#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class FetchFolder : public testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-fetch-folder-test");
    ASSERT_TRUE(temp);
    temp_ = std::move(*temp);
  }
  fs::path folder() const { return temp_.path() / "fetch"; }

  util::TemporaryDirectory temp_;
};

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(lstat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

TEST_F(FetchFolder, PrepareMakesAnEmptyOwnerOnlyMarkedFolder) {
  ASSERT_TRUE(prepare_fetch_folder(folder()));
  EXPECT_EQ(mode_of(folder()), 0700U);
  EXPECT_TRUE(fs::is_regular_file(folder() / fetch_folder_marker));
  EXPECT_EQ(std::distance(fs::directory_iterator(folder()), fs::directory_iterator{}), 1);
}

TEST_F(FetchFolder, PrepareEmptiesWhatAnEarlierFetchLeft) {
  ASSERT_TRUE(prepare_fetch_folder(folder()));
  ASSERT_TRUE(util::ensure_directories(folder() / "var" / "lib"));
  ASSERT_TRUE(util::write_file_atomic(folder() / "var" / "lib" / "old-snapshot-file", "old\n"));
  ASSERT_TRUE(prepare_fetch_folder(folder()));
  EXPECT_FALSE(fs::exists(folder() / "var"));
  EXPECT_TRUE(fs::is_regular_file(folder() / fetch_folder_marker));
}

TEST_F(FetchFolder, PrepareTakesAnEmptyFolderAndMakesItOwnerOnly) {
  ASSERT_TRUE(util::ensure_directories(folder()));
  ASSERT_EQ(chmod(folder().c_str(), 0755), 0);
  ASSERT_TRUE(prepare_fetch_folder(folder()));
  EXPECT_EQ(mode_of(folder()), 0700U);
}

TEST_F(FetchFolder, PrepareRefusesAFolderWithSomethingElseInIt) {
  ASSERT_TRUE(util::ensure_directories(folder()));
  ASSERT_TRUE(util::write_file_atomic(folder() / "precious", "data\n"));
  auto refused = prepare_fetch_folder(folder());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::usage);
  EXPECT_THAT(refused.error().message, HasSubstr("not a fetch folder"));
  EXPECT_TRUE(fs::exists(folder() / "precious"));
}

TEST_F(FetchFolder, RemoveTakesAwayAFetchFolderWithItsContents) {
  ASSERT_TRUE(prepare_fetch_folder(folder()));
  ASSERT_TRUE(util::ensure_directories(folder() / "var" / "staging" / "db"));
  ASSERT_TRUE(util::write_file_atomic(folder() / "var" / "staging" / "db" / "connectware-db.tar", "users\n"));
  ASSERT_TRUE(remove_fetch_folder(folder()));
  EXPECT_FALSE(fs::exists(folder()));
}

TEST_F(FetchFolder, RemoveOfAMissingFolderSucceeds) {
  EXPECT_TRUE(remove_fetch_folder(folder()));
}

TEST_F(FetchFolder, RemoveRefusesAFolderItDidNotMake) {
  ASSERT_TRUE(util::ensure_directories(folder()));
  ASSERT_TRUE(util::write_file_atomic(folder() / "precious", "data\n"));
  auto refused = remove_fetch_folder(folder());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::usage);
  EXPECT_TRUE(fs::exists(folder() / "precious"));
}

TEST_F(FetchFolder, RemoveRefusesALinkToAFetchFolder) {
  // The marker is looked up in the folder named, not through a link to one.
  const fs::path real = temp_.path() / "real";
  ASSERT_TRUE(prepare_fetch_folder(real));
  fs::create_directory_symlink(real, folder());
  EXPECT_FALSE(remove_fetch_folder(folder()));
  EXPECT_TRUE(fs::exists(real / fetch_folder_marker));
}

} // namespace
} // namespace cwb::restore
