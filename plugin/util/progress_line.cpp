#include "util/progress_line.hpp"

#include <array>

namespace cwb::util {

void ProgressLine::show(std::string_view label, std::string_view text) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (label == label_ && now - last_ < std::chrono::milliseconds(250)) return;
  draw(label, text);
  last_ = now;
}

void ProgressLine::finish(std::string_view label, std::string_view text) {
  if (!enabled_) return;
  draw(label, text);
  std::fputc('\n', out_);
  std::fflush(out_);
  label_.clear();
}

void ProgressLine::draw(std::string_view label, std::string_view text) {
  label_ = label;
  // \r back to the line's start, ESC[K erases what a longer previous state left.
  std::fprintf(out_, "\r\x1b[K%.*s: %.*s", static_cast<int>(label.size()), label.data(), static_cast<int>(text.size()),
               text.data());
  std::fflush(out_);
}

std::string human_bytes(std::uint64_t bytes) {
  constexpr std::array units{"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < units.size()) {
    value /= 1024.0;
    ++unit;
  }
  std::array<char, 32> text{};
  if (unit == 0) {
    std::snprintf(text.data(), text.size(), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text.data(), text.size(), "%.1f %s", value, units[unit]);
  }
  return text.data();
}

std::string clock_text(std::chrono::seconds seconds) {
  const auto total = seconds.count() < 0 ? 0 : seconds.count();
  std::array<char, 32> text{};
  if (total >= 3600) {
    std::snprintf(text.data(), text.size(), "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  } else {
    std::snprintf(text.data(), text.size(), "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return text.data();
}

} // namespace cwb::util
