#pragma once
// One progress line on a terminal: each update redraws it in place ("\r", erase to the end of the line), at
// most four times a second; finish() leaves its last state with a newline so the log lines that follow
// start on their own line. A disabled line prints nothing: progress is for people watching a terminal,
// never for logs, cron mail or the journal (app::progress_enabled decides).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace cwb::util {

class ProgressLine {
public:
  /// `out` (default stderr) must stay open while the line is used.
  explicit ProgressLine(bool enabled, std::FILE* out = stderr) : enabled_(enabled), out_(out) {}

  [[nodiscard]] bool enabled() const { return enabled_; }

  /// Redraws "<label>: <text>" unless the last redraw of the same label was less than 250 ms ago.
  void show(std::string_view label, std::string_view text);
  /// Draws "<label>: <text>" and ends the line; the next show() starts a new one.
  void finish(std::string_view label, std::string_view text);

private:
  void draw(std::string_view label, std::string_view text);

  bool enabled_;
  std::FILE* out_;
  std::string label_;
  std::chrono::steady_clock::time_point last_{};
};

/// Returns "1.5 MiB"-style text for a byte count (B, KiB, MiB, GiB, TiB).
std::string human_bytes(std::uint64_t bytes);

/// Returns "1:05" or "2:03:07" for a number of seconds.
std::string clock_text(std::chrono::seconds seconds);

} // namespace cwb::util
