#pragma once
// The frame of every hook executable: parse the flags into a Config, answer --show-config, set up logging
// and SIGINT/SIGTERM handling, run the hook's body, and end with the documented exit code and, on
// failure, exactly one "error: ..." line on stderr.

#include "app/run_pings.hpp"
#include "config/config.hpp"
#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace cwb::app {

struct HookDescription {
  std::string name;        // "connectware-pre-backup"
  std::string description; // one line for --help
  /// A backup hook: a configuration error is recorded in status.json and the metrics as a failed run.
  bool reports_backup_runs = false;
  /// What the hook pings (ping-url, drill-ping-url), decided once its flags are parsed; empty: nothing.
  std::function<PingPlan()> pings;
};

struct HookInput {
  const config::Config& config;
  const util::Environment& environment;
  /// The command line after the program name, for a child that must resolve the same configuration.
  std::vector<std::string> arguments;
};

/// Runs a hook: `add_flags` may register the hook's own flags on the CLI11 app before parsing; `body` does
/// the work once the configuration is valid. Returns the process exit code.
int run_hook(const HookDescription& hook, int argc, char** argv, const std::function<void(CLI::App&)>& add_flags,
             const std::function<Result<>(const HookInput&)>& body);

} // namespace cwb::app
