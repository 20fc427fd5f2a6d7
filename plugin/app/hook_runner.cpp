#include "app/hook_runner.hpp"

#include "app/clients.hpp"
#include "app/failure_report.hpp"
#include "app/hold_watchdog.hpp"

#include "config/command_line.hpp"
#include "config/logging.hpp"
#include "core/exit_codes.hpp"
#include "util/cancellation.hpp"
#include "util/url_credentials.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

namespace cwb::app {

int run_hook(const HookDescription& hook, int argc, char** argv, const std::function<void(CLI::App&)>& add_flags,
             const std::function<Result<>(const HookInput&)>& body) {
  // `<hook> --release-watchdog RUN_ID ARGS...`: this process is the watchdog of a run (app/hold_watchdog).
  // It outlives signals meant for the hook's job: the hook releases on those itself, and the watchdog
  // only acts when the hook is gone.
  std::vector<char*> args(argv, argv + argc);
  std::optional<std::string> watched_run;
  if (args.size() >= 3 && std::string_view(args[1]) == release_watchdog_flag) {
    watched_run = args[2];
    args.erase(args.begin() + 1, args.begin() + 3);
    // SIGPIPE too: its stderr is the dead hook's, and a log line into a closed pipe must not end it before
    // it has released anything.
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
      std::signal(signal, SIG_IGN);
  }
  const std::vector<std::string> arguments(args.begin() + 1, args.end());
  const std::string log_name = watched_run ? hook.name + " (watchdog)" : hook.name;

  CLI::App cli{hook.description, hook.name};
  cli.set_version_flag("--version", std::string(hook.name) + " " + CWB_VERSION);
  config::CommandLine command_line;
  config::add_options(cli, command_line);
  if (add_flags) add_flags(cli);
  try {
    cli.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& error) {
    // --help and --version end here too, with code 0.
    const int code = cli.exit(error);
    return code == 0 ? 0 : to_int(ExitCode::usage);
  }

  const util::Environment environment = util::current_environment();
  auto config = config::Config::resolve(command_line, environment);
  if (!config) {
    if (hook.reports_backup_runs && !watched_run)
      record_failure_without_config(command_line, environment, config.error());
    std::cerr << hook.name << ": error: " << util::mask_url_credentials(config.error().message) << "\n";
    return to_int(exit_code_for(config.error().kind));
  }
  if (command_line.show_config) {
    std::cout << config::show_config(*config) << describe_platform(*config, environment);
    return 0;
  }
  config::setup_logging(config->log_level(), log_name);
  if (watched_run) {
    auto watched = watch_hold(HookInput{*config, environment, arguments}, *watched_run);
    if (!watched) spdlog::error("{}", config::redact(watched.error().message, config->secrets()));
    return watched ? 0 : to_int(exit_code_for(watched.error().kind));
  }
  for (const auto& warning : config->warnings())
    spdlog::warn("{}", warning);
  util::install_cancellation_handlers();
  RunPings pings(*config, hook.pings ? hook.pings() : PingPlan{});
  pings.start();

  Result<> result = [&]() -> Result<> {
    try {
      return body(HookInput{*config, environment, arguments});
    } catch (const std::exception& error) {
      // Library exceptions are caught in the modules; one reaching here is a bug, reported as one.
      return fail(ErrorKind::internal, std::string("unexpected exception: ") + error.what());
    }
  }();
  if (!result) {
    // The single line an operator reads at 3 a.m.: secrets cannot reach it (they are never in messages,
    // and redact() catches a value that slipped into a server's answer).
    const std::string error_line =
        hook.name + ": error: " + config::redact(result.error().message, config->secrets()) + "\n";
    std::cerr << error_line << std::flush;
    const int code = to_int(exit_code_for(result.error().kind));
    pings.finish(code, error_line);
    return code;
  }
  pings.finish(0, {});
  return 0;
}

} // namespace cwb::app
