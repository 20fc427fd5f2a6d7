#pragma once
// Connectware on a plain host, or wherever the operator knows better than a container runtime: every
// volume's folder is given (volume-path, volume-paths), Connectware is restarted by restart-command, and an
// optional stop-command runs before the volumes are replaced. Nothing here talks to a container runtime,
// so it works without Docker rights and without a Docker socket. The configuration cannot be paused here:
// quiesce = auto verifies instead.

#include "installation/installation.hpp"
#include "util/subprocess.hpp"

#include <chrono>
#include <map>

namespace cwb::installation {

struct HostSettings {
  std::map<std::string, std::filesystem::path> volume_paths;
  std::vector<std::string> restart_command; // required for a restore
  std::vector<std::string> stop_command;    // optional
  std::chrono::milliseconds command_timeout{300'000};
};

class HostInstallation final : public Installation {
public:
  /// `process_runner` and `environment` must outlive the installation.
  HostInstallation(HostSettings settings, util::ProcessRunner& process_runner, const util::Environment& environment)
      : settings_(std::move(settings)), process_runner_(process_runner), environment_(environment) {}

  [[nodiscard]] Platform platform() const override { return Platform::host; }
  /// Errors: volume_missing when a name has no folder in volume-paths, or the folder does not exist.
  Result<std::vector<Volume>> locate_volumes(const std::vector<std::string>& names) override;
  bool can_hold_configuration() override { return false; }
  /// Errors: usage (nothing on a plain host can pause Connectware's writers).
  Result<std::unique_ptr<ConfigurationHold>> hold_configuration(const StatePaths& paths) override;
  /// Nothing is ever held here: returns none.
  Result<std::vector<std::string>> release_leftover_hold(const StatePaths& paths) override;
  /// Returns the stop-command as the one workload when it is set, else none.
  Result<std::vector<Workload>> volume_users(const std::vector<Volume>& volumes) override;
  /// Runs stop-command.
  Result<> stop(const Workload& workload) override;
  /// Nothing: restart-command, run next, starts Connectware.
  Result<> start(const Workload& workload) override;
  /// Errors: usage when restart-command is unset.
  [[nodiscard]] Result<> check_restart_possible() const override;
  [[nodiscard]] std::string describe_restart() const override;
  /// Runs restart-command.
  Result<std::string> restart() override;
  Result<Description> describe(const std::vector<Volume>& volumes) override;
  /// scope = full needs Compose's record of the installation: these fail with usage.
  Result<std::vector<Volume>> locate_all_volumes() override;
  Result<std::vector<Workload>> installation_workloads() override;
  Result<std::unique_ptr<ConfigurationHold>> stop_installation(const StatePaths& paths) override;
  Result<MissingVolume> plan_volume(const std::string& name, const std::string& source,
                                    const std::map<std::string, std::string>& labels) override;
  Result<Volume> create_volume(const MissingVolume& volume) override;
  [[nodiscard]] std::string start_hint() const override { return "run restart-command"; }

private:
  HostSettings settings_;
  util::ProcessRunner& process_runner_;
  const util::Environment& environment_;
};

} // namespace cwb::installation
