#pragma once
// Non-throwing file-system helpers: every failure comes back as a staging_io error naming the path.

#include "core/error.hpp"

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace cwb::util {

namespace fs = std::filesystem;

/// Creates `path` (and missing parents) and makes it readable by its owner only (0700), also when it
/// already existed.
Result<> create_private_directory(const fs::path& path);

/// Creates `path` and missing parents with default modes; succeeds when it exists.
Result<> ensure_directories(const fs::path& path);

/// Returns a whole (small) file: manifests, configs, status files.
Result<std::string> read_file(const fs::path& path);

/// Writes `content` to a temporary file beside `path`, fsyncs it and renames it over `path`, so readers
/// see either the old or the new file, never a half-written one.
Result<> write_file_atomic(const fs::path& path, std::string_view content, mode_t mode = 0600);

/// write_file_atomic for content made piece by piece (a manifest or an index of 100,000 entries), so that it
/// never has to be in memory whole: appends go through a small buffer into the temporary file, commit()
/// fsyncs it and renames it over `path`. A writer destroyed without a successful commit() removes the
/// temporary file and leaves `path` as it was.
/// Removes the temporary files a killed process's AtomicFileWriter (or write_file_atomic) left in `folder`
/// ("<name>.tmp.<10 random letters or digits>"); nothing else. Errors: staging_io.
Result<> remove_atomic_leftovers(const fs::path& folder);

class AtomicFileWriter {
public:
  /// Creates the temporary file beside `path`. Errors: staging_io.
  static Result<AtomicFileWriter> create(const fs::path& path, mode_t mode = 0600);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  /// Errors: staging_io (a full disk among them), after which only destruction is left.
  Result<> append(std::string_view bytes);
  /// Makes the content the file at `path`. Errors: staging_io.
  Result<> commit();

private:
  AtomicFileWriter(fs::path path, fs::path temporary, int fd, mode_t mode);
  Result<> write_through(std::string_view bytes);
  Result<> flush();
  fs::path path_;
  fs::path temporary_;
  int fd_ = -1;
  mode_t mode_ = 0600;
  std::string buffer_;
};

/// Removes a file or a tree; succeeds when it does not exist. Never follows a symbolic link inside the tree
/// (a link is removed, not what it points to), even one swapped in while it runs. Errors: staging_io;
/// usage for a path without a last name ("/", ".").
Result<> remove_tree(const fs::path& path);

/// Returns `path` absolute, with `.` and `..` removed and symbolic links resolved as far as it exists
/// (what a folder setting really names); the lexically normal absolute path when it cannot be resolved.
fs::path resolved_path(const fs::path& path);

/// True when `inner` is `outer` or lies below it, both compared as resolved_path() gives them.
bool is_same_or_inside(const fs::path& inner, const fs::path& outer);

/// Returns `ns` nanoseconds since the epoch as a timespec (a negative remainder is normalised).
timespec timespec_of(std::int64_t ns);

/// Sets the owner and the access and modification times of `path` itself (a symbolic link is not
/// followed). Call it before chmod: chown clears setuid/setgid bits.
Result<> set_owner_and_times(const fs::path& path, uid_t uid, gid_t gid, std::int64_t mtime_ns);

/// Returns the bytes available to an unprivileged user on the file system holding `path`.
Result<std::uintmax_t> available_space(const fs::path& path);

/// A directory created under `parent` (default: $TMPDIR or /tmp) with mode 0700, removed with its contents
/// by the destructor unless release()d.
class TemporaryDirectory {
public:
  static Result<TemporaryDirectory> create(const fs::path& parent, std::string_view prefix);

  TemporaryDirectory() = default;
  TemporaryDirectory(TemporaryDirectory&& other) noexcept;
  TemporaryDirectory& operator=(TemporaryDirectory&& other) noexcept;
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  ~TemporaryDirectory();

  [[nodiscard]] const fs::path& path() const { return path_; }
  /// Keeps the directory on destruction and returns its path.
  fs::path release();

private:
  explicit TemporaryDirectory(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

} // namespace cwb::util
