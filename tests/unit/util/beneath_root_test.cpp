#include "util/beneath_root.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cwb::util {
namespace {

namespace fs = std::filesystem;

// A root with a folder "a" and, beside the root, a folder "outside" that no write below the root may reach.
class BeneathRootTest : public testing::Test {
protected:
  void SetUp() override {
    auto directory = TemporaryDirectory::create({}, "cwb-beneath-test");
    ASSERT_TRUE(directory) << directory.error().message;
    dir_ = std::move(*directory);
    root_ = dir_.path() / "root";
    outside_ = dir_.path() / "outside";
    ASSERT_TRUE(ensure_directories(root_ / "a/b"));
    ASSERT_TRUE(ensure_directories(outside_));
  }

  // Creates `name` in the entry's folder by descriptor, as the mirror does.
  static void create_at(const EntryAt& at) {
    const int fd = openat(at.parent(), at.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << at.shown;
    close(fd);
  }

  [[nodiscard]] bool outside_is_empty() const { return fs::is_empty(outside_); }

  TemporaryDirectory dir_;
  fs::path root_;
  fs::path outside_;
};

TEST_F(BeneathRootTest, AnEntryIsReachedFromItsParentFolderAndNamedInFullForMessages) {
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree) << tree.error().message;
  auto at = tree->locate("a/b/file");
  ASSERT_TRUE(at) << at.error().message;
  EXPECT_EQ(at->name, "file");
  EXPECT_EQ(at->shown, root_ / "a/b/file");
  create_at(*at);
  EXPECT_TRUE(fs::is_regular_file(root_ / "a/b/file"));
  auto root = tree->locate("");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->name, ".");
  EXPECT_EQ(root->shown, root_);
}

TEST_F(BeneathRootTest, AFolderOnTheWayThatIsASymbolicLinkIsRefusedNotFollowed) {
  ASSERT_EQ(symlink(outside_.c_str(), (root_ / "link").c_str()), 0);
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree);
  auto at = tree->locate("link/file");
  ASSERT_FALSE(at);
  EXPECT_EQ(at.error().kind, ErrorKind::staging_io);
  EXPECT_NE(at.error().message.find("symbolic link is never followed"), std::string::npos) << at.error().message;
  EXPECT_NE(at.error().message.find((root_ / "link").string()), std::string::npos) << at.error().message;
  // Deeper too: a link below a real folder.
  ASSERT_EQ(symlink(outside_.c_str(), (root_ / "a/deep-link").c_str()), 0);
  EXPECT_FALSE(tree->locate("a/deep-link/b/file"));
  EXPECT_TRUE(outside_is_empty());
}

TEST_F(BeneathRootTest, AFolderSwappedForALinkAfterItWasOpenedStillReceivesTheWritesItselfNeverTheLinksTarget) {
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree);
  auto first = tree->locate("a/first");
  ASSERT_TRUE(first);
  // What a container still writing to the volume (or someone hostile) could do between two of our calls.
  ASSERT_EQ(rename((root_ / "a").c_str(), (root_ / "a.moved").c_str()), 0);
  ASSERT_EQ(symlink(outside_.c_str(), (root_ / "a").c_str()), 0);
  auto second = tree->locate("a/second"); // the open folder is reused: it is the moved one
  ASSERT_TRUE(second) << second.error().message;
  create_at(*first);
  create_at(*second);
  EXPECT_TRUE(outside_is_empty());
  EXPECT_TRUE(fs::is_regular_file(root_ / "a.moved/first"));
  EXPECT_TRUE(fs::is_regular_file(root_ / "a.moved/second"));
  // Looked up afresh, the link is refused.
  tree->forget_folders();
  EXPECT_FALSE(tree->locate("a/third"));
  EXPECT_TRUE(outside_is_empty());
}

TEST_F(BeneathRootTest, AnEntryKeepsItsFolderOpenAfterTheTreeMovedOnToAnotherFolder) {
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree);
  auto early = tree->locate("a/b/early");
  ASSERT_TRUE(early);
  ASSERT_TRUE(ensure_directories(root_ / "other"));
  auto late = tree->locate("other/late"); // closes the tree's own handles of a and a/b
  ASSERT_TRUE(late);
  create_at(*early);
  create_at(*late);
  EXPECT_TRUE(fs::is_regular_file(root_ / "a/b/early"));
  EXPECT_TRUE(fs::is_regular_file(root_ / "other/late"));
}

TEST_F(BeneathRootTest, APathWithAnEmptyDotOrDotDotNameIsAUsageError) {
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree);
  for (const char* path : {"../outside/x", "a/../../x", "a//b", "./a", "a/.", "/a", "a/"}) {
    auto at = tree->locate(path);
    ASSERT_FALSE(at) << path;
    EXPECT_EQ(at.error().kind, ErrorKind::usage) << path;
  }
}

TEST_F(BeneathRootTest, ExtendedAttributeCallsReachTheEntryThroughItsFoldersDescriptor) {
  auto tree = BeneathRoot::open(root_);
  ASSERT_TRUE(tree);
  auto at = tree->locate("a/b/file");
  ASSERT_TRUE(at);
  create_at(*at);
  struct stat by_descriptor {
  }, by_path{};
  ASSERT_EQ(lstat(at->descriptor_path().c_str(), &by_descriptor), 0) << at->descriptor_path();
  ASSERT_EQ(lstat((root_ / "a/b/file").c_str(), &by_path), 0);
  EXPECT_EQ(by_descriptor.st_ino, by_path.st_ino);
}

TEST_F(BeneathRootTest, RemovingATreeRemovesTheLinksInsideItNeverWhatTheyPointTo) {
  ASSERT_TRUE(write_file_atomic(outside_ / "keep", "precious"));
  ASSERT_EQ(symlink(outside_.c_str(), (root_ / "a/b/to-outside").c_str()), 0);
  ASSERT_EQ(symlink((outside_ / "keep").c_str(), (root_ / "a/to-file").c_str()), 0);
  ASSERT_TRUE(write_file_atomic(root_ / "a/b/data", "x"));
  ASSERT_EQ(chmod((root_ / "a/b").c_str(), 0500), 0); // read-only folders are emptied all the same (as root)
  ASSERT_TRUE(remove_tree(root_ / "a"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "a")));
  EXPECT_TRUE(fs::is_regular_file(outside_ / "keep"));
  EXPECT_EQ(*read_file(outside_ / "keep"), "precious");
}

TEST_F(BeneathRootTest, RemovingALinkToAFolderRemovesTheLinkOnly) {
  ASSERT_TRUE(write_file_atomic(outside_ / "keep", "precious"));
  ASSERT_EQ(symlink(outside_.c_str(), (root_ / "link").c_str()), 0);
  ASSERT_TRUE(remove_tree(root_ / "link"));
  ASSERT_TRUE(remove_tree(root_ / "link")); // missing: success
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "link")));
  EXPECT_TRUE(fs::is_regular_file(outside_ / "keep"));
}

TEST_F(BeneathRootTest, RemoveTreeRefusesAPathWithoutALastName) {
  // In a child whose working folder is the test's root: should the guard ever break, only that goes.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (chdir(root_.c_str()) != 0) _exit(3);
    auto removed = remove_tree(".");
    _exit(!removed && removed.error().kind == ErrorKind::usage ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(fs::is_directory(root_ / "a/b"));
  ASSERT_TRUE(remove_tree(root_.string() + "/")); // a trailing separator still names the folder
  EXPECT_FALSE(fs::exists(root_));
}

} // namespace
} // namespace cwb::util
