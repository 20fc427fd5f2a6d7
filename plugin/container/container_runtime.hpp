#pragma once
// What the backup needs from a container runtime: find Connectware's containers by label, pause/stop them
// to hold the configuration still, start them again, find a named volume's data on the host, and (for a
// full-installation backup) list a Compose project's volumes by label and create them on a new host.
// Implementations: DockerEngineRuntime (docker_engine_runtime.hpp); tests use
// tests/unit/container/fake_container_runtime.hpp.

#include "core/error.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cwb::container {

/// Labels a container must all carry: "key" (any value) or "key=value".
struct LabelFilter {
  std::vector<std::string> labels;
};

struct ContainerInfo {
  std::string id;
  std::string name; // without Docker's leading '/'
  std::map<std::string, std::string> labels;
  std::string state;               // "running", "paused", "exited", "created", "restarting", "removing", "dead"
  std::string started_at;          // RFC 3339 as the runtime reports it; changes when the container restarts
  std::vector<std::string> mounts; // names of the named volumes it mounts (bind mounts are left out)
};

/// True when `labels` satisfy every entry of `filter`.
bool matches(const LabelFilter& filter, const std::map<std::string, std::string>& labels);

/// A named volume as the runtime reports it.
struct VolumeInfo {
  std::string name;
  std::map<std::string, std::string> labels;
  std::filesystem::path mountpoint; // where its data is on this machine
};

class ContainerRuntime {
public:
  virtual ~ContainerRuntime() = default;

  /// Returns all containers (running or not) carrying the filter's labels. Errors: container_runtime.
  virtual Result<std::vector<ContainerInfo>> list_containers(const LabelFilter& filter) = 0;
  /// Freezes a running container. Errors: not_found; container_runtime (e.g. not running, already paused).
  virtual Result<> pause(const std::string& id) = 0;
  /// Thaws a paused container. Errors: not_found; container_runtime (e.g. not paused).
  virtual Result<> unpause(const std::string& id) = 0;
  /// Stops a container, killing it after `timeout`; stopping a stopped container succeeds.
  /// Errors: not_found; container_runtime.
  virtual Result<> stop(const std::string& id, std::chrono::seconds timeout) = 0;
  /// Starts a container; starting a running container succeeds. Errors: not_found; container_runtime.
  virtual Result<> start(const std::string& id) = 0;
  /// Restarts a container (stop with `timeout`, then start). Errors: not_found; container_runtime.
  virtual Result<> restart(const std::string& id, std::chrono::seconds timeout) = 0;
  /// Returns one container's details. Errors: not_found; container_runtime.
  virtual Result<ContainerInfo> inspect(const std::string& id) = 0;
  /// Returns the host path holding a named volume's data. Errors: not_found; container_runtime.
  virtual Result<std::filesystem::path> volume_mountpoint(const std::string& name) = 0;
  /// Returns the named volumes carrying the filter's labels, sorted by name. Errors: container_runtime.
  virtual Result<std::vector<VolumeInfo>> list_volumes(const LabelFilter& filter) = 0;
  /// Creates a named volume with `labels` (local driver) and returns it; one that exists already is
  /// returned as it is. Errors: container_runtime.
  virtual Result<VolumeInfo> create_volume(const std::string& name,
                                           const std::map<std::string, std::string>& labels) = 0;
};

} // namespace cwb::container
