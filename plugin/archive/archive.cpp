#include "archive/archive.hpp"

#include "util/file_system.hpp"

#include "util/file_descriptor.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <memory>
#include <string_view>

namespace cwb::archive {
namespace {

namespace fs = std::filesystem;

struct ReadFree {
  void operator()(struct archive* handle) const noexcept { archive_read_free(handle); }
};
struct WriteFree {
  void operator()(struct archive* handle) const noexcept { archive_write_free(handle); }
};
using ReadHandle = std::unique_ptr<struct archive, ReadFree>;
using WriteHandle = std::unique_ptr<struct archive, WriteFree>;

constexpr std::size_t block_size = 64 * 1024;

std::string reason(struct archive* handle) {
  const char* text = archive_error_string(handle);
  return text != nullptr ? text : "unknown libarchive error";
}

EntryType type_of(struct archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) return EntryType::hardlink;
  switch (archive_entry_filetype(entry)) {
  case AE_IFREG: return EntryType::file;
  case AE_IFDIR: return EntryType::directory;
  case AE_IFLNK: return EntryType::symlink;
  default: return EntryType::other;
  }
}

// Opens `path` as a gzip-compressed tar and nothing else. Errors carry `kind`.
Result<ReadHandle> open_tar_gz(const fs::path& path, ErrorKind kind) {
  ReadHandle handle(archive_read_new());
  if (!handle) return fail(ErrorKind::internal, "archive: out of memory opening " + path.string());
  archive_read_support_filter_gzip(handle.get());
  archive_read_support_format_tar(handle.get());
  if (archive_read_open_filename(handle.get(), path.c_str(), block_size) != ARCHIVE_OK)
    return fail(kind, "archive " + path.string() + ": " + reason(handle.get()));
  return handle;
}

// Reads the next header; nullptr at the end. Also rejects anything not gzip-compressed: libarchive reads
// an uncompressed tar without the gzip filter too.
Result<struct archive_entry*> next_header(struct archive* handle, const fs::path& path, ErrorKind kind) {
  struct archive_entry* entry = nullptr;
  const int status = archive_read_next_header(handle, &entry);
  if (status == ARCHIVE_EOF) return nullptr;
  if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
    return fail(kind, "archive " + path.string() + ": " + reason(handle));
  if (archive_filter_code(handle, 0) != ARCHIVE_FILTER_GZIP)
    return fail(kind, "archive " + path.string() + ": not gzip-compressed");
  return entry;
}

// Reads the current entry's data to its end (so corruption inside it shows) and returns its byte count.
Result<std::uint64_t> skip_data(struct archive* handle, const fs::path& path, ErrorKind kind,
                                struct archive* writer = nullptr) {
  std::uint64_t total = 0;
  for (;;) {
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    const int status = archive_read_data_block(handle, &block, &size, &offset);
    if (status == ARCHIVE_EOF) return total;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
      return fail(kind, "archive " + path.string() + ": " + reason(handle));
    total += size;
    if (writer != nullptr && archive_write_data_block(writer, block, size, offset) != ARCHIVE_OK)
      return fail(ErrorKind::staging_io, "extracting " + path.string() + ": " + reason(writer));
  }
}

bool has_dot_dot(const fs::path& path) {
  for (const auto& component : path)
    if (component == "..") return true;
  return false;
}

// True when `link_target`, read relative to the folder of `entry_name`, stays inside the extraction root.
bool stays_inside(const fs::path& entry_name, const fs::path& link_target) {
  if (link_target.is_absolute()) return false;
  const fs::path resolved = (entry_name.parent_path() / link_target).lexically_normal();
  return !resolved.empty() && !has_dot_dot(resolved) && !resolved.is_absolute();
}

// Why an entry would escape the target folder, or empty when it is safe.
std::string escape_reason(struct archive_entry* entry) {
  const char* raw_name = archive_entry_pathname(entry);
  if (raw_name == nullptr || *raw_name == '\0') return "an entry without a name";
  const fs::path name(raw_name);
  if (name.is_absolute()) return "absolute path \"" + name.string() + "\"";
  if (has_dot_dot(name)) return "\"..\" in \"" + name.string() + "\"";
  if (const char* hardlink = archive_entry_hardlink(entry); hardlink != nullptr) {
    const fs::path target(hardlink);
    if (target.is_absolute() || has_dot_dot(target))
      return "hard link \"" + name.string() + "\" to \"" + target.string() + "\" outside the target";
  }
  if (archive_entry_filetype(entry) == AE_IFLNK) {
    const char* symlink = archive_entry_symlink(entry);
    if (symlink == nullptr || !stays_inside(name, symlink))
      return "symbolic link \"" + name.string() + "\" to \"" + (symlink ? symlink : "") + "\" outside the target";
  }
  return {};
}

struct InflateEnd {
  void operator()(z_stream* stream) const noexcept {
    inflateEnd(stream);
    delete stream;
  }
};

// libarchive 3.6's gzip reader does not check the gzip trailer's CRC-32, so a flipped byte inside stored
// data passes it. zlib checks CRC-32 and length of every member (a .gz may hold several, concatenated).
Result<> verify_gzip_checksums(const fs::path& path, ErrorKind kind) {
  util::FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(kind, "archive " + path.string() + ": " + std::strerror(errno));
  std::unique_ptr<z_stream, InflateEnd> stream(new z_stream{});
  if (inflateInit2(stream.get(), 16 + MAX_WBITS) != Z_OK)
    return fail(ErrorKind::internal, "archive " + path.string() + ": zlib cannot start");
  std::vector<unsigned char> input(block_size);
  std::vector<unsigned char> output(block_size);
  bool member_open = false;
  for (;;) {
    const ssize_t count = read(fd.get(), input.data(), input.size());
    if (count < 0) {
      if (errno == EINTR) continue;
      return fail(kind, "archive " + path.string() + ": " + std::strerror(errno));
    }
    if (count == 0) break;
    stream->next_in = input.data();
    stream->avail_in = static_cast<uInt>(count);
    while (stream->avail_in > 0) {
      member_open = true;
      stream->next_out = output.data();
      stream->avail_out = static_cast<uInt>(output.size());
      const int status = inflate(stream.get(), Z_NO_FLUSH);
      if (status == Z_STREAM_END) {
        member_open = false;
        inflateReset(stream.get());
      } else if (status != Z_OK && status != Z_BUF_ERROR) {
        return fail(kind, "archive " + path.string() + ": gzip data corrupt (" +
                              (stream->msg != nullptr ? stream->msg : "zlib error " + std::to_string(status)) + ")");
      }
    }
  }
  if (member_open) return fail(kind, "archive " + path.string() + ": truncated gzip data");
  return {};
}

} // namespace

const char* to_string(EntryType type) noexcept {
  switch (type) {
  case EntryType::file: return "file";
  case EntryType::directory: return "directory";
  case EntryType::symlink: return "symlink";
  case EntryType::hardlink: return "hardlink";
  case EntryType::other: return "other";
  }
  return "other";
}

Result<ArchiveInfo> validate_tar_gz(const fs::path& path) {
  constexpr ErrorKind kind = ErrorKind::export_invalid;
  auto handle = open_tar_gz(path, kind);
  if (!handle) return fail(handle.error());
  ArchiveInfo info;
  for (;;) {
    auto entry = next_header(handle->get(), path, kind);
    if (!entry) return fail(entry.error());
    if (*entry == nullptr) break;
    ArchiveEntry described{archive_entry_pathname(*entry) ? archive_entry_pathname(*entry) : "", 0, type_of(*entry)};
    auto bytes = skip_data(handle->get(), path, kind);
    if (!bytes) return fail(bytes.error());
    described.size = *bytes;
    info.uncompressed_bytes += *bytes;
    info.entries.push_back(std::move(described));
  }
  info.entry_count = info.entries.size();
  if (info.entry_count == 0) return fail(kind, "archive " + path.string() + ": empty (no entries)");
  CWB_TRY(verify_gzip_checksums(path, kind));
  return info;
}

Result<ArchiveInfo> extract_safely(const fs::path& archive_path, const fs::path& target_dir) {
  constexpr ErrorKind kind = ErrorKind::snapshot_invalid;
  // First pass: check every entry (and the gzip checksums) before anything is written, so a refused
  // archive leaves no half tree.
  CWB_TRY(verify_gzip_checksums(archive_path, kind));
  {
    auto handle = open_tar_gz(archive_path, kind);
    if (!handle) return fail(handle.error());
    for (;;) {
      auto entry = next_header(handle->get(), archive_path, kind);
      if (!entry) return fail(entry.error());
      if (*entry == nullptr) break;
      if (const auto why = escape_reason(*entry); !why.empty())
        return fail(kind, "archive " + archive_path.string() + " tries to escape " + target_dir.string() + ": " + why);
      CWB_TRY(skip_data(handle->get(), archive_path, kind));
    }
  }

  CWB_TRY(util::ensure_directories(target_dir));
  std::error_code error;
  const fs::path root = fs::canonical(target_dir, error);
  if (error) return fail(ErrorKind::staging_io, "cannot resolve " + target_dir.string() + ": " + error.message());

  auto handle = open_tar_gz(archive_path, kind);
  if (!handle) return fail(handle.error());
  WriteHandle writer(archive_write_disk_new());
  if (!writer) return fail(ErrorKind::internal, "archive: out of memory extracting " + archive_path.string());
  // Entries are made absolute below root ourselves (after refusing absolute names in the first pass), so
  // ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be set; the other two guard against ".." and symlinked
  // folders a second time.
  archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                   ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  ArchiveInfo info;
  for (;;) {
    auto entry = next_header(handle->get(), archive_path, kind);
    if (!entry) return fail(entry.error());
    if (*entry == nullptr) break;
    const std::string name = archive_entry_pathname(*entry);
    if (const auto why = escape_reason(*entry); !why.empty()) // the file may have changed since pass one
      return fail(kind, "archive " + archive_path.string() + " tries to escape " + target_dir.string() + ": " + why);
    ArchiveEntry described{name, 0, type_of(*entry)};
    archive_entry_set_pathname(*entry, (root / name).c_str());
    if (const char* hardlink = archive_entry_hardlink(*entry); hardlink != nullptr)
      archive_entry_set_hardlink(*entry, (root / hardlink).c_str());
    const int status = archive_write_header(writer.get(), *entry);
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
      return fail(kind, "extracting " + name + " from " + archive_path.string() + ": " + reason(writer.get()));
    auto bytes = skip_data(handle->get(), archive_path, kind, writer.get());
    if (!bytes) return fail(bytes.error());
    if (archive_write_finish_entry(writer.get()) != ARCHIVE_OK)
      return fail(ErrorKind::staging_io, "extracting " + name + ": " + reason(writer.get()));
    described.size = *bytes;
    info.uncompressed_bytes += *bytes;
    info.entries.push_back(std::move(described));
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK)
    return fail(ErrorKind::staging_io, "extracting " + archive_path.string() + ": " + reason(writer.get()));
  info.entry_count = info.entries.size();
  return info;
}

} // namespace cwb::archive
