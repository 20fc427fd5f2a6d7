#pragma once
// A volume that holds what real volumes hold, and a comparison of two trees that does not trust the
// plugin's own scanner (staging::scan_tree): the fidelity tests build the tree with write_hostile_tree(),
// send it through a backup and a restore (or the mirror), and expect tree_differences() to find nothing.
//
// The tree has every item of issue 11's fidelity list: files of every size with holes, modes with
// setuid/setgid/sticky and 000, owners of any id (run as root), mtimes with nanoseconds before 1970 and
// after 2038, symbolic links of every kind (absolute, dangling, outside, loops), hard-link groups, FIFOs and
// device nodes, extended attributes (user, security, trusted) and POSIX ACLs (access and default), names
// that are not UTF-8, differ only in Unicode normalization, hold a newline, a backslash or a leading dash,
// 255-byte names and a path longer than 1024 characters.

#include "core/error.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cwb::test {

/// Creates the hostile tree in the folder `root` (created when missing; it must not hold the tree's
/// names yet). Needs root (owners, trusted.* attributes, device nodes). Errors: internal naming the entry
/// and the call that failed.
Result<> write_hostile_tree(const std::filesystem::path& root);

/// One line per entry below `root` (and "." for `root` itself), keyed by the path relative to `root` as
/// bytes: type, mode, owner, mtime in ns; size and SHA-256 for files; the target for links; major:minor
/// for devices; every extended attribute with its value in hex (ACLs included; none read on links). The
/// key "#hard-link groups" lists the groups of paths that share an inode. Read with lstat/llistxattr, never
/// following a link. Errors: internal naming the entry.
Result<std::map<std::string, std::string>> describe_tree(const std::filesystem::path& root);

/// Returns one readable line per difference between two descriptions (missing on either side, or
/// differing), non-printable bytes as \xNN; empty when they are equal.
std::vector<std::string> tree_differences(const std::map<std::string, std::string>& expected,
                                          const std::map<std::string, std::string>& actual);

} // namespace cwb::test
