#pragma once
// Which volumes a backup takes, where they live on this machine, and mirroring them into the staging
// folder (incrementally: see staging/mirror.hpp) with the per-file records the manifest keeps.

#include "config/config.hpp"
#include "container/container_runtime.hpp"
#include "core/error.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace cwb::backup {

struct VolumeSource {
  std::string name;   // "service-manager": the folder name in the staging folder and the manifest
  std::string source; // the Docker volume name, or the explicit path it came from
  std::filesystem::path path;
};

/// Returns where each configured volume lives: volume-path for service-manager when set, otherwise the
/// Mountpoint of "<compose-project>_<volume>" from the container runtime.
/// Errors: usage when a volume cannot be located without a runtime; not_found/container_runtime from the
/// runtime (with the volume named); staging_io when the path is not a readable folder.
Result<std::vector<VolumeSource>> resolve_volume_sources(const config::Config& config,
                                                         container::ContainerRuntime* runtime);

struct StagedVolumes {
  std::vector<snapshot::VolumeRecord> records;
  std::uint64_t bytes = 0;        // file bytes in the staged volumes
  std::uint64_t bytes_copied = 0; // of which written this run
  std::uint64_t files_copied = 0;
};

/// Mirrors every source into layout.volume(name), and removes staged volumes that are no longer
/// configured. Errors: staging_io.
Result<StagedVolumes> stage_volumes(const std::vector<VolumeSource>& sources, const snapshot::Layout& layout);

/// Returns a fingerprint of the sources' trees (metadata only, no contents): equal fingerprints mean
/// nothing visible changed. Errors: staging_io.
Result<std::string> fingerprint_volumes(const std::vector<VolumeSource>& sources);

} // namespace cwb::backup
