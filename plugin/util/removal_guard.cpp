#include "util/removal_guard.hpp"

#include "util/file_system.hpp"

namespace cwb::util {

RemovalGuard::~RemovalGuard() {
  remove_now();
}

void RemovalGuard::remove_now() {
  for (const auto& path : paths_)
    (void)remove_tree(path);
  paths_.clear();
}

} // namespace cwb::util
