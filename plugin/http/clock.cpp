#include "http/clock.hpp"

#include "util/cancellation.hpp"

#include <algorithm>
#include <thread>

namespace cwb::http {

Result<> SystemSleeper::sleep_for(std::chrono::milliseconds duration) {
  constexpr auto slice = std::chrono::milliseconds(50);
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (true) {
    if (util::cancellation_requested()) return fail(ErrorKind::interrupted, "interrupted while waiting");
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return {};
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, slice));
  }
}

} // namespace cwb::http
