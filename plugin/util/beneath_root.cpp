#include "util/beneath_root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cwb::util {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

// The names of a folder's entries ("." and ".." left out), read through a duplicate of `folder` so that
// the caller keeps its descriptor for the *at() calls that follow.
Result<std::vector<std::string>> entry_names(int folder, const fs::path& shown) {
  const int duplicate = fcntl(folder, F_DUPFD_CLOEXEC, 0);
  if (duplicate < 0) return io_error("cannot read folder", shown, errno);
  DIR* listing = fdopendir(duplicate);
  if (listing == nullptr) {
    const int saved = errno;
    close(duplicate);
    return io_error("cannot read folder", shown, saved);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int saved = errno;
  closedir(listing);
  if (saved != 0) return io_error("cannot read folder", shown, saved);
  return names;
}

} // namespace

std::string EntryAt::descriptor_path() const {
  return "/proc/self/fd/" + std::to_string(parent()) + "/" + name;
}

Result<BeneathRoot> BeneathRoot::open(const fs::path& root) {
  FileDescriptor fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return io_error("cannot open folder", root, errno);
  return BeneathRoot(root, std::move(fd));
}

Result<EntryAt> BeneathRoot::locate(const std::string& relative) {
  if (relative.empty()) return EntryAt{root_fd_, ".", root_};
  std::vector<std::string> names;
  for (std::size_t start = 0;;) {
    const std::size_t end = relative.find('/', start);
    names.push_back(relative.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (names.back().empty() || names.back() == "." || names.back() == "..")
      return fail(ErrorKind::usage, "not a path below " + root_.string() + ": " + relative);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  const std::size_t folders = names.size() - 1;
  std::size_t kept = 0;
  while (kept < open_.size() && kept < folders && open_[kept].name == names[kept])
    ++kept;
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(kept), open_.end());
  fs::path shown = root_;
  for (std::size_t i = 0; i < kept; ++i)
    shown /= names[i];
  for (std::size_t i = kept; i < folders; ++i) {
    shown /= names[i];
    const int from = i == 0 ? root_fd_->get() : open_[i - 1].fd->get();
    FileDescriptor fd(openat(from, names[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      const int saved = errno;
      open_.clear();
      if (saved == ENOTDIR || saved == ELOOP)
        return fail(ErrorKind::staging_io, "not a folder (a symbolic link is never followed): " + shown.string());
      return io_error("cannot open folder", shown, saved);
    }
    open_.push_back({names[i], std::make_shared<const FileDescriptor>(std::move(fd))});
  }
  return EntryAt{folders == 0 ? root_fd_ : open_.back().fd, names.back(), root_ / relative};
}

Result<> remove_entry_at(int parent, const std::string& name, const fs::path& shown) {
  if (unlinkat(parent, name.c_str(), 0) == 0 || errno == ENOENT) return {};
  if (errno != EISDIR && errno != EPERM) return io_error("cannot remove", shown, errno);
  FileDescriptor folder(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!folder) {
    if (errno == ENOENT) return {};
    // Swapped for something that is not a folder since the unlink: that is removed as it is.
    if ((errno == ENOTDIR || errno == ELOOP) && (unlinkat(parent, name.c_str(), 0) == 0 || errno == ENOENT)) return {};
    return io_error("cannot remove", shown, errno);
  }
  auto names = entry_names(folder.get(), shown);
  if (!names) return fail(names.error());
  for (const auto& child : *names)
    CWB_TRY(remove_entry_at(folder.get(), child, shown / child));
  if (unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return io_error("cannot remove folder", shown, errno);
  return {};
}

} // namespace cwb::util
