#pragma once
// A tree as lstat() sees it: every entry below a root with its type, size, mode, owner, mtime (ns) and
// link target. Symbolic links are listed, never followed.

#include "core/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cwb::staging {

enum class EntryType { file, directory, symlink, other };

/// Returns "file", "directory", "symlink" or "other".
const char* to_string(EntryType type) noexcept;

struct TreeEntry {
  std::string path; // relative to the root, '/'-separated, no leading "./"
  EntryType type = EntryType::other;
  std::uint64_t size = 0; // bytes of a file; the target's length for a symlink; 0 otherwise
  mode_t mode = 0;        // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t mtime_ns = 0; // nanoseconds since the epoch
  std::string link_target;   // symlinks only, verbatim

  bool operator==(const TreeEntry&) const = default;
};

/// Returns every entry below `root` (not `root` itself), sorted by path (byte order, so a folder comes
/// before its contents). Errors: staging_io naming the path that cannot be listed or lstat()ed, or when
/// `root` is not a directory.
Result<std::vector<TreeEntry>> scan_tree(const std::filesystem::path& root);

/// Returns the hex SHA-256 over path, type, size, mtime, mode and link target of every entry: equal
/// fingerprints mean nothing visible changed.
std::string tree_fingerprint(const std::vector<TreeEntry>& entries);

} // namespace cwb::staging
