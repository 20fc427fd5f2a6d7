#pragma once
// Small text helpers for messages and logs.

#include <string>
#include <string_view>
#include <vector>

namespace cwb::util {

/// `items` separated by `separator`: {"a", "b"} -> "a, b"; empty for none.
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

} // namespace cwb::util
