#include "archive/archive.hpp"

#include "util/file_descriptor.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

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

// Bytes read from the file at a time, and inflated bytes handed to libarchive at a time. Large blocks keep
// the per-call overhead (syscalls, libarchive's bookkeeping, hash updates) small next to the work itself.
constexpr std::size_t input_block_size = 256 * 1024;
constexpr std::size_t output_block_size = 1024 * 1024;

std::string reason(struct archive* handle) {
  const char* text = archive_error_string(handle);
  return text != nullptr ? text : "unknown libarchive error";
}

std::string errno_text(int error) {
  return std::strerror(error);
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

// The part of an entry's canonical record (see ArchiveInfo::entries_sha256) known from its header: name,
// type, size, mode, uid, gid, mtime (seconds, nanoseconds) and link target, each followed by a NUL. The
// SHA-256 of the data and a newline complete it.
std::string header_record(struct archive_entry* entry) {
  const char* name = archive_entry_pathname(entry);
  const char* hardlink = archive_entry_hardlink(entry);
  const char* symlink = archive_entry_symlink(entry);
  const char* link = hardlink != nullptr ? hardlink : (symlink != nullptr ? symlink : "");
  std::string record;
  record.reserve(128);
  const auto field = [&record](std::string_view value) {
    record.append(value);
    record.push_back('\0');
  };
  field(name != nullptr ? name : "");
  field(to_string(type_of(entry)));
  field(std::to_string(archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0));
  field(std::to_string(archive_entry_mode(entry)));
  field(std::to_string(archive_entry_uid(entry)));
  field(std::to_string(archive_entry_gid(entry)));
  field(std::to_string(archive_entry_mtime_is_set(entry) ? archive_entry_mtime(entry) : 0));
  field(std::to_string(archive_entry_mtime_is_set(entry) ? archive_entry_mtime_nsec(entry) : 0));
  field(link);
  return record;
}

// Writes all of `data`, retrying on EINTR and short writes. Returns errno, 0 on success.
int write_all(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t count = ::write(fd, data, size);
    if (count < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += count;
    size -= static_cast<std::size_t>(count);
  }
  return 0;
}

// Reads as much as fits, retrying on EINTR. Returns the byte count, or -1 with errno set.
ssize_t read_some(int fd, unsigned char* data, std::size_t size) {
  for (;;) {
    const ssize_t count = ::read(fd, data, size);
    if (count >= 0 || errno != EINTR) return count;
  }
}

// A file this module writes: removed again unless keep() is called.
class OwnedOutput {
public:
  OwnedOutput() = default;
  OwnedOutput(const OwnedOutput&) = delete;
  OwnedOutput& operator=(const OwnedOutput&) = delete;
  ~OwnedOutput() {
    fd_.reset();
    if (!path_.empty() && !kept_) ::unlink(path_.c_str());
  }

  // Creates (or truncates) `path` with mode 0600. Returns errno, 0 on success.
  int open(const fs::path& path) {
    fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd_) return errno;
    path_ = path;
    return 0;
  }
  [[nodiscard]] bool is_open() const { return static_cast<bool>(fd_); }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const fs::path& path() const { return path_; }

  // Closes the file and keeps it. Returns errno, 0 on success (on failure the file is removed).
  int close_and_keep() {
    if (::close(fd_.release()) != 0) return errno;
    kept_ = true;
    return 0;
  }

private:
  util::FileDescriptor fd_;
  fs::path path_;
  bool kept_ = false;
};

struct InflateEnd {
  void operator()(z_stream* stream) const noexcept {
    inflateEnd(stream);
    delete stream;
  }
};
struct DeflateEnd {
  void operator()(z_stream* stream) const noexcept {
    deflateEnd(stream);
    delete stream;
  }
};

enum class Input { gzip, tar };

// One pass over a tar or a gzip-compressed tar. The file is read in blocks and hashed; for gzip, zlib
// inflates each block (checking the CRC-32 and length of every member, libarchive 3.6's gzip reader checks
// neither) and the inflated bytes go to an optional copy; libarchive parses the tar from these bytes, and
// every entry is hashed into ArchiveInfo::entries_sha256 as its data passes.
class TarReader {
public:
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;
  ~TarReader() = default;

  // Lives on the heap: libarchive keeps a pointer to it.
  static Result<std::unique_ptr<TarReader>> open(const fs::path& path, ErrorKind kind, Input input,
                                                 const std::optional<fs::path>& unpack_to = std::nullopt) {
    std::unique_ptr<TarReader> reader(new TarReader(path, kind, input));
    reader->fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!reader->fd_) return fail(kind, "archive " + path.string() + ": " + errno_text(errno));
    if (input == Input::gzip) {
      reader->stream_.reset(new z_stream{});
      if (inflateInit2(reader->stream_.get(), 16 + MAX_WBITS) != Z_OK) {
        delete reader->stream_.release(); // nothing to end
        return fail(ErrorKind::internal, "archive " + path.string() + ": zlib cannot start");
      }
      reader->output_.resize(output_block_size);
    }
    if (unpack_to) {
      if (const int error = reader->unpacked_.open(*unpack_to); error != 0)
        return fail(ErrorKind::staging_io, "cannot create " + unpack_to->string() + ": " + errno_text(error));
    }
    reader->handle_.reset(archive_read_new());
    if (!reader->handle_) return fail(ErrorKind::internal, "archive: out of memory opening " + path.string());
    archive_read_support_format_tar(reader->handle_.get());
    if (archive_read_open(reader->handle_.get(), reader.get(), nullptr, &TarReader::read_callback, nullptr) !=
        ARCHIVE_OK)
      return fail(reader->failure());
    return reader;
  }

  // Reads the next header; nullptr at the end of the tar. Every entry's data must be read with read_data()
  // before the next header.
  Result<struct archive_entry*> next_header() {
    struct archive_entry* entry = nullptr;
    const int status = archive_read_next_header(handle_.get(), &entry);
    if (status == ARCHIVE_EOF) return nullptr;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return fail(failure());
    const char* name = archive_entry_pathname(entry);
    current_ = ArchiveEntry{name != nullptr ? name : "", 0, type_of(entry)};
    record_ = header_record(entry);
    return entry;
  }

  // Reads the current entry's data to its end (so corruption inside it shows), hashing it; each block also
  // goes to `sink(block, size, offset)` returning Result<>. Returns the entry's data byte count.
  template <typename Sink> Result<std::uint64_t> read_data(Sink&& sink) {
    std::uint64_t total = 0;
    for (;;) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      const int status = archive_read_data_block(handle_.get(), &block, &size, &offset);
      if (status == ARCHIVE_EOF) break;
      if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return fail(failure());
      data_hash_.update(block, size);
      total += size;
      CWB_TRY(sink(block, size, offset));
    }
    record_.append(data_hash_.finish_hex());
    record_.push_back('\n');
    entries_hash_.update(record_);
    current_.size = total;
    info_.uncompressed_bytes += total;
    info_.entries.push_back(std::move(current_));
    return total;
  }
  Result<std::uint64_t> read_data() {
    return read_data([](const void*, std::size_t, la_int64_t) -> Result<> { return {}; });
  }

  // Reads the rest of the file (the tar's padding, the last gzip trailer), so its checksums and hash cover
  // every byte, and returns what was read. With `require_entries`, an archive without entries is an error.
  // Only on success is the unpacked copy kept.
  Result<ArchiveInfo> finish(bool require_entries) {
    for (;;) {
      const void* block = nullptr;
      const la_ssize_t count = produce(&block);
      if (count < 0) return fail(failure());
      if (count == 0) break;
    }
    info_.entry_count = info_.entries.size();
    if (require_entries && info_.entry_count == 0)
      return fail(kind_, "archive " + path_.string() + ": empty (no entries)");
    if (unpacked_.is_open()) {
      if (const int error = unpacked_.close_and_keep(); error != 0)
        return fail(ErrorKind::staging_io, "cannot write " + unpacked_.path().string() + ": " + errno_text(error));
      info_.unpacked_sha256 = unpacked_hash_.finish_hex();
    }
    info_.sha256 = file_hash_.finish_hex();
    info_.entries_sha256 = entries_hash_.finish_hex();
    return std::move(info_);
  }

private:
  TarReader(fs::path path, ErrorKind kind, Input input)
      : path_(std::move(path)), kind_(kind), input_kind_(input), input_(input_block_size) {}

  static la_ssize_t read_callback(struct archive*, void* client, const void** block) {
    return static_cast<TarReader*>(client)->produce(block);
  }

  // The error to report: the one met inside the read callback when there is one (libarchive would only
  // say that reading failed), libarchive's own otherwise.
  Error failure() const {
    if (error_) return *error_;
    return Error{kind_, "archive " + path_.string() + ": " + reason(handle_.get())};
  }

  la_ssize_t set_error(ErrorKind kind, const std::string& message) {
    if (!error_) error_ = Error{kind, message};
    return -1;
  }
  la_ssize_t archive_error(const std::string& why) {
    return set_error(kind_, "archive " + path_.string() + ": " + why);
  }

  // Reads the next block of the file into input_ and hashes it. Returns its size, 0 at the end, -1 on error.
  la_ssize_t read_input() {
    const ssize_t count = read_some(fd_.get(), input_.data(), input_.size());
    if (count < 0) return archive_error(errno_text(errno));
    const auto size = static_cast<std::size_t>(count);
    if (input_kind_ == Input::gzip) {
      static constexpr unsigned char magic[] = {0x1f, 0x8b};
      for (std::size_t i = 0; bytes_read_ + i < sizeof magic && i < size; ++i)
        if (input_[i] != magic[bytes_read_ + i]) return archive_error("not gzip-compressed");
      if (size == 0 && bytes_read_ < sizeof magic)
        return archive_error(bytes_read_ == 0 ? "not gzip-compressed (empty file)" : "not gzip-compressed");
    }
    bytes_read_ += size;
    file_hash_.update(input_.data(), size);
    return count;
  }

  // Hands out the next bytes of the tar in *block: the file's blocks as they are for a tar, inflated ones
  // for gzip. Returns their size, 0 at the end, -1 on error (kept in error_).
  la_ssize_t produce(const void** block) {
    if (error_) return -1;
    if (input_kind_ == Input::tar) {
      if (input_eof_) return 0;
      const la_ssize_t count = read_input();
      if (count == 0) input_eof_ = true;
      *block = input_.data();
      return count;
    }
    z_stream& stream = *stream_;
    stream.next_out = output_.data();
    stream.avail_out = static_cast<uInt>(output_.size());
    while (stream.avail_out > 0) {
      if (stream.avail_in == 0 && !input_eof_) {
        const la_ssize_t count = read_input();
        if (count < 0) return -1;
        if (count == 0) input_eof_ = true;
        stream.next_in = input_.data();
        stream.avail_in = static_cast<uInt>(count);
      }
      if (stream.avail_in == 0 && input_eof_ && !member_open_) break; // every member complete
      if (stream.avail_in > 0) member_open_ = true;
      const uInt room_before = stream.avail_out;
      const int status = inflate(&stream, Z_NO_FLUSH);
      if (status == Z_STREAM_END) {
        // A .gz may hold several members, concatenated: the next one starts right after this trailer.
        member_open_ = false;
        inflateReset(&stream);
      } else if (status != Z_OK && status != Z_BUF_ERROR) {
        return archive_error(
            "gzip data corrupt (" +
            (stream.msg != nullptr ? std::string(stream.msg) : "zlib error " + std::to_string(status)) + ")");
      } else if (stream.avail_in == 0 && input_eof_ && stream.avail_out == room_before) {
        return archive_error("truncated gzip data");
      }
    }
    const std::size_t produced = output_.size() - stream.avail_out;
    if (produced > 0 && unpacked_.is_open()) {
      if (const int error = write_all(unpacked_.fd(), output_.data(), produced); error != 0)
        return set_error(ErrorKind::staging_io, "cannot write " + unpacked_.path().string() + ": " + errno_text(error));
      unpacked_hash_.update(output_.data(), produced);
      info_.unpacked_bytes += produced;
    }
    *block = output_.data();
    return static_cast<la_ssize_t>(produced);
  }

  fs::path path_;
  ErrorKind kind_;
  Input input_kind_;
  util::FileDescriptor fd_;
  std::vector<unsigned char> input_;
  std::vector<unsigned char> output_;
  std::unique_ptr<z_stream, InflateEnd> stream_;
  bool input_eof_ = false;
  bool member_open_ = false;
  std::uint64_t bytes_read_ = 0;
  OwnedOutput unpacked_;
  std::optional<Error> error_;
  util::Sha256 file_hash_;
  util::Sha256 unpacked_hash_; // of what went to unpack_to
  util::Sha256 entries_hash_;
  util::Sha256 data_hash_;
  ArchiveEntry current_;
  std::string record_;
  ArchiveInfo info_;
  ReadHandle handle_; // last: freed first, before the state its callbacks use
};

Result<ArchiveInfo> read_all(const fs::path& path, ErrorKind kind, Input input,
                             const std::optional<fs::path>& unpack_to) {
  auto reader = TarReader::open(path, kind, input, unpack_to);
  if (!reader) return fail(reader.error());
  for (;;) {
    auto entry = (*reader)->next_header();
    if (!entry) return fail(entry.error());
    if (*entry == nullptr) break;
    CWB_TRY((*reader)->read_data());
  }
  return (*reader)->finish(true);
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

Result<ArchiveInfo> validate_tar_gz(const fs::path& path, const ValidateOptions& options) {
  return read_all(path, ErrorKind::export_invalid, Input::gzip, options.unpack_to);
}

Result<ArchiveInfo> read_tar(const fs::path& path, ErrorKind kind) {
  return read_all(path, kind, Input::tar, std::nullopt);
}

Result<> gzip_file(const fs::path& source, const fs::path& target, int level) {
  util::FileDescriptor input(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!input) return fail(ErrorKind::staging_io, "cannot open " + source.string() + ": " + errno_text(errno));
  std::unique_ptr<z_stream, DeflateEnd> stream(new z_stream{});
  if (deflateInit2(stream.get(), level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    delete stream.release();
    return fail(ErrorKind::internal,
                "gzip " + source.string() + ": zlib cannot start at level " + std::to_string(level));
  }
  OwnedOutput output;
  if (const int error = output.open(target); error != 0)
    return fail(ErrorKind::staging_io, "cannot create " + target.string() + ": " + errno_text(error));
  std::vector<unsigned char> in(input_block_size);
  std::vector<unsigned char> out(input_block_size);
  for (bool end = false; !end;) {
    const ssize_t count = read_some(input.get(), in.data(), in.size());
    if (count < 0) return fail(ErrorKind::staging_io, "cannot read " + source.string() + ": " + errno_text(errno));
    end = count == 0;
    stream->next_in = in.data();
    stream->avail_in = static_cast<uInt>(count);
    do {
      stream->next_out = out.data();
      stream->avail_out = static_cast<uInt>(out.size());
      const int status = deflate(stream.get(), end ? Z_FINISH : Z_NO_FLUSH);
      if (status == Z_STREAM_ERROR)
        return fail(ErrorKind::internal, "gzip " + source.string() + ": zlib error " + std::to_string(status));
      const std::size_t produced = out.size() - stream->avail_out;
      if (const int error = write_all(output.fd(), out.data(), produced); error != 0)
        return fail(ErrorKind::staging_io, "cannot write " + target.string() + ": " + errno_text(error));
    } while (stream->avail_out == 0);
  }
  if (const int error = output.close_and_keep(); error != 0)
    return fail(ErrorKind::staging_io, "cannot write " + target.string() + ": " + errno_text(error));
  return {};
}

Result<ArchiveInfo> extract_safely(const fs::path& archive_path, const fs::path& target_dir) {
  constexpr ErrorKind kind = ErrorKind::snapshot_invalid;
  // First pass: check every entry (and the gzip checksums) before anything is written, so a refused
  // archive leaves no half tree.
  {
    auto reader = TarReader::open(archive_path, kind, Input::gzip);
    if (!reader) return fail(reader.error());
    for (;;) {
      auto entry = (*reader)->next_header();
      if (!entry) return fail(entry.error());
      if (*entry == nullptr) break;
      if (const auto why = escape_reason(*entry); !why.empty())
        return fail(kind, "archive " + archive_path.string() + " tries to escape " + target_dir.string() + ": " + why);
      CWB_TRY((*reader)->read_data());
    }
    CWB_TRY((*reader)->finish(false));
  }

  CWB_TRY(util::ensure_directories(target_dir));
  std::error_code error;
  const fs::path root = fs::canonical(target_dir, error);
  if (error) return fail(ErrorKind::staging_io, "cannot resolve " + target_dir.string() + ": " + error.message());

  auto reader = TarReader::open(archive_path, kind, Input::gzip);
  if (!reader) return fail(reader.error());
  WriteHandle writer(archive_write_disk_new());
  if (!writer) return fail(ErrorKind::internal, "archive: out of memory extracting " + archive_path.string());
  // Entries are made absolute below root ourselves (after refusing absolute names in the first pass), so
  // ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be set; the other two guard against ".." and symlinked
  // folders a second time.
  archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                   ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  const auto write_block = [&writer, &archive_path](const void* block, std::size_t size,
                                                    la_int64_t offset) -> Result<> {
    if (archive_write_data_block(writer.get(), block, size, offset) != ARCHIVE_OK)
      return fail(ErrorKind::staging_io, "extracting " + archive_path.string() + ": " + reason(writer.get()));
    return {};
  };
  for (;;) {
    auto entry = (*reader)->next_header();
    if (!entry) return fail(entry.error());
    if (*entry == nullptr) break;
    if (const auto why = escape_reason(*entry); !why.empty()) // the file may have changed since pass one
      return fail(kind, "archive " + archive_path.string() + " tries to escape " + target_dir.string() + ": " + why);
    const std::string name = archive_entry_pathname(*entry); // not null: escape_reason refuses that
    archive_entry_set_pathname(*entry, (root / name).c_str());
    if (const char* hardlink = archive_entry_hardlink(*entry); hardlink != nullptr)
      archive_entry_set_hardlink(*entry, (root / hardlink).c_str());
    const int status = archive_write_header(writer.get(), *entry);
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
      return fail(kind, "extracting " + name + " from " + archive_path.string() + ": " + reason(writer.get()));
    CWB_TRY((*reader)->read_data(write_block));
    if (archive_write_finish_entry(writer.get()) != ARCHIVE_OK)
      return fail(ErrorKind::staging_io, "extracting " + name + ": " + reason(writer.get()));
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK)
    return fail(ErrorKind::staging_io, "extracting " + archive_path.string() + ": " + reason(writer.get()));
  return (*reader)->finish(false);
}

} // namespace cwb::archive
