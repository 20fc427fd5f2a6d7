#include "config/logging.hpp"

#include "util/url_credentials.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace cwb::config {
namespace {

// Masks credentials inside URLs in every line, whoever wrote it: a URL with a password reaches log lines
// through settings, server answers and other programs' messages, and no call site can be trusted to remember.
class UrlCredentialMaskingSink final : public spdlog::sinks::sink {
public:
  explicit UrlCredentialMaskingSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& message) override {
    const std::string_view payload{message.payload.data(), message.payload.size()};
    if (payload.find("://") == std::string_view::npos) {
      inner_->log(message);
      return;
    }
    const std::string masked = util::mask_url_credentials(payload);
    spdlog::details::log_msg copy = message;
    copy.payload = masked;
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

private:
  spdlog::sink_ptr inner_;
};

// %n is the logger's name, so the hook name needs no escaping in the pattern.
constexpr const char* log_pattern = "%n: %Y-%m-%dT%H:%M:%S%z %l: %v";

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
  case LogLevel::trace: return spdlog::level::trace;
  case LogLevel::debug: return spdlog::level::debug;
  case LogLevel::info: return spdlog::level::info;
  case LogLevel::warn: return spdlog::level::warn;
  case LogLevel::error: return spdlog::level::err;
  case LogLevel::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

} // namespace

void setup_logging(LogLevel level, std::string_view hook_name) {
  setup_logging(level, hook_name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

void setup_logging(LogLevel level, std::string_view hook_name, spdlog::sink_ptr sink) {
  auto logger = std::make_shared<spdlog::logger>(std::string{hook_name},
                                                 std::make_shared<UrlCredentialMaskingSink>(std::move(sink)));
  logger->set_pattern(log_pattern);
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace); // a hook may be killed; every line should already be out
  spdlog::set_default_logger(std::move(logger));
}

void add_log_sink(spdlog::sink_ptr sink) {
  auto logger = spdlog::default_logger();
  auto masked = std::make_shared<UrlCredentialMaskingSink>(std::move(sink));
  masked->set_pattern(log_pattern);
  logger->sinks().push_back(std::move(masked));
}

std::string redact(std::string_view text, const std::vector<const Secret*>& secrets) {
  std::string result{text};
  // Longest first, so a secret that contains another one is masked whole.
  std::vector<const Secret*> ordered = secrets;
  std::ranges::sort(ordered, std::greater<>{}, [](const Secret* s) { return s ? s->reveal().size() : 0; });
  for (const Secret* secret : ordered) {
    if (secret == nullptr || secret->empty()) continue;
    const std::string& value = secret->reveal();
    for (auto position = result.find(value); position != std::string::npos;
         position = result.find(value, position + Secret::mask.size()))
      result.replace(position, value.size(), Secret::mask);
  }
  return util::mask_url_credentials(result);
}

} // namespace cwb::config
