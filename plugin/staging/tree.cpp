#include "staging/tree.hpp"

#include "util/sha256.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;

struct DirectoryCloser {
  void operator()(DIR* directory) const noexcept { closedir(directory); }
};
using DirectoryHandle = std::unique_ptr<DIR, DirectoryCloser>;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

EntryType type_of(mode_t mode) {
  if (S_ISREG(mode)) return EntryType::file;
  if (S_ISDIR(mode)) return EntryType::directory;
  if (S_ISLNK(mode)) return EntryType::symlink;
  return EntryType::other;
}

Result<std::string> read_link(const fs::path& path, std::size_t expected_size) {
  std::string target(expected_size + 1, '\0');
  for (;;) {
    const ssize_t length = readlink(path.c_str(), target.data(), target.size());
    if (length < 0) return io_error("cannot read link", path, errno);
    if (static_cast<std::size_t>(length) < target.size()) {
      target.resize(static_cast<std::size_t>(length));
      return target;
    }
    target.resize(target.size() * 2); // the link grew since lstat()
  }
}

Result<> scan_directory(const fs::path& root, const std::string& relative, std::vector<TreeEntry>& entries) {
  const fs::path directory_path = relative.empty() ? root : root / relative;
  DirectoryHandle directory(opendir(directory_path.c_str()));
  if (!directory) return io_error("cannot list", directory_path, errno);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* item = readdir(directory.get());
    if (item == nullptr) {
      if (errno != 0) return io_error("cannot list", directory_path, errno);
      break;
    }
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  directory.reset();
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string child = relative.empty() ? name : relative + "/" + name;
    const fs::path child_path = root / child;
    struct stat status {};
    if (lstat(child_path.c_str(), &status) != 0) {
      if (errno == ENOENT) continue; // vanished while we listed: it is not part of the tree any more
      return io_error("cannot stat", child_path, errno);
    }
    TreeEntry entry;
    entry.path = child;
    entry.type = type_of(status.st_mode);
    entry.mode = status.st_mode & 07777;
    entry.uid = status.st_uid;
    entry.gid = status.st_gid;
    entry.mtime_ns = static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec;
    if (entry.type == EntryType::file || entry.type == EntryType::symlink)
      entry.size = static_cast<std::uint64_t>(status.st_size);
    if (entry.type == EntryType::symlink) {
      auto target = read_link(child_path, entry.size);
      if (!target) return fail(target.error());
      entry.link_target = std::move(*target);
    }
    const bool descend = entry.type == EntryType::directory;
    entries.push_back(std::move(entry));
    if (descend) CWB_TRY(scan_directory(root, child, entries));
  }
  return {};
}

} // namespace

const char* to_string(EntryType type) noexcept {
  switch (type) {
  case EntryType::file: return "file";
  case EntryType::directory: return "directory";
  case EntryType::symlink: return "symlink";
  case EntryType::other: return "other";
  }
  return "other";
}

Result<std::vector<TreeEntry>> scan_tree(const fs::path& root) {
  struct stat status {};
  if (lstat(root.c_str(), &status) != 0) return io_error("cannot stat", root, errno);
  if (!S_ISDIR(status.st_mode)) return fail(ErrorKind::staging_io, "not a directory: " + root.string());
  std::vector<TreeEntry> entries;
  CWB_TRY(scan_directory(root, "", entries));
  // Depth-first order puts "a/b" before "a.txt"; plain byte order is what callers (and diffs) expect.
  std::sort(entries.begin(), entries.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return entries;
}

std::string tree_fingerprint(const std::vector<TreeEntry>& entries) {
  util::Sha256 hash;
  for (const auto& entry : entries) {
    // Paths and link targets may hold any byte but NUL, newlines included: they are length-prefixed so
    // that no two different trees give the same byte stream.
    const std::string record = std::to_string(entry.path.size()) + ':' + entry.path + '\0' + to_string(entry.type) +
                               '\0' + std::to_string(entry.size) + '\0' + std::to_string(entry.mtime_ns) + '\0' +
                               std::to_string(entry.mode) + '\0' + std::to_string(entry.link_target.size()) + ':' +
                               entry.link_target + '\n';
    hash.update(record);
  }
  return hash.finish_hex();
}

} // namespace cwb::staging
