#pragma once
// Writing one entry's metadata and names, shared by the mirror and the restore's checks: in the order the
// kernel needs, never through a symbolic link. Every call reaches the entry from its parent folder's
// descriptor (util::EntryAt), so a folder on the way swapped for a link cannot redirect a write.

#include "core/error.hpp"
#include "staging/tree.hpp"
#include "util/beneath_root.hpp"

#include <string>

namespace cwb::staging {

/// A unique name for a temporary entry beside another (same folder, so a rename stays within one file
/// system).
std::string temporary_name();

/// Gives the entry `at` itself the owner, extended attributes, mode and mtime of `wanted` (a symlink:
/// owner and mtime only; its mode is not its own and Linux allows no user.* attribute on it). `current`:
/// what it has now, to skip what is already right; null when unknown. Order: owner first (chown clears
/// setuid/setgid and security.capability), then attributes (an ACL sets the group bits), then the mode,
/// then the times. Errors: staging_io naming the path.
Result<> apply_entry_metadata(const util::EntryAt& at, const TreeEntry& wanted, const TreeEntry* current = nullptr);

/// Makes `at` another name of `leader`'s data: a hard link made beside it and renamed over it.
/// Errors: staging_io.
Result<> replace_with_hard_link(const util::EntryAt& leader, const util::EntryAt& at);

/// Makes `at` a symbolic link to `target` (any bytes): a link made beside it and renamed over it.
/// Errors: staging_io.
Result<> replace_with_symlink(const std::string& target, const util::EntryAt& at);

/// Renames the temporary entry `made` over `at` (same folder); removes `made` when that fails.
/// Errors: staging_io naming `at`.
Result<> rename_over(const util::EntryAt& made, const util::EntryAt& at);

} // namespace cwb::staging
