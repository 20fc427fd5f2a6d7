#pragma once
// A tree as lstat() sees it: every entry below a root with its type, size, mode, owner, mtime (ns), link
// target, device number, extended attributes and hard-link identity. Symbolic links are listed, never
// followed.

#include "core/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cwb::staging {

enum class EntryType { file, directory, symlink, fifo, char_device, block_device, socket };

/// Returns "file", "directory", "symlink", "fifo", "char_device", "block_device" or "socket".
const char* to_string(EntryType type) noexcept;

/// One extended attribute, value verbatim (any bytes). POSIX ACLs are the attributes
/// system.posix_acl_access and system.posix_acl_default.
struct ExtendedAttribute {
  std::string name;
  std::string value;
  bool operator==(const ExtendedAttribute&) const = default;
};

/// Where an entry's data lives on this machine: equal identities within one tree are one hard-link group.
/// Not part of what a tree *is* (a copy has other inodes), so operator== of TreeEntry ignores it.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t links = 1; // st_nlink: > 1 means other names (maybe outside the tree) share the data
  /// st_ctime: moves on every write, chmod, chown, xattr change, link or rename of the inode, and cannot
  /// be set back (unlike mtime, which `touch -d` or `cp -p` restore).
  std::int64_t ctime_ns = 0;
};

struct TreeEntry {
  std::string path; // relative to the root, '/'-separated, no leading "./"; any byte but NUL
  EntryType type = EntryType::socket;
  std::uint64_t size = 0; // bytes of a file; the target's length for a symlink; 0 otherwise
  mode_t mode = 0;        // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t mtime_ns = 0;       // nanoseconds since the epoch (negative before 1970)
  std::string link_target;         // symlinks only, verbatim
  std::uint64_t device_number = 0; // st_rdev of a character or block device
  /// Sorted by name. Not read for symbolic links: restic neither stores nor restores them there, and
  /// Linux allows no user.* attribute on a link.
  std::vector<ExtendedAttribute> xattrs;
  FileIdentity identity;

  /// Equal when everything but the identity is equal.
  bool operator==(const TreeEntry& other) const;
};

struct ScanOptions {
  /// Read extended attributes (one llistxattr() per entry, more only where there are some).
  bool xattrs = true;
};

/// Returns every entry below `root` (not `root` itself), sorted by path (byte order, so a folder comes
/// before its contents). Errors: staging_io naming the path that cannot be listed or lstat()ed, or when
/// `root` is not a directory.
Result<std::vector<TreeEntry>> scan_tree(const std::filesystem::path& root, const ScanOptions& options = {});

/// Calls `visit` with every entry below `root` as scan_tree lists it, but one at a time and in depth-first
/// order (each folder's names sorted, its contents right after it: "a/x" before "a.b", unlike byte order),
/// so that a tree of 100,000 entries need not be held. Stops at the first error, `visit`'s included.
Result<> walk_tree(const std::filesystem::path& root, const ScanOptions& options,
                   const std::function<Result<>(TreeEntry&&)>& visit);

/// Returns the metadata of `path` itself (its `path` field empty). Errors: staging_io.
Result<TreeEntry> stat_entry(const std::filesystem::path& path, const ScanOptions& options = {});

/// stat_entry, or nullopt when nothing is at `path` (one lstat() either way). Errors: staging_io.
Result<std::optional<TreeEntry>> stat_entry_if_present(const std::filesystem::path& path,
                                                       const ScanOptions& options = {});

/// Returns the extended attributes of `path` itself (a link is not followed), sorted by name.
/// Errors: staging_io (naming `shown` when given, e.g. for a descriptor path); a file system without
/// extended attributes has none (not an error).
Result<std::vector<ExtendedAttribute>> read_xattrs(const std::filesystem::path& path,
                                                   const std::filesystem::path& shown = {});

/// Makes the extended attributes of `path` itself exactly `wanted`: sets what differs, removes what is
/// not wanted. Errors: staging_io naming the attribute (and `shown` when given).
Result<> write_xattrs(const std::filesystem::path& path, const std::vector<ExtendedAttribute>& have,
                      const std::vector<ExtendedAttribute>& wanted, const std::filesystem::path& shown = {});

/// Returns the hex SHA-256 over path, type, size, mtime, mode, owner, link target, device number and
/// extended attributes of every entry: equal fingerprints mean nothing visible changed.
std::string tree_fingerprint(const std::vector<TreeEntry>& entries);

/// Like tree_fingerprint, plus each entry's inode and ctime: equal change fingerprints of one tree taken at
/// two moments mean nothing was written in between, even by a writer that keeps size and mtime (a rewrite
/// in place followed by `touch -d`, a file replaced by a renamed copy made with `cp -p`). Only for comparing
/// a tree with itself: a copy of it has other inodes and ctimes.
std::string change_fingerprint(const std::vector<TreeEntry>& entries);

} // namespace cwb::staging
