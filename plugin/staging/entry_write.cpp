#include "staging/entry_write.hpp"

#include "util/file_system.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

} // namespace

fs::path temporary_sibling(const fs::path& path) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return path.parent_path() / (".cwb-mirror-tmp." + std::to_string(generator()));
}

Result<> apply_entry_metadata(const fs::path& path, const TreeEntry& wanted, const TreeEntry* current) {
  if (current == nullptr || current->uid != wanted.uid || current->gid != wanted.gid) {
    if (lchown(path.c_str(), wanted.uid, wanted.gid) != 0) return io_error("cannot chown", path, errno);
    current = nullptr; // the chown may have changed mode bits and attributes
  }
  if (wanted.type != EntryType::symlink) {
    if (current == nullptr || current->xattrs != wanted.xattrs) {
      auto have = read_xattrs(path);
      if (!have) return fail(have.error());
      CWB_TRY(write_xattrs(path, *have, wanted.xattrs));
    }
    // Not a link (checked above), so chmod() cannot follow one.
    if (current == nullptr || current->mode != wanted.mode || current->xattrs != wanted.xattrs) {
      if (chmod(path.c_str(), wanted.mode) != 0) return io_error("cannot chmod", path, errno);
    }
  }
  // Folders always: entries made or removed inside them since `current` was read changed their mtime.
  if (current == nullptr || current->mtime_ns != wanted.mtime_ns || wanted.type == EntryType::directory) {
    const timespec times[2] = {util::timespec_of(wanted.mtime_ns), util::timespec_of(wanted.mtime_ns)};
    if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return io_error("cannot set times of", path, errno);
  }
  return {};
}

Result<> replace_with_hard_link(const fs::path& leader, const fs::path& path) {
  const fs::path temporary = temporary_sibling(path);
  if (link(leader.c_str(), temporary.c_str()) != 0)
    return io_error("cannot hard-link " + leader.string() + " as", temporary, errno);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary.c_str());
    return io_error("cannot rename over", path, saved);
  }
  return {};
}

Result<> replace_with_symlink(const std::string& target, const fs::path& path) {
  const fs::path temporary = temporary_sibling(path);
  if (symlink(target.c_str(), temporary.c_str()) != 0)
    return io_error("cannot make the symbolic link", temporary, errno);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary.c_str());
    return io_error("cannot rename over", path, saved);
  }
  return {};
}

} // namespace cwb::staging
