#pragma once
// One run at a time: an exclusive flock(2) on a lock file. The kernel drops the lock when its holder
// dies, so a crashed run never leaves a stale lock behind; the PID written into the file only serves the
// error message of the run that finds it taken.

#include "core/error.hpp"
#include "util/file_descriptor.hpp"

#include <filesystem>

namespace cwb::util {

class FileLock {
public:
  /// Takes the lock without waiting. Errors: locked (with the holder's PID when known), staging_io.
  static Result<FileLock> try_acquire(const std::filesystem::path& path);

  FileLock() = default;
  FileLock(FileLock&&) noexcept = default;
  FileLock& operator=(FileLock&&) noexcept = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() = default; // closing the descriptor releases the lock

  [[nodiscard]] bool held() const { return static_cast<bool>(fd_); }
  void release() { fd_.reset(); }

private:
  explicit FileLock(FileDescriptor fd) : fd_(std::move(fd)) {}
  FileDescriptor fd_;
};

} // namespace cwb::util
