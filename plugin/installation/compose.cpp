#include "installation/compose.hpp"

#include "installation/command.hpp"
#include "util/cancellation.hpp"
#include "util/text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace cwb::installation {
namespace {

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

/// Starts `ids` in the reverse of their (stop) order; returns those that could not be started.
std::vector<std::string> start_in_reverse(container::ContainerRuntime& runtime, const std::vector<std::string>& ids) {
  // Starting again is the release path of an interrupted run: it must not be aborted by the same signal.
  const util::CancellationShield shield;
  std::vector<std::string> still_stopped;
  for (auto id = ids.rbegin(); id != ids.rend(); ++id) {
    auto started = runtime.start(*id);
    if (started) continue;
    if (started.error().kind == ErrorKind::not_found) continue; // removed meanwhile: nothing to start
    spdlog::error("cannot start container {} again: {}", id->substr(0, 12), started.error().message);
    still_stopped.insert(still_stopped.begin(), *id);
  }
  return still_stopped;
}

/// The services `container` depends on, from Compose's depends_on label ("db:service_started:false,...").
std::vector<std::string> dependencies_of(const container::ContainerInfo& container) {
  std::vector<std::string> services;
  const auto label_value = container.labels.find(std::string(compose_depends_on_label));
  if (label_value == container.labels.end()) return services;
  std::string_view rest = label_value->second;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto item = rest.substr(0, comma);
    const auto service = item.substr(0, item.find(':'));
    if (!service.empty()) services.emplace_back(service);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return services;
}

std::string service_of(const container::ContainerInfo& container) {
  const auto found = container.labels.find(std::string(compose_service_label));
  return found == container.labels.end() ? std::string() : found->second;
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
    return fail(ErrorKind::quiesce_failed, "container(s) " + util::join(still_paused) +
                                               " stay paused; the next backup run or connectware-post-backup "
                                               "retries, or run: docker unpause " +
                                               util::join(still_paused));
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
    return fail(ErrorKind::quiesce_failed, "container(s) " + util::join(still_paused) + " stay paused");
  }
  CWB_TRY(remove_pause_marker(paths));
  return *recorded;
}

// --- StopGuard ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<StopGuard>> StopGuard::stop(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                   const std::vector<container::ContainerInfo>& containers,
                                                   std::chrono::seconds stop_timeout) {
  std::vector<const container::ContainerInfo*> targets;
  for (const auto& container : containers)
    if (is_up(container)) targets.push_back(&container);
  if (targets.empty())
    return fail(ErrorKind::quiesce_failed, "no running container of the installation to stop (scope = full)");
  std::vector<std::string> ids;
  for (const auto* target : targets)
    ids.push_back(target->id);
  // Recorded before the first stop: a run killed in the next lines still leaves enough to start them.
  CWB_TRY(write_stop_marker(paths, ids));
  std::unique_ptr<StopGuard> guard(new StopGuard(&runtime, paths));
  for (const auto* target : targets) {
    // Counted as stopped before the call: a stop cut short (a signal) may still have stopped it.
    guard->stopped_.push_back(target->id);
    // A paused container is unpaused first: the engine stops it either way, but only unpaused does its
    // process get SIGTERM and a clean shutdown.
    if (target->state == "paused") (void)runtime.unpause(target->id);
    spdlog::info("stopping container {}", target->name);
    if (auto stopped = runtime.stop(target->id, stop_timeout); !stopped) {
      const auto error = stopped.error();
      if (error.kind == ErrorKind::interrupted) {
        // The engine goes on stopping it without us. Wait for that to end, or it would overtake the start
        // below: a container still stopping counts as running, and starting it is a no-op.
        const util::CancellationShield shield;
        (void)runtime.stop(target->id, stop_timeout);
      }
      (void)guard->release();
      if (error.kind == ErrorKind::interrupted) return fail(error);
      return fail(ErrorKind::quiesce_failed, "cannot stop container " + target->name + ": " + error.message);
    }
  }
  return guard;
}

StopGuard::~StopGuard() {
  if (auto released = release(); !released) spdlog::error("{}", released.error().message);
}

Result<> StopGuard::release() {
  if (runtime_ == nullptr) return {};
  const auto still_stopped = start_in_reverse(*runtime_, stopped_);
  stopped_ = still_stopped;
  if (!still_stopped.empty()) {
    // Only these are left for the next run: the others run again and must not be stopped once more.
    (void)write_stop_marker(paths_, still_stopped);
    return fail(ErrorKind::quiesce_failed, "container(s) " + util::join(still_stopped) +
                                               " stay stopped; the next backup run or connectware-post-backup "
                                               "retries, or run: docker start " +
                                               util::join(still_stopped));
  }
  runtime_ = nullptr;
  return remove_stop_marker(paths_);
}

Result<std::vector<std::string>> release_leftover_stop(container::ContainerRuntime& runtime, const StatePaths& paths,
                                                       std::chrono::seconds stop_timeout) {
  auto recorded = read_stop_marker(paths);
  if (!recorded) return fail(recorded.error());
  if (!recorded->empty()) {
    // The killed run may have left a stop in flight at the engine, which would overtake a start (a
    // container still stopping counts as running): each is stopped first, which waits for that stop to
    // end (and restarts one the run had not reached yet), then all start in the reverse order.
    {
      const util::CancellationShield shield;
      for (const auto& id : *recorded)
        (void)runtime.stop(id, stop_timeout);
    }
    const auto still_stopped = start_in_reverse(runtime, *recorded);
    if (!still_stopped.empty()) {
      (void)write_stop_marker(paths, still_stopped);
      return fail(ErrorKind::quiesce_failed, "container(s) " + util::join(still_stopped) + " stay stopped");
    }
  }
  CWB_TRY(remove_stop_marker(paths));
  return *recorded;
}

std::vector<container::ContainerInfo> stop_order(std::vector<container::ContainerInfo> containers) {
  std::ranges::sort(containers, {}, &container::ContainerInfo::name);
  std::vector<container::ContainerInfo> ordered;
  // Repeatedly take the first container no remaining one depends on (dependents stop first), preferring
  // any over the database; a cycle (which Compose refuses) falls back to the name order.
  while (!containers.empty()) {
    const auto depended_on = [&containers](const container::ContainerInfo& candidate) {
      const auto service = service_of(candidate);
      if (service.empty()) return false;
      return std::ranges::any_of(containers, [&](const container::ContainerInfo& other) {
        if (&other == &candidate) return false;
        const auto needs = dependencies_of(other);
        return std::ranges::find(needs, service) != needs.end();
      });
    };
    auto next = containers.end();
    for (auto it = containers.begin(); it != containers.end(); ++it) {
      if (depended_on(*it)) continue;
      if (next == containers.end() || (service_of(*next) == database_service && service_of(*it) != database_service))
        next = it;
    }
    if (next == containers.end()) next = containers.begin();
    ordered.push_back(std::move(*next));
    containers.erase(next);
  }
  return ordered;
}

// --- ComposeInstallation -----------------------------------------------------------------------------------

Result<std::vector<Volume>> ComposeInstallation::locate_volumes(const std::vector<std::string>& names) {
  std::vector<Volume> volumes;
  for (const auto& name : names) {
    Volume volume{name, compose_volume_name(settings_.project, name), {}, {}};
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
  auto unpaused = release_leftover_pause(runtime_, paths);
  // Both are tried, whatever the first says: each is a different run's leftover.
  auto started = release_leftover_stop(runtime_, paths, settings_.stop_timeout);
  if (!unpaused) return fail(unpaused.error());
  if (!started) return fail(started.error());
  unpaused->insert(unpaused->end(), started->begin(), started->end());
  return unpaused;
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

Result<std::vector<Volume>> ComposeInstallation::locate_all_volumes() {
  auto listed = runtime_.list_volumes(container::LabelFilter{{label(compose_project_label, settings_.project)}});
  if (!listed) return fail(listed.error().with_context("listing the volumes of Compose project " + settings_.project));
  std::vector<Volume> volumes;
  for (auto& info : *listed) {
    const auto named = info.labels.find(std::string(compose_volume_label));
    // Compose labels every volume it creates with both; one without the second is not Compose's.
    if (named == info.labels.end() || named->second.empty()) {
      spdlog::warn("volume {} carries {} but no {} label: left out (not created by Compose)", info.name,
                   label(compose_project_label, settings_.project), compose_volume_label);
      continue;
    }
    Volume volume{named->second, info.name, info.mountpoint, info.labels};
    if (const auto given = settings_.volume_paths.find(volume.name); given != settings_.volume_paths.end())
      volume.path = given->second;
    std::error_code error;
    if (!std::filesystem::is_directory(volume.path, error))
      return fail(ErrorKind::volume_missing, "volume " + volume.source + " has no folder at " + volume.path.string());
    volumes.push_back(std::move(volume));
  }
  std::ranges::sort(volumes, {}, &Volume::name);
  return volumes;
}

Result<std::vector<container::ContainerInfo>> ComposeInstallation::ordered_containers() {
  auto containers = installation_containers();
  if (!containers) return fail(containers.error());
  return stop_order(std::move(*containers));
}

Result<std::vector<container::ContainerInfo>> ComposeInstallation::project_containers() {
  // Only the project's: a container labelled io.cybus.connectware=core of another project is not part of
  // this installation's volumes, and a full backup or restore must not stop it.
  auto containers = runtime_.list_containers(container::LabelFilter{{label(compose_project_label, settings_.project)}});
  if (!containers)
    return fail(containers.error().with_context("listing the containers of Compose project " + settings_.project));
  return stop_order(std::move(*containers));
}

Result<std::vector<Workload>> ComposeInstallation::installation_workloads() {
  auto containers = project_containers();
  if (!containers) return fail(containers.error());
  std::vector<Workload> workloads;
  for (const auto& container : *containers)
    workloads.push_back(Workload{container.id, container.name, is_up(container)});
  return workloads;
}

Result<std::unique_ptr<ConfigurationHold>> ComposeInstallation::stop_installation(const StatePaths& paths) {
  auto containers = project_containers();
  if (!containers) return fail(containers.error());
  auto guard = StopGuard::stop(runtime_, paths, *containers, settings_.stop_timeout);
  if (!guard) return fail(guard.error());
  return std::unique_ptr<ConfigurationHold>(std::move(*guard));
}

Result<MissingVolume> ComposeInstallation::plan_volume(const std::string& name, const std::string& source,
                                                       const std::map<std::string, std::string>& labels) {
  // Compose names a volume "<project>_<name>" unless its file gives it a name of its own (`name:`), which
  // the snapshot then recorded as its source: that name is kept.
  const bool compose_named = source.empty() || source.ends_with("_" + name);
  MissingVolume volume{name, compose_named ? compose_volume_name(settings_.project, name) : source, labels};
  // As Compose would label it in this project (which may be named otherwise on the new host).
  volume.labels[std::string(compose_project_label)] = settings_.project;
  volume.labels[std::string(compose_volume_label)] = name;
  return volume;
}

Result<Volume> ComposeInstallation::create_volume(const MissingVolume& volume) {
  auto created = runtime_.create_volume(volume.source, volume.labels);
  if (!created) return fail(created.error());
  spdlog::info("created volume {} with Compose's labels", volume.source);
  return Volume{volume.name, created->name, created->mountpoint, created->labels};
}

std::string ComposeInstallation::start_hint() const {
  return "start Connectware with `docker compose -p " + settings_.project +
         " up -d` in the folder of its docker-compose.yml (or set restart-command to that command)";
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
  // Database first, dependents after (the reverse stop order): a service restarted before its database
  // would lose its connections again right away.
  auto containers = ordered_containers();
  if (!containers) return fail(containers.error());
  std::ranges::reverse(*containers);
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
  if (!left_stopped.empty()) done += "; left stopped as before: " + util::join(left_stopped);
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
