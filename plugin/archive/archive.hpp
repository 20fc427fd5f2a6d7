#pragma once
// tar.gz archives: validating one to the very end (data included) and extracting one so that no entry
// can land outside the target folder.

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
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
  /// Lower-case hex SHA-256 of the file as read (for a .tar.gz: of the compressed bytes).
  std::string sha256;
  /// Lower-case hex SHA-256 over every entry in order: its name, type, size, mode, uid, gid, mtime, link
  /// target and the SHA-256 of its data. Equal for a tar and any gzip of it; it does not depend on how the
  /// tar was compressed.
  std::string entries_sha256;
  /// With ValidateOptions::unpack_to: the SHA-256 and size of the tar written there, i.e. of the very
  /// stream the entries above were read from.
  std::string unpacked_sha256;
  std::uint64_t unpacked_bytes = 0;
};

struct ValidateOptions {
  /// When set, the inflated tar is written here as well (created 0600, truncated, not synced).
  std::optional<std::filesystem::path> unpack_to;
};

/// Reads a gzip-compressed tar to its end in one pass, data included, so truncation and corruption anywhere
/// show: zlib inflates it checking every gzip member's CRC-32 and length, libarchive parses the tar from the
/// inflated stream, and the file and its entries are hashed meanwhile. Returns what it holds. Errors:
/// export_invalid, naming the path and the reason, for a missing, truncated, corrupt, non-gzip or empty
/// archive; staging_io when `unpack_to` cannot be written (a partial file there is removed).
Result<ArchiveInfo> validate_tar_gz(const std::filesystem::path& path, const ValidateOptions& options = {});

/// Reads an uncompressed tar to its end, like validate_tar_gz. Errors: `kind` for a missing, truncated,
/// corrupt or empty tar.
Result<ArchiveInfo> read_tar(const std::filesystem::path& path, ErrorKind kind);

/// Writes `source` gzip-compressed into `target` (created 0600, truncated, not synced) at zlib `level`
/// (1 fastest .. 9 smallest). Errors: staging_io (a partial target is removed).
Result<> gzip_file(const std::filesystem::path& source, const std::filesystem::path& target, int level);

/// Extracts a tar.gz into `target_dir` (created when missing). Refuses, before writing anything, archives
/// with absolute paths, ".." components, or links whose target would lie outside `target_dir`; libarchive's
/// ARCHIVE_EXTRACT_SECURE_* checks run as well. Returns what was extracted. Errors: snapshot_invalid for an
/// escape attempt or an unreadable archive, staging_io when writing fails.
Result<ArchiveInfo> extract_safely(const std::filesystem::path& archive_path, const std::filesystem::path& target_dir);

} // namespace cwb::archive
