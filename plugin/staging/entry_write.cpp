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

std::string temporary_name() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return ".cwb-mirror-tmp." + std::to_string(generator());
}

Result<> apply_entry_metadata(const util::EntryAt& at, const TreeEntry& wanted, const TreeEntry* current) {
  if (current == nullptr || current->uid != wanted.uid || current->gid != wanted.gid) {
    if (fchownat(at.parent(), at.name.c_str(), wanted.uid, wanted.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return io_error("cannot chown", at.shown, errno);
    current = nullptr; // the chown may have changed mode bits and attributes
  }
  if (wanted.type != EntryType::symlink) {
    if (current == nullptr || current->xattrs != wanted.xattrs) {
      // The l*xattr() calls have no *at() form: they reach the entry through its folder's descriptor.
      const std::string path = at.descriptor_path();
      auto have = read_xattrs(path, at.shown);
      if (!have) return fail(have.error());
      CWB_TRY(write_xattrs(path, *have, wanted.xattrs, at.shown));
    }
    if (current == nullptr || current->mode != wanted.mode || current->xattrs != wanted.xattrs) {
      // AT_SYMLINK_NOFOLLOW: should the entry have been swapped for a link, this fails instead of
      // changing the link's target.
      if (fchmodat(at.parent(), at.name.c_str(), wanted.mode, AT_SYMLINK_NOFOLLOW) != 0)
        return io_error("cannot chmod", at.shown, errno);
    }
  }
  // Folders always: entries made or removed inside them since `current` was read changed their mtime.
  if (current == nullptr || current->mtime_ns != wanted.mtime_ns || wanted.type == EntryType::directory) {
    const timespec times[2] = {util::timespec_of(wanted.mtime_ns), util::timespec_of(wanted.mtime_ns)};
    if (utimensat(at.parent(), at.name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return io_error("cannot set times of", at.shown, errno);
  }
  return {};
}

Result<> rename_over(const util::EntryAt& made, const util::EntryAt& at) {
  if (renameat(made.parent(), made.name.c_str(), at.parent(), at.name.c_str()) != 0) {
    const int saved = errno;
    unlinkat(made.parent(), made.name.c_str(), 0);
    return io_error("cannot rename over", at.shown, saved);
  }
  return {};
}

Result<> replace_with_hard_link(const util::EntryAt& leader, const util::EntryAt& at) {
  const util::EntryAt temporary = at.sibling(temporary_name());
  // Flags 0: a leader that is a link is linked itself, never followed.
  if (linkat(leader.parent(), leader.name.c_str(), temporary.parent(), temporary.name.c_str(), 0) != 0)
    return io_error("cannot hard-link " + leader.shown.string() + " as", temporary.shown, errno);
  return rename_over(temporary, at);
}

Result<> replace_with_symlink(const std::string& target, const util::EntryAt& at) {
  const util::EntryAt temporary = at.sibling(temporary_name());
  if (symlinkat(target.c_str(), temporary.parent(), temporary.name.c_str()) != 0)
    return io_error("cannot make the symbolic link", temporary.shown, errno);
  return rename_over(temporary, at);
}

} // namespace cwb::staging
