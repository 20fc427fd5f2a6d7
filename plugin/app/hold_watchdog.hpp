#pragma once
// The two ends of installation/hold_watchdog for the hook executables: the starter a backup hook hands to
// its pipeline, and the watchdog's own body, run by the same executable when called as
//   <hook> --release-watchdog RUN_ID <the hook's own arguments>
// so that it resolves exactly the hook's configuration (the environment is inherited; secrets are never in
// arguments).

#include "app/hook_runner.hpp"
#include "backup/backup_context.hpp"

#include <string>
#include <string_view>

namespace cwb::app {

/// The first argument that makes a hook executable its own release watchdog.
inline constexpr std::string_view release_watchdog_flag = "--release-watchdog";

/// Returns the starter for BackupContext::start_hold_watchdog: it runs this executable
/// (/proc/self/exe) as the watchdog of the run it is given.
backup::HoldWatchdogStarter hold_watchdog_starter(const HookInput& input);

/// The watchdog's body: waits until the hook says the hold is released or dies. On death, when the run
/// marker still names `run_id`, it records the run as failed through the post-backup failure path, which
/// releases the hold (unpauses), cleans up and writes status.json. Errors: those of building the clients.
Result<> watch_hold(const HookInput& input, const std::string& run_id);

} // namespace cwb::app
