#include "staging/mirror.hpp"

#include "staging/entry_write.hpp"

#include "util/byte_text.hpp"
#include "util/file_descriptor.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <vector>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::size_t copy_buffer_size = 1 << 20; // bounded memory: one buffer, never a whole file
constexpr std::size_t hole_block = 4096;          // an all-zero block this large becomes a hole
/// The index on disk. 3: JSON lines, a header line then one line per file in path byte order, read and
/// written one line at a time (memory flat in the number of files). 2: one JSON document keyed by path; still
/// read, so that the first run after an upgrade does not re-read every file.
constexpr int index_format = 3;
constexpr int index_format_document = 2;
/// A file whose mtime is less than this before the run that recorded it may have been rewritten in the
/// same mtime tick after it was read (1 s covers file systems with coarse timestamps).
constexpr std::int64_t racy_window_ns = 1'000'000'000;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the index remembers of a mirrored file: the metadata it had when it was hashed. Compact, as 100,000
// of them are held at once: the digest inline, not as a string.
struct IndexRecord {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::array<char, 64> sha256 = {}; // hex
  // The source file's inode and ctime when it was hashed; 0 in indexes written before these fields.
  std::uint64_t source_inode = 0;
  std::int64_t source_ctime_ns = 0;

  [[nodiscard]] bool matches(const TreeEntry& entry) const {
    return entry.type == EntryType::file && size == entry.size && mtime_ns == entry.mtime_ns && mode == entry.mode &&
           uid == entry.uid && gid == entry.gid;
  }

  /// Whether the source was written (or replaced) since it was hashed, even with its size and mtime kept
  /// (`touch -d`, `cp -p` then a rename): the ctime moves on every write and cannot be set back.
  [[nodiscard]] bool source_touched(const TreeEntry& source) const {
    return source_ctime_ns != 0 &&
           (source_ctime_ns != source.identity.ctime_ns || source_inode != source.identity.inode);
  }

  [[nodiscard]] std::string sha256_hex() const { return {sha256.begin(), sha256.end()}; }
};

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 &&
         std::ranges::all_of(text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// One record from its JSON (either format; `path` already decoded). Throws json::exception on a bad field.
std::optional<IndexRecord> record_of(std::string path, const json& fields) {
  const auto sha256 = fields.at("sha256").get<std::string>();
  if (!is_sha256_hex(sha256)) return std::nullopt;
  IndexRecord record{std::move(path),
                     fields.at("size").get<std::uint64_t>(),
                     fields.at("mtime_ns").get<std::int64_t>(),
                     fields.at("mode").get<mode_t>(),
                     fields.at("uid").get<uid_t>(),
                     fields.at("gid").get<gid_t>(),
                     {},
                     fields.value("inode", std::uint64_t{0}),
                     fields.value("ctime_ns", std::int64_t{0})};
  std::ranges::copy(sha256, record.sha256.begin());
  return record;
}

// Format 2 keys are JSON strings: a path that is not valid UTF-8 was stored as "/" + base64 (no real
// relative path starts with "/").
std::optional<std::string> path_of_key(const std::string& key) {
  if (key.empty() || key.front() != '/') return key;
  return util::base64_decode(std::string_view(key).substr(1));
}

/// Bytes as a JSON field of an index line: `name` when they are UTF-8, `name`_base64 otherwise (as in the
/// manifest).
void put_path(json& out, const std::string& path) {
  if (util::is_valid_utf8(path))
    out["path"] = path;
  else
    out["path_base64"] = util::base64_encode(path);
}

std::optional<std::string> get_path(const json& in) {
  if (const auto plain = in.find("path"); plain != in.end()) return plain->get<std::string>();
  if (const auto encoded = in.find("path_base64"); encoded != in.end())
    return util::base64_decode(encoded->get<std::string>());
  return std::nullopt;
}

/// The index of the last run, read as the mirror asks for paths in byte order (the order of a scan and of
/// the index's lines): one record in memory at a time, one pass over the file in all. A missing, damaged
/// or cut-short index is none; that is not an error, it only costs re-reading the mirror's files.
class IndexReader {
public:
  explicit IndexReader(const fs::path& path) {
    if (path.empty()) return;
    in_.open(path, std::ios::binary);
    std::string line;
    if (!in_ || !std::getline(in_, line)) return;
    try {
      json header = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (header.is_discarded()) { // not a line of its own: a pretty-printed document (format 2)
        in_.clear();
        in_.seekg(0);
        header = json::parse(in_, nullptr, /*allow_exceptions=*/false);
      }
      if (!header.is_object()) return;
      if (header.value("format", 0) == index_format_document) {
        load_document(header);
        return;
      }
      if (header.value("format", 0) != index_format || !ends_with_its_count()) return;
      scanned_ns_ = header.at("scanned_ns").get<std::int64_t>();
      runs_since_full_check_ = header.at("runs_since_full_check").get<unsigned>();
      found_ = true;
    } catch (const std::exception&) { // json's, or a length from a file that is not one of ours
      found_ = false;
    }
  }

  /// Whether there was a usable index (else every unchanged file is hashed from the mirror's copy).
  [[nodiscard]] bool found() const { return found_; }
  /// Whether a line was damaged or out of order: the files after it have no record, and (as with no index
  /// on a full check) their sources must be re-read rather than trusted on metadata.
  [[nodiscard]] bool damaged() const { return damaged_; }
  [[nodiscard]] unsigned runs_since_full_check() const { return runs_since_full_check_; }

  /// The record of `path`, or nullptr; paths must be asked in byte order. Valid until the next call.
  const IndexRecord* find(const std::string& path) {
    if (!found_ || exhausted_) return nullptr;
    while (!current_ || current_->path < path)
      if (!advance()) return nullptr;
    return current_->path == path ? &*current_ : nullptr;
  }

  /// True when the record may hide a rewrite within the same mtime or ctime tick (a file hashed less than a
  /// tick after it was written could be written again in that tick, its ctime unchanged).
  [[nodiscard]] bool racy(const IndexRecord& record) const {
    return record.mtime_ns + racy_window_ns >= scanned_ns_ ||
           (record.source_ctime_ns != 0 && record.source_ctime_ns + racy_window_ns >= scanned_ns_);
  }

private:
  // The last line of a whole index is {"end": <records>}: an index cut short (a full disk in an older
  // version, a copy interrupted) is none. Leaves the stream after the header.
  bool ends_with_its_count() {
    if (in_.eof()) return false; // the header was the whole file
    const auto after_header = in_.tellg();
    in_.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(in_.tellg());
    if (after_header < 0 || size <= 0) return false;
    const std::streamoff tail = std::min<std::streamoff>(size, 256);
    std::string last(static_cast<std::size_t>(tail), '\0');
    in_.seekg(size - tail);
    in_.read(last.data(), tail);
    in_.seekg(after_header);
    if (!in_ || last.empty() || last.back() != '\n') return false;
    last.pop_back();
    const json end = json::parse(last.substr(last.rfind('\n') + 1), nullptr, /*allow_exceptions=*/false);
    return end.is_object() && end.contains("end") && end["end"].is_number_unsigned();
  }

  // Reads the next record line (format 3) or takes the next record (format 2); false at the end, or at a
  // line out of order or damaged (what follows is not trusted: those files are re-read).
  bool advance() {
    if (document_) {
      if (next_ >= document_->size()) {
        exhausted_ = true;
        return false;
      }
      current_ = std::move((*document_)[next_++]);
      return true;
    }
    std::string line;
    while (std::getline(in_, line)) {
      try {
        const json fields = json::parse(line);
        if (fields.contains("end")) break;
        auto name = get_path(fields);
        if (!name || (current_ && *name <= current_->path)) {
          damaged_ = true;
          break;
        }
        auto record = record_of(std::move(*name), fields);
        if (!record) continue; // no valid digest: that file is hashed again
        current_ = std::move(*record);
        return true;
      } catch (const json::exception&) {
        damaged_ = true;
        break;
      }
    }
    exhausted_ = true;
    return false;
  }

  void load_document(const json& document) {
    const auto files = document.find("files");
    if (files == document.end() || !files->is_object()) return;
    scanned_ns_ = document.at("scanned_ns").get<std::int64_t>();
    runs_since_full_check_ = document.at("runs_since_full_check").get<unsigned>();
    std::vector<IndexRecord> records;
    for (const auto& [key, fields] : files->items()) {
      auto path = path_of_key(key);
      if (!path) return;
      if (auto record = record_of(std::move(*path), fields)) records.push_back(std::move(*record));
    }
    std::ranges::sort(records, {}, &IndexRecord::path); // keys are sorted as UTF-8 text, base64 ones apart
    document_ = std::move(records);
    found_ = true;
  }

  std::ifstream in_;
  std::optional<std::vector<IndexRecord>> document_; // format 2: read whole, once, on the first run after an upgrade
  std::size_t next_ = 0;
  std::optional<IndexRecord> current_;
  std::int64_t scanned_ns_ = 0;        // when the run that wrote it started scanning
  unsigned runs_since_full_check_ = 0; // runs since the last one that re-read every file
  bool found_ = false;
  bool exhausted_ = false; // every record was read
  bool damaged_ = false;
};

/// Writes the index as the mirror goes, one line per file, so that it is never whole in memory; commit()
/// replaces the old index only once every file is in.
class IndexWriter {
public:
  static Result<IndexWriter> open(const fs::path& path, std::int64_t scanned_ns, unsigned runs_since_full_check) {
    if (path.empty()) return IndexWriter(std::nullopt);
    auto file = util::AtomicFileWriter::create(path, 0600);
    if (!file) return fail(file.error().with_context("writing the mirror index"));
    IndexWriter writer(std::move(*file));
    const json header = {
        {"format", index_format}, {"scanned_ns", scanned_ns}, {"runs_since_full_check", runs_since_full_check}};
    CWB_TRY(writer.file_->append(header.dump() + "\n"));
    return writer;
  }

  Result<> add(const TreeEntry& source, const std::string& sha256) {
    if (!file_) return {};
    json line = {{"size", source.size},
                 {"mtime_ns", source.mtime_ns},
                 {"mode", source.mode},
                 {"uid", source.uid},
                 {"gid", source.gid},
                 {"sha256", sha256},
                 {"inode", source.identity.inode},
                 {"ctime_ns", source.identity.ctime_ns}};
    put_path(line, source.path);
    ++count_;
    return file_->append(line.dump() + "\n");
  }

  Result<> commit() {
    if (!file_) return {};
    CWB_TRY(file_->append(json{{"end", count_}}.dump() + "\n"));
    return file_->commit();
  }

private:
  explicit IndexWriter(std::optional<util::AtomicFileWriter> file) : file_(std::move(file)) {}
  std::optional<util::AtomicFileWriter> file_;
  std::uint64_t count_ = 0;
};

Result<> write_all(int fd, const char* data, std::size_t size, const fs::path& path) {
  while (size > 0) {
    const ssize_t count = write(fd, data, size);
    if (count < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path, errno);
    }
    data += count;
    size -= static_cast<std::size_t>(count);
  }
  return {};
}

bool all_zero(const char* data, std::size_t size) {
  return size > 0 && data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0;
}

// Writes a block, seeking over all-zero runs of hole_block bytes so that they stay holes.
Result<> write_keeping_holes(int fd, const char* data, std::size_t size, const fs::path& path) {
  std::size_t start = 0;
  while (start < size) {
    std::size_t end = start;
    const bool zero = all_zero(data + start, std::min(hole_block, size - start));
    while (end < size && all_zero(data + end, std::min(hole_block, size - end)) == zero)
      end += std::min(hole_block, size - end);
    if (zero) {
      if (lseek(fd, static_cast<off_t>(end - start), SEEK_CUR) < 0) return io_error("cannot seek in", path, errno);
    } else {
      CWB_TRY(write_all(fd, data + start, end - start, path));
    }
    start = end;
  }
  return {};
}

// Reads `path` to its end, hashing it and (when `output` is open) writing every block: one read per byte.
Result<std::uint64_t> stream_file(int input, const fs::path& path, util::Sha256& hash, int output,
                                  const fs::path& output_path, std::vector<char>& buffer) {
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t count = read(input, buffer.data(), buffer.size());
    if (count == 0) break;
    if (count < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read source file", path, errno);
    }
    hash.update(buffer.data(), static_cast<std::size_t>(count));
    if (output >= 0) CWB_TRY(write_keeping_holes(output, buffer.data(), static_cast<std::size_t>(count), output_path));
    total += static_cast<std::uint64_t>(count);
  }
  // A file ending in a hole: its size comes from the truncate, not from a write.
  if (output >= 0 && ftruncate(output, static_cast<off_t>(total)) != 0)
    return io_error("cannot set the size of", output_path, errno);
  return total;
}

// Copies a changed file: temporary file beside the destination, then rename over it.
Result<std::string> copy_file(const util::EntryAt& from, const util::EntryAt& to, const TreeEntry& entry,
                              std::vector<char>& buffer, std::uint64_t& bytes_copied) {
  util::FileDescriptor input(openat(from.parent(), from.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!input) return io_error("cannot open source file", from.shown, errno);
  const util::EntryAt temporary = to.sibling(temporary_name());
  util::FileDescriptor output(
      openat(temporary.parent(), temporary.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!output) return io_error("cannot create", temporary.shown, errno);
  auto remove_temporary = [&](Error error) {
    unlinkat(temporary.parent(), temporary.name.c_str(), 0);
    return fail(std::move(error));
  };
  util::Sha256 hash;
  auto copied = stream_file(input.get(), from.shown, hash, output.get(), temporary.shown, buffer);
  if (!copied) return remove_temporary(copied.error());
  if (close(output.release()) != 0) return remove_temporary(io_error("cannot write", temporary.shown, errno).error());
  if (auto applied = apply_entry_metadata(temporary, entry, nullptr); !applied)
    return remove_temporary(applied.error());
  CWB_TRY(rename_over(temporary, to));
  bytes_copied += *copied;
  return hash.finish_hex();
}

// Hashes a file (the mirror's copy the index did not know, or a source re-read). Errors name the path.
Result<std::string> hash_file(const util::EntryAt& at, std::vector<char>& buffer) {
  util::FileDescriptor input(openat(at.parent(), at.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!input) return io_error("cannot open", at.shown, errno);
  util::Sha256 hash;
  CWB_TRY(stream_file(input.get(), at.shown, hash, -1, {}, buffer));
  return hash.finish_hex();
}

// Makes a symlink, FIFO or device node beside `at`, then renames it over whatever is there.
Result<> make_special(const util::EntryAt& at, const TreeEntry& entry) {
  const util::EntryAt temporary = at.sibling(temporary_name());
  const int folder = temporary.parent();
  const char* name = temporary.name.c_str();
  int made = 0;
  switch (entry.type) {
  case EntryType::symlink: made = symlinkat(entry.link_target.c_str(), folder, name); break;
  case EntryType::fifo: made = mknodat(folder, name, S_IFIFO | 0600, 0); break;
  case EntryType::char_device:
    made = mknodat(folder, name, S_IFCHR | 0600, static_cast<dev_t>(entry.device_number));
    break;
  case EntryType::block_device:
    made = mknodat(folder, name, S_IFBLK | 0600, static_cast<dev_t>(entry.device_number));
    break;
  default: return fail(ErrorKind::internal, "make_special: not a special entry: " + entry.path);
  }
  if (made != 0) return io_error(std::string("cannot create ") + to_string(entry.type), temporary.shown, errno);
  if (auto applied = apply_entry_metadata(temporary, entry, nullptr); !applied) {
    unlinkat(folder, name, 0);
    return fail(applied.error());
  }
  return rename_over(temporary, at);
}

bool is_inside(const fs::path& inner, const fs::path& outer) {
  auto [outer_end, inner_it] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return outer_end == outer.end();
}

// A source entry of a kind the mirror does not hold (sockets) counts as absent.
bool mirrored_type(EntryType type) {
  return type != EntryType::socket;
}

// The first path (byte order) of every hard-link group of regular files with more than one name in the
// tree, by member path. Names outside the tree do not count: they are not ours to keep together.
std::map<std::string, std::string> hard_link_leaders(const std::vector<TreeEntry>& entries) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> first_name;
  std::map<std::string, std::string> leader_of;
  for (const auto& entry : entries) { // sorted: the first name seen is the leader
    if (entry.type != EntryType::file || entry.identity.links < 2) continue;
    const auto [it, inserted] = first_name.try_emplace({entry.identity.device, entry.identity.inode}, entry.path);
    if (!inserted) leader_of[entry.path] = it->second;
  }
  return leader_of;
}

bool same_inode(const util::EntryAt& a, const util::EntryAt& b) {
  struct stat first {
  }, second{};
  return fstatat(a.parent(), a.name.c_str(), &first, AT_SYMLINK_NOFOLLOW) == 0 &&
         fstatat(b.parent(), b.name.c_str(), &second, AT_SYMLINK_NOFOLLOW) == 0 && first.st_dev == second.st_dev &&
         first.st_ino == second.st_ino;
}

// What the mirror has where `wanted` goes, as lstat() sees it (read through the folder's descriptor, never
// through a link), or nullopt when it has nothing there or something of another kind (the removal made
// sure it has not; a writer racing us gets an error from the write instead).
Result<std::optional<TreeEntry>> current_entry(const util::EntryAt& at, const TreeEntry& wanted) {
  auto entry = stat_entry_if_present(at.descriptor_path());
  if (!entry) return fail(entry.error());
  if (!*entry || (*entry)->type != wanted.type) return std::nullopt;
  (*entry)->path = wanted.path;
  return entry;
}

} // namespace

Result<MirrorReport> mirror_tree(const fs::path& source, const fs::path& target, const MirrorOptions& options) {
  const std::int64_t scanned_ns = now_ns();
  auto source_entries = scan_tree(source);
  if (!source_entries) return fail(source_entries.error().with_context("mirroring"));
  CWB_TRY(util::ensure_directories(target));
  std::error_code error;
  const fs::path source_root = fs::canonical(source, error);
  const fs::path target_root = error ? fs::path{} : fs::canonical(target, error);
  if (error)
    return fail(ErrorKind::staging_io, "mirroring: cannot resolve " + target.string() + ": " + error.message());
  if (is_inside(target_root, source_root) || is_inside(source_root, target_root))
    return fail(ErrorKind::usage, "mirroring: " + source.string() + " and " + target.string() + " overlap");
  // Every read and write below goes through these: from the root's descriptor, never through a link.
  auto source_tree = util::BeneathRoot::open(source_root);
  if (!source_tree) return fail(source_tree.error().with_context("mirroring"));
  auto target_tree = util::BeneathRoot::open(target_root);
  if (!target_tree) return fail(target_tree.error().with_context("mirroring"));
  const auto in_source = [&](const std::string& path) { return source_tree->locate(path); };
  const auto in_target = [&](const std::string& path) { return target_tree->locate(path); };

  const std::vector<TreeEntry>& wanted = *source_entries; // both sorted by path: matched by merging, not maps
  const auto leaders = hard_link_leaders(wanted);

  MirrorReport report;
  // Remove what the source no longer has, or has as another type (a file that became a folder). The mirror
  // is walked, not held: only what is to go is kept, in walk order (a folder before its contents).
  const auto source_entry = [&](const std::string& path) -> const TreeEntry* {
    const auto found = std::ranges::lower_bound(wanted, path, {}, &TreeEntry::path);
    return found != wanted.end() && found->path == path && mirrored_type(found->type) ? &*found : nullptr;
  };
  std::vector<std::pair<std::string, EntryType>> to_remove;
  std::string removed_prefix; // a folder that goes: its contents go with it
  CWB_TRY(walk_tree(target_root, {.xattrs = false}, [&](TreeEntry&& entry) -> Result<> {
    if (!removed_prefix.empty() && entry.path.starts_with(removed_prefix)) {
      ++report.files_removed;
      return {};
    }
    const TreeEntry* wanted_here = source_entry(entry.path);
    if (wanted_here != nullptr && wanted_here->type == entry.type) return {};
    removed_prefix = entry.type == EntryType::directory ? entry.path + "/" : std::string{};
    to_remove.emplace_back(std::move(entry.path), entry.type);
    return {};
  }));
  for (const auto& [path, type] : to_remove) {
    auto gone = in_target(path);
    if (!gone) return fail(gone.error().with_context("mirroring"));
    CWB_TRY(util::remove_entry_at(gone->parent(), gone->name, gone->shown));
    target_tree->forget_folders();
    ++report.files_removed;
  }

  IndexReader index(options.index_path);
  const bool full_check =
      options.full_check_every > 0 && (!index.found() || index.runs_since_full_check() + 1 >= options.full_check_every);
  report.full_check = full_check;
  // Only passes that may do a full check count: a backup's quick second pass inside its freeze window does not.
  const unsigned runs_since_full_check = full_check                     ? 0
                                         : options.full_check_every > 0 ? index.runs_since_full_check() + 1
                                                                        : index.runs_since_full_check();
  auto new_index = IndexWriter::open(options.index_path, scanned_ns, runs_since_full_check);
  if (!new_index) return fail(new_index.error());
  std::vector<char> buffer(copy_buffer_size);
  // Folders, by position in wanted, with what the mirror had there (their metadata is set last).
  std::vector<std::pair<std::size_t, std::optional<TreeEntry>>> directories;
  std::map<std::string, std::string> leader_sha;
  for (std::size_t position = 0; position < wanted.size(); ++position) {
    const TreeEntry& entry = wanted[position];
    auto from = in_source(entry.path);
    if (!from) return fail(from.error().with_context("mirroring"));
    auto to = in_target(entry.path);
    if (!to) return fail(to.error().with_context("mirroring"));
    MirrorEntry mirrored{entry.path, entry.type, entry.size, {}, {}, MirrorAction::kept, {}, entry};
    auto existing = current_entry(*to, entry);
    if (!existing) return fail(existing.error().with_context("mirroring"));
    const TreeEntry* current = existing->has_value() ? &**existing : nullptr;
    switch (entry.type) {
    case EntryType::directory:
      if (current == nullptr) {
        // Owner-only until its contents are in; its metadata is set after them.
        if (mkdirat(to->parent(), to->name.c_str(), 0700) != 0)
          return io_error("cannot create directory", to->shown, errno);
        mirrored.action = MirrorAction::created;
      }
      directories.emplace_back(position, std::move(*existing));
      break;
    case EntryType::symlink:
    case EntryType::fifo:
    case EntryType::char_device:
    case EntryType::block_device:
      if (current == nullptr || current->link_target != entry.link_target ||
          current->device_number != entry.device_number) {
        CWB_TRY(make_special(*to, entry));
        mirrored.action = MirrorAction::created;
      } else if (!(*current == entry)) {
        CWB_TRY(apply_entry_metadata(*to, entry, current));
      }
      break;
    case EntryType::file: {
      if (const auto leader = leaders.find(entry.path); leader != leaders.end()) {
        // A further name of a group: the leader (earlier in byte order) is already in place.
        mirrored.hard_link_to = leader->second;
        mirrored.sha256 = leader_sha[leader->second];
        auto leader_to = in_target(leader->second);
        if (!leader_to) return fail(leader_to.error().with_context("mirroring"));
        if (current == nullptr || !same_inode(*to, *leader_to)) CWB_TRY(replace_with_hard_link(*leader_to, *to));
        mirrored.action = MirrorAction::linked;
        break;
      }
      // A mirror file linked to other names while the source's is not (or no longer) would come back
      // from restic as a hard-link group: such a file is copied anew, which gives it its own data.
      const bool group_leader = entry.identity.links > 1;
      const bool shares_data = current != nullptr && current->identity.links > 1 && !group_leader;
      const bool same = current != nullptr && !shares_data && current->size == entry.size &&
                        current->mtime_ns == entry.mtime_ns && current->mode == entry.mode &&
                        current->uid == entry.uid && current->gid == entry.gid;
      bool copy = !same;
      if (same) {
        const IndexRecord* record = index.find(entry.path);
        const bool known = record != nullptr && record->matches(*current);
        if (known) {
          mirrored.sha256 = record->sha256_hex();
        } else {
          auto hash = hash_file(*to, buffer);
          if (!hash) return fail(hash.error().with_context("mirroring"));
          mirrored.sha256 = std::move(*hash);
          ++report.files_rehashed;
        }
        // Metadata cannot prove that the contents are the same: re-read the source when asked to, every
        // full check, when the record is racy, and when the source's ctime or inode moved since it was hashed.
        const bool racy = known && index.racy(*record);
        const bool touched = known && record->source_touched(entry);
        const bool unproven = !known && index.damaged();
        if (options.compare_content || full_check || racy || touched || unproven) {
          auto source_hash = hash_file(*from, buffer);
          if (!source_hash) return fail(source_hash.error().with_context("mirroring"));
          ++report.files_verified;
          copy = *source_hash != mirrored.sha256;
        }
      }
      if (copy) {
        auto hash = copy_file(*from, *to, entry, buffer, report.bytes_copied);
        if (!hash) return fail(hash.error().with_context("mirroring"));
        mirrored.sha256 = std::move(*hash);
        mirrored.action = MirrorAction::copied;
        ++report.files_copied;
      } else {
        mirrored.action = MirrorAction::unchanged;
        ++report.files_unchanged;
        if (current->xattrs != entry.xattrs) CWB_TRY(apply_entry_metadata(*to, entry, current));
      }
      if (group_leader) leader_sha[entry.path] = mirrored.sha256;
      break;
    }
    case EntryType::socket:
      mirrored.action = MirrorAction::skipped;
      mirrored.warning =
          "not mirrored: " + from->shown.string() + " is a socket (restic does not restore sockets either)";
      break;
    }
    if (entry.type == EntryType::file && !mirrored.sha256.empty()) CWB_TRY(new_index->add(entry, mirrored.sha256));
    ++report.entries;
    if (options.on_entry) CWB_TRY(options.on_entry(mirrored));
    if (options.on_progress) options.on_progress(report.entries, wanted.size(), report.bytes_copied);
  }

  // Folders last and deepest first: writing their contents changed their mtimes, and a read-only folder
  // could not have received its contents.
  for (auto it = directories.rbegin(); it != directories.rend(); ++it) {
    const auto& [position, had] = *it;
    auto folder = in_target(wanted[position].path);
    if (!folder) return fail(folder.error().with_context("mirroring"));
    CWB_TRY(apply_entry_metadata(*folder, wanted[position], had ? &*had : nullptr));
  }
  auto root = stat_entry(source_root);
  if (!root) return fail(root.error().with_context("mirroring"));
  auto root_at = in_target(""); // the root itself: its own descriptor and "."
  if (!root_at) return fail(root_at.error().with_context("mirroring"));
  CWB_TRY(apply_entry_metadata(*root_at, *root, nullptr));

  CWB_TRY(new_index->commit());
  return report;
}

} // namespace cwb::staging
