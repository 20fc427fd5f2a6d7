#pragma once
// The Connectware installation the pipelines work on, behind one interface, whatever platform it runs on:
// where each volume's files are, how its configuration writers are held still, who must be stopped
// while a volume is replaced, how Connectware is restarted, and how it describes itself in the manifest.
// Backup and restore know nothing else of the platform.
//
// Implementations: ComposeInstallation (compose.hpp: the Docker Engine API, Compose's labels and volume
// names), HostInstallation (host.hpp: explicit folders and commands, no container runtime at all).
// make_installation (select.hpp) picks one from the `platform` setting. A further platform (Kubernetes) is
// one more implementation of this interface.

#include "core/error.hpp"
#include "installation/run_state.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cwb::installation {

enum class Platform { compose, host };

/// Returns "compose" or "host", as --show-config, logs and the manifest write it.
const char* to_string(Platform platform) noexcept;

/// One volume of the installation, located on this machine.
struct Volume {
  std::string name;           // "service-manager": its folder name in the staging folder and the manifest
  std::string source;         // what it is on the platform: "connectware_service-manager", or the folder given
  std::filesystem::path path; // the folder holding its files, read by the backup and written by the restore
  /// Its labels on the platform (scope = full: Compose's project and volume labels); empty elsewhere.
  std::map<std::string, std::string> labels;
};

/// Something that runs on the volumes and is stopped while they are replaced: a container, or the host's
/// stop-command.
struct Workload {
  std::string id;   // what the platform knows it by (a container id)
  std::string name; // what an operator reads
  // False for a container its operator stopped before: the restore neither stops nor starts it.
  bool running = true;
};

/// What the manifest records about the installation a snapshot came from.
struct Description {
  std::string platform;                // "compose", "host"
  std::string project;                 // the Compose project; empty on a plain host
  std::vector<std::string> volumes;    // each volume's source
  std::vector<std::string> containers; // the installation's containers by name; empty on a plain host
};

/// A volume a full restore needs that does not exist here yet: created (with its labels) in step 5.
struct MissingVolume {
  std::string name;   // as the snapshot names it ("postgresql")
  std::string source; // what it will be on the platform ("connectware_postgresql")
  std::map<std::string, std::string> labels;
};

/// Configuration writers held still; released by release() or, on every other path, the destructor.
/// Not copyable.
class ConfigurationHold {
public:
  ConfigurationHold() = default;
  ConfigurationHold(const ConfigurationHold&) = delete;
  ConfigurationHold& operator=(const ConfigurationHold&) = delete;
  virtual ~ConfigurationHold() = default;

  /// Lets the writers go on and removes the platform's record of the hold. Errors: quiesce_failed naming
  /// what stays held (the record is kept, so that the next run retries).
  virtual Result<> release() = 0;
  /// What is held, as the platform knows it (container ids on Compose), for the manifest and logs.
  [[nodiscard]] virtual const std::vector<std::string>& held() const = 0;
};

class Installation {
public:
  virtual ~Installation() = default;

  [[nodiscard]] virtual Platform platform() const = 0;

  /// Returns where each named volume ("service-manager") lives on this machine, in the order given.
  /// Errors: volume_missing (no such volume, or no folder at its path; the message says which setting
  /// names it), container_runtime.
  virtual Result<std::vector<Volume>> locate_volumes(const std::vector<std::string>& names) = 0;

  /// True when hold_configuration() can work here now (quiesce = auto is then optimistic, with a paused retry; else it
  /// verifies).
  virtual bool can_hold_configuration() = 0;

  /// Holds the configuration writers still, after recording in the state folder what it is about to
  /// change (so that a run killed with SIGKILL is released by the next one). Errors: quiesce_failed (nothing
  /// to hold, or holding failed: whatever was held is released again), usage (the platform cannot hold),
  /// container_runtime, staging_io.
  virtual Result<std::unique_ptr<ConfigurationHold>> hold_configuration(const StatePaths& paths) = 0;

  /// Releases what a killed run left held (from its record in the state folder) and removes the record.
  /// Returns the names released. Errors: quiesce_failed when some stay held.
  virtual Result<std::vector<std::string>> release_leftover_hold(const StatePaths& paths) = 0;

  /// Returns what runs on `volumes` and must be stopped while their files are replaced (running or not, in
  /// the platform's order). Errors: container_runtime.
  virtual Result<std::vector<Workload>> volume_users(const std::vector<Volume>& volumes) = 0;
  /// Stops one of volume_users(); stopping a stopped one succeeds. Errors: container_runtime.
  virtual Result<> stop(const Workload& workload) = 0;
  /// Starts one of volume_users() again. Errors: container_runtime.
  virtual Result<> start(const Workload& workload) = 0;

  /// Errors: usage when Connectware cannot be restarted here (nothing configured that could).
  [[nodiscard]] virtual Result<> check_restart_possible() const = 0;
  /// Returns a phrase describing how restart() restarts Connectware, for the plan and the dry run.
  [[nodiscard]] virtual std::string describe_restart() const = 0;
  /// Restarts Connectware (not waiting for its health: the pipeline asks Connectware itself); what is not
  /// running (stopped by its operator before the restore) stays as it is. Returns a one-line description of
  /// what was done. Errors: container_runtime (with the command's output or the
  /// engine's message), interrupted.
  virtual Result<std::string> restart() = 0;

  /// Describes the installation and `volumes` for the manifest. Errors: container_runtime.
  virtual Result<Description> describe(const std::vector<Volume>& volumes) = 0;

  // --- scope = full: the whole installation (docs/operations.md) ------------------------------------------

  /// Returns every volume of the installation, found by the platform's own record of it (Compose: the
  /// label com.docker.compose.project), named as the platform names it (com.docker.compose.volume), with
  /// its labels, sorted by name; none found is an empty list. Errors: usage (the platform has no such
  /// record: a plain host), volume_missing (a volume without its folder), container_runtime.
  virtual Result<std::vector<Volume>> locate_all_volumes() = 0;

  /// Returns every container of the installation (running or not) in stop order: a container is stopped
  /// before those it depends on, the database last; they start in the reverse order. Errors: usage (a
  /// plain host), container_runtime.
  virtual Result<std::vector<Workload>> installation_workloads() = 0;

  /// Stops every running container of the installation in stop order, after recording them in the state
  /// folder (so that the release watchdog or the next run starts them again after a SIGKILL); the hold's
  /// release starts them again in the reverse order. Errors: quiesce_failed (nothing runs, or a stop
  /// failed: what was stopped is started again), usage (a plain host), container_runtime, staging_io.
  virtual Result<std::unique_ptr<ConfigurationHold>> stop_installation(const StatePaths& paths) = 0;

  /// Returns what a full restore would create for the volume `name` of a snapshot, which recorded it as
  /// `source` with `labels` (the project label set to this installation's). Errors: usage (a plain host).
  virtual Result<MissingVolume> plan_volume(const std::string& name, const std::string& source,
                                            const std::map<std::string, std::string>& labels) = 0;
  /// Creates a volume a full restore planned; returns it located. Errors: container_runtime.
  virtual Result<Volume> create_volume(const MissingVolume& volume) = 0;

  /// Returns how an operator starts the installation when there is no container to start and no
  /// restart-command (a new host): the command to run and where.
  [[nodiscard]] virtual std::string start_hint() const = 0;
};

} // namespace cwb::installation
