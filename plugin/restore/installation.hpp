#pragma once
// The live installation a restore changes: where each volume's files are, which containers mount them
// (stopped while the files are replaced), and restarting Connectware afterwards, through the container
// runtime or the configured restart-command.

#include "core/error.hpp"
#include "restore/restore_context.hpp"
#include "snapshot/manifest.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace cwb::restore {

struct VolumeTarget {
  std::string name;           // "service-manager", as in the manifest
  std::string docker_volume;  // "connectware_service-manager"
  std::filesystem::path path; // where its files are on this machine
};

/// Returns where each volume of `manifest` lives: volume-path for service-manager when set, otherwise the
/// Mountpoint of "<compose-project>_<name>". Errors: usage when a volume cannot be located without a
/// runtime; not_found/container_runtime from the runtime; staging_io when the path is not a folder.
Result<std::vector<VolumeTarget>> locate_volumes(const RestoreContext& context, const snapshot::Manifest& manifest);

/// Returns the ids of the containers (running or not) that mount any of `targets`' Docker volumes, in the
/// runtime's order; none without a runtime. Errors: container_runtime.
Result<std::vector<std::string>> containers_using(const RestoreContext& context,
                                                  const std::vector<VolumeTarget>& targets);

/// Returns the ids of the containers of the installation: label io.cybus.connectware=core or the Compose
/// project's label. Errors: container_runtime.
Result<std::vector<std::string>> installation_containers(const RestoreContext& context);

/// Errors: usage when Connectware could not be restarted at all (no restart-command and no runtime).
Result<> check_restart_possible(const RestoreContext& context);

/// Starts `stopped` again, then restarts Connectware: restart-command when set (argv, no shell), else every
/// container of the installation through the runtime; then waits (health-timeout) until
/// /api/system/health lists every container running. Returns a one-line description of what was done.
/// Errors: container_runtime (a container or the command failed, with its output), unreachable (not
/// healthy in time), authentication, interrupted.
Result<std::string> restart_connectware(RestoreContext& context, const std::vector<std::string>& stopped);

/// Returns a phrase describing how Connectware will be restarted, for the dry run.
std::string describe_restart(const RestoreContext& context);

} // namespace cwb::restore
