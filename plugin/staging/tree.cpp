#include "staging/tree.hpp"

#include "util/sha256.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
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
  if (S_ISFIFO(mode)) return EntryType::fifo;
  if (S_ISCHR(mode)) return EntryType::char_device;
  if (S_ISBLK(mode)) return EntryType::block_device;
  return EntryType::socket;
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

bool no_xattr_support(int error_number) {
  return error_number == ENOTSUP || error_number == EOPNOTSUPP || error_number == ENOSYS;
}

Result<TreeEntry> entry_of(const fs::path& path, std::string relative, const struct stat& status,
                           const ScanOptions& options) {
  TreeEntry entry;
  entry.path = std::move(relative);
  entry.type = type_of(status.st_mode);
  entry.mode = status.st_mode & 07777;
  entry.uid = status.st_uid;
  entry.gid = status.st_gid;
  entry.mtime_ns = static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec;
  entry.identity = {static_cast<std::uint64_t>(status.st_dev), static_cast<std::uint64_t>(status.st_ino),
                    static_cast<std::uint64_t>(status.st_nlink),
                    static_cast<std::int64_t>(status.st_ctim.tv_sec) * 1'000'000'000 + status.st_ctim.tv_nsec};
  if (entry.type == EntryType::file || entry.type == EntryType::symlink)
    entry.size = static_cast<std::uint64_t>(status.st_size);
  if (entry.type == EntryType::char_device || entry.type == EntryType::block_device)
    entry.device_number = static_cast<std::uint64_t>(status.st_rdev);
  if (entry.type == EntryType::symlink) {
    auto target = read_link(path, entry.size);
    if (!target) return fail(target.error());
    entry.link_target = std::move(*target);
  } else if (options.xattrs) {
    auto xattrs = read_xattrs(path);
    if (!xattrs) return fail(xattrs.error());
    entry.xattrs = std::move(*xattrs);
  }
  return entry;
}

Result<> walk_directory(const fs::path& root, const std::string& relative, const ScanOptions& options,
                        const std::function<Result<>(TreeEntry&&)>& visit) {
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
    auto entry = entry_of(child_path, child, status, options);
    if (!entry) {
      struct stat again {};
      if (lstat(child_path.c_str(), &again) != 0 && errno == ENOENT) continue; // vanished between the calls
      return fail(entry.error());
    }
    const bool descend = entry->type == EntryType::directory;
    CWB_TRY(visit(std::move(*entry)));
    if (descend) CWB_TRY(walk_directory(root, child, options, visit));
  }
  return {};
}

} // namespace

bool TreeEntry::operator==(const TreeEntry& other) const {
  return path == other.path && type == other.type && size == other.size && mode == other.mode && uid == other.uid &&
         gid == other.gid && mtime_ns == other.mtime_ns && link_target == other.link_target &&
         device_number == other.device_number && xattrs == other.xattrs;
}

const char* to_string(EntryType type) noexcept {
  switch (type) {
  case EntryType::file: return "file";
  case EntryType::directory: return "directory";
  case EntryType::symlink: return "symlink";
  case EntryType::fifo: return "fifo";
  case EntryType::char_device: return "char_device";
  case EntryType::block_device: return "block_device";
  case EntryType::socket: return "socket";
  }
  return "socket";
}

Result<std::vector<ExtendedAttribute>> read_xattrs(const fs::path& path, const fs::path& shown) {
  const fs::path& named = shown.empty() ? path : shown;
  std::vector<ExtendedAttribute> xattrs;
  std::string names;
  for (;;) {
    const ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) {
      if (no_xattr_support(errno)) return xattrs;
      return io_error("cannot list extended attributes of", named, errno);
    }
    if (size == 0) return xattrs;
    names.assign(static_cast<std::size_t>(size), '\0');
    const ssize_t got = llistxattr(path.c_str(), names.data(), names.size());
    if (got >= 0) {
      names.resize(static_cast<std::size_t>(got));
      break;
    }
    if (errno != ERANGE) return io_error("cannot list extended attributes of", named, errno);
    // an attribute was added between the two calls: ask again
  }
  for (std::size_t start = 0; start < names.size();) {
    const std::size_t end = names.find('\0', start);
    std::string name = names.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? names.size() : end + 1;
    if (name.empty()) continue;
    std::string value;
    for (;;) {
      const ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (size < 0) {
        if (errno == ENODATA) break; // removed since the listing
        return io_error("cannot read extended attribute " + name + " of", named, errno);
      }
      value.assign(static_cast<std::size_t>(size), '\0');
      const ssize_t got = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (got >= 0) {
        value.resize(static_cast<std::size_t>(got));
        xattrs.push_back({std::move(name), std::move(value)});
        break;
      }
      if (errno != ERANGE) return io_error("cannot read extended attribute " + name + " of", named, errno);
    }
  }
  std::ranges::sort(xattrs, {}, &ExtendedAttribute::name);
  return xattrs;
}

Result<> write_xattrs(const fs::path& path, const std::vector<ExtendedAttribute>& have,
                      const std::vector<ExtendedAttribute>& wanted, const fs::path& shown) {
  const fs::path& named = shown.empty() ? path : shown;
  for (const auto& old : have) {
    if (std::ranges::find(wanted, old.name, &ExtendedAttribute::name) != wanted.end()) continue;
    if (lremovexattr(path.c_str(), old.name.c_str()) != 0 && errno != ENODATA)
      return io_error("cannot remove extended attribute " + old.name + " of", named, errno);
  }
  for (const auto& attribute : wanted) {
    if (std::ranges::find(have, attribute) != have.end()) continue;
    if (lsetxattr(path.c_str(), attribute.name.c_str(), attribute.value.data(), attribute.value.size(), 0) != 0)
      return io_error("cannot set extended attribute " + attribute.name + " of", named, errno);
  }
  return {};
}

Result<TreeEntry> stat_entry(const fs::path& path, const ScanOptions& options) {
  struct stat status {};
  if (lstat(path.c_str(), &status) != 0) return io_error("cannot stat", path, errno);
  return entry_of(path, {}, status, options);
}

Result<std::optional<TreeEntry>> stat_entry_if_present(const fs::path& path, const ScanOptions& options) {
  struct stat status {};
  if (lstat(path.c_str(), &status) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return io_error("cannot stat", path, errno);
  }
  auto entry = entry_of(path, {}, status, options);
  if (!entry) return fail(entry.error());
  return std::optional<TreeEntry>(std::move(*entry));
}

Result<> walk_tree(const fs::path& root, const ScanOptions& options,
                   const std::function<Result<>(TreeEntry&&)>& visit) {
  struct stat status {};
  if (lstat(root.c_str(), &status) != 0) return io_error("cannot stat", root, errno);
  if (!S_ISDIR(status.st_mode)) return fail(ErrorKind::staging_io, "not a directory: " + root.string());
  return walk_directory(root, "", options, visit);
}

Result<std::vector<TreeEntry>> scan_tree(const fs::path& root, const ScanOptions& options) {
  std::vector<TreeEntry> entries;
  CWB_TRY(walk_tree(root, options, [&](TreeEntry&& entry) -> Result<> {
    entries.push_back(std::move(entry));
    return {};
  }));
  // Depth-first order puts "a/b" before "a.txt"; plain byte order is what callers (and diffs) expect.
  std::sort(entries.begin(), entries.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return entries;
}

std::string tree_fingerprint(const std::vector<TreeEntry>& entries) {
  util::Sha256 hash;
  // Paths, link targets and attribute values may hold any byte, newlines included: each is length-prefixed
  // so that no two different trees give the same byte stream.
  const auto field = [](const std::string& text) { return std::to_string(text.size()) + ':' + text; };
  for (const auto& entry : entries) {
    std::string record = field(entry.path) + '\0' + to_string(entry.type) + '\0' + std::to_string(entry.size) + '\0' +
                         std::to_string(entry.mtime_ns) + '\0' + std::to_string(entry.mode) + '\0' +
                         std::to_string(entry.uid) + ':' + std::to_string(entry.gid) + '\0' + field(entry.link_target) +
                         '\0' + std::to_string(entry.device_number);
    for (const auto& attribute : entry.xattrs)
      record += '\0' + field(attribute.name) + field(attribute.value);
    hash.update(record + '\n');
  }
  return hash.finish_hex();
}

std::string change_fingerprint(const std::vector<TreeEntry>& entries) {
  util::Sha256 hash;
  hash.update(tree_fingerprint(entries) + '\n');
  for (const auto& entry : entries) {
    hash.update(std::to_string(entry.identity.device) + ':' + std::to_string(entry.identity.inode) + ':' +
                std::to_string(entry.identity.links) + ':' + std::to_string(entry.identity.ctime_ns) + '\n');
  }
  return hash.finish_hex();
}

} // namespace cwb::staging
