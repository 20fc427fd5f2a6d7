#pragma once
// tar.gz archives: validating one to the very end (data included) and extracting one so that no entry
// can land outside the target folder.

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cwb::archive {

enum class EntryType { file, directory, symlink, hardlink, other };

/// Returns "file", "directory", ...
const char* to_string(EntryType type) noexcept;

struct ArchiveEntry {
  std::string name; // path inside the archive as stored
  std::uint64_t size = 0;
  EntryType type = EntryType::other;
};

struct ArchiveInfo {
  std::uint64_t entry_count = 0;
  std::uint64_t uncompressed_bytes = 0; // sum of the entries' data bytes
  std::vector<ArchiveEntry> entries;
};

/// Reads a gzip-compressed tar to its end, data included, so truncation and corruption anywhere show.
/// Returns what it holds. Errors: export_invalid, naming the path and libarchive's reason, for a missing,
/// truncated, corrupt, non-gzip or empty archive.
Result<ArchiveInfo> validate_tar_gz(const std::filesystem::path& path);

/// Extracts a tar.gz into `target_dir` (created when missing). Refuses, before writing anything, archives
/// with absolute paths, ".." components, or links whose target would lie outside `target_dir`; libarchive's
/// ARCHIVE_EXTRACT_SECURE_* checks run as well. Returns what was extracted. Errors: snapshot_invalid for an
/// escape attempt or an unreadable archive, staging_io when writing fails.
Result<ArchiveInfo> extract_safely(const std::filesystem::path& archive_path, const std::filesystem::path& target_dir);

} // namespace cwb::archive
