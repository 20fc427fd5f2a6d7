#pragma once
// Release even after SIGKILL. A hook that holds the configuration (paused containers; on Kubernetes,
// scaled-down workloads) releases it on every path it lives through, SIGTERM included. SIGKILL and the OOM
// killer leave no path, so before holding, the hook starts a watchdog: a copy of itself in its own process
// group, reading a pipe from the hook. The hook says "released" when the hold is over (or it exits
// normally); a pipe that closes without that word means the hook died, and the watchdog releases what the
// run held at once, instead of leaving Connectware paused until the next run.
//
// The pipe is close-on-exec, so no other child of the hook (restic) keeps it open after the hook dies.

#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace cwb::installation {

/// What the hook writes when the hold is over.
inline constexpr std::string_view hold_released_word = "released\n";

/// The hook's side: the started watchdog. Destroying it (or calling released()) tells the watchdog that the
/// hook released the hold itself; only the hook's death, which runs no destructor, makes it act.
class HoldWatchdog {
public:
  /// Starts `argv` with `environment`, the read end of a new pipe as its stdin and our stderr as its own.
  /// Errors: internal when the pipe or the process cannot be made.
  static Result<HoldWatchdog> start(const std::vector<std::string>& argv, const util::Environment& environment);

  HoldWatchdog(HoldWatchdog&& other) noexcept;
  HoldWatchdog& operator=(HoldWatchdog&& other) noexcept;
  HoldWatchdog(const HoldWatchdog&) = delete;
  HoldWatchdog& operator=(const HoldWatchdog&) = delete;
  ~HoldWatchdog();

  /// Tells the watchdog the hold is released and lets it exit (waits for it briefly).
  void released();
  [[nodiscard]] pid_t pid() const { return process_.pid(); }

private:
  HoldWatchdog(util::ChildProcess process, int pipe_to_watchdog)
      : process_(std::move(process)), pipe_(pipe_to_watchdog) {}

  util::ChildProcess process_;
  int pipe_ = -1;
};

/// The watchdog's side: reads `fd` until it closes. Returns true when the hook said hold_released_word,
/// false when the pipe closed without it (the hook died).
bool hook_released_hold(int fd);

} // namespace cwb::installation
