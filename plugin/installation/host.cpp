#include "installation/host.hpp"

#include "config/config.hpp"
#include "installation/command.hpp"

#include <system_error>

namespace cwb::installation {

Result<std::vector<Volume>> HostInstallation::locate_volumes(const std::vector<std::string>& names) {
  std::vector<Volume> volumes;
  for (const auto& name : names) {
    const auto given = settings_.volume_paths.find(name);
    if (given == settings_.volume_paths.end())
      return fail(ErrorKind::volume_missing,
                  "no folder is given for volume " + name + " (platform = host): set volume-paths = " + name +
                      "=/path/to/its/folder" + (name == config::service_manager_volume ? " or volume-path" : ""));
    std::error_code error;
    if (!std::filesystem::is_directory(given->second, error))
      return fail(ErrorKind::volume_missing,
                  "volume " + name + " has no folder at " + given->second.string() + " (from volume-paths)");
    volumes.push_back(Volume{name, given->second.string(), given->second, {}});
  }
  return volumes;
}

Result<std::unique_ptr<ConfigurationHold>> HostInstallation::hold_configuration(const StatePaths& /*paths*/) {
  return fail(ErrorKind::usage, "quiesce = pause needs a container platform (platform = compose); on a plain host use "
                                "quiesce = verify (or auto)");
}

Result<std::vector<std::string>> HostInstallation::release_leftover_hold(const StatePaths& /*paths*/) {
  return std::vector<std::string>{};
}

Result<std::vector<Workload>> HostInstallation::volume_users(const std::vector<Volume>& /*volumes*/) {
  if (settings_.stop_command.empty()) return std::vector<Workload>{};
  return std::vector<Workload>{
      Workload{"stop-command", "stop-command `" + command_text(settings_.stop_command) + "`", true}};
}

Result<> HostInstallation::stop(const Workload& /*workload*/) {
  return run_operator_command(process_runner_, environment_, settings_.stop_command, settings_.command_timeout,
                              "stop-command");
}

Result<> HostInstallation::start(const Workload& /*workload*/) {
  return {};
}

Result<> HostInstallation::check_restart_possible() const {
  if (!settings_.restart_command.empty()) return {};
  return fail(ErrorKind::usage,
              "cannot restart Connectware after the restore: set restart-command (platform = host has no containers "
              "to restart)");
}

std::string HostInstallation::describe_restart() const {
  return "run `" + command_text(settings_.restart_command) + "`";
}

Result<std::string> HostInstallation::restart() {
  CWB_TRY(check_restart_possible());
  CWB_TRY(run_operator_command(process_runner_, environment_, settings_.restart_command, settings_.command_timeout,
                               "restart-command"));
  return "ran `" + command_text(settings_.restart_command) + "`";
}

Result<Description> HostInstallation::describe(const std::vector<Volume>& volumes) {
  Description description;
  description.platform = to_string(Platform::host);
  for (const auto& volume : volumes)
    description.volumes.push_back(volume.source);
  return description;
}

namespace {

std::unexpected<Error> full_scope_needs_compose() {
  return fail(ErrorKind::usage, "scope = full needs platform = compose: only Compose records which volumes and "
                                "containers make up the installation (on a plain host, list the volumes in "
                                "volume-paths and use scope = configuration)");
}

} // namespace

Result<std::vector<Volume>> HostInstallation::locate_all_volumes() {
  return full_scope_needs_compose();
}
Result<std::vector<Workload>> HostInstallation::installation_workloads() {
  return full_scope_needs_compose();
}
Result<std::unique_ptr<ConfigurationHold>> HostInstallation::stop_installation(const StatePaths& /*paths*/) {
  return full_scope_needs_compose();
}
Result<MissingVolume> HostInstallation::plan_volume(const std::string& /*name*/, const std::string& /*source*/,
                                                    const std::map<std::string, std::string>& /*labels*/) {
  return full_scope_needs_compose();
}
Result<Volume> HostInstallation::create_volume(const MissingVolume& /*volume*/) {
  return full_scope_needs_compose();
}

} // namespace cwb::installation
