#include "util/file_system.hpp"

#include "util/beneath_root.hpp"
#include "util/file_descriptor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace cwb::util {
namespace {

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + strerror(error_number));
}

constexpr char suffix_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t suffix_length = 10;
constexpr std::string_view temporary_marker = ".tmp.";

std::string random_suffix() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr const char* alphabet = suffix_alphabet;
  std::string suffix;
  for (std::size_t i = 0; i < suffix_length; ++i)
    suffix.push_back(alphabet[generator() % (sizeof suffix_alphabet - 1)]);
  return suffix;
}

/// Enough to make each write() worth its system call, small enough not to matter next to the data.
constexpr std::size_t buffer_capacity = 64 * 1024;

} // namespace

Result<> ensure_directories(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) return fail(ErrorKind::staging_io, "cannot create directory " + path.string() + ": " + error.message());
  return {};
}

Result<> create_private_directory(const fs::path& path) {
  CWB_TRY(ensure_directories(path));
  if (chmod(path.c_str(), 0700) != 0) return io_error("cannot restrict", path, errno);
  return {};
}

Result<std::string> read_file(const fs::path& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return io_error("cannot open", path, errno);
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t count = read(fd.get(), buffer, sizeof buffer);
    if (count == 0) break;
    if (count < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read", path, errno);
    }
    content.append(buffer, static_cast<std::size_t>(count));
  }
  return content;
}

Result<AtomicFileWriter> AtomicFileWriter::create(const fs::path& path, mode_t mode) {
  fs::path temporary = path.string() + std::string(temporary_marker) + random_suffix();
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return io_error("cannot create", temporary, errno);
  return AtomicFileWriter(path, std::move(temporary), fd, mode);
}

AtomicFileWriter::AtomicFileWriter(fs::path path, fs::path temporary, int fd, mode_t mode)
    : path_(std::move(path)), temporary_(std::move(temporary)), fd_(fd), mode_(mode) {
  buffer_.reserve(buffer_capacity);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)), temporary_(std::move(other.temporary_)), fd_(std::exchange(other.fd_, -1)),
      mode_(other.mode_), buffer_(std::move(other.buffer_)) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ < 0) return;
  close(fd_);
  unlink(temporary_.c_str());
}

Result<> AtomicFileWriter::write_through(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t count = write(fd_, bytes.data(), bytes.size());
    if (count < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", temporary_, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(count));
  }
  return {};
}

Result<> AtomicFileWriter::flush() {
  CWB_TRY(write_through(buffer_));
  buffer_.clear();
  return {};
}

Result<> AtomicFileWriter::append(std::string_view bytes) {
  if (fd_ < 0) return fail(ErrorKind::internal, "append after commit to " + path_.string());
  if (buffer_.size() + bytes.size() > buffer_capacity) CWB_TRY(flush());
  if (bytes.size() >= buffer_capacity) return write_through(bytes); // one large piece: not copied
  buffer_.append(bytes);
  return {};
}

Result<> AtomicFileWriter::commit() {
  if (fd_ < 0) return fail(ErrorKind::internal, "second commit to " + path_.string());
  CWB_TRY(flush());
  if (fchmod(fd_, mode_) != 0 || fsync(fd_) != 0) return io_error("cannot sync", temporary_, errno);
  close(std::exchange(fd_, -1));
  if (rename(temporary_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary_.c_str());
    return io_error("cannot rename into", path_, saved);
  }
  return {};
}

Result<> remove_atomic_leftovers(const fs::path& folder) {
  std::error_code error;
  for (const auto& file : fs::directory_iterator(folder, error)) {
    const std::string name = file.path().filename().string();
    const std::size_t marker_length = temporary_marker.size() + suffix_length;
    if (name.size() <= marker_length) continue;
    const std::string_view tail = std::string_view(name).substr(name.size() - marker_length);
    const bool leftover =
        tail.starts_with(temporary_marker) &&
        tail.substr(temporary_marker.size()).find_first_not_of(suffix_alphabet) == std::string_view::npos;
    if (leftover) CWB_TRY(remove_tree(file.path()));
  }
  if (error) return fail(ErrorKind::staging_io, "cannot list " + folder.string() + ": " + error.message());
  return {};
}

Result<> write_file_atomic(const fs::path& path, std::string_view content, mode_t mode) {
  auto writer = AtomicFileWriter::create(path, mode);
  if (!writer) return fail(writer.error());
  CWB_TRY(writer->append(content));
  return writer->commit();
}

Result<> remove_tree(const fs::path& path) {
  // By descriptor below the parent (std::filesystem::remove_all looks every name up again by path, so a
  // folder swapped for a link while it runs could make it descend into the link's target).
  const fs::path normal = path.lexically_normal();
  fs::path leaf = normal.filename();
  fs::path parent = normal.parent_path();
  if (leaf.empty()) { // "dir/" or "/"
    leaf = parent.filename();
    parent = parent.parent_path();
  }
  if (leaf.empty() || leaf == "." || leaf == "..")
    return fail(ErrorKind::usage, "refusing to remove " + path.string() + ": not a named entry");
  FileDescriptor folder(open(parent.empty() ? "." : parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!folder) return errno == ENOENT ? Result<>{} : io_error("cannot open folder", parent, errno);
  return remove_entry_at(folder.get(), leaf.string(), path);
}

fs::path resolved_path(const fs::path& path) {
  std::error_code error;
  auto absolute = fs::absolute(path, error);
  if (error) absolute = path;
  auto resolved = fs::weakly_canonical(absolute, error);
  if (error) return absolute.lexically_normal();
  return resolved.lexically_normal();
}

bool is_same_or_inside(const fs::path& inner, const fs::path& outer) {
  // Component by component ("/srv/a" is not inside "/srv/ab"); a trailing separator's empty element does
  // not count.
  const auto components = [](const fs::path& path) {
    std::vector<fs::path> parts;
    for (const auto& part : resolved_path(path))
      if (!part.empty()) parts.push_back(part);
    return parts;
  };
  const auto inside = components(inner);
  const auto around = components(outer);
  return around.size() <= inside.size() && std::equal(around.begin(), around.end(), inside.begin());
}

timespec timespec_of(std::int64_t ns) {
  timespec time{};
  time.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  time.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (time.tv_nsec < 0) {
    time.tv_nsec += 1'000'000'000;
    time.tv_sec -= 1;
  }
  return time;
}

Result<> set_owner_and_times(const fs::path& path, uid_t uid, gid_t gid, std::int64_t mtime_ns) {
  if (lchown(path.c_str(), uid, gid) != 0) return io_error("cannot chown", path, errno);
  const timespec times[2] = {timespec_of(mtime_ns), timespec_of(mtime_ns)};
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return io_error("cannot set times of", path, errno);
  return {};
}

Result<std::uintmax_t> available_space(const fs::path& path) {
  struct statvfs info {};
  if (statvfs(path.c_str(), &info) != 0) return io_error("cannot stat file system of", path, errno);
  return static_cast<std::uintmax_t>(info.f_bavail) * info.f_frsize;
}

Result<TemporaryDirectory> TemporaryDirectory::create(const fs::path& parent, std::string_view prefix) {
  fs::path base = parent;
  if (base.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  }
  CWB_TRY(ensure_directories(base));
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path candidate = base / (std::string(prefix) + random_suffix());
    if (mkdir(candidate.c_str(), 0700) == 0) return TemporaryDirectory(std::move(candidate));
    if (errno != EEXIST) return io_error("cannot create", candidate, errno);
  }
  return fail(ErrorKind::staging_io, "cannot create a temporary directory in " + base.string());
}

TemporaryDirectory::TemporaryDirectory(TemporaryDirectory&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TemporaryDirectory& TemporaryDirectory::operator=(TemporaryDirectory&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) (void)remove_tree(path_);
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TemporaryDirectory::~TemporaryDirectory() {
  if (!path_.empty()) (void)remove_tree(path_);
}

fs::path TemporaryDirectory::release() {
  return std::exchange(path_, {});
}

} // namespace cwb::util
