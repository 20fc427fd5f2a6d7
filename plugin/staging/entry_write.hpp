#pragma once
// Writing one entry's metadata and names, shared by the mirror and the restore's checks: in the order the
// kernel needs, never through a symbolic link.

#include "core/error.hpp"
#include "staging/tree.hpp"

#include <filesystem>

namespace cwb::staging {

/// A unique name beside `path` (same folder, so a rename onto `path` stays within one file system).
std::filesystem::path temporary_sibling(const std::filesystem::path& path);

/// Gives `path` itself the owner, extended attributes, mode and mtime of `wanted` (a symlink: owner and
/// mtime only; its mode is not its own and Linux allows no user.* attribute on it). `current`: what
/// `path` has now, to skip what is already right; null when unknown. Order: owner first (chown clears
/// setuid/setgid and security.capability), then attributes (an ACL sets the group bits), then the mode,
/// then the times. Errors: staging_io naming the path.
Result<> apply_entry_metadata(const std::filesystem::path& path, const TreeEntry& wanted,
                              const TreeEntry* current = nullptr);

/// Makes `path` another name of `leader`'s data: a hard link made beside it and renamed over it.
/// Errors: staging_io.
Result<> replace_with_hard_link(const std::filesystem::path& leader, const std::filesystem::path& path);

/// Makes `path` a symbolic link to `target` (any bytes): a link made beside it and renamed over it.
/// Errors: staging_io.
Result<> replace_with_symlink(const std::string& target, const std::filesystem::path& path);

} // namespace cwb::staging
