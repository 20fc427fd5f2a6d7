#include "restore/snapshot_check.hpp"

#include "staging/tree.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <regex>
#include <vector>

namespace cwb::restore {
namespace {

Error invalid(const std::string& message) {
  return Error{ErrorKind::snapshot_invalid, "the snapshot fails its check: " + message};
}

std::optional<staging::EntryType> tree_type(snapshot::EntryType type) {
  switch (type) {
  case snapshot::EntryType::file: return staging::EntryType::file;
  case snapshot::EntryType::directory: return staging::EntryType::directory;
  case snapshot::EntryType::symlink: return staging::EntryType::symlink;
  }
  return std::nullopt;
}

std::string octal(std::uint32_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", mode);
  return text;
}

Result<> check_database(const snapshot::Layout& layout, const snapshot::Manifest& manifest) {
  if (!manifest.database) return fail(invalid("it holds no database archive"));
  const auto& record = *manifest.database;
  if (!snapshot::is_safe_relative_path(record.file))
    return fail(invalid("the database archive's path \"" + record.file + "\" escapes the snapshot"));
  const auto path = layout.root / record.file;
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
    return fail(invalid("the database archive " + record.file + " is missing or not a regular file"));
  if (static_cast<std::uint64_t>(info.st_size) != record.bytes)
    return fail(invalid("the database archive " + record.file + " has " + std::to_string(info.st_size) +
                        " bytes, the manifest says " + std::to_string(record.bytes)));
  auto hash = util::sha256_file(path);
  if (!hash) return fail(hash.error());
  if (*hash != record.sha256)
    return fail(invalid("the database archive " + record.file + " does not match its SHA-256 in the manifest"));
  return {};
}

Result<> check_entry(const std::filesystem::path& root, const std::string& volume, const snapshot::VolumeEntry& want,
                     const staging::TreeEntry& have) {
  const auto where = "volume " + volume + ": " + want.path;
  if (tree_type(want.type) != have.type)
    return fail(invalid(where + " is a " + staging::to_string(have.type) + " where the manifest has another type"));
  if (static_cast<std::uint32_t>(have.mode) != want.mode)
    return fail(invalid(where + " has mode " + octal(have.mode) + ", the manifest says " + octal(want.mode)));
  switch (want.type) {
  case snapshot::EntryType::file: {
    if (have.size != want.size)
      return fail(invalid(where + " has " + std::to_string(have.size) + " bytes, the manifest says " +
                          std::to_string(want.size)));
    auto hash = util::sha256_file(root / want.path);
    if (!hash) return fail(hash.error());
    if (*hash != want.sha256) return fail(invalid(where + " does not match its SHA-256 in the manifest"));
    break;
  }
  case snapshot::EntryType::symlink:
    if (have.link_target != want.link_target)
      return fail(
          invalid(where + " links to \"" + have.link_target + "\", the manifest says \"" + want.link_target + "\""));
    break;
  case snapshot::EntryType::directory: break;
  }
  return {};
}

Result<> check_volume(const snapshot::Layout& layout, const snapshot::VolumeRecord& volume) {
  if (!snapshot::is_safe_relative_path(volume.name) || volume.name.find('/') != std::string::npos)
    return fail(invalid("the volume name \"" + volume.name + "\" is not a plain name"));
  if (!snapshot::is_safe_relative_path(volume.staged_path))
    return fail(invalid("volume " + volume.name + ": its folder \"" + volume.staged_path + "\" escapes the snapshot"));
  // Entries are checked on the manifest's side first: a link escaping the volume is refused even when the
  // snapshot agrees with the manifest.
  std::map<std::string, const snapshot::VolumeEntry*> wanted;
  for (const auto& entry : volume.entries) {
    if (!snapshot::is_safe_relative_path(entry.path))
      return fail(invalid("volume " + volume.name + ": the entry \"" + entry.path + "\" escapes the volume"));
    if (entry.type == snapshot::EntryType::symlink && !link_stays_inside(entry.path, entry.link_target))
      return fail(invalid("volume " + volume.name + ": the link " + entry.path + " -> " + entry.link_target +
                          " points outside the volume"));
    wanted.emplace(entry.path, &entry);
  }

  const auto root = layout.root / volume.staged_path;
  struct stat info {};
  if (lstat(root.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    if (volume.entries.empty()) return {}; // restic stores no empty folder it never saw; nothing to restore
    return fail(invalid("volume " + volume.name + ": its folder " + volume.staged_path + " is missing"));
  }
  auto entries = staging::scan_tree(root);
  if (!entries) return fail(entries.error());
  for (const auto& have : *entries) {
    const auto found = wanted.find(have.path);
    if (found == wanted.end())
      return fail(invalid("volume " + volume.name + ": " + have.path + " is in the snapshot but not in the manifest"));
    CWB_TRY(check_entry(root, volume.name, *found->second, have));
    wanted.erase(found);
  }
  if (!wanted.empty())
    return fail(invalid("volume " + volume.name + ": " + wanted.begin()->first +
                        " is in the manifest but missing from the snapshot"));
  return {};
}

} // namespace

Result<snapshot::Manifest> read_fetched_manifest(const snapshot::Layout& layout) {
  auto text = util::read_file(layout.manifest());
  if (!text)
    return fail(invalid(std::string(snapshot::manifest_file_name) +
                        " is missing: this is not a connectware-backup snapshot (" + text.error().message + ")"));
  auto manifest = snapshot::parse_manifest(*text);
  if (!manifest) return fail(invalid(manifest.error().message));
  return manifest;
}

bool link_stays_inside(const std::string& entry_path, const std::string& link_target) {
  if (link_target.empty() || link_target.front() == '/') return false;
  std::vector<std::string> parts;
  const auto split_into = [&parts](std::string_view text) -> bool {
    std::size_t start = 0;
    while (start <= text.size()) {
      auto end = text.find('/', start);
      if (end == std::string_view::npos) end = text.size();
      const auto part = text.substr(start, end - start);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.emplace_back(part);
      }
      start = end + 1;
    }
    return true;
  };
  const auto slash = entry_path.rfind('/');
  if (slash != std::string::npos && !split_into(std::string_view(entry_path).substr(0, slash))) return false;
  return split_into(link_target);
}

Result<> check_fetched_snapshot(const snapshot::Layout& layout, const snapshot::Manifest& manifest, Parts parts) {
  if (includes_database(parts)) CWB_TRY(check_database(layout, manifest));
  if (includes_volumes(parts)) {
    if (manifest.volumes.empty()) return fail(invalid("it holds no volume"));
    for (const auto& volume : manifest.volumes)
      CWB_TRY(check_volume(layout, volume));
  }
  return {};
}

std::optional<std::array<int, 3>> parse_version(const std::string& text) {
  static const std::regex pattern(R"(^v?(\d+)\.(\d+)\.(\d+))");
  std::smatch match;
  if (!std::regex_search(text, match, pattern)) return std::nullopt;
  try {
    return std::array<int, 3>{std::stoi(match[1]), std::stoi(match[2]), std::stoi(match[3])};
  } catch (const std::exception&) {
    return std::nullopt; // a number too long for int
  }
}

Result<> check_version(const std::string& backup_version, const std::string& running_version) {
  const auto backup = parse_version(backup_version);
  const auto running = parse_version(running_version);
  if (!backup || !running) return {};
  if (*backup > *running)
    return fail(ErrorKind::incompatible_version,
                "the backup was made by Connectware " + backup_version + ", newer than the running " + running_version +
                    ": upgrade Connectware to " + backup_version + " or later first, or pick an older snapshot");
  return {};
}

} // namespace cwb::restore
