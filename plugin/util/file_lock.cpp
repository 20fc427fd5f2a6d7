#include "util/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cwb::util {

Result<FileLock> FileLock::try_acquire(const std::filesystem::path& path) {
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail(ErrorKind::staging_io, "cannot open lock file " + path.string() + ": " + strerror(errno));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return fail(ErrorKind::staging_io, "cannot lock " + path.string() + ": " + strerror(errno));
    }
    char holder[32] = {};
    const ssize_t count = pread(fd.get(), holder, sizeof holder - 1, 0);
    std::string pid = count > 0 ? std::string(holder, static_cast<std::size_t>(count)) : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
      pid.pop_back();
    return fail(ErrorKind::locked, "another run holds " + path.string() + (pid.empty() ? "" : " (pid " + pid + ")"));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return fail(ErrorKind::staging_io, "cannot write lock file " + path.string() + ": " + strerror(errno));
  }
  return FileLock(std::move(fd));
}

} // namespace cwb::util
