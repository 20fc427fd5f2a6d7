#pragma once
// Time as an injected dependency: polling loops read a Clock and wait through a Sleeper, so tests drive
// minutes of polling and backoff in no wall time (a fake sleeper advances a fake clock).

#include "core/error.hpp"

#include <chrono>

namespace cwb::http {

class Clock {
public:
  virtual ~Clock() = default;
  /// Returns monotonic time, for deadlines and elapsed times.
  virtual std::chrono::steady_clock::time_point now() = 0;
  /// Returns wall-clock time, for timestamps reported to the user.
  virtual std::chrono::system_clock::time_point wall_now() = 0;
};

class SystemClock final : public Clock {
public:
  std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override { return std::chrono::system_clock::now(); }
};

class Sleeper {
public:
  virtual ~Sleeper() = default;
  /// Waits `duration`. Errors: interrupted when cancellation is requested (before or while waiting).
  virtual Result<> sleep_for(std::chrono::milliseconds duration) = 0;
};

/// Sleeps in slices of at most 50 ms and returns early, with interrupted, once util::cancellation_requested().
class SystemSleeper final : public Sleeper {
public:
  Result<> sleep_for(std::chrono::milliseconds duration) override;
};

} // namespace cwb::http
