#include "archive/gzip_recipe.hpp"

#include "util/file_descriptor.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

namespace cwb::archive {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t block_size = 256 * 1024;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error));
}

/// Reads up to `size` bytes, retrying on EINTR and short reads; returns the count (0 at the end) or -1.
ssize_t read_full(int fd, unsigned char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t count = ::read(fd, data + done, size - done);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return -1;
    if (count == 0) break;
    done += static_cast<std::size_t>(count);
  }
  return static_cast<ssize_t>(done);
}

/// The length of the gzip header at the start of `bytes` (RFC 1952: the fixed ten bytes, then FEXTRA,
/// FNAME, FCOMMENT and FHCRC when flagged), or nullopt when it is not a deflate gzip header or is longer.
std::optional<std::size_t> header_length(const std::vector<unsigned char>& bytes) {
  if (bytes.size() < 10 || bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8) return std::nullopt;
  const unsigned flags = bytes[3];
  if ((flags & 0xe0U) != 0) return std::nullopt; // reserved bits
  std::size_t at = 10;
  if ((flags & 0x04U) != 0) { // FEXTRA
    if (at + 2 > bytes.size()) return std::nullopt;
    at += 2 + (bytes[at] | (static_cast<std::size_t>(bytes[at + 1]) << 8));
  }
  for (const unsigned flag : {0x08U, 0x10U}) { // FNAME, FCOMMENT: zero-terminated
    if ((flags & flag) == 0) continue;
    const auto end = std::find(bytes.begin() + static_cast<std::ptrdiff_t>(std::min(at, bytes.size())), bytes.end(), 0);
    if (end == bytes.end()) return std::nullopt;
    at = static_cast<std::size_t>(end - bytes.begin()) + 1;
  }
  if ((flags & 0x02U) != 0) at += 2; // FHCRC
  if (at > bytes.size()) return std::nullopt;
  return at;
}

struct DeflateEnd {
  void operator()(z_stream* stream) const noexcept {
    deflateEnd(stream);
    delete stream;
  }
};

/// Gzips `tar` by `recipe`, handing every output byte to `sink` in order (header, raw deflate, CRC-32 and
/// length). `sink` returns false to stop early. Returns true when the whole stream was produced.
Result<bool> produce(const fs::path& tar, const GzipRecipe& recipe,
                     const std::function<bool(const unsigned char*, std::size_t)>& sink) {
  util::FileDescriptor input(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!input) return io_error("cannot open", tar, errno);
  std::unique_ptr<z_stream, DeflateEnd> stream(new z_stream{});
  // Raw deflate (negative window bits): the header is the archive's own, the trailer computed here.
  if (deflateInit2(stream.get(), recipe.level, Z_DEFLATED, -MAX_WBITS, recipe.mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    delete stream.release();
    return fail(ErrorKind::internal, "zlib does not take level " + std::to_string(recipe.level) + ", memLevel " +
                                         std::to_string(recipe.mem_level));
  }
  const auto* header = reinterpret_cast<const unsigned char*>(recipe.header.data());
  if (!sink(header, recipe.header.size())) return false;
  std::vector<unsigned char> in(block_size);
  std::vector<unsigned char> out(block_size);
  uLong crc = crc32(0L, Z_NULL, 0);
  std::uint64_t length = 0;
  for (bool end = false; !end;) {
    const ssize_t count = read_full(input.get(), in.data(), in.size());
    if (count < 0) return io_error("cannot read", tar, errno);
    end = count == 0;
    crc = crc32(crc, in.data(), static_cast<uInt>(count));
    length += static_cast<std::uint64_t>(count);
    stream->next_in = in.data();
    stream->avail_in = static_cast<uInt>(count);
    do {
      stream->next_out = out.data();
      stream->avail_out = static_cast<uInt>(out.size());
      if (deflate(stream.get(), end ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR)
        return fail(ErrorKind::internal, "zlib failed deflating " + tar.string());
      if (!sink(out.data(), out.size() - stream->avail_out)) return false;
    } while (stream->avail_out == 0);
  }
  std::array<unsigned char, 8> trailer{};
  for (int byte = 0; byte < 4; ++byte) {
    trailer[static_cast<std::size_t>(byte)] = static_cast<unsigned char>((crc >> (8 * byte)) & 0xffU);
    trailer[static_cast<std::size_t>(4 + byte)] = static_cast<unsigned char>((length >> (8 * byte)) & 0xffU);
  }
  return sink(trailer.data(), trailer.size());
}

/// Compares a produced stream with a file, block by block, stopping at the first difference.
class FileComparison {
public:
  explicit FileComparison(int fd) : fd_(fd), buffer_(block_size) {}

  bool compare(const unsigned char* data, std::size_t size) {
    while (size > 0) {
      if (at_ == filled_) {
        const ssize_t count = read_full(fd_, buffer_.data(), buffer_.size());
        if (count <= 0) {
          error_ = count < 0 ? errno : 0;
          return false; // a read error, or the file is shorter
        }
        filled_ = static_cast<std::size_t>(count);
        at_ = 0;
      }
      const std::size_t step = std::min(size, filled_ - at_);
      if (std::memcmp(buffer_.data() + at_, data, step) != 0) return false;
      at_ += step;
      data += step;
      size -= step;
    }
    return true;
  }

  /// True when the file holds nothing after what was compared.
  bool at_end() {
    if (at_ != filled_) return false;
    unsigned char extra = 0;
    return read_full(fd_, &extra, 1) == 0;
  }

  [[nodiscard]] int error() const { return error_; }

private:
  int fd_;
  std::vector<unsigned char> buffer_;
  std::size_t filled_ = 0;
  std::size_t at_ = 0;
  int error_ = 0;
};

} // namespace

Result<std::optional<GzipRecipe>> find_gzip_recipe(const fs::path& archive, const fs::path& tar) {
  util::FileDescriptor file(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) return io_error("cannot open", archive, errno);
  std::vector<unsigned char> start(64 * 1024);
  const ssize_t count = read_full(file.get(), start.data(), start.size());
  if (count < 0) return io_error("cannot read", archive, errno);
  start.resize(static_cast<std::size_t>(count));
  const auto length = header_length(start);
  if (!length) return std::optional<GzipRecipe>{};
  const std::string header(start.begin(), start.begin() + static_cast<std::ptrdiff_t>(*length));

  // XFL says what the writer's level was (RFC 1952): 2 the slowest, 4 the fastest.
  std::vector<int> levels{6, 9, 1, 5, 4, 3, 2, 7, 8};
  if (start[8] == 2) levels = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  if (start[8] == 4) levels = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (const int mem_level : {8, 9}) {
    for (const int level : levels) {
      if (::lseek(file.get(), 0, SEEK_SET) != 0) return io_error("cannot read", archive, errno);
      FileComparison comparison(file.get());
      const GzipRecipe candidate{header, level, mem_level};
      auto produced = produce(tar, candidate, [&comparison](const unsigned char* data, std::size_t size) {
        return comparison.compare(data, size);
      });
      if (!produced) return fail(produced.error());
      if (comparison.error() != 0) return io_error("cannot read", archive, comparison.error());
      if (*produced && comparison.at_end()) return std::optional<GzipRecipe>{candidate};
    }
  }
  return std::optional<GzipRecipe>{};
}

Result<> gzip_with_recipe(const fs::path& tar, const fs::path& target, const GzipRecipe& recipe) {
  std::error_code ignored;
  fs::remove(target, ignored);
  util::FileDescriptor output(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!output) return io_error("cannot create", target, errno);
  int write_error = 0;
  auto produced = produce(tar, recipe, [&](const unsigned char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t written = ::write(output.get(), data, size);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) {
        write_error = errno;
        return false;
      }
      data += written;
      size -= static_cast<std::size_t>(written);
    }
    return true;
  });
  if (!produced) return fail(produced.error());
  if (write_error != 0 || !*produced) return io_error("cannot write", target, write_error != 0 ? write_error : EIO);
  if (::close(output.release()) != 0) return io_error("cannot write", target, errno);
  return {};
}

} // namespace cwb::archive
