#pragma once
// Pings in healthchecks.io's conventions (also spoken by Uptime Kuma's push monitors, Cronitor and others
// that copied them): `<url>/start` when a run starts, `<url>` when it succeeded, `<url>/<exit-code>` when it
// failed, each with `?rid=<uuid>` so that the service pairs a start with its end and measures the run. The
// end ping's body is the last lines of the run's log (at most 10 kB), which the service shows next to the
// alert. Short timeouts and a few retries: a monitoring service that is down must not hold a backup up, and
// a ping that did not arrive is a warning in the log, never a failed backup.

#include "core/error.hpp"
#include "http/clock.hpp"
#include "http/transport.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace cwb::ping {

/// The most log a ping carries (healthchecks.io keeps the first 10 kB of a body).
inline constexpr std::size_t max_body_bytes = 10 * 1024;

struct PingOptions {
  std::string url; // empty: no pings
  std::chrono::milliseconds timeout{10'000};
  int retries = 2;
  std::chrono::milliseconds retry_delay{1'000};
};

/// Returns the URL of a ping: `base` + "/start", "" (success) or "/<exit_code>", then "?rid=<run_id>" (or
/// "&rid=" when `base` has a query already); no rid when `run_id` is empty.
std::string ping_url(std::string_view base, std::string_view suffix, std::string_view run_id);

/// Returns a new random run id (a version 4 UUID, what healthchecks.io's rid expects).
std::string new_run_id();

/// Returns the end of `log` that fits in `max_bytes`, cut at a line start so no line is half there.
std::string log_tail(std::string_view log, std::size_t max_bytes = max_body_bytes);

class Pinger {
public:
  /// `transport` and `sleeper` must outlive the Pinger.
  Pinger(PingOptions options, http::Transport& transport, http::Sleeper& sleeper);

  [[nodiscard]] bool enabled() const { return !options_.url.empty(); }

  /// `<url>/start`. Returns what happened, already logged as a warning when it failed; callers go on.
  Result<> start(std::string_view run_id);
  /// `<url>` for exit code 0, else `<url>/<exit_code>`, with `log` (cut to its tail) as the body.
  Result<> finish(std::string_view run_id, int exit_code, std::string_view log);

private:
  Result<> send(const std::string& suffix, std::string_view run_id, std::string body);

  PingOptions options_;
  http::Transport& transport_;
  http::Sleeper& sleeper_;
};

} // namespace cwb::ping
