#pragma once
// Reaching entries below a root folder by file descriptor, never through a symbolic link.
//
// A path such as "/volume/a/b/file" is resolved by the kernel at every use: if "a" is swapped for a link to
// "/etc" between our scan and our write (a container still running on the volume, or someone hostile),
// open("/volume/a/b/file", O_NOFOLLOW) still follows "a", because O_NOFOLLOW guards only the last name. So
// every folder on the way is opened with O_NOFOLLOW from the one before it, and the entry itself is then
// reached with the *at() calls from its parent's descriptor: a link anywhere on the way makes the operation
// fail instead of reaching outside the root.

#include "core/error.hpp"
#include "util/file_descriptor.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cwb::util {

/// One entry below a root: its parent folder's descriptor (kept open while any EntryAt holds it) and its
/// own name in that folder.
struct EntryAt {
  std::shared_ptr<const FileDescriptor> folder;
  std::string name;            // one name, no '/'; "." for the root itself
  std::filesystem::path shown; // the full path, for messages only (never opened)

  [[nodiscard]] int parent() const { return folder->get(); }
  /// Another name in the same folder (a temporary file beside this entry).
  [[nodiscard]] EntryAt sibling(std::string other) const { return {folder, other, shown.parent_path() / other}; }

  /// "/proc/self/fd/<parent>/<name>": for the calls that have no *at() form (the l*xattr() family). The
  /// kernel resolves the descriptor link to the folder itself, so nothing on the way is looked up by name.
  [[nodiscard]] std::string descriptor_path() const;
};

class BeneathRoot {
public:
  /// Opens `root` (a folder we were told to use: links in its own path are the operator's choice).
  /// Errors: staging_io naming the root.
  static Result<BeneathRoot> open(const std::filesystem::path& root);

  BeneathRoot(BeneathRoot&&) noexcept = default;
  BeneathRoot& operator=(BeneathRoot&&) noexcept = default;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

  /// The entry at `relative` (names separated by '/'; "" is the root itself). Its parent folders are
  /// opened without following links; the most recent ones stay open, so walking a sorted tree opens each
  /// folder once. Errors: staging_io naming the folder that is a link, missing or not a folder; usage
  /// for a path with an empty, "." or ".." name.
  Result<EntryAt> locate(const std::string& relative);

  /// Forgets the open folders (call after removing or renaming folders below the root).
  void forget_folders() { open_.clear(); }

private:
  BeneathRoot(std::filesystem::path root, FileDescriptor fd)
      : root_(std::move(root)), root_fd_(std::make_shared<const FileDescriptor>(std::move(fd))) {}

  struct OpenFolder {
    std::string name;
    std::shared_ptr<const FileDescriptor> fd;
  };
  std::filesystem::path root_;
  std::shared_ptr<const FileDescriptor> root_fd_;
  std::vector<OpenFolder> open_; // open_[i]: the folder root/open_[0]/.../open_[i]
};

/// Removes `name` in the folder `parent` (a file, a link, a special file or a whole tree), descending
/// by descriptor: a folder inside swapped for a link loses the link, never what it points to.
/// A missing entry is success. Errors: staging_io naming `shown`.
Result<> remove_entry_at(int parent, const std::string& name, const std::filesystem::path& shown);

} // namespace cwb::util
