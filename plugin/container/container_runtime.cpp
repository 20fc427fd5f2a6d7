#include "container/container_runtime.hpp"

#include <algorithm>

namespace cwb::container {

bool matches(const LabelFilter& filter, const std::map<std::string, std::string>& labels) {
  return std::ranges::all_of(filter.labels, [&](const std::string& wanted) {
    const auto eq = wanted.find('=');
    const auto found = labels.find(wanted.substr(0, eq));
    if (found == labels.end()) return false;
    return eq == std::string::npos || found->second == wanted.substr(eq + 1);
  });
}

} // namespace cwb::container
