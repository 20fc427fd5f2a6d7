#include "restore/installation.hpp"

#include "connectware/database_operations.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace cwb::restore {
namespace {

constexpr std::chrono::seconds stop_timeout{30};

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : " ") + item;
  return text;
}

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  const auto start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end + 1 - (start == std::string::npos ? 0 : start + 1));
}

} // namespace

Result<std::vector<VolumeTarget>> locate_volumes(const RestoreContext& context, const snapshot::Manifest& manifest) {
  const auto& config = context.config;
  std::vector<VolumeTarget> targets;
  for (const auto& volume : manifest.volumes) {
    VolumeTarget target{volume.name, config.compose_project() + "_" + volume.name, {}};
    if (volume.name == "service-manager" && config.volume_path()) {
      target.path = *config.volume_path();
    } else if (context.containers != nullptr) {
      auto mountpoint = context.containers->volume_mountpoint(target.docker_volume);
      if (!mountpoint) return fail(mountpoint.error().with_context("locating volume " + target.docker_volume));
      target.path = *mountpoint;
    } else {
      return fail(ErrorKind::usage, "cannot locate volume " + target.docker_volume +
                                        " without a container runtime: set volume-path or docker-host");
    }
    std::error_code error;
    if (!std::filesystem::is_directory(target.path, error))
      return fail(ErrorKind::staging_io,
                  "volume " + target.docker_volume + " is not a folder at " + target.path.string());
    targets.push_back(std::move(target));
  }
  return targets;
}

Result<std::vector<std::string>> containers_using(const RestoreContext& context,
                                                  const std::vector<VolumeTarget>& targets) {
  std::vector<std::string> ids;
  if (context.containers == nullptr) return ids;
  auto all = context.containers->list_containers({});
  if (!all) return fail(all.error().with_context("listing the containers that use the volumes"));
  for (const auto& container : *all) {
    const bool uses = std::ranges::any_of(targets, [&container](const VolumeTarget& target) {
      return std::ranges::find(container.mounts, target.docker_volume) != container.mounts.end();
    });
    if (uses) ids.push_back(container.id);
  }
  return ids;
}

Result<std::vector<std::string>> installation_containers(const RestoreContext& context) {
  std::vector<std::string> ids;
  if (context.containers == nullptr) return ids;
  for (const auto& label :
       {std::string("io.cybus.connectware=core"), "com.docker.compose.project=" + context.config.compose_project()}) {
    auto found = context.containers->list_containers(container::LabelFilter{{label}});
    if (!found) return fail(found.error().with_context("listing Connectware's containers"));
    for (const auto& container : *found)
      if (std::ranges::find(ids, container.id) == ids.end()) ids.push_back(container.id);
  }
  return ids;
}

Result<> check_restart_possible(const RestoreContext& context) {
  if (!context.config.restart_command().empty() || context.containers != nullptr) return {};
  return fail(ErrorKind::usage, "cannot restart Connectware after the restore: set restart-command or docker-host");
}

std::string describe_restart(const RestoreContext& context) {
  const auto command = context.config.restart_command();
  if (!command.empty()) return "run `" + join(command) + "`";
  return "restart every container labelled io.cybus.connectware=core or com.docker.compose.project=" +
         context.config.compose_project();
}

Result<std::string> restart_connectware(RestoreContext& context, const std::vector<std::string>& stopped) {
  std::string done;
  for (const auto& id : stopped) {
    if (auto started = context.containers->start(id); !started)
      return fail(started.error().with_context("starting container " + id + " again"));
  }
  const auto command = context.config.restart_command();
  if (!command.empty()) {
    util::ProcessOptions options;
    options.argv = command;
    options.env = context.environment;
    options.timeout = context.config.health_timeout();
    auto run = context.process_runner.run(options);
    if (!run) return fail(run.error().with_context("running restart-command `" + join(command) + "`"));
    if (!run->status.success())
      return fail(ErrorKind::container_runtime, "restart-command `" + join(command) + "` " + run->status.describe() +
                                                    ": " + last_line(run->stderr_text));
    done = "ran `" + join(command) + "`";
  } else {
    auto ids = installation_containers(context);
    if (!ids) return fail(ids.error());
    if (ids->empty())
      return fail(ErrorKind::container_runtime, "found no Connectware container to restart (label "
                                                "io.cybus.connectware=core or com.docker.compose.project=" +
                                                    context.config.compose_project() + ")");
    for (const auto& id : *ids) {
      if (auto restarted = context.containers->restart(id, stop_timeout); !restarted)
        return fail(restarted.error().with_context("restarting container " + id));
    }
    done = "restarted " + std::to_string(ids->size()) + " container(s)";
  }
  spdlog::info("{}; waiting up to {} s for Connectware to report every container running", done,
               context.config.health_timeout().count());
  if (auto healthy = connectware::wait_until_healthy(context.connectware, context.config.health_timeout()); !healthy)
    return fail(healthy.error().with_context("after the restart"));
  return done;
}

} // namespace cwb::restore
