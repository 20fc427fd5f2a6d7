#pragma once
// Makes a folder an exact, incremental copy of another: contents (holes kept where the file system has
// them), modes, owners, mtimes (ns), extended attributes and POSIX ACLs, symlinks as links (never
// followed), hard-link groups, FIFOs and device nodes. Sockets are skipped with a warning (restic does not
// restore them either). Files whose metadata did not change are neither rewritten nor read; their SHA-256
// comes from a persistent index. Changed files are read once (hashed while copied) into a temporary file
// that is renamed over the old one, so a crash never leaves a half file in the mirror.
//
// The metadata check misses a file rewritten with the same size within the same mtime tick, or with its
// mtime set back. As git does, the index keeps each source file's inode and ctime (which every write moves
// and nothing sets back): a file whose ctime or inode moved is re-read; a record whose mtime is not clearly
// older than the run that wrote it is "racy" and re-read; and every `full_check_every` runs, every file is
// re-read and compared with its recorded hash (for file systems whose ctime cannot be trusted).

#include "core/error.hpp"
#include "staging/tree.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace cwb::staging {

struct MirrorEntry;

struct MirrorOptions {
  /// Index of the mirror's files (metadata + SHA-256; JSON lines in path order), rewritten as the mirror goes
  /// and put in place atomically at its end. Must lie
  /// outside the target (it would be removed as an extra entry otherwise). Empty: no index, every
  /// unchanged file is re-read to hash it.
  std::filesystem::path index_path;
  /// Every how many runs (with an index) every unchanged file's source is re-read and compared with its
  /// recorded hash: 1 = every run; 0 = not in this run, which does not count as one either (a backup's
  /// second, quick pass inside its freeze window).
  unsigned full_check_every = 0;
  /// Decide by content, never by metadata: every file whose metadata matches is still read on both sides
  /// and rewritten when the contents differ (a restore into a live volume, a rollback).
  bool compare_content = false;
  /// Called after each source entry with the entries done, their count, and the bytes copied so far
  /// (a progress line); empty: nothing is reported.
  std::function<void(std::uint64_t done, std::uint64_t total, std::uint64_t bytes_copied)> on_progress = {};
  /// Called with each source entry once it is mirrored, in path byte order; an error stops the mirror and
  /// is returned. The entries are not kept (memory stays flat in the number of files): a caller that needs
  /// them (the manifest) takes them here.
  std::function<Result<>(const MirrorEntry&)> on_entry = {};
};

enum class MirrorAction {
  copied,    // a file written anew
  unchanged, // a file left as it was (hash from the index or from re-reading the mirror's copy)
  created,   // a directory or symlink made or remade
  kept,      // a directory, symlink or special file already right (metadata reapplied where it differed)
  linked,    // a further name of a hard-link group, (re)linked to the group's first path
  skipped,   // a socket: not mirrored (see warning)
};

struct MirrorEntry {
  std::string path;
  EntryType type = EntryType::socket;
  std::uint64_t size = 0;
  std::string sha256; // regular files only
  /// A further name of a hard-link group: the group's first path (byte order) in the same tree.
  std::string hard_link_to;
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
  std::uint64_t files_verified = 0; // unchanged files whose source was re-read (racy, full check, by content)
  bool full_check = false;          // this run re-read every unchanged file
  std::uint64_t bytes_copied = 0;
  std::uint64_t entries = 0; // source entries mirrored (MirrorOptions::on_entry saw each)
};

/// Makes `target` (created when missing) identical to the directory `source`. Owners are copied with
/// lchown(), so mirroring other users' files needs root. Returns what was done.
/// Errors: staging_io naming the path that could not be read or written (e.g. an unreadable source
/// file); usage when source and target are the same or nested in one another.
Result<MirrorReport> mirror_tree(const std::filesystem::path& source, const std::filesystem::path& target,
                                 const MirrorOptions& options = {});

} // namespace cwb::staging
