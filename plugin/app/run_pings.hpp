#pragma once
// A hook run's pings (ping/ping.hpp): which URL, the run id that pairs start and end, and the log tail the
// end ping carries. connectware-backup and the drill ping start and end from one process; resticprofile and
// backup agents run connectware-pre-backup (start) and connectware-post-backup (end) apart, so the start's
// run id waits for the end in <state-dir>/ping-run-id.

#include "config/config.hpp"
#include "http/clock.hpp"
#include "http/curl_transport.hpp"
#include "ping/ping.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>

#include <memory>
#include <optional>
#include <string>

namespace cwb::app {

/// Which check a hook pings: ping-url (backup runs) or drill-ping-url.
enum class PingCheck { backup, drill };

/// What a hook pings; decided once its flags are parsed.
struct PingPlan {
  bool start = false;  // /start before the hook's work
  bool finish = false; // the outcome after it
  PingCheck check = PingCheck::backup;
  /// The run's outcome is the one the hook recorded in status-file when the hook itself succeeded:
  /// connectware-post-backup --failed records a failed run and exits 0.
  bool outcome_from_status = false;
};

class RunPings {
public:
  /// Nothing is sent when the plan pings nothing or the check's URL is not set.
  RunPings(const config::Config& config, PingPlan plan);

  /// The start ping (when planned). A failure is a warning.
  void start();
  /// The end ping (when planned): success for `exit_code` 0 (or, with outcome_from_status, the recorded
  /// outcome), else /<exit-code>, with the log's tail and `error_line` as the body. A failure is a warning.
  void finish(int exit_code, const std::string& error_line);

private:
  [[nodiscard]] int run_exit_code(int hook_exit_code) const;

  const config::Config& config_;
  PingPlan plan_;
  std::string run_id_;
  std::unique_ptr<http::CurlTransport> transport_;
  http::SystemSleeper sleeper_;
  std::unique_ptr<ping::Pinger> pinger_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
};

} // namespace cwb::app
