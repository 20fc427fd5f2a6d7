#include "app/hold_watchdog.hpp"

#include "app/clients.hpp"
#include "backup/backup_job.hpp"
#include "installation/hold_watchdog.hpp"
#include "installation/run_state.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <filesystem>

namespace cwb::app {

backup::HoldWatchdogStarter hold_watchdog_starter(const HookInput& input) {
  return [arguments = input.arguments,
          environment = input.environment](const std::string& run_id) -> Result<installation::HoldWatchdog> {
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) return fail(ErrorKind::internal, "cannot find this executable for the watchdog: " + error.message());
    std::vector<std::string> argv{self.string(), std::string(release_watchdog_flag), run_id};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return installation::HoldWatchdog::start(argv, environment);
  };
}

Result<> watch_hold(const HookInput& input, const std::string& run_id) {
  if (installation::hook_released_hold(STDIN_FILENO)) return {};
  spdlog::warn("the hook of run {} died while it held the configuration (SIGKILL or the OOM killer): releasing "
               "it now",
               run_id);
  auto clients = make_clients(input.config, input.environment, NeedsRepository::no);
  if (!clients) return fail(clients.error().with_context("the release watchdog"));
  CWB_TRY(select_installation(**clients, input.config, input.environment));
  const installation::StatePaths paths{input.config.state_dir()};
  auto marker = installation::read_run_marker(paths);
  if (!marker) return fail(marker.error());
  if (!*marker || (**marker).run_id != run_id) {
    spdlog::info("run {} was already taken care of", run_id);
    return {};
  }
  // The dead hook's run is ours to end: the post-backup failure path releases, cleans up and records it.
  backup::BackupContext context{input.config,
                                *(*clients)->connectware,
                                *(*clients)->installation,
                                *(*clients)->restic,
                                (*clients)->clock,
                                (**marker).owner,
                                {},
                                {}};
  backup::record_failed_run(context, Error{ErrorKind::interrupted,
                                           "the hook was killed while it held the configuration (SIGKILL or the "
                                           "OOM killer); its release watchdog released it"});
  spdlog::info("run {}: released and recorded as failed", run_id);
  return {};
}

} // namespace cwb::app
