#pragma once
// Logging of the hooks: spdlog to stderr, every line prefixed with the hook's name (restic and systemd
// collect stderr), and helpers that keep secrets out of log lines.

#include "config/secret.hpp"
#include "config/values.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::config {

/// Makes the default spdlog logger write to stderr as "<hook_name>: <time> <level>: <message>" at `level`.
void setup_logging(LogLevel level, std::string_view hook_name);
/// The same, writing to `sink` instead of stderr (tests).
void setup_logging(LogLevel level, std::string_view hook_name, spdlog::sink_ptr sink);

/// Adds `sink` to the default logger set up above, with the same pattern and URL credential masking (the
/// log tail a ping carries).
void add_log_sink(spdlog::sink_ptr sink);

/// Returns `text` with every occurrence of every non-empty secret replaced by "********" and the passwords
/// inside URLs by "***" (util/url_credentials.hpp): for output of other programs (restic's stderr, HTTP
/// bodies) before it is logged or put in an error message.
std::string redact(std::string_view text, const std::vector<const Secret*>& secrets);

} // namespace cwb::config

// A Secret passed to spdlog/fmt prints as "********", so `spdlog::info("{}", secret)` cannot leak it.
template <> struct fmt::formatter<cwb::config::Secret> : fmt::formatter<std::string_view> {
  template <typename FormatContext> auto format(const cwb::config::Secret& secret, FormatContext& context) const {
    return fmt::formatter<std::string_view>::format(secret.empty() ? "" : cwb::config::Secret::mask, context);
  }
};
