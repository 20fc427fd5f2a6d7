#include "util/duration.hpp"

namespace cwb::util {

std::string format_duration(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + "s";
  return std::to_string(duration.count()) + "ms";
}

} // namespace cwb::util
