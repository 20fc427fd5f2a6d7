#pragma once
// Durations as the configuration writes them, so that messages and --show-config use one spelling.

#include <chrono>
#include <string>

namespace cwb::util {

/// Returns "30s" for whole seconds and "250ms" otherwise: the form parse_duration (config) reads back.
std::string format_duration(std::chrono::milliseconds duration);

} // namespace cwb::util
