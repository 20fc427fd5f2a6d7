#pragma once
// Makes a folder an exact, incremental copy of another: contents, modes, owners, mtimes (ns), symlinks as
// links. Files whose metadata did not change are neither rewritten nor read; their SHA-256 comes from a
// persistent index. Changed files are read once (hashed while copied) into a temporary file that is renamed
// over the old one, so a crash never leaves a half file in the mirror.

#include "core/error.hpp"
#include "staging/tree.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cwb::staging {

struct MirrorOptions {
  /// JSON index of the mirror's files (metadata + SHA-256), rewritten atomically after each run. Must lie
  /// outside the target (it would be removed as an extra entry otherwise). Empty: no index, every
  /// unchanged file is re-read to hash it.
  std::filesystem::path index_path;
};

enum class MirrorAction {
  copied,    // a file written anew
  unchanged, // a file left as it was (hash from the index or from re-reading the mirror's copy)
  created,   // a directory or symlink made or remade
  kept,      // a directory or symlink already right (metadata reapplied)
  skipped,   // a socket, fifo or device: not mirrored (see warning)
};

struct MirrorEntry {
  std::string path;
  EntryType type = EntryType::other;
  std::uint64_t size = 0;
  std::string sha256; // regular files only
  MirrorAction action = MirrorAction::unchanged;
  std::string warning; // why a skipped entry was skipped
  TreeEntry metadata;  // the source entry as it was mirrored (mode, owner, mtime, link target)
};

struct MirrorReport {
  std::uint64_t files_copied = 0;
  std::uint64_t files_unchanged = 0;
  std::uint64_t files_removed =
      0; // entries of any type removed from the mirror (absent or of another type in the source)
  std::uint64_t files_rehashed = 0; // unchanged files read again because the index had no valid hash for them
  std::uint64_t bytes_copied = 0;
  std::vector<MirrorEntry> entries; // every source entry, sorted by path
};

/// Makes `target` (created when missing) identical to the directory `source`. Owners are copied with
/// lchown(), so mirroring other users' files needs root. Returns what was done.
/// Errors: staging_io naming the path that could not be read or written (e.g. an unreadable source
/// file); usage when source and target are the same or nested in one another.
Result<MirrorReport> mirror_tree(const std::filesystem::path& source, const std::filesystem::path& target,
                                 const MirrorOptions& options = {});

} // namespace cwb::staging
