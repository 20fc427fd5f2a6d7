#pragma once
// The emulator's database export format: a gzip-compressed tar holding metadata.json ({"version", "id",
// "created"}) and dump.sql (plain pg_dump output). Connectware's real format is unknown; the plugin treats
// the download as opaque, so only the emulator itself reads this.

#include "core/error.hpp"

#include <filesystem>
#include <string>

namespace cwb::emulator {

struct ArchiveMetadata {
  std::string version; // the Connectware version that made the export
  std::string id;      // "<version>_<ISO time>"
  std::string created; // ISO time
};

/// Writes `archive` (.tgz) from the metadata and the dump file, streaming the dump.
/// Errors: staging_io when a file cannot be read or written.
Result<> write_db_archive(const std::filesystem::path& archive, const ArchiveMetadata& metadata,
                          const std::filesystem::path& dump_sql);

/// Reads `archive`, writes its dump.sql to `dump_out` and returns its metadata.
/// Errors: export_invalid when it is not a gzip tar, is truncated or corrupt, or lacks a valid
/// metadata.json or dump.sql.
Result<ArchiveMetadata> read_db_archive(const std::filesystem::path& archive, const std::filesystem::path& dump_out);

} // namespace cwb::emulator
