#include "staging/mirror.hpp"

#include "util/file_descriptor.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <vector>

namespace cwb::staging {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::size_t copy_buffer_size = 1 << 20; // bounded memory: one buffer, never a whole file
constexpr int index_format = 1;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

std::string temporary_name(const fs::path& path) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return path.parent_path() / (".cwb-mirror-tmp." + std::to_string(generator()));
}

// What the index remembers of a mirrored file: the metadata it had when it was hashed.
struct IndexRecord {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string sha256;

  [[nodiscard]] bool matches(const TreeEntry& entry) const {
    return entry.type == EntryType::file && size == entry.size && mtime_ns == entry.mtime_ns && mode == entry.mode &&
           uid == entry.uid && gid == entry.gid && sha256.size() == 64;
  }
};
using Index = std::map<std::string, IndexRecord>;

// A missing or unreadable index is not an error: it only costs re-reading the mirror's files.
Index load_index(const fs::path& path) {
  Index index;
  if (path.empty()) return index;
  auto text = util::read_file(path);
  if (!text) return index;
  const json document = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || document.value("format", 0) != index_format) return index;
  const auto files = document.find("files");
  if (files == document.end() || !files->is_object()) return index;
  try {
    for (const auto& [name, record] : files->items()) {
      index[name] = IndexRecord{record.at("size").get<std::uint64_t>(), record.at("mtime_ns").get<std::int64_t>(),
                                record.at("mode").get<mode_t>(),        record.at("uid").get<uid_t>(),
                                record.at("gid").get<gid_t>(),          record.at("sha256").get<std::string>()};
    }
  } catch (const json::exception&) {
    return {}; // a damaged index is treated as none
  }
  return index;
}

Result<> save_index(const fs::path& path, const std::vector<TreeEntry>& source_entries,
                    const std::vector<MirrorEntry>& mirrored) {
  if (path.empty()) return {};
  json files = json::object();
  std::size_t position = 0;
  for (const auto& entry : mirrored) {
    while (position < source_entries.size() && source_entries[position].path != entry.path)
      ++position;
    if (entry.type != EntryType::file || position == source_entries.size()) continue;
    const auto& source = source_entries[position];
    files[entry.path] = {{"size", source.size}, {"mtime_ns", source.mtime_ns}, {"mode", source.mode},
                         {"uid", source.uid},   {"gid", source.gid},           {"sha256", entry.sha256}};
  }
  const json document = {{"format", index_format}, {"files", std::move(files)}};
  return util::write_file_atomic(path, document.dump(1), 0600);
}

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

// Reads `path` to its end, hashing it and (when `output` is open) writing every block: one read per byte.
Result<std::uint64_t> stream_file(int input, const fs::path& path, util::Sha256& hash, int output,
                                  const fs::path& output_path, std::vector<char>& buffer) {
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t count = read(input, buffer.data(), buffer.size());
    if (count == 0) return total;
    if (count < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read source file", path, errno);
    }
    hash.update(buffer.data(), static_cast<std::size_t>(count));
    if (output >= 0) CWB_TRY(write_all(output, buffer.data(), static_cast<std::size_t>(count), output_path));
    total += static_cast<std::uint64_t>(count);
  }
}

Result<> apply_owner_and_times(const fs::path& path, const TreeEntry& entry) {
  return util::set_owner_and_times(path, entry.uid, entry.gid, entry.mtime_ns);
}

// Copies a changed file: temporary file beside the destination, then rename over it.
Result<std::string> copy_file(const fs::path& from, const fs::path& to, const TreeEntry& entry,
                              std::vector<char>& buffer, std::uint64_t& bytes_copied) {
  util::FileDescriptor input(open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!input) return io_error("cannot open source file", from, errno);
  const fs::path temporary = temporary_name(to);
  util::FileDescriptor output(open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!output) return io_error("cannot create", temporary, errno);
  auto remove_temporary = [&](Error error) {
    unlink(temporary.c_str());
    return fail(std::move(error));
  };
  util::Sha256 hash;
  auto copied = stream_file(input.get(), from, hash, output.get(), temporary, buffer);
  if (!copied) return remove_temporary(copied.error());
  // Owner before mode: chown clears setuid/setgid bits.
  if (fchown(output.get(), entry.uid, entry.gid) != 0)
    return remove_temporary(io_error("cannot chown", temporary, errno).error());
  if (fchmod(output.get(), entry.mode) != 0)
    return remove_temporary(io_error("cannot chmod", temporary, errno).error());
  const timespec times[2] = {util::timespec_of(entry.mtime_ns), util::timespec_of(entry.mtime_ns)};
  if (futimens(output.get(), times) != 0)
    return remove_temporary(io_error("cannot set times of", temporary, errno).error());
  if (close(output.release()) != 0) return remove_temporary(io_error("cannot write", temporary, errno).error());
  if (rename(temporary.c_str(), to.c_str()) != 0)
    return remove_temporary(io_error("cannot rename over", to, errno).error());
  bytes_copied += *copied;
  return hash.finish_hex();
}

// Hashes the mirror's own copy (the index did not know it). Errors name the mirror path.
Result<std::string> hash_file(const fs::path& path, std::vector<char>& buffer) {
  util::FileDescriptor input(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!input) return io_error("cannot open", path, errno);
  util::Sha256 hash;
  CWB_TRY(stream_file(input.get(), path, hash, -1, {}, buffer));
  return hash.finish_hex();
}

Result<> make_symlink(const fs::path& path, const TreeEntry& entry) {
  const fs::path temporary = temporary_name(path);
  if (symlink(entry.link_target.c_str(), temporary.c_str()) != 0)
    return io_error("cannot create link", temporary, errno);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary.c_str());
    return io_error("cannot rename over", path, saved);
  }
  return {};
}

bool is_inside(const fs::path& inner, const fs::path& outer) {
  auto [outer_end, inner_it] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return outer_end == outer.end();
}

// A source entry of a kind the mirror does not hold (sockets, fifos, devices) counts as absent.
bool mirrored_type(EntryType type) {
  return type != EntryType::other;
}

} // namespace

Result<MirrorReport> mirror_tree(const fs::path& source, const fs::path& target, const MirrorOptions& options) {
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
  auto target_entries = scan_tree(target_root);
  if (!target_entries) return fail(target_entries.error().with_context("mirroring"));

  std::map<std::string, const TreeEntry*> wanted;
  for (const auto& entry : *source_entries)
    if (mirrored_type(entry.type)) wanted[entry.path] = &entry;

  MirrorReport report;
  // Remove what the source no longer has, or has as another type (a file that became a folder).
  std::map<std::string, const TreeEntry*> existing;
  std::string removed_prefix; // a removed folder: its contents went with it
  for (const auto& entry : *target_entries) {
    if (!removed_prefix.empty() && entry.path.starts_with(removed_prefix)) {
      ++report.files_removed;
      continue;
    }
    const auto it = wanted.find(entry.path);
    if (it != wanted.end() && it->second->type == entry.type) {
      existing[entry.path] = &entry;
      continue;
    }
    CWB_TRY(util::remove_tree(target_root / entry.path));
    ++report.files_removed;
    removed_prefix = entry.type == EntryType::directory ? entry.path + "/" : std::string{};
  }

  const Index index = load_index(options.index_path);
  std::vector<char> buffer(copy_buffer_size);
  std::vector<const TreeEntry*> directories;
  for (const auto& entry : *source_entries) {
    const fs::path from = source_root / entry.path;
    const fs::path to = target_root / entry.path;
    MirrorEntry mirrored{entry.path, entry.type, entry.size, {}, MirrorAction::kept, {}, entry};
    const auto found = existing.find(entry.path);
    const TreeEntry* current = found == existing.end() ? nullptr : found->second;
    switch (entry.type) {
    case EntryType::directory:
      if (current == nullptr) {
        // Owner-only until its contents are in; mode, owner and mtime are set after them.
        if (mkdir(to.c_str(), 0700) != 0) return io_error("cannot create directory", to, errno);
        mirrored.action = MirrorAction::created;
      }
      directories.push_back(&entry);
      break;
    case EntryType::symlink:
      if (current == nullptr || current->link_target != entry.link_target) {
        CWB_TRY(make_symlink(to, entry));
        mirrored.action = MirrorAction::created;
      }
      if (current == nullptr || current->uid != entry.uid || current->gid != entry.gid ||
          current->mtime_ns != entry.mtime_ns || mirrored.action == MirrorAction::created)
        CWB_TRY(apply_owner_and_times(to, entry));
      break;
    case EntryType::file: {
      const bool same = current != nullptr && current->size == entry.size && current->mtime_ns == entry.mtime_ns &&
                        current->mode == entry.mode && current->uid == entry.uid && current->gid == entry.gid;
      if (same) {
        mirrored.action = MirrorAction::unchanged;
        ++report.files_unchanged;
        if (const auto record = index.find(entry.path); record != index.end() && record->second.matches(*current)) {
          mirrored.sha256 = record->second.sha256;
        } else {
          auto hash = hash_file(to, buffer);
          if (!hash) return fail(hash.error().with_context("mirroring"));
          mirrored.sha256 = std::move(*hash);
          ++report.files_rehashed;
        }
      } else {
        auto hash = copy_file(from, to, entry, buffer, report.bytes_copied);
        if (!hash) return fail(hash.error().with_context("mirroring"));
        mirrored.sha256 = std::move(*hash);
        mirrored.action = MirrorAction::copied;
        ++report.files_copied;
      }
      break;
    }
    case EntryType::other:
      mirrored.action = MirrorAction::skipped;
      mirrored.warning = "not mirrored: " + from.string() + " is a socket, fifo or device";
      break;
    }
    report.entries.push_back(std::move(mirrored));
  }

  // Folders last and deepest first: writing their contents changed their mtimes, and a read-only folder
  // could not have received its contents.
  for (auto it = directories.rbegin(); it != directories.rend(); ++it) {
    const fs::path to = target_root / (*it)->path;
    CWB_TRY(apply_owner_and_times(to, **it));
    if (chmod(to.c_str(), (*it)->mode) != 0) return io_error("cannot chmod", to, errno);
  }
  struct stat root_status {};
  if (lstat(source_root.c_str(), &root_status) != 0) return io_error("cannot stat", source_root, errno);
  TreeEntry root{{},
                 EntryType::directory,
                 0,
                 root_status.st_mode & 07777,
                 root_status.st_uid,
                 root_status.st_gid,
                 static_cast<std::int64_t>(root_status.st_mtim.tv_sec) * 1'000'000'000 + root_status.st_mtim.tv_nsec,
                 {}};
  CWB_TRY(apply_owner_and_times(target_root, root));
  if (chmod(target_root.c_str(), root.mode) != 0) return io_error("cannot chmod", target_root, errno);

  CWB_TRY(save_index(options.index_path, *source_entries, report.entries));
  return report;
}

} // namespace cwb::staging
