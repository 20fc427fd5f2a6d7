#include "app/hook_runner.hpp"

#include "app/clients.hpp"

#include "config/command_line.hpp"
#include "config/logging.hpp"
#include "core/exit_codes.hpp"
#include "util/cancellation.hpp"
#include "util/url_credentials.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

namespace cwb::app {

int run_hook(const HookDescription& hook, int argc, char** argv, const std::function<void(CLI::App&)>& add_flags,
             const std::function<Result<>(const HookInput&)>& body) {
  CLI::App cli{hook.description, hook.name};
  cli.set_version_flag("--version", std::string(hook.name) + " " + CWB_VERSION);
  config::CommandLine command_line;
  config::add_options(cli, command_line);
  if (add_flags) add_flags(cli);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version end here too, with code 0.
    const int code = cli.exit(error);
    return code == 0 ? 0 : to_int(ExitCode::usage);
  }

  const util::Environment environment = util::current_environment();
  auto config = config::Config::resolve(command_line, environment);
  if (!config) {
    std::cerr << hook.name << ": error: " << util::mask_url_credentials(config.error().message) << "\n";
    return to_int(exit_code_for(config.error().kind));
  }
  if (command_line.show_config) {
    std::cout << config::show_config(*config) << describe_platform(*config, environment);
    return 0;
  }
  config::setup_logging(config->log_level(), hook.name);
  for (const auto& warning : config->warnings())
    spdlog::warn("{}", warning);
  util::install_cancellation_handlers();

  Result<> result = [&]() -> Result<> {
    try {
      return body(HookInput{*config, environment});
    } catch (const std::exception& error) {
      // Library exceptions are caught in the modules; one reaching here is a bug, reported as one.
      return fail(ErrorKind::internal, std::string("unexpected exception: ") + error.what());
    }
  }();
  if (!result) {
    // The single line an operator reads at 3 a.m.: secrets cannot reach it (they are never in messages,
    // and redact() catches a value that slipped into a server's answer).
    std::cerr << hook.name << ": error: " << config::redact(result.error().message, config->secrets()) << "\n";
    return to_int(exit_code_for(result.error().kind));
  }
  return 0;
}

} // namespace cwb::app
