#pragma once
// Where things go inside the staging folder that restic stores. restic records absolute paths, so the
// staging folder is the same path on every run (its parent snapshot is then found and unchanged files cost
// nothing).

#include <filesystem>
#include <string>

namespace cwb::snapshot {

namespace fs = std::filesystem;

inline constexpr const char* manifest_file_name = "manifest.json";
inline constexpr const char* database_archive_name = "connectware-db.tgz";
/// The archive gunzipped (database-storage = unpacked).
inline constexpr const char* database_tar_name = "connectware-db.tar";

struct Layout {
  fs::path root; // the staging folder

  [[nodiscard]] fs::path manifest() const { return root / manifest_file_name; }
  [[nodiscard]] fs::path database_dir() const { return root / "db"; }
  [[nodiscard]] fs::path database_archive() const { return database_dir() / database_archive_name; }
  [[nodiscard]] fs::path database_tar() const { return database_dir() / database_tar_name; }
  [[nodiscard]] fs::path volumes_dir() const { return root / "volumes"; }
  [[nodiscard]] fs::path volume(const std::string& name) const { return volumes_dir() / name; }
  /// Per-volume index of the incremental mirror (sizes, mtimes, SHA-256), kept between runs outside the
  /// mirrored tree.
  [[nodiscard]] fs::path mirror_index(const std::string& name) const {
    return root / ".mirror-index" / (name + ".json");
  }
  /// A volume's manifest entries while the pre-backup hook stages it (EntrySpool), beside its index: not in
  /// the snapshot, removed once manifest.json holds them.
  [[nodiscard]] fs::path entries_spool(const std::string& name) const {
    return root / ".mirror-index" / (name + ".entries.jsonl");
  }
};

} // namespace cwb::snapshot
