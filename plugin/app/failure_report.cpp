#include "app/failure_report.hpp"

#include "core/exit_codes.hpp"
#include "snapshot/manifest.hpp"
#include "snapshot/run_report.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

namespace cwb::app {
namespace {

snapshot::RunReport failed_report(const Error& error) {
  const auto now = std::chrono::system_clock::now();
  snapshot::RunReport report;
  report.success = false;
  report.error_kind = to_string(error.kind);
  report.error_message = error.message;
  report.exit_code = to_int(exit_code_for(error.kind));
  report.started = snapshot::iso8601_utc(now);
  report.finished = report.started;
  report.finished_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return report;
}

/// The value given for `key` on the command line or in its environment variable; empty when neither.
std::string given(const config::CommandLine& command_line, const util::Environment& environment, std::string_view key) {
  if (const auto flag = command_line.values.find(key); flag != command_line.values.end()) return flag->second;
  const auto* info = config::Config::find_key(key);
  if (info == nullptr) return {};
  const auto variable = environment.find(std::string(info->env_var));
  return variable == environment.end() ? std::string{} : variable->second;
}

} // namespace

void record_failure_before_run(const config::Config& config, const Error& error) {
  const auto metrics = config.metrics_file().value_or(std::filesystem::path{});
  if (auto written = snapshot::write_run_report(failed_report(error), config.status_file(), metrics); !written)
    spdlog::warn("cannot record the failure in {}: {}", config.status_file().string(), written.error().message);
}

void record_failure_without_config(const config::CommandLine& command_line, const util::Environment& environment,
                                   const Error& error) {
  std::filesystem::path status_file = given(command_line, environment, "status-file");
  if (status_file.empty()) {
    std::filesystem::path state_dir = given(command_line, environment, "state-dir");
    if (state_dir.empty()) state_dir = config::Config::find_key("state-dir")->default_text;
    status_file = state_dir / "status.json";
  }
  const std::filesystem::path metrics = given(command_line, environment, "metrics-file");
  // Logging is not set up yet: the hook's one error line follows on stderr anyway.
  if (auto written = snapshot::write_run_report(failed_report(error), status_file, metrics); !written)
    std::cerr << "warning: cannot record the failure in " << status_file.string() << ": " << written.error().message
              << "\n";
}

} // namespace cwb::app
