#include "installation/hold_watchdog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

namespace cwb::installation {

Result<HoldWatchdog> HoldWatchdog::start(const std::vector<std::string>& argv, const util::Environment& environment) {
  int ends[2] = {-1, -1};
  if (pipe2(ends, O_CLOEXEC) != 0)
    return fail(ErrorKind::internal, std::string("cannot make the watchdog's pipe: ") + std::strerror(errno));
  util::ProcessOptions options;
  options.argv = argv;
  options.env = environment;
  options.stdin_fd = ends[0];
  options.inherit_stderr = true;
  auto process = util::ChildProcess::start(options);
  ::close(ends[0]);
  if (!process) {
    ::close(ends[1]);
    return fail(process.error().with_context("starting the release watchdog"));
  }
  return HoldWatchdog(std::move(*process), ends[1]);
}

HoldWatchdog::HoldWatchdog(HoldWatchdog&& other) noexcept
    : process_(std::move(other.process_)), pipe_(std::exchange(other.pipe_, -1)) {}

HoldWatchdog& HoldWatchdog::operator=(HoldWatchdog&& other) noexcept {
  if (this != &other) {
    released();
    process_ = std::move(other.process_);
    pipe_ = std::exchange(other.pipe_, -1);
  }
  return *this;
}

HoldWatchdog::~HoldWatchdog() {
  released();
}

void HoldWatchdog::released() {
  if (pipe_ < 0) return;
  // A failed write leaves the watchdog to find the hold released already (the pause marker is gone).
  [[maybe_unused]] const auto written = ::write(pipe_, hold_released_word.data(), hold_released_word.size());
  ::close(pipe_);
  pipe_ = -1;
  // It exits at once on the word; one that does not is let go rather than waited on (it ignores SIGTERM).
  if (!process_.wait_for(std::chrono::seconds(2))) process_.release();
}

bool hook_released_hold(int fd) {
  std::string said;
  char buffer[64];
  while (true) {
    const auto got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      said.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    break; // end of file (or an error: the hook is as good as gone)
  }
  return said.find(hold_released_word) != std::string::npos;
}

} // namespace cwb::installation
