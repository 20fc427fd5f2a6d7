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

  /// Returns the containers of the installation: label io.cybus.connectware=core or the project's label.
  /// Errors: container_runtime.
  Result<std::vector<container::ContainerInfo>> installation_containers();

private:
  ComposeSettings settings_;
  container::ContainerRuntime& runtime_;
  util::ProcessRunner& process_runner_;
  const util::Environment& environment_;
};

} // namespace cwb::installation
