#include "restore/volume_swap.hpp"

#include "util/byte_text.hpp"
#include "util/file_system.hpp"
#include "util/text.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> io_error(const std::string& what, const fs::path& path, int error_number) {
  return fail(ErrorKind::staging_io, what + " " + path.string() + ": " + std::strerror(error_number));
}

std::string move_problem(const fs::path& from, const fs::path& to, int error_number) {
  return "cannot move " + from.string() + " to " + to.string() + ": " + std::strerror(error_number);
}

/// Where a path lives: rename(2) works only within one mount (EXDEV otherwise, even on one file system
/// mounted twice, as bind mounts are), so the mount's id counts, not only st_dev.
struct Place {
  dev_t device = 0;
  std::uint64_t mount = 0;
  bool operator==(const Place&) const = default;
};

/// The place of `path` (symbolic links followed unless `follow` is no), or nullopt when it cannot be
/// told (an error, or a kernel before 5.8 that reports no mount id: then no rename is attempted).
enum class Follow { yes, no };
std::optional<Place> place_of(const fs::path& path, Follow follow) {
  struct statx info {};
  const int flags = follow == Follow::no ? AT_SYMLINK_NOFOLLOW : 0;
  if (statx(AT_FDCWD, path.c_str(), flags, STATX_BASIC_STATS | STATX_MNT_ID, &info) != 0) return std::nullopt;
  if ((info.stx_mask & STATX_MNT_ID) == 0) return std::nullopt;
  return Place{makedev(info.stx_dev_major, info.stx_dev_minor), info.stx_mnt_id};
}

/// The place of `path`, or of its nearest existing ancestor (a folder not made yet will be made there).
std::optional<Place> place_of_existing(fs::path path) {
  for (;;) {
    struct stat info {};
    if (stat(path.c_str(), &info) == 0) return place_of(path, Follow::yes);
    if (errno != ENOENT || path.empty() || path == path.root_path() || !path.has_parent_path()) return std::nullopt;
    path = path.parent_path();
  }
}

/// The top-level names of the folder `path`, sorted.
Result<std::vector<std::string>> list_names(const fs::path& path) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error))
    names.push_back(it->path().filename().string());
  if (error) return fail(ErrorKind::staging_io, "cannot list " + path.string() + ": " + error.message());
  std::ranges::sort(names);
  return names;
}

} // namespace

const char* to_string(VolumeMethod method) noexcept {
  return method == VolumeMethod::rename ? "rename" : "copy";
}

Result<VolumeMethod> choose_volume_method(const fs::path& live, const fs::path& fetched, const fs::path& rollback_dir,
                                          std::string* why) {
  const auto copy_because = [why](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return VolumeMethod::copy;
  };
  struct stat live_info {};
  if (stat(live.c_str(), &live_info) != 0) return io_error("cannot stat volume folder", live, errno);
  if (!S_ISDIR(live_info.st_mode))
    return fail(ErrorKind::staging_io, "the volume folder " + live.string() + " is not a folder");
  const auto live_place = place_of(live, Follow::yes);
  if (!live_place) return copy_because("the kernel does not tell the mount of " + live.string());
  if (place_of_existing(fetched) != live_place)
    return copy_because("restore-dir (" + fetched.string() + ") is on another file system or mount than the volume");
  if (place_of_existing(rollback_dir) != live_place)
    return copy_because("rollback-dir (" + rollback_dir.string() +
                        ") is on another file system or mount than the volume");
  auto names = list_names(live);
  if (!names) return fail(names.error());
  for (const auto& name : *names) {
    if (place_of(live / name, Follow::no) != live_place)
      return copy_because((live / name).string() + " is a mount point");
  }
  if (why != nullptr) *why = "the volume, restore-dir and rollback-dir are on one file system and mount";
  return VolumeMethod::rename;
}

int move_entry_no_replace(const fs::path& from, const fs::path& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // A file system without RENAME_NOREPLACE: the containers using the volume are stopped, so nothing
  // creates `to` between the check and the rename.
  struct stat info {};
  if (lstat(to.c_str(), &info) == 0) return EEXIST;
  if (rename(from.c_str(), to.c_str()) == 0) return 0;
  return errno;
}

VolumeSwap::VolumeSwap(fs::path live, fs::path fetched, fs::path safety, MoveEntry move)
    : live_(std::move(live)), fetched_(std::move(fetched)), safety_(std::move(safety)),
      journal_(safety_.parent_path() / (safety_.filename().string() + ".swap")), move_(std::move(move)) {}

void VolumeSwap::note(const std::string& phase) const {
  // For an operator after a crash: which phase ran last (docs/restore.md). Best effort: the swap itself
  // does not depend on it.
  const std::string text = phase + "\nvolume folder:     " + live_.string() +
                           "\nold entries go to: " + safety_.string() + "\nnew entries from:  " + fetched_.string() +
                           "\n";
  (void)util::write_file_atomic(journal_, text, 0600);
}

fs::path VolumeSwap::record() const {
  return safety_.parent_path() / (safety_.filename().string() + ".swap.json");
}

namespace {

/// A name in the record: as it is when UTF-8 (JSON holds nothing else), else {"base64": ...}.
nlohmann::json name_to_json(const std::string& name) {
  if (util::is_valid_utf8(name)) return name;
  return nlohmann::json{{"base64", util::base64_encode(name)}};
}

std::optional<std::string> name_from_json(const nlohmann::json& item) {
  if (item.is_string()) return item.get<std::string>();
  if (item.is_object() && item.contains("base64") && item["base64"].is_string())
    return util::base64_decode(item["base64"].get<std::string>());
  return std::nullopt;
}

} // namespace

Result<> VolumeSwap::write_record() const {
  auto names = nlohmann::json::array();
  for (const auto& name : original_)
    names.push_back(name_to_json(name));
  const nlohmann::json contents = {{"volume_folder", live_.string()}, {"old_entries", names},
                                   {"mode", live_root_->mode},        {"uid", live_root_->uid},
                                   {"gid", live_root_->gid},          {"mtime_ns", live_root_->mtime_ns}};
  return util::write_file_atomic(record(), contents.dump() + "\n", 0600);
}

Result<std::optional<VolumeSwap>> VolumeSwap::recover(fs::path live, fs::path fetched, fs::path safety,
                                                      MoveEntry move) {
  VolumeSwap swap(std::move(live), std::move(fetched), std::move(safety), std::move(move));
  std::error_code error;
  if (!fs::exists(swap.record(), error)) return std::optional<VolumeSwap>{};
  auto text = util::read_file(swap.record());
  if (!text) return fail(text.error());
  const auto unreadable = [&swap](const std::string& why) {
    return fail(ErrorKind::staging_io, "the swap record " + swap.record().string() + " " + why +
                                           "; the old entries are in " + swap.safety_.string());
  };
  const auto record = nlohmann::json::parse(*text, nullptr, false);
  if (!record.is_object() || !record.contains("old_entries") || !record["old_entries"].is_array())
    return unreadable("is not a swap record");
  try {
    swap.live_ = record.at("volume_folder").get<std::string>();
    swap.live_root_ = RootMetadata{record.at("mode").get<mode_t>(), record.at("uid").get<uid_t>(),
                                   record.at("gid").get<gid_t>(), record.at("mtime_ns").get<std::int64_t>()};
  } catch (const nlohmann::json::exception& problem) {
    return unreadable(std::string("is incomplete: ") + problem.what());
  }
  for (const auto& item : record["old_entries"]) {
    auto name = name_from_json(item);
    if (!name || name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..")
      return unreadable("holds a name that is not one: " + item.dump());
    swap.original_.push_back(*name);
    // A rename is atomic: an old entry is in the safety folder (moved out) or still in the live folder.
    struct stat info {};
    if (lstat((swap.safety_ / *name).c_str(), &info) == 0) swap.moved_out_.push_back(*name);
  }
  swap.started_ = true;
  return std::optional<VolumeSwap>{std::move(swap)};
}

namespace {

Result<> apply_root(const fs::path& path, mode_t mode, uid_t uid, gid_t gid, std::int64_t mtime_ns) {
  // As staging::mirror_tree does with a root: owner, times, then mode (chown clears setuid/setgid).
  CWB_TRY(util::set_owner_and_times(path, uid, gid, mtime_ns));
  if (chmod(path.c_str(), mode) != 0) return io_error("cannot chmod", path, errno);
  return {};
}

} // namespace

Result<std::size_t> VolumeSwap::swap() {
  std::error_code error;
  auto resolved = fs::canonical(live_, error);
  if (error)
    return fail(ErrorKind::staging_io, "cannot resolve volume folder " + live_.string() + ": " + error.message());
  live_ = std::move(resolved);
  const auto read_root = [](const fs::path& path) -> Result<RootMetadata> {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0) return io_error("cannot stat", path, errno);
    return RootMetadata{info.st_mode & 07777, info.st_uid, info.st_gid,
                        static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  };
  if (!fs::exists(fetched_, error)) CWB_TRY(util::create_private_directory(fetched_)); // an empty volume
  // Read before anything moves: moving entries changes a folder's mtime.
  auto live_root = read_root(live_);
  if (!live_root) return fail(live_root.error());
  auto fetched_root = read_root(fetched_);
  if (!fetched_root) return fail(fetched_root.error());
  auto names = list_names(live_);
  if (!names) return fail(names.error());
  CWB_TRY(util::create_private_directory(safety_));
  auto in_safety = list_names(safety_);
  if (!in_safety) return fail(in_safety.error());
  if (!in_safety->empty())
    return fail(ErrorKind::staging_io, "the safety folder " + safety_.string() + " is not empty");
  auto incoming = list_names(fetched_);
  if (!incoming) return fail(incoming.error());

  live_root_ = *live_root;
  original_ = std::move(*names);
  // Before the first move: a process killed from here on leaves what recover() needs.
  CWB_TRY(write_record());
  started_ = true;

  note("phase 1 of 2: moving the old entries from the volume folder to the safety folder");
  for (const auto& name : original_) {
    if (const int failed = move_(live_ / name, safety_ / name); failed != 0)
      return fail(ErrorKind::staging_io, move_problem(live_ / name, safety_ / name, failed));
    moved_out_.push_back(name);
  }
  CWB_TRY(apply_root(safety_, live_root_->mode, live_root_->uid, live_root_->gid, live_root_->mtime_ns));
  // Phase 2 only into an empty folder: the live folder never holds old and new entries at once.
  auto left = list_names(live_);
  if (!left) return fail(left.error());
  if (!left->empty())
    return fail(ErrorKind::staging_io, "entries appeared in " + live_.string() +
                                           " while its containers were stopped: " + util::join(*left, ", "));

  note("phase 2 of 2: moving the new entries from the fetched snapshot to the volume folder (the volume folder "
       "holds new entries only; every old entry is in the safety folder)");
  for (const auto& name : *incoming) {
    if (const int failed = move_(fetched_ / name, live_ / name); failed != 0)
      return fail(ErrorKind::staging_io, move_problem(fetched_ / name, live_ / name, failed));
    moved_in_.push_back(name);
  }
  CWB_TRY(apply_root(live_, fetched_root->mode, fetched_root->uid, fetched_root->gid, fetched_root->mtime_ns));
  note("done: the volume folder holds the snapshot's entries, the safety folder the old ones");
  return moved_in_.size();
}

Result<> VolumeSwap::undo() {
  if (!started_) return {};
  std::vector<std::string> problems;
  std::set<std::string> in_place(original_.begin(), original_.end()); // old entries never moved out
  for (const auto& name : moved_out_)
    in_place.erase(name);
  // What the swap moved in (and anything else that appeared) goes first: the old entries need their names.
  std::vector<std::string> to_remove;
  if (auto names = list_names(live_); !names) {
    problems.push_back(names.error().message);
  } else {
    for (const auto& name : *names)
      if (!in_place.contains(name)) to_remove.push_back(name);
  }
  note("undoing: removing from the volume folder: " + (to_remove.empty() ? "(nothing)" : util::join(to_remove, ", ")) +
       "; then moving back from the safety folder: " +
       (moved_out_.empty() ? "(nothing)" : util::join(moved_out_, ", ")));
  for (const auto& name : to_remove) {
    if (auto removed = util::remove_tree(live_ / name); !removed) problems.push_back(removed.error().message);
  }
  std::vector<std::string> still_out;
  for (const auto& name : moved_out_) {
    if (const int failed = move_(safety_ / name, live_ / name); failed != 0) {
      problems.push_back(move_problem(safety_ / name, live_ / name, failed));
      still_out.push_back(name);
    }
  }
  moved_out_ = std::move(still_out);
  moved_in_.clear();
  if (live_root_) {
    if (auto applied = apply_root(live_, live_root_->mode, live_root_->uid, live_root_->gid, live_root_->mtime_ns);
        !applied)
      problems.push_back(applied.error().message);
  }
  if (problems.empty()) {
    note("undone: the volume folder holds its old entries again");
    std::error_code ignored;
    fs::remove(record(), ignored);
    started_ = false;
    return {};
  }
  note("undo failed: " + util::join(problems, "; "));
  return fail(ErrorKind::staging_io,
              "putting back the old entries of " + live_.string() + ": " + util::join(problems, "; ") +
                  (moved_out_.empty()
                       ? std::string()
                       : " (old entries still in " + safety_.string() + ": " + util::join(moved_out_, ", ") + ")"));
}

} // namespace cwb::restore
