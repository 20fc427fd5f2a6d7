#include "restore/snapshot_check.hpp"

#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"

#include "staging/entry_write.hpp"
#include "staging/tree.hpp"
#include "util/beneath_root.hpp"
#include "util/byte_text.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <vector>

namespace cwb::restore {

namespace fs = std::filesystem;
namespace {

Error invalid(const std::string& message) {
  return Error{ErrorKind::snapshot_invalid, "the snapshot fails its check: " + message};
}

staging::EntryType tree_type(snapshot::EntryType type) {
  switch (type) {
  case snapshot::EntryType::file: return staging::EntryType::file;
  case snapshot::EntryType::directory: return staging::EntryType::directory;
  case snapshot::EntryType::symlink: return staging::EntryType::symlink;
  case snapshot::EntryType::fifo: return staging::EntryType::fifo;
  case snapshot::EntryType::char_device: return staging::EntryType::char_device;
  case snapshot::EntryType::block_device: return staging::EntryType::block_device;
  }
  return staging::EntryType::file;
}

std::string octal(std::uint32_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", mode);
  return text;
}

Result<> check_database(const snapshot::Layout& layout, const snapshot::Manifest& manifest, Contents contents) {
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
  if (contents == Contents::trust_manifest) return {};
  auto hash = util::sha256_file(path);
  if (!hash) return fail(hash.error());
  if (*hash != record.sha256)
    return fail(invalid("the database archive " + record.file + " does not match its SHA-256 in the manifest"));
  return {};
}

/// The first metadata field in which `have` differs from `want`, as words for a message, or "".
std::string metadata_difference(const staging::TreeEntry& want, const staging::TreeEntry& have) {
  if (have.uid != want.uid || have.gid != want.gid)
    return "has owner " + std::to_string(have.uid) + ":" + std::to_string(have.gid) + ", the manifest says " +
           std::to_string(want.uid) + ":" + std::to_string(want.gid);
  if (have.type != staging::EntryType::symlink && have.mode != want.mode)
    return "has mode " + octal(have.mode) + ", the manifest says " + octal(want.mode);
  if (have.mtime_ns != want.mtime_ns)
    return "has mtime " + std::to_string(have.mtime_ns) + " ns, the manifest says " + std::to_string(want.mtime_ns);
  if (have.type != staging::EntryType::symlink && have.xattrs != want.xattrs) {
    std::string names;
    for (const auto& attribute : want.xattrs)
      names += (names.empty() ? "" : ", ") + util::printable(attribute.name);
    return "has other extended attributes than the manifest's (" + (names.empty() ? "none" : names) + ")";
  }
  return {};
}

/// How a volume folder is checked: the fetched copy (contents read, metadata repaired or required) or a
/// second pass after a repair (metadata only: the contents were read in the first).
struct VolumeCheck {
  Metadata metadata = Metadata::repair;
  bool read_contents = true;
  std::string after; // appended to "volume X: ..." messages, e.g. " after replacing it"
};

Result<> check_volume_folder(const std::filesystem::path& root, const snapshot::VolumeRecord& volume,
                             const VolumeCheck& how) {
  // The manifest's entries by path: a sorted vector of pointers (8 bytes an entry, where a map costs ~100),
  // the first of any duplicate path kept; `found[i]` marks wanted[i] seen in the folder.
  std::vector<const snapshot::VolumeEntry*> wanted;
  wanted.reserve(volume.entries.size());
  for (const auto& entry : volume.entries) {
    if (!snapshot::is_safe_relative_path(entry.path))
      return fail(
          invalid("volume " + volume.name + ": the entry \"" + util::printable(entry.path) + "\" escapes the volume"));
    wanted.push_back(&entry);
  }
  const auto path_of = [](const snapshot::VolumeEntry* entry) -> const std::string& { return entry->path; };
  std::ranges::stable_sort(wanted, {}, path_of);
  const auto duplicates = std::ranges::unique(wanted, {}, path_of);
  wanted.erase(duplicates.begin(), duplicates.end());
  std::vector<bool> found_in_folder(wanted.size(), false);

  const auto where = [&](const std::string& path) {
    return "volume " + volume.name + how.after + ": " + util::printable(path);
  };
  std::map<std::string, staging::FileIdentity> file_identity;               // files with more names, for hard links
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> owner;     // inode -> first path (more names only)
  std::vector<std::pair<staging::TreeEntry, staging::TreeEntry>> to_repair; // wanted, had
  std::vector<std::pair<std::string, std::string>> to_link;                 // leader, member
  std::vector<const snapshot::VolumeEntry*> to_retarget;                    // links whose target restic did not keep

  // A regular file: its hard-link group as the manifest has it, then its contents. Files of a group are
  // checked in path byte order (the group's first name is the leader the others name).
  const auto check_file = [&](const snapshot::VolumeEntry& want, const staging::TreeEntry& have) -> Result<> {
    const std::pair inode{have.identity.device, have.identity.inode};
    bool linked_to_leader = false;
    if (!want.hard_link_to.empty()) {
      const auto leader = file_identity.find(want.hard_link_to);
      linked_to_leader =
          leader != file_identity.end() && leader->second.device == inode.first && leader->second.inode == inode.second;
      if (!linked_to_leader) {
        if (how.metadata == Metadata::require)
          return fail(invalid(where(want.path) + " is not a hard link of " + util::printable(want.hard_link_to) +
                              ", as the manifest says"));
        to_link.emplace_back(want.hard_link_to, want.path);
      }
    } else if (have.identity.links < 2) {
      // A file with one name: no other entry can share its data.
    } else if (const auto [first, inserted] = owner.try_emplace(inode, want.path); !inserted) {
      return fail(invalid(where(want.path) + " is a hard link of " + util::printable(first->second) +
                          " where the manifest has separate files"));
    }
    // A name linked to its group's first name has that name's data, read already.
    if (how.read_contents && !linked_to_leader) {
      auto hash = util::sha256_file(root / want.path);
      if (!hash) return fail(hash.error());
      if (*hash != want.sha256) return fail(invalid(where(want.path) + " does not match its SHA-256 in the manifest"));
    }
    // Only a file with more names can be the leader a later hard link names (one that was not restored
    // as a link has one name, and the link is made by the repair below): 100,000 single files cost nothing.
    if (have.identity.links > 1) file_identity[want.path] = have.identity;
    return {};
  };
  const auto check_metadata = [&](const snapshot::VolumeEntry& want, const staging::TreeEntry& have) -> Result<> {
    auto want_tree = tree_entry_of(want);
    if (const auto difference = metadata_difference(want_tree, have); !difference.empty()) {
      if (how.metadata == Metadata::require) return fail(invalid(where(want.path) + " " + difference));
      to_repair.emplace_back(std::move(want_tree), have);
    }
    return {};
  };

  // The folder is walked, not held (a volume of 100,000 files); only the files of hard-link groups wait,
  // to be checked in byte order after the walk, whose order is depth first ("a/x" before "a.b").
  std::vector<std::pair<staging::TreeEntry, const snapshot::VolumeEntry*>> grouped_files;
  const auto check_entry = [&](staging::TreeEntry&& have) -> Result<> {
    const auto found = std::ranges::lower_bound(wanted, have.path, {}, path_of);
    if (found == wanted.end() || (*found)->path != have.path)
      return fail(invalid(where(have.path) + " is in the snapshot but not in the manifest"));
    found_in_folder[static_cast<std::size_t>(found - wanted.begin())] = true;
    const auto& want = **found;
    if (tree_type(want.type) != have.type)
      return fail(invalid(where(want.path) + " is a " + staging::to_string(have.type) + " where the manifest has a " +
                          staging::to_string(tree_type(want.type))));
    switch (want.type) {
    case snapshot::EntryType::file:
      if (have.size != want.size)
        return fail(invalid(where(want.path) + " has " + std::to_string(have.size) + " bytes, the manifest says " +
                            std::to_string(want.size)));
      if (!want.hard_link_to.empty() || have.identity.links > 1) {
        grouped_files.emplace_back(std::move(have), &want);
        return {};
      }
      CWB_TRY(check_file(want, have));
      break;
    case snapshot::EntryType::symlink:
      if (have.link_target != want.link_target) {
        // restic before 0.16 stores a target that is not UTF-8 with U+FFFD for each such byte; the manifest
        // holds its bytes, and a fetched copy gets them back. Any other difference is damage.
        const bool lossy_restic =
            how.metadata == Metadata::repair && have.link_target == util::with_invalid_utf8_replaced(want.link_target);
        if (!lossy_restic)
          return fail(invalid(where(want.path) + " links to \"" + util::printable(have.link_target) +
                              "\", the manifest says \"" + util::printable(want.link_target) + "\""));
        to_retarget.push_back(&want);
      }
      break;
    case snapshot::EntryType::char_device:
    case snapshot::EntryType::block_device:
      if (have.device_number != want.device_number)
        return fail(invalid(where(want.path) + " is device " + std::to_string(have.device_number) +
                            ", the manifest says " + std::to_string(want.device_number)));
      break;
    case snapshot::EntryType::directory:
    case snapshot::EntryType::fifo: break;
    }
    return check_metadata(want, have);
  };
  CWB_TRY(staging::walk_tree(root, {}, check_entry));
  std::ranges::sort(grouped_files, {}, [](const auto& file) -> const std::string& { return file.first.path; });
  for (const auto& [have, want] : grouped_files) {
    CWB_TRY(check_file(*want, have));
    CWB_TRY(check_metadata(*want, have));
  }
  if (const auto missing = std::ranges::find(found_in_folder, false); missing != found_in_folder.end())
    return fail(invalid(where(wanted[static_cast<std::size_t>(missing - found_in_folder.begin())]->path) +
                        " is in the manifest but missing from the snapshot"));
  if (to_repair.empty() && to_link.empty() && to_retarget.empty()) return {};

  // Repair: names first (a new hard link takes its leader's metadata, a new symbolic link gets the
  // manifest's), then metadata deepest first, so that a folder's mtime is set after its contents changed.
  // Then check again, metadata required.
  // Every repair reaches its entry from the root's descriptor, never through a link.
  auto tree = util::BeneathRoot::open(root);
  if (!tree) return fail(tree.error());
  const auto at = [&](const std::string& path) -> Result<util::EntryAt> {
    auto found_at = tree->locate(path);
    if (!found_at) return fail(found_at.error().with_context("volume " + volume.name));
    return found_at;
  };
  for (const auto& [leader, member] : to_link) {
    auto leader_at = at(leader);
    if (!leader_at) return fail(leader_at.error());
    auto member_at = at(member);
    if (!member_at) return fail(member_at.error());
    CWB_TRY(staging::replace_with_hard_link(*leader_at, *member_at));
  }
  for (const auto* link : to_retarget) {
    auto link_at = at(link->path);
    if (!link_at) return fail(link_at.error());
    CWB_TRY(staging::replace_with_symlink(link->link_target, *link_at));
    CWB_TRY(staging::apply_entry_metadata(*link_at, tree_entry_of(*link), nullptr));
  }
  const bool names_changed = !to_link.empty() || !to_retarget.empty();
  for (auto it = to_repair.rbegin(); it != to_repair.rend(); ++it) {
    auto entry_at = at(it->first.path);
    if (!entry_at) return fail(entry_at.error());
    CWB_TRY(staging::apply_entry_metadata(*entry_at, it->first, names_changed ? nullptr : &it->second));
  }
  if (names_changed) {
    // New names changed their folders' mtimes: every folder gets the manifest's again.
    for (auto it = volume.entries.rbegin(); it != volume.entries.rend(); ++it) {
      if (it->type != snapshot::EntryType::directory) continue;
      auto folder_at = at(it->path);
      if (!folder_at) return fail(folder_at.error());
      CWB_TRY(staging::apply_entry_metadata(*folder_at, tree_entry_of(*it), nullptr));
    }
  }
  spdlog::info("volume {}: set the manifest's metadata on {} entries, relinked {} hard link(s) and gave {} symbolic "
               "link(s) their target's bytes, which restic did not give back",
               volume.name, to_repair.size(), to_link.size(), to_retarget.size());
  return check_volume_folder(root, volume, VolumeCheck{Metadata::require, false, how.after});
}

Result<> check_volume(const snapshot::Layout& layout, const snapshot::VolumeRecord& volume, Metadata metadata,
                      Contents contents) {
  if (!snapshot::is_safe_relative_path(volume.name) || volume.name.find('/') != std::string::npos)
    return fail(invalid("the volume name \"" + volume.name + "\" is not a plain name"));
  if (!snapshot::is_safe_relative_path(volume.staged_path))
    return fail(invalid("volume " + volume.name + ": its folder \"" + volume.staged_path + "\" escapes the snapshot"));
  const auto root = layout.root / volume.staged_path;
  struct stat info {};
  if (lstat(root.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    if (volume.entries.empty()) return {}; // restic stores no empty folder it never saw; nothing to restore
    return fail(invalid("volume " + volume.name + ": its folder " + volume.staged_path + " is missing"));
  }
  return check_volume_folder(root, volume, VolumeCheck{metadata, contents == Contents::read, ""});
}

} // namespace

Result<snapshot::Manifest> read_fetched_manifest(const snapshot::Layout& layout) {
  auto manifest = snapshot::read_manifest_file(layout.manifest());
  if (!manifest && manifest.error().kind == ErrorKind::staging_io)
    return fail(invalid(std::string(snapshot::manifest_file_name) +
                        " is missing: this is not a connectware-backup snapshot (" + manifest.error().message + ")"));
  if (!manifest) return fail(invalid(manifest.error().message));
  return manifest;
}

staging::TreeEntry tree_entry_of(const snapshot::VolumeEntry& entry) {
  staging::TreeEntry tree;
  tree.path = entry.path;
  tree.type = tree_type(entry.type);
  tree.size = entry.type == snapshot::EntryType::file      ? entry.size
              : entry.type == snapshot::EntryType::symlink ? entry.link_target.size()
                                                           : 0;
  tree.mode = static_cast<mode_t>(entry.mode);
  tree.uid = static_cast<uid_t>(entry.uid);
  tree.gid = static_cast<gid_t>(entry.gid);
  tree.mtime_ns = entry.mtime_ns;
  tree.link_target = entry.link_target;
  tree.device_number = entry.device_number;
  if (entry.type != snapshot::EntryType::symlink)
    for (const auto& attribute : entry.xattrs)
      tree.xattrs.push_back({attribute.name, attribute.value});
  return tree;
}

Result<> check_live_volume(const std::filesystem::path& folder, const snapshot::VolumeRecord& volume) {
  return check_volume_folder(folder, volume, VolumeCheck{Metadata::require, true, " after replacing it"});
}

Result<> check_fetched_snapshot(const snapshot::Layout& layout, const snapshot::Manifest& manifest, Parts parts,
                                Metadata metadata, Contents contents) {
  if (includes_database(parts)) CWB_TRY(check_database(layout, manifest, contents));
  if (includes_volumes(parts)) {
    if (manifest.volumes.empty()) return fail(invalid("it holds no volume"));
    for (const auto& volume : manifest.volumes)
      CWB_TRY(check_volume(layout, volume, metadata, contents));
  }
  return {};
}

Result<> check_staging_restorable(const snapshot::Layout& layout) {
  auto manifest = read_fetched_manifest(layout);
  auto checked =
      manifest ? check_fetched_snapshot(layout, *manifest, Parts::all, Metadata::require, Contents::trust_manifest)
               : Result<>(fail(manifest.error()));
  if (!checked) return fail(ErrorKind::staging_io, "the staged backup would not restore: " + checked.error().message);
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

Result<std::filesystem::path> database_for_upload(const snapshot::Layout& layout,
                                                  const snapshot::DatabaseRecord& record, const fs::path& work_dir) {
  const fs::path stored = layout.root / record.file;
  if (record.format != snapshot::database_format_tar) return stored;
  const fs::path rebuilt = work_dir / snapshot::database_archive_name;
  if (!record.gzip_header.empty()) {
    // The recipe the backup proved: the very bytes Connectware exported, checked by their SHA-256. A
    // different zlib on this machine may deflate otherwise; the archive is then rebuilt as below.
    CWB_TRY(archive::gzip_with_recipe(
        stored, rebuilt, archive::GzipRecipe{record.gzip_header, record.gzip_level, record.gzip_mem_level}));
    auto digest = util::sha256_file(rebuilt);
    if (!digest) return fail(digest.error());
    if (*digest == record.archive_sha256) {
      spdlog::info("database archive rebuilt from the unpacked {}: byte for byte the archive Connectware exported",
                   record.file);
      return rebuilt;
    }
    spdlog::warn("the database archive rebuilt from {} by its recipe differs from the export (another zlib?): "
                 "uploading one with the same entries instead",
                 record.file);
  }
  // Fast compression: the archive only travels to Connectware and is read once there.
  CWB_TRY(archive::gzip_file(stored, rebuilt, 1));
  auto info = archive::validate_tar_gz(rebuilt);
  if (!info)
    return fail(ErrorKind::snapshot_invalid,
                "the database archive rebuilt from " + record.file + " does not read back: " + info.error().message);
  if (info->entries_sha256 != record.entries_sha256)
    return fail(ErrorKind::snapshot_invalid, "the database archive rebuilt from " + record.file +
                                                 " does not hold the entries of the archive Connectware exported");
  spdlog::info("database archive rebuilt from the unpacked {} ({} entries, identical to the export)", record.file,
               info->entry_count);
  return rebuilt;
}

} // namespace cwb::restore
