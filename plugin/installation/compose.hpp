#pragma once
// Connectware installed with Docker Compose, reached through the Docker Engine API (container/): the one
// place that knows Compose's rules. Volumes are "<project>_<name>" (or a folder given in volume-paths);
// the configuration writers are the project's containers of the pause-services, held still by pausing
// them (cgroup freezer: their requests wait in the kernel's socket queues, nothing is lost); Connectware's
// containers carry io.cybus.connectware=core or the project's label.

#include "config/config.hpp"
#include "container/container_runtime.hpp"
#include "installation/installation.hpp"
#include "util/subprocess.hpp"

#include <chrono>
#include <map>

namespace cwb::installation {

/// Compose's name of volume `name` in `project`: "connectware" + "service-manager" ->
/// "connectware_service-manager".
std::string compose_volume_name(const std::string& project, const std::string& name);

/// The labels Compose and Connectware put on containers.
inline constexpr std::string_view compose_project_label = "com.docker.compose.project";
inline constexpr std::string_view compose_service_label = "com.docker.compose.service";
inline constexpr std::string_view compose_volume_label = "com.docker.compose.volume";
/// Compose (v2.17 and later) records a service's dependencies as "db:service_started:false,other:...".
inline constexpr std::string_view compose_depends_on_label = "com.docker.compose.depends_on";
/// The service of Connectware's database: stopped last and started first when no dependencies say more.
inline constexpr std::string_view database_service = "postgresql";
inline constexpr std::string_view connectware_core_label = "io.cybus.connectware=core";

struct ComposeSettings {
  std::string project = "connectware";
  std::vector<std::string> pause_services{std::string(config::service_manager_volume)};
  /// Folders given for volumes (volume-path, volume-paths): used instead of asking the engine.
  std::map<std::string, std::filesystem::path> volume_paths;
  /// When set, restarts Connectware instead of restarting its containers (argv, no shell).
  std::vector<std::string> restart_command;
  std::chrono::milliseconds restart_timeout{300'000};
  std::chrono::seconds stop_timeout{30};
};

/// Paused containers, unpaused when released or destroyed.
class PauseGuard final : public ConfigurationHold {
public:
  /// Pauses the running containers labelled with `project` and one of `services`, after recording them in
  /// the pause marker. Containers already paused are left as they are (and not unpaused later: they were
  /// not ours). Errors: quiesce_failed when no such container runs or a pause fails (whatever was paused is
  /// unpaused again before returning); container_runtime when the runtime cannot be asked; staging_io.
  static Result<std::unique_ptr<PauseGuard>> pause(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                   const std::string& project,
                                                   const std::vector<std::string>& services);
  ~PauseGuard() override;

  Result<> release() override;
  /// The ids of the containers this guard keeps paused.
  [[nodiscard]] const std::vector<std::string>& held() const override { return paused_; }

private:
  PauseGuard(container::ContainerRuntime* runtime, StatePaths paths) : runtime_(runtime), paths_(std::move(paths)) {}

  container::ContainerRuntime* runtime_ = nullptr;
  StatePaths paths_;
  std::vector<std::string> paused_;
};

/// Unpauses the containers a killed run left paused (from the pause marker) and removes the marker.
/// Returns the ids that were unpaused. Errors: quiesce_failed when some stay paused.
Result<std::vector<std::string>> release_leftover_pause(container::ContainerRuntime& runtime, const StatePaths& paths);

/// Stopped containers (scope = full), started again in the reverse order when released or destroyed.
class StopGuard final : public ConfigurationHold {
public:
  /// Stops the running ones of `containers` (in their order) after recording them in the stop marker. A
  /// failed stop starts again what was stopped before returning quiesce_failed. Errors: quiesce_failed
  /// (nothing runs), staging_io, interrupted (what was stopped is started again).
  static Result<std::unique_ptr<StopGuard>> stop(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                 const std::vector<container::ContainerInfo>& containers,
                                                 std::chrono::seconds stop_timeout);
  ~StopGuard() override;

  Result<> release() override;
  /// The ids of the containers this guard keeps stopped, in stop order.
  [[nodiscard]] const std::vector<std::string>& held() const override { return stopped_; }

private:
  StopGuard(container::ContainerRuntime* runtime, StatePaths paths) : runtime_(runtime), paths_(std::move(paths)) {}

  container::ContainerRuntime* runtime_ = nullptr;
  StatePaths paths_;
  std::vector<std::string> stopped_;
};

/// Starts the containers a killed full backup left stopped (from the stop marker: each stopped first, so
/// that a stop still in flight ends before it, then all started in reverse stop order) and removes the
/// marker. Returns the ids started. Errors: quiesce_failed when some cannot be started.
Result<std::vector<std::string>> release_leftover_stop(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                       std::chrono::seconds stop_timeout);

/// Returns `containers` in stop order: a container before the services it depends on (Compose's
/// depends_on label), else the database service (postgresql) last; ties by name.
std::vector<container::ContainerInfo> stop_order(std::vector<container::ContainerInfo> containers);

class ComposeInstallation final : public Installation {
public:
  /// `runtime`, `process_runner` and `environment` must outlive the installation.
  ComposeInstallation(ComposeSettings settings, container::ContainerRuntime& runtime,
                      util::ProcessRunner& process_runner, const util::Environment& environment)
      : settings_(std::move(settings)), runtime_(runtime), process_runner_(process_runner), environment_(environment) {}

  [[nodiscard]] Platform platform() const override { return Platform::compose; }
  Result<std::vector<Volume>> locate_volumes(const std::vector<std::string>& names) override;
  bool can_hold_configuration() override;
  Result<std::unique_ptr<ConfigurationHold>> hold_configuration(const StatePaths& paths) override;
  Result<std::vector<std::string>> release_leftover_hold(const StatePaths& paths) override;
  Result<std::vector<Workload>> volume_users(const std::vector<Volume>& volumes) override;
  Result<> stop(const Workload& workload) override;
  Result<> start(const Workload& workload) override;
  [[nodiscard]] Result<> check_restart_possible() const override { return {}; }
  [[nodiscard]] std::string describe_restart() const override;
  Result<std::string> restart() override;
  Result<Description> describe(const std::vector<Volume>& volumes) override;
  Result<std::vector<Volume>> locate_all_volumes() override;
  Result<std::vector<Workload>> installation_workloads() override;
  Result<std::unique_ptr<ConfigurationHold>> stop_installation(const StatePaths& paths) override;
  Result<MissingVolume> plan_volume(const std::string& name, const std::string& source,
                                    const std::map<std::string, std::string>& labels) override;
  Result<Volume> create_volume(const MissingVolume& volume) override;
  [[nodiscard]] std::string start_hint() const override;

  /// Returns the containers of the installation: label io.cybus.connectware=core or the project's label.
  /// Errors: container_runtime.
  Result<std::vector<container::ContainerInfo>> installation_containers();
  /// Returns installation_containers() in stop order (stop_order). Errors: container_runtime.
  Result<std::vector<container::ContainerInfo>> ordered_containers();
  /// Returns the containers labelled with the project (scope = full's set), in stop order.
  /// Errors: container_runtime.
  Result<std::vector<container::ContainerInfo>> project_containers();

private:
  ComposeSettings settings_;
  container::ContainerRuntime& runtime_;
  util::ProcessRunner& process_runner_;
  const util::Environment& environment_;
};

} // namespace cwb::installation
