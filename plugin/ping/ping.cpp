#include "ping/ping.hpp"

#include "http/retry.hpp"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <random>

namespace cwb::ping {

std::string ping_url(std::string_view base, std::string_view suffix, std::string_view run_id) {
  std::string url{base};
  while (url.ends_with('/'))
    url.pop_back();
  // A query in the base (healthchecks' ?create=1 for slug URLs) stays at the end.
  std::string query;
  if (const auto mark = url.find('?'); mark != std::string::npos) {
    query = url.substr(mark);
    url.erase(mark);
    while (url.ends_with('/'))
      url.pop_back();
  }
  url += suffix;
  if (!run_id.empty()) query += (query.empty() ? "?rid=" : "&rid=") + std::string(run_id);
  return url + query;
}

std::string new_run_id() {
  std::random_device random;
  std::array<std::uint8_t, 16> bytes{};
  for (auto& byte : bytes)
    byte = static_cast<std::uint8_t>(random() & 0xffU);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0fU) | 0x40U); // version 4
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3fU) | 0x80U); // RFC 4122 variant
  std::string id;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += fmt::format("{:02x}", bytes[i]);
  }
  return id;
}

std::string log_tail(std::string_view log, std::size_t max_bytes) {
  if (log.size() <= max_bytes) return std::string{log};
  auto tail = log.substr(log.size() - max_bytes);
  // Drop the partial first line; a single line longer than the limit keeps its end.
  if (const auto newline = tail.find('\n'); newline != std::string_view::npos && newline + 1 < tail.size())
    tail.remove_prefix(newline + 1);
  return std::string{tail};
}

namespace {

/// `message` with the ping URL (however much of it, as sent or redacted) replaced by "<ping-url>".
std::string without_url(std::string message, const std::string& url) {
  std::string base = url;
  if (const auto mark = base.find('?'); mark != std::string::npos) base.erase(mark);
  while (base.ends_with('/'))
    base.pop_back();
  for (const auto& form : {base, http::redact_url(base)}) {
    if (form.empty()) continue;
    for (auto at = message.find(form); at != std::string::npos; at = message.find(form, at)) {
      // Up to the end of the URL: its suffix and query too.
      auto end = message.find_first_of(" :\"'", at + form.size());
      if (end == std::string::npos) end = message.size();
      message.replace(at, end - at, "<ping-url>");
    }
  }
  return message;
}

} // namespace

Pinger::Pinger(PingOptions options, http::Transport& transport, http::Sleeper& sleeper)
    : options_(std::move(options)), transport_(transport), sleeper_(sleeper) {}

Result<> Pinger::start(std::string_view run_id) {
  return send("/start", run_id, {});
}

Result<> Pinger::finish(std::string_view run_id, int exit_code, std::string_view log) {
  return send(exit_code == 0 ? std::string{} : "/" + std::to_string(exit_code), run_id, log_tail(log));
}

Result<> Pinger::send(const std::string& suffix, std::string_view run_id, std::string body) {
  if (!enabled()) return {};
  http::Request request;
  request.method = "POST";
  request.url = ping_url(options_.url, suffix, run_id);
  request.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
  request.body = std::move(body);
  request.redirects = http::Redirects::follow;
  request.timeouts.connect = options_.timeout;
  request.timeouts.total = options_.timeout;
  request.max_body_bytes = 64 * 1024;
  http::RetryPolicy policy;
  policy.max_attempts = options_.retries + 1;
  policy.initial_delay = options_.retry_delay;
  policy.max_delay = options_.retry_delay * 4;
  // A repeated ping is harmless (the service records one more event): retry whatever failed.
  auto response = http::perform_with_retry(transport_, request, policy, sleeper_, http::Idempotency::idempotent);
  // The URL identifies the check (anyone holding it can ping): messages name only the kind of ping.
  const std::string what = suffix.empty() ? "success" : suffix.substr(1);
  if (!response) {
    const auto message = without_url(response.error().message, options_.url);
    spdlog::warn("ping ({}) not delivered: {}", what, message);
    return fail(Error{response.error().kind, "ping " + what + ": " + message});
  }
  if (!response->success()) {
    spdlog::warn("ping ({}) not accepted: HTTP {}", what, response->status);
    return fail(ErrorKind::unreachable, "ping " + what + ": HTTP " + std::to_string(response->status));
  }
  spdlog::debug("ping ({}) delivered", what);
  return {};
}

} // namespace cwb::ping
