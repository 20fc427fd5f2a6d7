#include "restore/restore.hpp"

#include "archive/archive.hpp"
#include "backup/run_state.hpp"
#include "connectware/database_operations.hpp"
#include "restore/installation.hpp"
#include "snapshot/layout.hpp"
#include "staging/mirror.hpp"
#include "staging/tree.hpp"
#include "util/cancellation.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <system_error>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;

/// The safety copy inside rollback-dir.
struct SafetyCopy {
  fs::path root;
  [[nodiscard]] fs::path database() const { return root / "db" / snapshot::database_archive_name; }
  [[nodiscard]] fs::path volume(const std::string& name) const { return root / "volumes" / name; }
};

/// What has been changed so far, for the rollback.
struct LiveChanges {
  bool database = false;            // a restore was uploaded (it may have changed the database)
  std::vector<std::string> stopped; // containers stopped and not yet started again
  bool volumes = false;             // the volumes' files were (maybe partly) replaced
};

std::string mebibytes(std::uintmax_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
}

Result<restic::Snapshot> pick_snapshot(RestoreContext& context, const std::string& requested) {
  if (!requested.empty()) {
    auto found = context.restic.find_snapshot(requested);
    if (!found) return fail(found.error().with_context("finding snapshot " + requested));
    return found;
  }
  auto ours = list_snapshots(context);
  if (!ours) return fail(ours.error());
  if (ours->empty())
    return fail(ErrorKind::not_found, "no snapshot with the tags of this configuration for host " +
                                          context.config.host() + " (--list shows them; pick one with --snapshot)");
  return ours->back();
}

/// Step 1: fetch only what is needed into a fresh owner-only folder. Returns the layout of the fetched
/// staging folder (restic recreates the absolute path the snapshot was made from below the target).
Result<snapshot::Layout> fetch(RestoreContext& context, const restic::Snapshot& snapshot, Parts parts) {
  if (snapshot.paths.size() != 1 || !fs::path(snapshot.paths.front()).is_absolute())
    return fail(ErrorKind::snapshot_invalid,
                "snapshot " + snapshot.short_id + " was not made by connectware-backup (it holds " +
                    std::to_string(snapshot.paths.size()) + " paths; one staging folder expected)");
  const fs::path staged_root = snapshot.paths.front();
  const auto& target = context.config.restore_dir();
  CWB_TRY(util::remove_tree(target));
  CWB_TRY(util::create_private_directory(target));
  const snapshot::Layout source{staged_root};
  std::vector<std::string> includes;
  if (parts != Parts::all) {
    includes.push_back(source.manifest().string());
    includes.push_back(parts == Parts::database_only ? source.database_dir().string() : source.volumes_dir().string());
  }
  spdlog::info("fetching snapshot {} ({}) into {}", snapshot.short_id, snapshot.time, target.string());
  if (auto restored = context.restic.restore(snapshot.id, target, includes, restic::Verify::yes); !restored)
    return fail(restored.error().with_context("fetching snapshot " + snapshot.short_id));
  return snapshot::Layout{target / staged_root.relative_path()};
}

/// Bytes of the regular files below `root`.
Result<std::uintmax_t> tree_bytes(const fs::path& root) {
  auto entries = staging::scan_tree(root);
  if (!entries) return fail(entries.error());
  std::uintmax_t bytes = 0;
  for (const auto& entry : *entries)
    if (entry.type == staging::EntryType::file) bytes += entry.size;
  return bytes;
}

/// The nearest existing folder at or above `path` (rollback-dir may not exist yet).
fs::path existing_ancestor(fs::path path) {
  std::error_code error;
  while (!path.empty() && !fs::exists(path, error) && path != path.root_path())
    path = path.parent_path();
  return path.empty() ? fs::path(".") : path;
}

Result<> check_room_for_safety_copy(const RestoreContext& context, const snapshot::Manifest& manifest, Parts parts,
                                    const std::vector<VolumeTarget>& targets) {
  std::uintmax_t needed = 0;
  if (includes_volumes(parts)) {
    for (const auto& target : targets) {
      auto bytes = tree_bytes(target.path);
      if (!bytes) return fail(bytes.error().with_context("measuring volume " + target.docker_volume));
      needed += *bytes;
    }
  }
  // The live database's export is unknown until made; the snapshot's archive (twice, for growth) is the
  // best guess there is.
  if (includes_database(parts) && manifest.database) needed += 2 * manifest.database->bytes;
  const auto where = existing_ancestor(context.config.rollback_dir());
  auto available = util::available_space(where);
  if (!available) return fail(available.error());
  if (*available < needed)
    return fail(ErrorKind::staging_io, "not enough room for the safety copy in " +
                                           context.config.rollback_dir().string() + ": about " + mebibytes(needed) +
                                           " needed, " + mebibytes(*available) + " free");
  return {};
}

std::string make_plan(const RestoreContext& context, const restic::Snapshot& snapshot,
                      const snapshot::Manifest& manifest, Parts parts, const std::vector<VolumeTarget>& targets,
                      const std::vector<std::string>& users) {
  std::string plan = fmt::format("restore snapshot {} of {} (made {} by Connectware {}):\n", snapshot.short_id,
                                 manifest.host, manifest.finished, manifest.connectware_version);
  plan += "  3. safety copy into " + context.config.rollback_dir().string() + ":";
  if (includes_database(parts)) plan += " an export of the current database,";
  if (includes_volumes(parts)) plan += " a copy of the current volume(s)";
  plan += "\n";
  if (includes_database(parts))
    plan += fmt::format("  4. upload the database archive ({}, backup {}) to {} and wait until it is restored\n",
                        mebibytes(manifest.database->bytes), manifest.database->backup_id,
                        context.config.connectware_url());
  else
    plan += "  4. database: left as it is (--volume-only)\n";
  if (includes_volumes(parts)) {
    std::string users_text;
    for (const auto& id : users)
      users_text += (users_text.empty() ? "" : ", ") + id.substr(0, 12);
    for (const auto& target : targets) {
      std::size_t entries = 0;
      for (const auto& volume : manifest.volumes)
        if (volume.name == target.name) entries = volume.entries.size();
      plan += fmt::format("  5. volume {}: replace the contents of {} with the snapshot's {} entries\n",
                          target.docker_volume, target.path.string(), entries);
    }
    plan += "     stopping first the containers that use it: " + (users_text.empty() ? "none" : users_text) + "\n";
  } else {
    plan += "  5. volumes: left as they are (--db-only)\n";
  }
  plan += "  6. restart Connectware: " + describe_restart(context) + "; wait up to " +
          std::to_string(context.config.health_timeout().count()) + " s until every container runs\n";
  return plan;
}

Result<> check_cancellation(const char* step) {
  if (util::cancellation_requested())
    return fail(ErrorKind::interrupted,
                "interrupted by signal " + std::to_string(util::cancellation_signal()) + " " + step);
  return {};
}

connectware::RestoreOptions restore_options(const RestoreContext& context) {
  connectware::RestoreOptions options;
  options.poll_initial = context.config.poll_interval();
  options.poll_max = context.config.poll_max_interval();
  options.timeout = context.config.export_timeout();
  options.progress = context.progress;
  return options;
}

/// Step 3.
Result<> make_safety_copy(RestoreContext& context, const SafetyCopy& safety, Parts parts,
                          const std::vector<VolumeTarget>& targets) {
  CWB_TRY(util::remove_tree(safety.root));
  CWB_TRY(util::create_private_directory(safety.root));
  if (includes_database(parts)) {
    CWB_TRY(util::create_private_directory(safety.database().parent_path()));
    connectware::ExportOptions options;
    options.poll_initial = context.config.poll_interval();
    options.poll_max = context.config.poll_max_interval();
    options.timeout = context.config.export_timeout();
    options.progress = context.progress;
    auto exported = connectware::export_database(context.connectware, safety.database(), options);
    if (!exported) return fail(exported.error().with_context("safety copy: exporting the current database"));
    if (auto valid = archive::validate_tar_gz(safety.database()); !valid)
      return fail(valid.error().with_context("safety copy: checking the current database's export"));
  }
  if (includes_volumes(parts)) {
    CWB_TRY(util::create_private_directory(safety.root / "volumes"));
    for (const auto& target : targets) {
      if (auto copied = staging::mirror_tree(target.path, safety.volume(target.name)); !copied)
        return fail(copied.error().with_context("safety copy: copying volume " + target.docker_volume));
    }
  }
  return {};
}

/// Step 5 for every volume: stop its users, then make it equal to the fetched copy.
Result<> replace_volumes(RestoreContext& context, const snapshot::Layout& layout, const snapshot::Manifest& manifest,
                         const std::vector<VolumeTarget>& targets, LiveChanges& changes) {
  auto users = containers_using(context, targets);
  if (!users) return fail(users.error());
  for (const auto& id : *users) {
    // Recorded before the call: a stop that fails half-way still needs a start in the rollback.
    changes.stopped.push_back(id);
    if (auto stopped = context.containers->stop(id, std::chrono::seconds(30)); !stopped)
      return fail(stopped.error().with_context("stopping container " + id + " that uses the volume"));
  }
  for (const auto& target : targets) {
    const auto record = std::ranges::find(manifest.volumes, target.name, &snapshot::VolumeRecord::name);
    const auto source = layout.root / record->staged_path;
    changes.volumes = true;
    std::error_code error;
    if (!fs::exists(source, error)) CWB_TRY(util::create_private_directory(source)); // an empty volume
    auto mirrored = staging::mirror_tree(source, target.path);
    if (!mirrored)
      return fail(mirrored.error().with_context("replacing the contents of volume " + target.docker_volume));
    spdlog::info("volume {}: {} entries restored into {}", target.docker_volume, mirrored->entries.size(),
                 target.path.string());
  }
  return {};
}

/// Step 7. Returns the error the run ends with: restore_rolled_back, or rollback_failed with the state.
Error roll_back(RestoreContext& context, const SafetyCopy& safety, const std::vector<VolumeTarget>& targets,
                LiveChanges& changes, const Error& cause) {
  spdlog::error("{}; rolling back to the safety copy in {}", cause.message, safety.root.string());
  // A SIGINT/SIGTERM may be why we are here: the rollback must still run to the end.
  const util::CancellationShield shield;
  std::vector<std::string> problems;
  std::string volume_state = "unchanged";
  std::string database_state = changes.database ? "possibly changed by the failed restore" : "unchanged";

  if (changes.volumes) {
    volume_state = "possibly partly replaced";
    // Whatever runs on the volume must not see it change under it.
    auto users = containers_using(context, targets);
    bool stopped_all = static_cast<bool>(users);
    if (users) {
      for (const auto& id : *users) {
        if (std::ranges::find(changes.stopped, id) == changes.stopped.end()) changes.stopped.push_back(id);
        if (auto stopped = context.containers->stop(id, std::chrono::seconds(30)); !stopped) {
          problems.push_back(stopped.error().message);
          stopped_all = false;
        }
      }
    } else {
      problems.push_back(users.error().message);
    }
    if (stopped_all) {
      bool all_back = true;
      for (const auto& target : targets) {
        if (auto back = staging::mirror_tree(safety.volume(target.name), target.path); !back) {
          problems.push_back(back.error().message);
          all_back = false;
        }
      }
      if (all_back) volume_state = "put back";
    }
  }

  if (problems.empty()) {
    auto restarted = restart_connectware(context, changes.stopped);
    if (restarted) {
      changes.stopped.clear();
    } else {
      problems.push_back(restarted.error().message);
    }
  }

  if (problems.empty() && changes.database) {
    auto restored = connectware::restore_database(context.connectware, safety.database(), restore_options(context));
    if (!restored) {
      problems.push_back("putting back the safety export of the database: " + restored.error().message);
    } else {
      database_state = "put back";
      if (auto restarted = restart_connectware(context, {}); !restarted) problems.push_back(restarted.error().message);
    }
  }

  if (problems.empty()) {
    return Error{ErrorKind::restore_rolled_back,
                 cause.message + "; the previous state was put back and Connectware is healthy (safety copy kept in " +
                     safety.root.string() + ")"};
  }
  std::string joined;
  for (const auto& problem : problems)
    joined += (joined.empty() ? "" : "; ") + problem;
  std::string stopped;
  for (const auto& id : changes.stopped)
    stopped += (stopped.empty() ? "" : ", ") + id.substr(0, 12);
  return Error{ErrorKind::rollback_failed,
               cause.message + "; rolling back failed too: " + joined + ". State: database " + database_state +
                   ", volumes " + volume_state +
                   (stopped.empty() ? std::string() : ", containers still stopped: " + stopped) +
                   ". Safety copies: database export " +
                   (changes.database ? safety.database().string() : std::string("(not needed)")) + ", volumes " +
                   (safety.root / "volumes").string()};
}

} // namespace

Result<std::vector<restic::Snapshot>> list_snapshots(RestoreContext& context) {
  auto found = context.restic.snapshots(context.config.tags(), context.config.host());
  if (!found) return fail(found.error().with_context("listing snapshots"));
  return found;
}

std::string downgrade_guidance(const std::string& refusal) {
  const auto version = connectware::version_named_in(refusal);
  const std::string older = version ? *version : "the version the message names";
  return "Connectware refused the database archive because of its version:\n  " + refusal +
         "\nNothing was changed. To restore this backup, downgrade Connectware to " + older +
         " (Connectware's documented path):\n"
         "  1. back up all data first (connectware-backup);\n"
         "  2. shut Connectware down (docker compose down, or systemctl stop connectware);\n"
         "  3. remove the volumes postgresql and service-manager (<project>_postgresql, "
         "<project>_service-manager);\n"
         "  4. install Connectware " +
         older +
         " following the regular installation steps;\n"
         "  5. run connectware-restore with this snapshot again;\n"
         "  6. upgrade Connectware again, then make a new backup, which is then from the newer version.\n";
}

Result<RestoreOutcome> run_restore(RestoreContext& context, const RestoreRequest& request) {
  const auto& config = context.config;
  const backup::StatePaths paths{config.state_dir()};
  CWB_TRY(util::create_private_directory(paths.state_dir));
  // The backup's lock: a backup staging while the volumes are replaced would save a mix.
  auto lock = util::FileLock::try_acquire(paths.lock());
  if (!lock) return fail(lock.error().with_context("a backup or restore is running"));

  // 1. Fetch
  auto snapshot = pick_snapshot(context, request.snapshot);
  if (!snapshot) return fail(snapshot.error());
  auto layout = fetch(context, *snapshot, request.parts);
  if (!layout) return fail(layout.error());
  struct RemoveFetched {
    fs::path path;
    ~RemoveFetched() { (void)util::remove_tree(path); }
  } remove_fetched{config.restore_dir()};

  // 2. Check, before anything live changes
  auto manifest = read_fetched_manifest(*layout);
  if (!manifest) return fail(manifest.error());
  CWB_TRY(check_fetched_snapshot(*layout, *manifest, request.parts));
  spdlog::info("snapshot {} matches its manifest", snapshot->short_id);
  auto info = context.connectware.system_info();
  if (!info) return fail(info.error().with_context("asking Connectware for its version"));
  CWB_TRY(check_version(manifest->connectware_version, info->version));
  CWB_TRY(check_restart_possible(context));
  std::vector<VolumeTarget> targets;
  std::vector<std::string> users;
  if (includes_volumes(request.parts)) {
    auto located = locate_volumes(context, *manifest);
    if (!located) return fail(located.error());
    targets = std::move(*located);
    auto using_them = containers_using(context, targets);
    if (!using_them) return fail(using_them.error());
    users = std::move(*using_them);
  }
  CWB_TRY(check_room_for_safety_copy(context, *manifest, request.parts, targets));

  RestoreOutcome outcome;
  outcome.snapshot_id = snapshot->id;
  outcome.plan = make_plan(context, *snapshot, *manifest, request.parts, targets, users);
  if (request.mode == Mode::dry_run) {
    context.out << "dry run: snapshot " << snapshot->short_id << " passed its checks (Connectware " << info->version
                << " running, backup from " << manifest->connectware_version << "); a restore would:\n"
                << outcome.plan << std::flush;
    return outcome;
  }
  if (request.confirm) CWB_TRY(request.confirm(outcome.plan));
  CWB_TRY(check_cancellation("before the restore started"));

  // 3. Safety copy
  const SafetyCopy safety{config.rollback_dir()};
  if (auto made = make_safety_copy(context, safety, request.parts, targets); !made) {
    (void)util::remove_tree(safety.root);
    return fail(Error{made.error().kind, made.error().message + " (nothing was changed)"});
  }
  outcome.rollback_dir = safety.root;
  context.out << "safety copy of the current state: " << safety.root.string() << "\n" << std::flush;

  LiveChanges changes;
  const auto failed = [&](const Error& error) -> Result<RestoreOutcome> {
    return fail(roll_back(context, safety, targets, changes, error));
  };

  // 4. Database
  if (includes_database(request.parts)) {
    const auto archive = layout->root / manifest->database->file;
    changes.database = true;
    auto restored = connectware::restore_database(context.connectware, archive, restore_options(context));
    if (!restored) {
      if (restored.error().kind == ErrorKind::incompatible_version) {
        // Connectware refused the archive before touching its database: nothing to roll back.
        context.out << downgrade_guidance(restored.error().message) << std::flush;
        return fail(Error{restored.error().kind, restored.error().message + " (nothing was changed)"});
      }
      return failed(restored.error().with_context("step 4 (database)"));
    }
    spdlog::info("database restored{}", restored->message.empty() ? "" : ": " + restored->message);
  }
  if (auto cancelled = check_cancellation("after the database restore"); !cancelled) return failed(cancelled.error());

  // 5. Volumes
  if (includes_volumes(request.parts)) {
    if (auto replaced = replace_volumes(context, *layout, *manifest, targets, changes); !replaced)
      return failed(replaced.error().with_context("step 5 (volume)"));
  }
  if (auto cancelled = check_cancellation("after replacing the volumes"); !cancelled) return failed(cancelled.error());

  // 6. Restart
  auto restarted = restart_connectware(context, changes.stopped);
  if (!restarted) return failed(restarted.error().with_context("step 6 (restart)"));
  changes.stopped.clear();
  context.out << "restored snapshot " << snapshot->short_id << "; Connectware restarted (" << *restarted
              << ") and healthy.\n"
              << "Restart all Admin-UI browser sessions (log out and in again): they still hold the old state.\n"
              << "The previous state stays in " << safety.root.string() << " until the next restore.\n"
              << std::flush;
  return outcome;
}

} // namespace cwb::restore
