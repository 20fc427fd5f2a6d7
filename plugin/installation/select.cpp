#include "installation/select.hpp"

#include "installation/compose.hpp"
#include "installation/host.hpp"
#include "util/text.hpp"

namespace cwb::installation {
namespace {

std::unique_ptr<Installation> make_compose(const config::Config& config, container::ContainerRuntime& runtime,
                                           util::ProcessRunner& process_runner, const util::Environment& environment) {
  ComposeSettings settings;
  settings.project = config.compose_project();
  settings.pause_services = config.pause_services();
  settings.volume_paths = config.volume_paths();
  settings.restart_command = config.restart_command();
  settings.restart_timeout = config.health_timeout();
  settings.stop_timeout = config.stop_timeout();
  return std::make_unique<ComposeInstallation>(std::move(settings), runtime, process_runner, environment);
}

std::unique_ptr<Installation> make_host(const config::Config& config, util::ProcessRunner& process_runner,
                                        const util::Environment& environment) {
  HostSettings settings;
  settings.volume_paths = config.volume_paths();
  settings.restart_command = config.restart_command();
  settings.stop_command = config.stop_command();
  settings.command_timeout = config.health_timeout();
  return std::make_unique<HostInstallation>(std::move(settings), process_runner, environment);
}

std::vector<std::string> volumes_without_folder(const config::Config& config) {
  const auto given = config.volume_paths();
  std::vector<std::string> missing;
  for (const auto& name : config.volumes())
    if (!given.contains(name)) missing.push_back(name);
  return missing;
}

} // namespace

Result<SelectedInstallation> select_installation(const config::Config& config, container::ContainerRuntime* runtime,
                                                 util::ProcessRunner& process_runner,
                                                 const util::Environment& environment) {
  switch (config.platform()) {
  case config::PlatformChoice::compose:
    if (runtime == nullptr)
      return fail(ErrorKind::usage, "platform = compose needs the Docker engine: set docker-host (DOCKER_HOST)");
    return SelectedInstallation{make_compose(config, *runtime, process_runner, environment), "set by platform"};
  case config::PlatformChoice::host:
    return SelectedInstallation{make_host(config, process_runner, environment), "set by platform"};
  case config::PlatformChoice::automatic: break;
  }
  std::string engine = "no Docker engine is configured (docker-host is empty)";
  if (runtime != nullptr) {
    auto answer = runtime->list_containers({});
    if (answer)
      return SelectedInstallation{make_compose(config, *runtime, process_runner, environment),
                                  "auto: the Docker engine at " + config.docker_host() + " answers"};
    engine = "the Docker engine at " + config.docker_host() + " does not answer (" + answer.error().message + ")";
  }
  const auto missing = volumes_without_folder(config);
  if (missing.empty())
    return SelectedInstallation{make_host(config, process_runner, environment),
                                "auto: " + engine + ", and every volume's folder is given"};
  // An engine that is configured but down is an outage of the Compose installation (exit 16), not a
  // configuration mistake; with none configured and no folders, the configuration is what is missing.
  return fail(runtime != nullptr ? ErrorKind::container_runtime : ErrorKind::usage,
              "cannot tell where Connectware runs (platform = auto): " + engine +
                  ", and no folder is given for volume(s) " + util::join(missing) +
                  ". Either make the Docker engine reachable (docker-host) for platform = compose, "
                  "or give every volume's folder (volume-paths NAME=/path, or volume-path) and "
                  "restart-command for platform = host");
}

} // namespace cwb::installation
