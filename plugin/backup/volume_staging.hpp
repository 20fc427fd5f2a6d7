#pragma once
// Mirroring the installation's volumes (located by installation::Installation) into the staging folder,
// incrementally (staging/mirror.hpp), with the per-file records the manifest keeps.

#include "core/error.hpp"
#include "installation/installation.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "util/progress_line.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cwb::backup {

using installation::Volume;

struct StagedVolumes {
  std::vector<snapshot::VolumeRecord> records;
  std::uint64_t bytes = 0;        // file bytes in the staged volumes
  std::uint64_t bytes_copied = 0; // of which written this run
  std::uint64_t files_copied = 0;
};

/// Mirrors every source into layout.volume(name), and removes staged volumes that are no longer
/// configured. `full_check_every`: staging::MirrorOptions::full_check_every. `progress` (may be null) shows
/// each volume's entries and bytes copied. Errors: staging_io.
Result<StagedVolumes> stage_volumes(const std::vector<Volume>& sources, const snapshot::Layout& layout,
                                    unsigned full_check_every = 0, util::ProgressLine* progress = nullptr);

struct VolumesFingerprint {
  std::string digest;               // over every tree (staging::change_fingerprint)
  std::int64_t newest_ctime_ns = 0; // the latest ctime of any entry up to ignore_after_ns (ns since the epoch)
};

/// Returns a fingerprint of the sources' trees (metadata only, no contents; inodes and ctimes included,
/// staging::change_fingerprint): equal fingerprints taken before and after mean nothing was written in
/// between, unless something was written twice within the file system's ctime resolution around the first
/// one (see newest_ctime_ns; ctimes after `ignore_after_ns`, ahead of the clock, do not count there).
/// Errors: staging_io.
Result<VolumesFingerprint> fingerprint_volumes(const std::vector<Volume>& sources, std::int64_t ignore_after_ns);

} // namespace cwb::backup
