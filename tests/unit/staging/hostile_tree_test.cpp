// The hostile volume (tests/support/hostile_tree.hpp) through the mirror, and the comparison the fidelity
// tests rely on: it must see every kind of difference, or a green end-to-end test proves nothing.

#include "staging/mirror.hpp"
#include "support/hostile_tree.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class HostileTree : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the hostile tree needs root (owners, trusted.* attributes, device nodes)";
    auto directory = util::TemporaryDirectory::create({}, "cwb-hostile-test");
    ASSERT_TRUE(directory) << directory.error().message;
    dir_ = std::move(*directory);
  }

  std::map<std::string, std::string> written(const std::string& name) {
    const auto root = dir_.path() / name;
    auto made = test::write_hostile_tree(root);
    EXPECT_TRUE(made) << made.error().message;
    return described(root);
  }

  static std::map<std::string, std::string> described(const fs::path& root) {
    auto description = test::describe_tree(root);
    EXPECT_TRUE(description) << description.error().message;
    return description ? *description : std::map<std::string, std::string>{};
  }

  static std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines)
      text += line + "\n";
    return text;
  }

  util::TemporaryDirectory dir_;
};

TEST_F(HostileTree, IsWrittenTheSameEveryTimeAndHoldsEveryKindOfEntry) {
  const auto first = written("first");
  const auto second = written("second");
  EXPECT_EQ(test::tree_differences(first, second), std::vector<std::string>{});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"modes/setuid", "file mode=4755"},
      {"modes/locked", "directory mode=0"},
      {"owners/high-id", "owner=3000000000:3000000001"},
      {"times/before-1970", "mtime=-31536000.123456789"},
      {"times/after-2038", "mtime=4102444800.999999999"},
      {"links/host", "symlink"},
      {"special/fifo", "fifo mode=620 owner=999:999"},
      {"special/loop-block", "block-device"},
      {"special/high-minor", "rdev=250:70000"},
      {"xattrs/labelled", "xattr:security.selinux="},
      {"xattrs/labelled", "xattr:trusted.cwb="},
      {"xattrs", "xattr:system.posix_acl_default="},
      {std::string("names/bad\xff\xfe"), "file"},
      {"names/" + std::string(255, 'n'), "file"},
  };
  for (const auto& [path, text] : expected) {
    ASSERT_TRUE(first.contains(path)) << path;
    EXPECT_THAT(first.at(path), HasSubstr(text)) << path;
  }
  EXPECT_THAT(first.at("#hard-link groups"),
              HasSubstr("hardlinks/first.txt = hardlinks/other/third.txt = hardlinks/second.txt"));
  const auto longest = std::ranges::max_element(first, {}, [](const auto& entry) { return entry.first.size(); });
  EXPECT_GT(longest->first.size(), 1024u);
}

TEST_F(HostileTree, TheMirrorKeepsEveryEntryBitForBit) {
  const auto source = written("source");
  ASSERT_TRUE(mirror_tree(dir_.path() / "source", dir_.path() / "mirror", MirrorOptions{dir_.path() / "index.json"}));
  EXPECT_EQ(joined(test::tree_differences(source, described(dir_.path() / "mirror"))), "");
}

/// Each change is one kind of difference the comparison must report, at the path named.
struct Change {
  std::string name;
  std::string path; // printable, as in the report
  std::function<int(const fs::path& root)> apply;
};

int keep_mtime(const fs::path& path, const std::function<int()>& change) {
  struct stat before {};
  if (lstat(path.c_str(), &before) != 0) return -1;
  if (change() != 0) return -1;
  const timespec times[2] = {before.st_mtim, before.st_mtim};
  return utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

TEST_F(HostileTree, TheComparisonSeesEveryKindOfDifference) {
  const std::vector<Change> changes = {
      {"same size, same mtime, other bytes", "plain.txt",
       [](const fs::path& root) {
         return keep_mtime(root / "plain.txt", [&] {
           const int fd = open((root / "plain.txt").c_str(), O_WRONLY);
           const bool ok = fd >= 0 && pwrite(fd, "J", 1, 0) == 1;
           if (fd >= 0) close(fd);
           return ok ? 0 : -1;
         });
       }},
      {"mode", "modes/setuid", [](const fs::path& root) { return chmod((root / "modes/setuid").c_str(), 0755); }},
      {"owner", "owners/nobody",
       [](const fs::path& root) { return lchown((root / "owners/nobody").c_str(), 65533, 65534); }},
      {"a nanosecond of mtime", "times/before-1970",
       [](const fs::path& root) {
         const timespec times[2] = {{-31'536'000, 123'456'790}, {-31'536'000, 123'456'790}};
         return utimensat(AT_FDCWD, (root / "times/before-1970").c_str(), times, 0);
       }},
      {"link target", "links/loop-a",
       [](const fs::path& root) {
         const auto link = root / "links/loop-a";
         if (unlink(link.c_str()) != 0 || symlink("loop-c", link.c_str()) != 0) return -1;
         const timespec times[2] = {{1'700'000'000, 123'456'789}, {1'700'000'000, 123'456'789}};
         return utimensat(AT_FDCWD, link.c_str(), times, AT_SYMLINK_NOFOLLOW);
       }},
      {"attribute value", "xattrs/labelled",
       [](const fs::path& root) {
         return keep_mtime(root / "xattrs/labelled",
                           [&] { return lsetxattr((root / "xattrs/labelled").c_str(), "trusted.cwb", "other", 5, 0); });
       }},
      {"ACL removed", "xattrs/acl",
       [](const fs::path& root) { return lremovexattr((root / "xattrs/acl").c_str(), "system.posix_acl_access"); }},
      {"hard link split into an equal copy", "#hard-link groups",
       [](const fs::path& root) {
         const auto second = root / "hardlinks/second.txt";
         struct stat info {};
         if (lstat(second.c_str(), &info) != 0 || unlink(second.c_str()) != 0) return -1;
         if (!util::write_file_atomic(second, "one inode, three names\n", 0640)) return -1;
         if (lchown(second.c_str(), info.st_uid, info.st_gid) != 0 || chmod(second.c_str(), info.st_mode & 07777) != 0)
           return -1;
         const timespec times[2] = {info.st_mtim, info.st_mtim};
         if (utimensat(AT_FDCWD, second.c_str(), times, 0) != 0) return -1;
         // The folder's mtime changed too: put it back, so that only the group differs.
         const timespec folder[2] = {{1'700'000'000, 123'456'789}, {1'700'000'000, 123'456'789}};
         return utimensat(AT_FDCWD, (root / "hardlinks").c_str(), folder, 0);
       }},
      {"FIFO replaced by a file", "special/fifo",
       [](const fs::path& root) {
         const auto fifo = root / "special/fifo";
         return unlink(fifo.c_str()) == 0 && util::write_file_atomic(fifo, "", 0620) ? 0 : -1;
       }},
      {"device number", "special/null-like",
       [](const fs::path& root) {
         const auto device = root / "special/null-like";
         return unlink(device.c_str()) == 0 ? mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 5)) : -1;
       }},
      {"entry removed", "names/new\\x0aline",
       [](const fs::path& root) { return unlink((root / "names" / "new\nline").c_str()); }},
  };
  const auto original = written("original");
  for (const auto& change : changes) {
    SCOPED_TRACE(change.name);
    const auto root = dir_.path() / ("changed-" + std::to_string(&change - changes.data()));
    ASSERT_TRUE(test::write_hostile_tree(root));
    ASSERT_EQ(change.apply(root), 0) << std::strerror(errno);
    const auto differences = test::tree_differences(original, described(root));
    ASSERT_FALSE(differences.empty());
    EXPECT_THAT(joined(differences), HasSubstr(": " + change.path)) << joined(differences);
  }
}

} // namespace
} // namespace cwb::staging
