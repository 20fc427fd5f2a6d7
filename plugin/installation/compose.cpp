#include "installation/compose.hpp"

#include "installation/command.hpp"
#include "util/cancellation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace cwb::installation {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string label(std::string_view key, const std::string& value) {
  return std::string(key) + "=" + value;
}

/// Unpauses `ids`; returns those that stay paused.
std::vector<std::string> unpause_all(container::ContainerRuntime& runtime, const std::vector<std::string>& ids) {
  // Unpausing is the release path of an interrupted run: it must not be aborted by the same signal.
  const util::CancellationShield shield;
  std::vector<std::string> still_paused;
  for (const auto& id : ids) {
    auto unpaused = runtime.unpause(id);
    if (unpaused) continue;
    // Gone, or no longer paused (someone unpaused it): nothing is left to release.
    if (unpaused.error().kind == ErrorKind::not_found) continue;
    auto info = runtime.inspect(id);
    if (info && info->state != "paused") continue;
    spdlog::error("cannot unpause container {}: {}", id.substr(0, 12), unpaused.error().message);
    still_paused.push_back(id);
  }
  return still_paused;
}

/// True for a container that runs or would run on its own (paused, restarting): one that is exited, created
/// or dead was stopped before the restore (or never started), and a restore leaves it so.
bool is_up(const container::ContainerInfo& container) {
  return container.state == "running" || container.state == "paused" || container.state == "restarting";
}

} // namespace

const char* to_string(Platform platform) noexcept {
  switch (platform) {
  case Platform::compose: return "compose";
  case Platform::host: return "host";
  }
  return "host";
}

std::string compose_volume_name(const std::string& project, const std::string& name) {
  return project + "_" + name;
}

// --- PauseGuard ------------------------------------------------------------------------------------------

Result<std::unique_ptr<PauseGuard>> PauseGuard::pause(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                      const std::string& project,
                                                      const std::vector<std::string>& services) {
  std::vector<container::ContainerInfo> targets;
  for (const auto& service : services) {
    auto found = runtime.list_containers(
        container::LabelFilter{{label(compose_project_label, project), label(compose_service_label, service)}});
    if (!found) return fail(found.error().with_context("finding the " + service + " container to pause"));
    const auto running = std::count_if(found->begin(), found->end(), [](const auto& info) {
      return info.state == "running" || info.state == "paused";
    });
    if (running == 0) {
      return fail(ErrorKind::quiesce_failed, "no running container of service " + service + " in Compose project " +
                                                 project + " to pause (set pause-services, or quiesce = verify)");
    }
    for (auto& info : *found) {
      if (info.state == "running")
        targets.push_back(std::move(info));
      else if (info.state == "paused")
        spdlog::warn("container {} is already paused; leaving it as it is", info.name);
    }
  }
  std::vector<std::string> ids;
  for (const auto& target : targets)
    ids.push_back(target.id);
  // Recorded before pausing: a run killed in the next lines still leaves enough to unpause them.
  CWB_TRY(write_pause_marker(paths, ids));
  std::unique_ptr<PauseGuard> guard(new PauseGuard(&runtime, paths));
  for (const auto& target : targets) {
    auto paused = runtime.pause(target.id);
    if (!paused) {
      const auto error = paused.error();
      (void)guard->release();
      return fail(ErrorKind::quiesce_failed, "cannot pause container " + target.name + ": " + error.message);
    }
    guard->paused_.push_back(target.id);
  }
  return guard;
}

PauseGuard::~PauseGuard() {
  if (auto released = release(); !released) spdlog::error("{}", released.error().message);
}

Result<> PauseGuard::release() {
  if (runtime_ == nullptr) return {};
  const auto still_paused = unpause_all(*runtime_, paused_);
  paused_ = still_paused;
  if (!still_paused.empty()) {
    return fail(ErrorKind::quiesce_failed, "container(s) " + join(still_paused) +
                                               " stay paused; the next backup run or connectware-post-backup "
                                               "retries, or run: docker unpause " +
                                               join(still_paused));
  }
  runtime_ = nullptr;
  return remove_pause_marker(paths_);
}

Result<std::vector<std::string>> release_leftover_pause(container::ContainerRuntime& runtime, const StatePaths& paths) {
  auto recorded = read_pause_marker(paths);
  if (!recorded) return fail(recorded.error());
  if (recorded->empty()) {
    CWB_TRY(remove_pause_marker(paths));
    return std::vector<std::string>{};
  }
  const auto still_paused = unpause_all(runtime, *recorded);
  if (!still_paused.empty()) {
    return fail(ErrorKind::quiesce_failed, "container(s) " + join(still_paused) + " stay paused");
  }
  CWB_TRY(remove_pause_marker(paths));
  return *recorded;
}

// --- ComposeInstallation -----------------------------------------------------------------------------------

Result<std::vector<Volume>> ComposeInstallation::locate_volumes(const std::vector<std::string>& names) {
  std::vector<Volume> volumes;
  for (const auto& name : names) {
    Volume volume{name, compose_volume_name(settings_.project, name), {}};
    if (const auto given = settings_.volume_paths.find(name); given != settings_.volume_paths.end()) {
      volume.source = given->second.string();
      volume.path = given->second;
    } else {
      auto mountpoint = runtime_.volume_mountpoint(volume.source);
      if (!mountpoint && mountpoint.error().kind == ErrorKind::not_found)
        return fail(ErrorKind::volume_missing, "the Docker engine has no volume " + volume.source +
                                                   " (Compose project " + settings_.project +
                                                   "; set compose-project, volumes, or the folder in volume-paths)");
      if (!mountpoint) return fail(mountpoint.error().with_context("locating volume " + volume.source));
      volume.path = *mountpoint;
    }
    std::error_code error;
    if (!std::filesystem::is_directory(volume.path, error))
      return fail(ErrorKind::volume_missing, "volume " + volume.source + " has no folder at " + volume.path.string());
    volumes.push_back(std::move(volume));
  }
  return volumes;
}

bool ComposeInstallation::can_hold_configuration() {
  return static_cast<bool>(runtime_.list_containers({}));
}

Result<std::unique_ptr<ConfigurationHold>> ComposeInstallation::hold_configuration(const StatePaths& paths) {
  auto guard = PauseGuard::pause(runtime_, paths, settings_.project, settings_.pause_services);
  if (!guard) return fail(guard.error());
  return std::unique_ptr<ConfigurationHold>(std::move(*guard));
}

Result<std::vector<std::string>> ComposeInstallation::release_leftover_hold(const StatePaths& paths) {
  return release_leftover_pause(runtime_, paths);
}

Result<std::vector<Workload>> ComposeInstallation::volume_users(const std::vector<Volume>& volumes) {
  auto all = runtime_.list_containers({});
  if (!all) return fail(all.error().with_context("listing the containers that use the volumes"));
  std::vector<Workload> users;
  for (const auto& container : *all) {
    const bool uses = std::ranges::any_of(volumes, [&container](const Volume& volume) {
      return std::ranges::find(container.mounts, volume.source) != container.mounts.end();
    });
    if (uses) users.push_back(Workload{container.id, container.name, is_up(container)});
  }
  return users;
}

Result<> ComposeInstallation::stop(const Workload& workload) {
  if (auto stopped = runtime_.stop(workload.id, settings_.stop_timeout); !stopped)
    return fail(stopped.error().with_context("stopping container " + workload.name));
  return {};
}

Result<> ComposeInstallation::start(const Workload& workload) {
  if (auto started = runtime_.start(workload.id); !started)
    return fail(started.error().with_context("starting container " + workload.name + " again"));
  return {};
}

std::string ComposeInstallation::describe_restart() const {
  if (!settings_.restart_command.empty()) return "run `" + command_text(settings_.restart_command) + "`";
  return "restart every running container labelled " + std::string(connectware_core_label) + " or " +
         label(compose_project_label, settings_.project);
}

Result<std::vector<container::ContainerInfo>> ComposeInstallation::installation_containers() {
  std::vector<container::ContainerInfo> containers;
  for (const auto& filter : {std::string(connectware_core_label), label(compose_project_label, settings_.project)}) {
    auto found = runtime_.list_containers(container::LabelFilter{{filter}});
    if (!found) return fail(found.error().with_context("listing Connectware's containers"));
    for (auto& container : *found)
      if (std::ranges::find(containers, container.id, &container::ContainerInfo::id) == containers.end())
        containers.push_back(std::move(container));
  }
  return containers;
}

Result<std::string> ComposeInstallation::restart() {
  if (!settings_.restart_command.empty()) {
    CWB_TRY(run_operator_command(process_runner_, environment_, settings_.restart_command, settings_.restart_timeout,
                                 "restart-command"));
    return "ran `" + command_text(settings_.restart_command) + "`";
  }
  auto containers = installation_containers();
  if (!containers) return fail(containers.error());
  if (containers->empty())
    return fail(ErrorKind::container_runtime, "found no Connectware container to restart (label " +
                                                  std::string(connectware_core_label) + " or " +
                                                  label(compose_project_label, settings_.project) + ")");
  // A container its operator stopped stays stopped: restarting it would start it. What the restore
  // stopped itself was started again before this.
  std::size_t restarted_count = 0;
  std::vector<std::string> left_stopped;
  for (const auto& container : *containers) {
    if (!is_up(container)) {
      left_stopped.push_back(container.name + " (" + container.state + ")");
      continue;
    }
    if (auto restarted = runtime_.restart(container.id, settings_.stop_timeout); !restarted)
      return fail(restarted.error().with_context("restarting container " + container.id));
    ++restarted_count;
  }
  std::string done = "restarted " + std::to_string(restarted_count) + " container(s)";
  if (!left_stopped.empty()) done += "; left stopped as before: " + join(left_stopped);
  return done;
}

Result<Description> ComposeInstallation::describe(const std::vector<Volume>& volumes) {
  Description description;
  description.platform = to_string(Platform::compose);
  description.project = settings_.project;
  for (const auto& volume : volumes)
    description.volumes.push_back(volume.source);
  auto containers = installation_containers();
  if (!containers) return fail(containers.error());
  for (const auto& container : *containers)
    description.containers.push_back(container.name);
  std::ranges::sort(description.containers);
  return description;
}

} // namespace cwb::installation
