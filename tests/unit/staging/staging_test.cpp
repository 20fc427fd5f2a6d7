#include "staging/mirror.hpp"
#include "staging/tree.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "util/file_descriptor.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;

void set_mtime(const fs::path& path, std::int64_t seconds, long nanoseconds) {
  const timespec times[2] = {{seconds, nanoseconds}, {seconds, nanoseconds}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

void write(const fs::path& path, std::string_view content, mode_t mode = 0644) {
  ASSERT_TRUE(util::write_file_atomic(path, content, mode));
}

/// Removes the source inodes and ctimes from every record of the mirror index, as in an index written
/// before they were recorded, or on a file system whose ctime cannot be trusted: so that a test can show
/// what the other checks (racy mtime, full check) catch on their own.
void forget_recorded_ctimes(const fs::path& index) {
  auto text = util::read_file(index);
  ASSERT_TRUE(text) << text.error().message;
  std::istringstream lines(*text);
  std::string line, rewritten;
  std::getline(lines, line); // the header
  rewritten = line + "\n";
  while (std::getline(lines, line)) {
    auto record = nlohmann::json::parse(line);
    if (!record.contains("end")) {
      ASSERT_TRUE(record.contains("ctime_ns")) << "the index records no ctime for " << line;
      record.erase("ctime_ns");
      record.erase("inode");
    }
    rewritten += record.dump() + "\n";
  }
  ASSERT_TRUE(util::write_file_atomic(index, rewritten, 0600));
}

/// Before Linux 6.13 a file's ctime moves once per timer tick (up to 10 ms): a rewrite right after the
/// last change could keep its ctime. Waiting longer than a tick makes it move.
void wait_for_the_next_ctime_tick() {
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
}

class Staging : public testing::Test {
protected:
  void SetUp() override {
    auto directory = util::TemporaryDirectory::create({}, "cwb-staging-test");
    ASSERT_TRUE(directory) << directory.error().message;
    dir_ = std::move(*directory);
    source_ = dir_.path() / "source";
    target_ = dir_.path() / "target";
    index_ = dir_.path() / "index.json";
    ASSERT_TRUE(util::ensure_directories(source_ / "nested/deeper"));
    ASSERT_TRUE(util::ensure_directories(source_ / "empty-dir"));
    write(source_ / "a.txt", "alpha\n", 0640);
    write(source_ / "empty.txt", "", 0600);
    write(source_ / "script.sh", "#!/bin/sh\n", 0755);
    write(source_ / "nested/deeper/data.bin", std::string(3'000'000, 'x'), 0644);
    ASSERT_EQ(symlink("a.txt", (source_ / "rel-link").c_str()), 0);
    ASSERT_EQ(symlink("does/not/exist", (source_ / "dangling").c_str()), 0);
    ASSERT_EQ(symlink("/etc/hostname", (source_ / "abs-link").c_str()), 0);
    ASSERT_EQ(chown((source_ / "a.txt").c_str(), 1234, 5678), 0);
    set_mtime(source_ / "a.txt", 1'600'000'000, 123'456'789);
    set_mtime(source_ / "rel-link", 1'500'000'000, 987'654'321);
    set_mtime(source_ / "nested/deeper", 1'400'000'000, 111'111'111);
    set_mtime(source_ / "nested", 1'400'000'001, 222'222'222);
  }

  std::vector<TreeEntry> scan(const fs::path& root) {
    auto entries = scan_tree(root);
    EXPECT_TRUE(entries) << entries.error().message;
    return entries ? *entries : std::vector<TreeEntry>{};
  }

  /// Mirrors source_ into target_ with the index, keeping every entry the mirror reported in entries_.
  Result<MirrorReport> mirror() {
    entries_.clear();
    MirrorOptions options{index_};
    options.on_entry = [this](const MirrorEntry& entry) -> Result<> {
      entries_.push_back(entry);
      return {};
    };
    return mirror_tree(source_, target_, options);
  }

  util::TemporaryDirectory dir_;
  fs::path source_, target_, index_;
  std::vector<MirrorEntry> entries_;
};

TEST_F(Staging, ScanListsEverythingSortedWithoutFollowingLinks) {
  const auto entries = scan(source_);
  std::vector<std::string> paths;
  for (const auto& entry : entries)
    paths.push_back(entry.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.txt", "abs-link", "dangling", "empty-dir", "empty.txt", "nested",
                                             "nested/deeper", "nested/deeper/data.bin", "rel-link", "script.sh"}));
  EXPECT_EQ(entries[0].mtime_ns, 1'600'000'000'123'456'789);
  EXPECT_EQ(entries[0].uid, 1234u);
  EXPECT_EQ(entries[0].mode, 0640u);
  EXPECT_EQ(entries[1].type, EntryType::symlink);
  EXPECT_EQ(entries[1].link_target, "/etc/hostname");
  EXPECT_EQ(entries[2].link_target, "does/not/exist");
  EXPECT_EQ(entries[3].type, EntryType::directory);
  EXPECT_EQ(entries[7].size, 3'000'000u);
}

TEST_F(Staging, MirrorMakesAnIdenticalTree) {
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(scan(target_), scan(source_)); // contents aside: paths, types, sizes, modes, owners, ns mtimes, links
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n");
  EXPECT_EQ(*util::read_file(target_ / "nested/deeper/data.bin"), std::string(3'000'000, 'x'));
  EXPECT_EQ(report->files_copied, 4u); // a.txt, empty.txt, script.sh, data.bin
  EXPECT_EQ(report->bytes_copied, 6u + 10u + 3'000'000u);
  struct stat root_source {
  }, root_target{};
  ASSERT_EQ(lstat(source_.c_str(), &root_source), 0);
  ASSERT_EQ(lstat(target_.c_str(), &root_target), 0);
  EXPECT_EQ(root_target.st_mtim.tv_nsec, root_source.st_mtim.tv_nsec);
  EXPECT_EQ(tree_fingerprint(scan(target_)), tree_fingerprint(scan(source_)));
}

TEST_F(Staging, ReportsCorrectSha256OfEveryFile) {
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  int files = 0;
  for (const auto& entry : entries_) {
    if (entry.type != EntryType::file) {
      EXPECT_TRUE(entry.sha256.empty()) << entry.path;
      continue;
    }
    ++files;
    auto expected = util::sha256_file(source_ / entry.path);
    ASSERT_TRUE(expected);
    EXPECT_EQ(entry.sha256, *expected) << entry.path;
  }
  EXPECT_EQ(files, 4);
  EXPECT_EQ(util::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(Staging, SecondRunCopiesOnlyTheChangedFileAndRemovesADeletedOne) {
  ASSERT_TRUE(mirror());
  write(source_ / "a.txt", "alpha changed\n", 0640);
  ASSERT_EQ(unlink((source_ / "script.sh").c_str()), 0);
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->files_copied, 1u);
  EXPECT_EQ(report->files_removed, 1u);
  EXPECT_EQ(report->files_unchanged, 2u);
  EXPECT_EQ(report->bytes_copied, 14u);
  EXPECT_EQ(report->files_rehashed, 0u); // the index knew the unchanged files
  EXPECT_FALSE(fs::exists(fs::symlink_status(target_ / "script.sh")));
  EXPECT_EQ(scan(target_), scan(source_));
}

TEST_F(Staging, TheIndexSavesReadingUnchangedFiles) {
  ASSERT_TRUE(mirror());
  auto second = mirror();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->files_copied, 0u);
  EXPECT_EQ(second->files_unchanged, 4u);
  EXPECT_EQ(second->files_rehashed, 0u);
  const auto from_index = entries_;

  ASSERT_TRUE(util::remove_tree(index_));
  auto without_index = mirror();
  ASSERT_TRUE(without_index);
  EXPECT_EQ(without_index->files_copied, 0u);
  EXPECT_EQ(without_index->files_rehashed, 4u); // hashed from the mirror's copies instead
  ASSERT_EQ(entries_.size(), from_index.size());
  for (std::size_t i = 0; i < from_index.size(); ++i)
    EXPECT_EQ(entries_[i].sha256, from_index[i].sha256) << from_index[i].path;
}

// The index is JSON lines read one at a time: an index cut short (no closing count) is none, and a line
// per file in path order keeps memory flat.
TEST_F(Staging, TheIndexIsOneLinePerFileAndAnIndexCutShortIsNotTrusted) {
  ASSERT_TRUE(mirror());
  auto text = util::read_file(index_);
  ASSERT_TRUE(text);
  std::istringstream lines(*text);
  std::vector<std::string> paths;
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(nlohmann::json::parse(line).at("format"), 3);
  std::string last;
  while (std::getline(lines, line)) {
    const auto record = nlohmann::json::parse(line);
    last = line;
    if (record.contains("path")) paths.push_back(record.at("path"));
  }
  EXPECT_EQ(nlohmann::json::parse(last).at("end"), paths.size());
  EXPECT_EQ(paths, (std::vector<std::string>{"a.txt", "empty.txt", "nested/deeper/data.bin", "script.sh"}));

  ASSERT_TRUE(util::write_file_atomic(index_, text->substr(0, text->size() - last.size() - 1), 0600));
  auto cut_short = mirror();
  ASSERT_TRUE(cut_short) << cut_short.error().message;
  EXPECT_EQ(cut_short->files_rehashed, 4u);
  EXPECT_EQ(cut_short->files_copied, 0u);
  // A header alone, without even its newline (a file that is not one of ours): none, not an error.
  ASSERT_TRUE(util::write_file_atomic(index_, text->substr(0, text->find('\n')), 0600));
  auto header_only = mirror();
  ASSERT_TRUE(header_only) << header_only.error().message;
  EXPECT_EQ(header_only->files_rehashed, 4u);
}

// The mirror walks itself to find what to remove, depth first ("a/x" before "a.b"), while the source is
// in byte order ("a.b" before "a/x"): what goes and what stays must not depend on that.
TEST_F(Staging, RemovalIsRightWhereWalkOrderAndByteOrderDiffer) {
  ASSERT_TRUE(util::ensure_directories(source_ / "a"));
  write(source_ / "a" / "x", "x\n");
  write(source_ / "a.b", "b\n");
  ASSERT_TRUE(mirror());
  // The mirror holds more than the source: a file in "a", a folder "a.c" with contents, "a.b" as a folder.
  write(target_ / "a" / "extra", "gone\n");
  ASSERT_TRUE(util::ensure_directories(target_ / "a.c" / "deep"));
  write(target_ / "a.c" / "deep" / "file", "gone\n");
  ASSERT_TRUE(util::remove_tree(target_ / "a.b"));
  ASSERT_TRUE(util::ensure_directories(target_ / "a.b" / "inside"));
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->files_removed, 6u); // a/extra; a.c, a.c/deep, a.c/deep/file; a.b/, a.b/inside
  EXPECT_EQ(scan(target_), scan(source_));
  EXPECT_EQ(*util::read_file(target_ / "a.b"), "b\n");
}

// The first run after an upgrade still reads the index a release before wrote (one JSON document, paths
// that are not UTF-8 as "/" + base64), so it does not have to re-read every file.
TEST_F(Staging, AnIndexOfTheFormerFormatIsStillRead) {
  ASSERT_TRUE(mirror());
  auto text = util::read_file(index_);
  ASSERT_TRUE(text);
  std::istringstream lines(*text);
  std::string line;
  std::getline(lines, line);
  auto document = nlohmann::json::parse(line);
  document["format"] = 2;
  document["files"] = nlohmann::json::object();
  while (std::getline(lines, line)) {
    auto record = nlohmann::json::parse(line);
    if (record.contains("end")) continue;
    const std::string path = record.at("path");
    record.erase("path");
    document["files"][path] = record;
  }
  ASSERT_TRUE(util::write_file_atomic(index_, document.dump(1), 0600));
  auto upgraded = mirror();
  ASSERT_TRUE(upgraded) << upgraded.error().message;
  EXPECT_EQ(upgraded->files_rehashed, 0u);
  EXPECT_EQ(upgraded->files_unchanged, 4u);
  // ... and writes the new one.
  auto rewritten = util::read_file(index_);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(nlohmann::json::parse(rewritten->substr(0, rewritten->find('\n'))).at("format"), 3);
}

TEST_F(Staging, AStaleIndexEntryIsNotTrusted) {
  ASSERT_TRUE(mirror());
  // Someone rewrites the mirror's copy behind our back, keeping size but not mtime: the index entry no
  // longer matches; the source differs from the mirror, so the file is copied again.
  write(target_ / "a.txt", "ALPHA!\n", 0640);
  auto report = mirror();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->files_copied, 1u);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n");
}

TEST_F(Staging, AFileReplacedByADirectoryAndBack) {
  ASSERT_TRUE(mirror());
  ASSERT_EQ(unlink((source_ / "a.txt").c_str()), 0);
  ASSERT_TRUE(util::ensure_directories(source_ / "a.txt/inside"));
  write(source_ / "a.txt/inside/f", "f");
  ASSERT_TRUE(util::remove_tree(source_ / "nested"));
  write(source_ / "nested", "now a file");
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(scan(target_), scan(source_));
  EXPECT_EQ(*util::read_file(target_ / "nested"), "now a file");
  EXPECT_EQ(report->files_removed, 4u); // a.txt, nested, nested/deeper, nested/deeper/data.bin
}

TEST_F(Staging, ASymlinkReplacedByAFileAndAChangedLinkTarget) {
  ASSERT_TRUE(mirror());
  ASSERT_EQ(unlink((source_ / "rel-link").c_str()), 0);
  write(source_ / "rel-link", "plain");
  ASSERT_EQ(unlink((source_ / "dangling").c_str()), 0);
  ASSERT_EQ(symlink("elsewhere", (source_ / "dangling").c_str()), 0);
  ASSERT_TRUE(mirror());
  EXPECT_EQ(scan(target_), scan(source_));
  EXPECT_EQ(fs::read_symlink(target_ / "dangling"), "elsewhere");
}

TEST_F(Staging, SocketsAreSkippedWithAWarning) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto path = (source_ / "control.sock").string();
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::strcpy(address.sun_path, path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  close(fd);
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(fs::exists(fs::symlink_status(target_ / "control.sock")));
  bool warned = false;
  for (const auto& entry : entries_)
    if (entry.path == "control.sock") warned = entry.action == MirrorAction::skipped && !entry.warning.empty();
  EXPECT_TRUE(warned);
}

TEST_F(Staging, FifosAndDeviceNodesAreMirroredAsThemselves) {
  ASSERT_EQ(mkfifo((source_ / "pipe").c_str(), 0620), 0);
  ASSERT_EQ(mknod((source_ / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(mknod((source_ / "loop").c_str(), S_IFBLK | 0600, makedev(7, 0)), 0);
  ASSERT_EQ(lchown((source_ / "pipe").c_str(), 70000, 80000), 0);
  ASSERT_TRUE(mirror());
  EXPECT_EQ(scan(target_), scan(source_));
  struct stat info {};
  ASSERT_EQ(lstat((target_ / "null").c_str(), &info), 0);
  EXPECT_TRUE(S_ISCHR(info.st_mode));
  EXPECT_EQ(info.st_rdev, makedev(1, 3));
  // A device that changes its number is made again.
  ASSERT_EQ(unlink((source_ / "null").c_str()), 0);
  ASSERT_EQ(mknod((source_ / "null").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0);
  ASSERT_TRUE(mirror());
  EXPECT_EQ(scan(target_), scan(source_));
}

TEST_F(Staging, HardLinkGroupsStayGroupsAndAFileLeavingAGroupGetsItsOwnData) {
  ASSERT_EQ(link((source_ / "a.txt").c_str(), (source_ / "nested/a-again.txt").c_str()), 0);
  ASSERT_EQ(link((source_ / "a.txt").c_str(), (source_ / "z-third.txt").c_str()), 0);
  auto report = mirror();
  ASSERT_TRUE(report) << report.error().message;
  struct stat first {
  }, second{}, third{};
  ASSERT_EQ(lstat((target_ / "a.txt").c_str(), &first), 0);
  ASSERT_EQ(lstat((target_ / "nested/a-again.txt").c_str(), &second), 0);
  ASSERT_EQ(lstat((target_ / "z-third.txt").c_str(), &third), 0);
  EXPECT_EQ(first.st_ino, second.st_ino);
  EXPECT_EQ(first.st_ino, third.st_ino);
  EXPECT_EQ(first.st_nlink, 3u);
  EXPECT_EQ(report->files_copied, 4u); // a.txt copied once; its two other names are links
  for (const auto& entry : entries_)
    if (entry.path == "z-third.txt") {
      EXPECT_EQ(entry.hard_link_to, "a.txt");
    }
  EXPECT_EQ(scan(target_), scan(source_));

  // The source's a.txt is rewritten (a new inode): the other names keep the old data, in the mirror too.
  ASSERT_EQ(unlink((source_ / "a.txt").c_str()), 0);
  write(source_ / "a.txt", "new alpha\n", 0640);
  ASSERT_TRUE(mirror());
  ASSERT_EQ(lstat((target_ / "a.txt").c_str(), &first), 0);
  ASSERT_EQ(lstat((target_ / "nested/a-again.txt").c_str(), &second), 0);
  ASSERT_EQ(lstat((target_ / "z-third.txt").c_str(), &third), 0);
  EXPECT_NE(first.st_ino, second.st_ino);
  EXPECT_EQ(second.st_ino, third.st_ino);
  EXPECT_EQ(first.st_nlink, 1u);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "new alpha\n");
  EXPECT_EQ(*util::read_file(target_ / "z-third.txt"), "alpha\n");
  EXPECT_EQ(scan(target_), scan(source_));
}

TEST_F(Staging, ExtendedAttributesAndAclsAreMirroredAndKeptInStep) {
  const auto file = source_ / "a.txt";
  ASSERT_EQ(lsetxattr(file.c_str(), "user.origin", "edge\0bytes", 10, 0), 0);
  ASSERT_EQ(lsetxattr(file.c_str(), "trusted.cwb", "t", 1, 0), 0);
  ASSERT_EQ(lsetxattr(file.c_str(), "security.selinux", "system_u:object_r:container_file_t:s0", 37, 0), 0);
  // A POSIX ACL (user 1234 rw, mask rw) as the kernel stores it: system.posix_acl_access.
  const unsigned char acl[] = {2, 0,    0,    0,    1,    0,    6,    0, 0xff, 0xff, 0xff, 0xff, 2,    0,    6,
                               0, 0xd2, 4,    0,    0,    4,    0,    4, 0,    0xff, 0xff, 0xff, 0xff, 0x10, 0,
                               6, 0,    0xff, 0xff, 0xff, 0xff, 0x20, 0, 4,    0,    0xff, 0xff, 0xff, 0xff};
  ASSERT_EQ(lsetxattr(file.c_str(), "system.posix_acl_access", acl, sizeof acl, 0), 0) << std::strerror(errno);
  ASSERT_EQ(lsetxattr((source_ / "nested").c_str(), "system.posix_acl_default", acl, sizeof acl, 0), 0);
  set_mtime(source_ / "nested", 1'400'000'001, 222'222'222);
  ASSERT_TRUE(mirror());
  EXPECT_EQ(scan(target_), scan(source_));
  const auto mirrored = scan(target_);
  const auto found = std::ranges::find(mirrored, std::string("a.txt"), &TreeEntry::path);
  ASSERT_NE(found, mirrored.end());
  EXPECT_EQ(found->xattrs.size(), 4u);

  // An attribute removed from an unchanged file is removed from the mirror's copy without a copy.
  ASSERT_EQ(lremovexattr(file.c_str(), "user.origin"), 0);
  auto second = mirror();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->files_copied, 0u);
  EXPECT_EQ(scan(target_), scan(source_));
}

TEST_F(Staging, OddNamesExtremeTimesAndModesRoundTrip) {
  const std::vector<std::string> names = {
      std::string("bad\xff\xfe"), "new\nline", "back\\slash", "-leading-dash", "caf\xc3\xa9", "cafe\xcc\x81",
      std::string(255, 'n')};
  for (const auto& name : names) { // not write(): its temporary name would exceed 255 bytes
    util::FileDescriptor fd(open((source_ / name).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644));
    ASSERT_TRUE(fd) << std::strerror(errno);
    ASSERT_EQ(::write(fd.get(), name.data(), name.size()), static_cast<ssize_t>(name.size()));
  }
  std::string deep = "deep";
  while (deep.size() < 1100)
    deep += "/" + std::string(60, 'd');
  ASSERT_TRUE(util::ensure_directories(source_ / deep));
  write(source_ / deep / "leaf", "far down");
  set_mtime(source_ / names[0], -86'400 * 365, 123'456'789); // 1969
  set_mtime(source_ / names[1], 4'102'444'800, 999'999'999); // 2100
  ASSERT_EQ(chmod((source_ / names[2]).c_str(), 0), 0);
  ASSERT_EQ(chmod((source_ / names[3]).c_str(), 07755), 0);
  ASSERT_EQ(lchown((source_ / names[4]).c_str(), 4'000'000'000u, 3'000'000'000u), 0);
  ASSERT_TRUE(mirror());
  EXPECT_EQ(scan(target_), scan(source_));
}

TEST_F(Staging, HolesInAFileStayHoles) {
  {
    util::FileDescriptor fd(open((source_ / "sparse.img").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(pwrite(fd.get(), "head", 4, 0), 4);
    ASSERT_EQ(pwrite(fd.get(), "tail", 4, 64 << 20), 4);
    ASSERT_EQ(ftruncate(fd.get(), (128 << 20)), 0); // ends in a hole
  }
  ASSERT_TRUE(mirror());
  struct stat info {};
  ASSERT_EQ(stat((target_ / "sparse.img").c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 128 << 20);
  EXPECT_LT(info.st_blocks * 512, 1 << 20) << "the mirror's copy filled its holes";
  EXPECT_EQ(*util::sha256_file(target_ / "sparse.img"), *util::sha256_file(source_ / "sparse.img"));
}

TEST_F(Staging, ARewriteWithinTheSameMtimeTickIsCaughtByTheRacyCheck) {
  // As git's racy-index rule: a file whose recorded mtime is not clearly older than the run that recorded
  // it is re-read next time. The rewrite keeps size and mtime (a coarse clock, or a writer resetting it).
  const auto file = source_ / "a.txt";
  struct stat before {};
  ASSERT_EQ(lstat(file.c_str(), &before), 0);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  set_mtime(file, seconds, 0);
  ASSERT_TRUE(mirror());
  write(file, "ALPHA\n", 0640);
  ASSERT_EQ(lchown(file.c_str(), 1234, 5678), 0);
  set_mtime(file, seconds, 0);
  forget_recorded_ctimes(index_);
  auto second = mirror();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "ALPHA\n");
  EXPECT_GE(second->files_verified, 1u);
}

TEST_F(Staging, AnOldFileRewrittenBehindTheQuickCheckIsCaughtByTheFullCheck) {
  const auto file = source_ / "a.txt"; // mtime in 2020: not racy
  const MirrorOptions every_third{index_, 3};
  auto first = mirror_tree(source_, target_, every_third);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->full_check); // no index yet: the first run reads everything anyway
  write(file, "ALPHA\n", 0640);
  ASSERT_EQ(lchown(file.c_str(), 1234, 5678), 0);
  set_mtime(file, 1'600'000'000, 123'456'789);
  // Before every pass: the ctimes the previous one recorded are forgotten (see forget_recorded_ctimes).
  forget_recorded_ctimes(index_);
  auto second = mirror_tree(source_, target_, every_third);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->full_check);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n"); // the quick check cannot see it
  // A quick pass with full_check_every 0 (a backup's second pass) does not count as a run.
  forget_recorded_ctimes(index_);
  ASSERT_TRUE(mirror_tree(source_, target_, MirrorOptions{index_, 0}));
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n");
  forget_recorded_ctimes(index_);
  auto third = mirror_tree(source_, target_, every_third);
  ASSERT_TRUE(third);
  EXPECT_FALSE(third->full_check);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n");
  forget_recorded_ctimes(index_);
  auto fourth = mirror_tree(source_, target_, every_third); // runs 1, 4, 7, ... read everything
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(fourth->full_check);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "ALPHA\n");
  EXPECT_EQ(fourth->files_copied, 1u);
}

TEST_F(Staging, AnOldFileRewrittenWithItsSizeAndMtimeKeptIsCaughtByItsCtime) {
  const auto file = source_ / "a.txt"; // mtime in 2020: not racy
  // The other files too, and every ctime more than a racy window old when the index is written, so that
  // only the ctime having moved can make the second pass re-read anything.
  for (const char* other : {"empty.txt", "script.sh", "nested/deeper/data.bin"})
    set_mtime(source_ / other, 1'600'000'000, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(mirror());
  // Rewritten in place (same inode), same size, the mtime set back: only the ctime moved.
  wait_for_the_next_ctime_tick();
  {
    auto descriptor = util::FileDescriptor(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(descriptor);
    ASSERT_EQ(::pwrite(descriptor.get(), "ALPHA\n", 6, 0), 6);
  }
  set_mtime(file, 1'600'000'000, 123'456'789);
  auto second = mirror();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->full_check);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "ALPHA\n");
  EXPECT_EQ(second->files_copied, 1u);
  EXPECT_EQ(second->files_verified, 1u); // only that file was re-read
}

TEST_F(Staging, AFileReplacedByACopyWithItsSizeAndMtimeIsCaughtByItsInode) {
  const auto file = source_ / "a.txt";
  ASSERT_TRUE(mirror());
  write(source_ / ".a.txt.new", "ALPHA\n", 0640); // cp -p, then mv over the old name
  ASSERT_EQ(lchown((source_ / ".a.txt.new").c_str(), 1234, 5678), 0);
  set_mtime(source_ / ".a.txt.new", 1'600'000'000, 123'456'789);
  ASSERT_EQ(std::rename((source_ / ".a.txt.new").c_str(), file.c_str()), 0);
  auto second = mirror();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "ALPHA\n");
  EXPECT_EQ(second->files_copied, 1u);
}

TEST_F(Staging, TheChangeFingerprintSeesWhatTheTreeFingerprintCannot) {
  const auto file = source_ / "a.txt";
  const auto tree_before = tree_fingerprint(scan(source_));
  const auto change_before = change_fingerprint(scan(source_));
  EXPECT_EQ(change_fingerprint(scan(source_)), change_before); // stable while nothing happens
  wait_for_the_next_ctime_tick();
  {
    auto descriptor = util::FileDescriptor(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(descriptor);
    ASSERT_EQ(::pwrite(descriptor.get(), "ALPHA\n", 6, 0), 6);
  }
  set_mtime(file, 1'600'000'000, 123'456'789);
  EXPECT_EQ(tree_fingerprint(scan(source_)), tree_before); // size, mtime, mode, owner all kept
  EXPECT_NE(change_fingerprint(scan(source_)), change_before);
}

TEST_F(Staging, CompareContentRewritesAFileWhoseMetadataMatches) {
  ASSERT_TRUE(mirror_tree(source_, target_, {}));
  // The target's copy changed behind the metadata's back (same size, same mtime): by content, it differs.
  write(target_ / "a.txt", "ALPHA\n", 0640);
  ASSERT_EQ(lchown((target_ / "a.txt").c_str(), 1234, 5678), 0);
  set_mtime(target_ / "a.txt", 1'600'000'000, 123'456'789);
  auto report = mirror_tree(source_, target_, MirrorOptions{{}, 0, true});
  ASSERT_TRUE(report);
  EXPECT_EQ(*util::read_file(target_ / "a.txt"), "alpha\n");
  EXPECT_EQ(report->files_copied, 1u);
}

TEST_F(Staging, OverlappingSourceAndTargetAreRefused) {
  auto report = mirror_tree(source_, source_ / "nested/mirror", {});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::usage);
}

TEST_F(Staging, TheFingerprintChangesWithAnyVisibleChange) {
  const auto before = tree_fingerprint(scan(source_));
  EXPECT_EQ(tree_fingerprint(scan(source_)), before);
  set_mtime(source_ / "a.txt", 1'600'000'000, 123'456'790); // one nanosecond
  const auto after_mtime = tree_fingerprint(scan(source_));
  EXPECT_NE(after_mtime, before);
  ASSERT_EQ(chmod((source_ / "a.txt").c_str(), 0600), 0);
  EXPECT_NE(tree_fingerprint(scan(source_)), after_mtime);
}

// Root reads everything, so the unreadable case runs in a child that became `nobody`.
TEST_F(Staging, AnUnreadableSourceFileIsAStagingIoErrorNamingIt) {
  const fs::path shared = fs::path("/tmp") / ("cwb-staging-unreadable-" + std::to_string(getpid()));
  ASSERT_TRUE(util::ensure_directories(shared / "source"));
  write(shared / "source/ok.txt", "ok");
  write(shared / "source/secret.txt", "secret", 0000);
  constexpr uid_t nobody = 65534;
  ASSERT_EQ(chown(shared.c_str(), nobody, nobody), 0);
  ASSERT_EQ(chown((shared / "source").c_str(), nobody, nobody), 0);
  ASSERT_EQ(chown((shared / "source/ok.txt").c_str(), nobody, nobody), 0);
  ASSERT_EQ(chown((shared / "source/secret.txt").c_str(), 0, 0), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    if (setgid(nobody) != 0 || setuid(nobody) != 0) _exit(2);
    auto report = mirror_tree(shared / "source", shared / "target", {});
    const std::string message =
        report ? std::string("no error") : std::string(to_string(report.error().kind)) + "|" + report.error().message;
    const auto written = ::write(pipe_fds[1], message.data(), message.size());
    _exit(written < 0 ? 3 : 0);
  }
  close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t count; (count = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<std::size_t>(count));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(util::remove_tree(shared));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(message.starts_with("staging_io|")) << message;
  EXPECT_NE(message.find("secret.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
}

// A container still running on a volume could swap a folder for a link while we write into it. Here a
// thread does that as fast as it can while the mirror runs again and again: whatever each run ends with
// (done, or a staging_io error naming the link), nothing may ever appear in the link's target.
TEST_F(Staging, AFolderSwappedForALinkWhileTheMirrorWritesIsNeverWrittenThrough) {
  const fs::path source = dir_.path() / "race-source";
  const fs::path target = dir_.path() / "race-target";
  const fs::path outside = dir_.path() / "outside";
  ASSERT_TRUE(util::ensure_directories(source / "d"));
  ASSERT_TRUE(util::ensure_directories(outside));
  for (int i = 0; i < 200; ++i)
    write(source / "d" / ("file-" + std::to_string(i)), "content " + std::to_string(i));
  std::atomic<bool> stop{false};
  std::atomic<unsigned> swaps{0};
  std::thread swapper([&] {
    // Exchanged atomically (RENAME_EXCHANGE), so that "d" is always there: a folder, or a link.
    const fs::path folder = target / "d";
    const fs::path link = target / "d.swap";
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      if (symlink(outside.c_str(), link.c_str()) != 0 && errno != EEXIST) continue;
      if (renameat2(AT_FDCWD, folder.c_str(), AT_FDCWD, link.c_str(), RENAME_EXCHANGE) != 0) continue;
      ++swaps;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      renameat2(AT_FDCWD, folder.c_str(), AT_FDCWD, link.c_str(), RENAME_EXCHANGE);
    }
  });
  unsigned failed_runs = 0;
  for (int run = 0; run < 40; ++run) {
    (void)util::remove_tree(target);
    auto report = mirror_tree(source, target, {});
    if (!report) ++failed_runs;
  }
  stop = true;
  swapper.join();
  EXPECT_GT(swaps.load(), 0u);
  EXPECT_TRUE(fs::is_empty(outside)) << "written through the link: " << fs::directory_iterator(outside)->path();
  // Left alone, the same mirror succeeds.
  ASSERT_TRUE(util::remove_tree(target));
  auto calm = mirror_tree(source, target, {});
  ASSERT_TRUE(calm) << calm.error().message;
  EXPECT_EQ(calm->files_copied, 200u);
  std::cout << "mirror runs that met a swapped folder and failed: " << failed_runs << " of 40\n";
}

} // namespace
} // namespace cwb::staging
