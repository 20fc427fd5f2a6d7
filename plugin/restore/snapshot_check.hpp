#pragma once
// Step 2 of a restore, on the fetched copy only: everything in it must be what the manifest says (SHA-256
// of every file; type, size, link target, device number and hard-link group of every entry), and no entry's
// own path may leave its volume. A link's target is content: it may point anywhere (absolute, dangling,
// outside the volume), it is restored as a link and never followed. Metadata (mode, owner, mtime,
// extended attributes) that differs is set to the manifest's. Nothing live is touched before this passed.
// After step 5, the live volumes are checked the same way, metadata included (check_live_volume).

#include "core/error.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "staging/tree.hpp"

#include <array>
#include <filesystem>
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

/// What a check does with an entry whose content is right but whose metadata (mode, owner, mtime, extended
/// attributes, a hard link not linked) is not.
enum class Metadata {
  repair,  // set it to the manifest's: a fetched copy restic could not give every attribute
  require, // refuse: a staging folder or a live volume must already be exact
};

/// Whether a check reads every file to compare it with its SHA-256.
enum class Contents {
  read,
  trust_manifest, // the backup, right after it hashed every file while copying it: everything else is checked
};

/// Checks the fetched snapshot under `layout` against `manifest` for the `parts` restored.
/// Errors: snapshot_invalid naming the first offending entry: the database archive missing, of another size
/// or SHA-256; a volume folder missing; an entry absent from the manifest or from the snapshot; another
/// type, size, SHA-256, link target or device; a path that escapes the volume; with Metadata::require also
/// another mode, owner, mtime, attribute set or hard-link group; staging_io when the fetched files cannot
/// be read or (repair) given their metadata.
Result<> check_fetched_snapshot(const snapshot::Layout& layout, const snapshot::Manifest& manifest, Parts parts,
                                Metadata metadata = Metadata::repair, Contents contents = Contents::read);

/// A restore's step 2 (and a drill's), for the database: the archive to upload. A database stored unpacked (manifest
/// format "tar") is gzipped again here, while the safety export runs on the server, and the result must hold exactly
/// the entries of the archive Connectware exported (the digest the backup took of it) before it is uploaded. Returns
/// the archive to upload: the stored one, or one gzipped from the stored tar into `work_dir` (never into the snapshot's
/// folder, which may be a backup agent's own copy). Errors: snapshot_invalid (the rebuilt archive does not read back or
/// holds other entries), staging_io.
Result<std::filesystem::path> database_for_upload(const snapshot::Layout& layout,
                                                  const snapshot::DatabaseRecord& record,
                                                  const std::filesystem::path& work_dir);

/// The backup's last check before restic stores the staging folder: reads its manifest back as a restore
/// will, and checks the staged tree against it (Metadata::require, Contents::trust_manifest). A backup its
/// own restore would refuse is a failed backup. Errors: staging_io ("the staged backup would not
/// restore: ...").
Result<> check_staging_restorable(const snapshot::Layout& layout);

/// Checks a volume folder (a live volume after step 5) against its manifest record, contents and all
/// metadata. Errors: snapshot_invalid naming the first difference ("... after replacing it"), staging_io.
Result<> check_live_volume(const std::filesystem::path& folder, const snapshot::VolumeRecord& volume);

/// The manifest's entry as a staging::TreeEntry (no identity), for comparisons and metadata writes.
staging::TreeEntry tree_entry_of(const snapshot::VolumeEntry& entry);

/// Returns the X.Y.Z numbers of a version ("1.10.2", "v1.4.0-rc1" -> 1.4.0), or nullopt.
std::optional<std::array<int, 3>> parse_version(const std::string& text);

/// Refuses a backup made by a newer Connectware than the one running. Errors: incompatible_version
/// naming both versions. Versions that cannot be read pass (the server still checks the archive).
Result<> check_version(const std::string& backup_version, const std::string& running_version);

} // namespace cwb::restore
