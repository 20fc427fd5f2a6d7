#include "app/run_pings.hpp"

#include "config/logging.hpp"
#include "util/file_system.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace cwb::app {

namespace {

/// Lines of log kept for the end ping: more than 10 kB of typical lines, so the tail is cut by size.
constexpr std::size_t kept_log_lines = 400;

} // namespace

RunPings::RunPings(const config::Config& config, PingPlan plan) : config_(config), plan_(plan) {
  const auto& url = plan_.check == PingCheck::drill ? config_.drill_ping_url() : config_.ping_url();
  if ((!plan_.start && !plan_.finish) || url.empty()) return;
  // The system's CAs: a monitoring service is a public endpoint, not Connectware's own certificate.
  transport_ = std::make_unique<http::CurlTransport>();
  ping::PingOptions options;
  options.url = url.reveal();
  options.timeout = config_.ping_timeout();
  options.retries = config_.ping_retries();
  pinger_ = std::make_unique<ping::Pinger>(std::move(options), *transport_, sleeper_);
  if (plan_.finish) {
    log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kept_log_lines);
    config::add_log_sink(log_);
  }
  if (plan_.start) {
    run_id_ = ping::new_run_id();
    // Only a start without its end in this process leaves the id for the hook that ends the run.
    if (!plan_.finish) {
      auto written = util::create_private_directory(config_.state_dir());
      if (written) written = util::write_file_atomic(config_.ping_run_id_file(), run_id_ + "\n");
      if (!written) spdlog::warn("cannot keep the ping's run id for the post hook: {}", written.error().message);
    }
  } else if (auto kept = util::read_file(config_.ping_run_id_file())) {
    run_id_ = kept->substr(0, kept->find('\n'));
  }
}

void RunPings::start() {
  if (pinger_ && plan_.start) (void)pinger_->start(run_id_);
}

void RunPings::finish(int exit_code, const std::string& error_line) {
  if (!pinger_ || !plan_.finish) return;
  std::string body;
  for (const auto& line : log_->last_formatted())
    body += line; // formatted lines end with their newline
  // The error line goes last and always fits: the log's tail gives way to it.
  const auto room = ping::max_body_bytes > error_line.size() ? ping::max_body_bytes - error_line.size() : 0;
  body = ping::log_tail(body, room) + error_line;
  (void)pinger_->finish(run_id_, run_exit_code(exit_code), body);
  if (!plan_.start) (void)util::remove_tree(config_.ping_run_id_file());
}

int RunPings::run_exit_code(int hook_exit_code) const {
  if (hook_exit_code != 0 || !plan_.outcome_from_status) return hook_exit_code;
  auto text = util::read_file(config_.status_file());
  if (!text) return hook_exit_code;
  const auto status = nlohmann::json::parse(*text, nullptr, false);
  if (!status.is_object() || status.value("success", true)) return hook_exit_code;
  // A failed run recorded without a code (a routine that did not say) is still a failure.
  const int recorded = status.value("exit_code", 0);
  return recorded != 0 ? recorded : 1;
}

} // namespace cwb::app
