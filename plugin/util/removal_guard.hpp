#pragma once
// Files and folders a pipeline creates on its way that must not outlive a failure: partial downloads,
// half-written archives. Registered as they appear; removed when the guard is destroyed, unless kept().

#include <filesystem>
#include <vector>

namespace cwb::util {

class RemovalGuard {
public:
  RemovalGuard() = default;
  RemovalGuard(const RemovalGuard&) = delete;
  RemovalGuard& operator=(const RemovalGuard&) = delete;
  ~RemovalGuard();

  /// Removes `path` (a file or a whole folder) when the guard ends, unless keep() was called.
  void remove_on_failure(std::filesystem::path path) { paths_.push_back(std::move(path)); }
  /// Removes every registered path now (best effort) and forgets them.
  void remove_now();
  /// The work succeeded: nothing registered so far is removed.
  void keep() { paths_.clear(); }

private:
  std::vector<std::filesystem::path> paths_;
};

} // namespace cwb::util
