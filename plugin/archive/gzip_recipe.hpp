#pragma once
// Byte-exact re-compression of Connectware's database archive. With `database-storage = unpacked` the
// snapshot stores the archive's tar (restic deduplicates it across days) and the restore must upload an
// archive again; Connectware's docs treat that archive as opaque, so the restore should upload the very
// bytes that were exported. At backup time find_gzip_recipe proves that deflating the tar once more with a
// known parameter set reproduces the downloaded archive byte for byte; the recipe (the archive's own gzip
// header, zlib's level and memLevel) goes into the manifest and the restore rebuilds the identical archive
// with gzip_with_recipe. Writers built on zlib (libarchive, Node.js, Python, zlib's gzip wrapper) are covered
// by levels 1 to 9 with memLevel 8 or 9; others (GNU gzip's own deflate, pigz, Go) generally are not, and
// such an archive is stored as downloaded instead.

#include "core/error.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace cwb::archive {

struct GzipRecipe {
  std::string header; // the archive's gzip header, byte for byte (magic up to the end of its optional fields)
  int level = 6;      // zlib deflate level, 1 to 9
  int mem_level = 8;  // zlib memLevel, 8 (zlib's default) or 9

  bool operator==(const GzipRecipe&) const = default;
};

/// Returns the recipe with which deflating `tar` reproduces `archive` byte for byte: one gzip member whose
/// deflate stream is zlib's output at some level and memLevel, followed by the CRC-32 and length of `tar`.
/// Candidates are tried in the order the header's XFL hints at (2: level 9 first, 4: level 1 first, else
/// 6), each one only until its first differing byte. Returns nullopt when none reproduces it (another
/// writer, several members, trailing bytes). Errors: staging_io when a file cannot be read.
Result<std::optional<GzipRecipe>> find_gzip_recipe(const std::filesystem::path& archive,
                                                   const std::filesystem::path& tar);

/// Writes `tar` gzipped by `recipe` to `target` (created 0600; replaced). Errors: staging_io, internal
/// (a recipe zlib does not take).
Result<> gzip_with_recipe(const std::filesystem::path& tar, const std::filesystem::path& target,
                          const GzipRecipe& recipe);

} // namespace cwb::archive
