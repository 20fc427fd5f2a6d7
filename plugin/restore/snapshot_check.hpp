#pragma once
// Step 2 of a restore, on the fetched copy only: everything in it must be what the manifest says (SHA-256
// of every file, types, modes and link targets of the volume entries) and nothing may point outside the
// folder it is restored into. Nothing live is touched before this passed.

#include "core/error.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"

#include <array>
#include <optional>
#include <string>

namespace cwb::restore {

/// Which parts of a snapshot a restore takes.
enum class Parts { all, database_only, volumes_only };

[[nodiscard]] inline bool includes_database(Parts parts) {
  return parts != Parts::volumes_only;
}
[[nodiscard]] inline bool includes_volumes(Parts parts) {
  return parts != Parts::database_only;
}

/// Reads and parses the fetched manifest. Errors: snapshot_invalid when it is missing or malformed.
Result<snapshot::Manifest> read_fetched_manifest(const snapshot::Layout& layout);

/// True when the symlink at `entry_path` (relative to a volume root) with target `link_target` resolves,
/// lexically, to a place inside that volume: relative, and never climbing above the root with "..".
bool link_stays_inside(const std::string& entry_path, const std::string& link_target);

/// Checks the fetched snapshot under `layout` against `manifest` for the `parts` restored.
/// Errors: snapshot_invalid naming the first offending entry: the database archive missing, of another size
/// or SHA-256; a volume folder missing; an entry absent from the manifest or from the snapshot; another
/// type, mode, size, SHA-256 or link target; a path or link that escapes the volume; staging_io when the
/// fetched files cannot be read.
Result<> check_fetched_snapshot(const snapshot::Layout& layout, const snapshot::Manifest& manifest, Parts parts);

/// Returns the X.Y.Z numbers of a version ("1.10.2", "v1.4.0-rc1" -> 1.4.0), or nullopt.
std::optional<std::array<int, 3>> parse_version(const std::string& text);

/// Refuses a backup made by a newer Connectware than the one running. Errors: incompatible_version
/// naming both versions. Versions that cannot be read pass (the server still checks the archive).
Result<> check_version(const std::string& backup_version, const std::string& running_version);

} // namespace cwb::restore
