#include "restore/restore.hpp"

#include "archive/archive.hpp"
#include "backup/run_state.hpp"
#include "connectware/database_operations.hpp"
#include "restore/installation.hpp"
#include "restore/volume_swap.hpp"
#include "snapshot/layout.hpp"
#include "staging/mirror.hpp"
#include "staging/tree.hpp"
#include "util/cancellation.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <optional>
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
  bool database = false;                   // a restore was uploaded (it may have changed the database)
  std::vector<std::string> stopped;        // containers stopped and not yet started again
  bool volumes = false;                    // the volumes' files were (maybe partly) replaced
  std::map<std::string, VolumeSwap> swaps; // by volume name: the volumes replaced by rename
};

/// The steps whose wall time the `timings:` line reports, in its order.
enum class Step : std::size_t { fetch, check, safety_copy, database, volumes, restart, rollback };
constexpr std::array<const char*, 7> step_names{"fetch",   "check",   "safety_copy", "database",
                                                "volumes", "restart", "rollback"};

/// Wall time per step (steady clock: RestoreContext has no clock of its own, and these are real
/// durations for the operator and the benchmark, which greps the `timings:` line).
class StepTimings {
public:
  using Clock = std::chrono::steady_clock;

  /// Adds the time since `since` to `step`; returns now, the start of whatever follows.
  Clock::time_point add(Step step, Clock::time_point since) {
    const auto now = Clock::now();
    took_[static_cast<std::size_t>(step)] += now - since;
    recorded_ = true;
    return now;
  }
  [[nodiscard]] bool recorded() const { return recorded_; }

  /// "timings: fetch 1.23 s, check 0.40 s, ..., total 11.02 s"; rollback only when one ran.
  [[nodiscard]] std::string line() const {
    std::string text = "timings:";
    const auto seconds = [](Clock::duration duration) { return std::chrono::duration<double>(duration).count(); };
    for (std::size_t step = 0; step < step_names.size(); ++step) {
      if (static_cast<Step>(step) == Step::rollback && took_[step] == Clock::duration::zero()) continue;
      text += fmt::format("{} {} {:.2f} s", step == 0 ? "" : ",", step_names[step], seconds(took_[step]));
    }
    return text + fmt::format(", total {:.2f} s", seconds(Clock::now() - started_));
  }

private:
  Clock::time_point started_ = Clock::now();
  std::array<Clock::duration, step_names.size()> took_{};
  bool recorded_ = false;
};

/// How each volume (same order as the targets) is replaced.
using VolumeMethods = std::vector<VolumeMethod>;

/// The polls' first interval: a short export or restore (seconds, on a small installation) is seen done
/// at once instead of a whole poll-interval later; the backoff still reaches poll-max-interval (as the
/// backup's export does, plugin/backup/pre_backup.cpp).
std::chrono::milliseconds first_poll(const config::Config& config) {
  return std::min<std::chrono::milliseconds>(config.poll_interval(), std::chrono::milliseconds(250));
}

/// The polls' longest interval: Connectware is down or held while the restore waits, so its end should be
/// seen within half a second (a status GET is cheap); shorter when poll-max-interval is.
std::chrono::milliseconds longest_poll(const config::Config& config) {
  return std::max(first_poll(config),
                  std::min<std::chrono::milliseconds>(config.poll_max_interval(), std::chrono::milliseconds(500)));
}

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
  // No --verify: it re-reads every restored file to compare it with the repository, and step 2 reads
  // every file anyway and compares it with the manifest's SHA-256, written at backup time from the live
  // data: stricter (end to end) and complete for what a restore uses. check_fetched_snapshot hashes the
  // database archive and every regular file of every volume restored, compares type, mode and link
  // target of every other entry, and refuses entries the manifest does not list; manifest.json itself is
  // parsed, and any damage to it fails the parse or the comparison. restic still checks each blob's MAC
  // and hash while reading it from the repository.
  if (auto restored = context.restic.restore(snapshot.id, target, includes, restic::Verify::no); !restored)
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
                                    const std::vector<VolumeTarget>& targets, const VolumeMethods& methods) {
  std::uintmax_t needed = 0;
  if (includes_volumes(parts)) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& target = targets[i];
      if (methods[i] == VolumeMethod::rename) continue; // moved aside in step 5: no room needed
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
                      const VolumeMethods& methods, const std::vector<std::string>& users) {
  std::string plan = fmt::format("restore snapshot {} of {} (made {} by Connectware {}):\n", snapshot.short_id,
                                 manifest.host, manifest.finished, manifest.connectware_version);
  const bool copies = std::ranges::find(methods, VolumeMethod::copy) != methods.end();
  const bool moves = std::ranges::find(methods, VolumeMethod::rename) != methods.end();
  plan += "  3. safety copy into " + context.config.rollback_dir().string() + ":";
  if (includes_database(parts)) plan += " an export of the current database,";
  if (includes_volumes(parts) && copies) plan += " a copy of the current volume(s),";
  if (includes_volumes(parts) && moves) plan += " the current volume(s)' entries, moved aside in step 5 (no copy)";
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
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& target = targets[i];
      std::size_t entries = 0;
      for (const auto& volume : manifest.volumes)
        if (volume.name == target.name) entries = volume.entries.size();
      plan += fmt::format("  5. volume {}: replace the contents of {} with the snapshot's {} entries ({})\n",
                          target.docker_volume, target.path.string(), entries,
                          methods[i] == VolumeMethod::rename ? "by rename: one file system" : "by copy");
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
  options.poll_initial = first_poll(context.config);
  options.poll_max = longest_poll(context.config);
  options.timeout = context.config.export_timeout();
  options.progress = context.progress;
  return options;
}

connectware::ExportOptions export_options(const RestoreContext& context) {
  connectware::ExportOptions options;
  options.poll_initial = first_poll(context.config);
  options.poll_max = longest_poll(context.config);
  options.timeout = context.config.export_timeout();
  options.progress = context.progress;
  return options;
}

/// Step 2, for the database: the archive to upload. A database stored unpacked (manifest format "tar") is
/// gzipped again here, while the safety export runs on the server, and the result must hold exactly the
/// entries of the archive Connectware exported (the digest the backup took of it) before it is uploaded.
Result<fs::path> database_for_upload(const snapshot::Layout& layout, const snapshot::DatabaseRecord& record) {
  const fs::path stored = layout.root / record.file;
  if (record.format != snapshot::database_format_tar) return stored;
  const fs::path rebuilt = stored.parent_path() / snapshot::database_archive_name;
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

/// Step 3. `pending`: the safety export started on the server before the fetch, or none (then it is made
/// here from start to end).
Result<> make_safety_copy(RestoreContext& context, const SafetyCopy& safety, Parts parts,
                          const std::vector<VolumeTarget>& targets, const VolumeMethods& methods,
                          const std::optional<connectware::PendingExport>& pending) {
  CWB_TRY(util::remove_tree(safety.root));
  CWB_TRY(util::create_private_directory(safety.root));
  if (includes_database(parts)) {
    CWB_TRY(util::create_private_directory(safety.database().parent_path()));
    const auto options = export_options(context);
    if (pending) {
      auto id = connectware::await_export(context.connectware, *pending, options);
      if (!id) return fail(id.error().with_context("safety copy: exporting the current database"));
      auto downloaded = context.connectware.download_backup(safety.database(), options.progress);
      if (!downloaded)
        return fail(downloaded.error().with_context("safety copy: exporting the current database: downloading it"));
    } else {
      auto exported = connectware::export_database(context.connectware, safety.database(), options);
      if (!exported) return fail(exported.error().with_context("safety copy: exporting the current database"));
    }
    if (auto valid = archive::validate_tar_gz(safety.database()); !valid)
      return fail(valid.error().with_context("safety copy: checking the current database's export"));
  }
  if (includes_volumes(parts)) {
    CWB_TRY(util::create_private_directory(safety.root / "volumes"));
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& target = targets[i];
      // A volume replaced by rename gets its safety copy in step 5, when its old entries are moved aside.
      if (methods[i] == VolumeMethod::rename) continue;
      if (auto copied = staging::mirror_tree(target.path, safety.volume(target.name)); !copied)
        return fail(copied.error().with_context("safety copy: copying volume " + target.docker_volume));
    }
  }
  return {};
}

/// Step 5 for every volume: stop its users, then make it equal to the fetched copy.
Result<> replace_volumes(RestoreContext& context, const snapshot::Layout& layout, const snapshot::Manifest& manifest,
                         const std::vector<VolumeTarget>& targets, const VolumeMethods& methods,
                         const SafetyCopy& safety, LiveChanges& changes) {
  auto users = containers_using(context, targets);
  if (!users) return fail(users.error());
  for (const auto& id : *users) {
    // Recorded before the call: a stop that fails half-way still needs a start in the rollback.
    changes.stopped.push_back(id);
    if (auto stopped = context.containers->stop(id, std::chrono::seconds(30)); !stopped)
      return fail(stopped.error().with_context("stopping container " + id + " that uses the volume"));
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& target = targets[i];
    const auto record = std::ranges::find(manifest.volumes, target.name, &snapshot::VolumeRecord::name);
    const auto source = layout.root / record->staged_path;
    changes.volumes = true;
    if (methods[i] == VolumeMethod::rename) {
      auto& swap =
          changes.swaps.emplace(target.name, VolumeSwap(target.path, source, safety.volume(target.name))).first->second;
      auto moved = swap.swap();
      if (!moved)
        return fail(
            moved.error().with_context("replacing the contents of volume " + target.docker_volume + " by rename"));
      spdlog::info("volume {}: {} top-level entries moved into {}; the old ones into {}", target.docker_volume, *moved,
                   target.path.string(), safety.volume(target.name).string());
      continue;
    }
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
                const VolumeMethods& methods, LiveChanges& changes, const Error& cause) {
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
      for (std::size_t i = 0; i < targets.size(); ++i) {
        const auto& target = targets[i];
        if (methods[i] == VolumeMethod::rename) {
          // Only a swap that started changed anything (and only it has the old entries).
          const auto swap = changes.swaps.find(target.name);
          if (swap == changes.swaps.end()) continue;
          if (auto back = swap->second.undo(); !back) {
            problems.push_back(back.error().message + " (see " + swap->second.journal().string() + ")");
            all_back = false;
          }
          continue;
        }
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

namespace {

Result<RestoreOutcome> run_steps(RestoreContext& context, const RestoreRequest& request, StepTimings& timings) {
  const auto& config = context.config;
  const backup::StatePaths paths{config.state_dir()};
  CWB_TRY(util::create_private_directory(paths.state_dir));
  // The backup's lock: a backup staging while the volumes are replaced would save a mix.
  auto lock = util::FileLock::try_acquire(paths.lock());
  if (!lock) return fail(lock.error().with_context("a backup or restore is running"));

  // 1. Fetch
  auto mark = StepTimings::Clock::now();
  auto snapshot = pick_snapshot(context, request.snapshot);
  if (!snapshot) return fail(snapshot.error());
  mark = timings.add(Step::fetch, mark);
  // The safety export runs on the server while the snapshot is fetched and checked; it is downloaded in
  // step 3. Should the restore stop before that (a failed check), the export changed nothing and nobody
  // waits for it. Not in a dry run (never needed), nor when the operator is asked first: nothing happens
  // on the server before the answer.
  std::optional<connectware::PendingExport> pending_export;
  if (includes_database(request.parts) && request.mode == Mode::apply && !request.confirm) {
    auto started = connectware::start_export(context.connectware, export_options(context));
    if (!started)
      return fail(Error{started.error().kind, "safety copy: " + started.error().message + " (nothing was changed)"});
    pending_export = *started;
    spdlog::info("safety export of the current database started on the server");
  }
  mark = timings.add(Step::safety_copy, mark);
  auto layout = fetch(context, *snapshot, request.parts);
  if (!layout) return fail(layout.error());
  struct RemoveFetched {
    fs::path path;
    ~RemoveFetched() { (void)util::remove_tree(path); }
  } remove_fetched{config.restore_dir()};
  mark = timings.add(Step::fetch, mark);

  // 2. Check, before anything live changes
  auto manifest = read_fetched_manifest(*layout);
  if (!manifest) return fail(manifest.error());
  CWB_TRY(check_fetched_snapshot(*layout, *manifest, request.parts));
  spdlog::info("snapshot {} matches its manifest", snapshot->short_id);
  fs::path database_upload;
  if (includes_database(request.parts)) {
    auto upload = database_for_upload(*layout, *manifest->database);
    if (!upload) return fail(upload.error());
    database_upload = std::move(*upload);
  }
  auto info = context.connectware.system_info();
  if (!info) return fail(info.error().with_context("asking Connectware for its version"));
  CWB_TRY(check_version(manifest->connectware_version, info->version));
  CWB_TRY(check_restart_possible(context));
  std::vector<VolumeTarget> targets;
  VolumeMethods methods;
  std::vector<std::string> users;
  if (includes_volumes(request.parts)) {
    auto located = locate_volumes(context, *manifest);
    if (!located) return fail(located.error());
    targets = std::move(*located);
    for (const auto& target : targets) {
      const auto record = std::ranges::find(manifest->volumes, target.name, &snapshot::VolumeRecord::name);
      std::string why;
      auto method = choose_volume_method(target.path, layout->root / record->staged_path, config.rollback_dir(), &why);
      if (!method) return fail(method.error().with_context("volume " + target.docker_volume));
      spdlog::info("volume {}: replaced by {} ({})", target.docker_volume, to_string(*method), why);
      methods.push_back(*method);
    }
    auto using_them = containers_using(context, targets);
    if (!using_them) return fail(using_them.error());
    users = std::move(*using_them);
  }
  CWB_TRY(check_room_for_safety_copy(context, *manifest, request.parts, targets, methods));
  mark = timings.add(Step::check, mark);

  RestoreOutcome outcome;
  outcome.snapshot_id = snapshot->id;
  outcome.plan = make_plan(context, *snapshot, *manifest, request.parts, targets, methods, users);
  if (request.mode == Mode::dry_run) {
    context.out << "dry run: snapshot " << snapshot->short_id << " passed its checks (Connectware " << info->version
                << " running, backup from " << manifest->connectware_version << "); a restore would:\n"
                << outcome.plan << std::flush;
    return outcome;
  }
  if (request.confirm) CWB_TRY(request.confirm(outcome.plan));
  CWB_TRY(check_cancellation("before the restore started"));
  mark = StepTimings::Clock::now(); // the operator's time to answer counts nowhere

  // 3. Safety copy
  const SafetyCopy safety{config.rollback_dir()};
  if (auto made = make_safety_copy(context, safety, request.parts, targets, methods, pending_export); !made) {
    (void)util::remove_tree(safety.root);
    return fail(Error{made.error().kind, made.error().message + " (nothing was changed)"});
  }
  outcome.rollback_dir = safety.root;
  context.out << "safety copy of the current state: " << safety.root.string() << "\n" << std::flush;
  mark = timings.add(Step::safety_copy, mark);

  LiveChanges changes;
  Step step = Step::database;
  const auto failed = [&](const Error& error) -> Result<RestoreOutcome> {
    mark = timings.add(step, mark);
    auto ended = roll_back(context, safety, targets, methods, changes, error);
    timings.add(Step::rollback, mark);
    return fail(std::move(ended));
  };

  // 4. Database
  if (includes_database(request.parts)) {
    changes.database = true;
    auto restored = connectware::restore_database(context.connectware, database_upload, restore_options(context));
    if (!restored) {
      if (restored.error().kind == ErrorKind::incompatible_version) {
        // Connectware refused the archive before touching its database: nothing to roll back.
        context.out << downgrade_guidance(restored.error().message) << std::flush;
        timings.add(Step::database, mark);
        return fail(Error{restored.error().kind, restored.error().message + " (nothing was changed)"});
      }
      return failed(restored.error().with_context("step 4 (database)"));
    }
    spdlog::info("database restored{}", restored->message.empty() ? "" : ": " + restored->message);
  }
  if (auto cancelled = check_cancellation("after the database restore"); !cancelled) return failed(cancelled.error());
  mark = timings.add(Step::database, mark);

  // 5. Volumes
  step = Step::volumes;
  if (includes_volumes(request.parts)) {
    if (auto replaced = replace_volumes(context, *layout, *manifest, targets, methods, safety, changes); !replaced)
      return failed(replaced.error().with_context("step 5 (volume)"));
  }
  if (auto cancelled = check_cancellation("after replacing the volumes"); !cancelled) return failed(cancelled.error());
  mark = timings.add(Step::volumes, mark);

  // 6. Restart
  step = Step::restart;
  auto restarted = restart_connectware(context, changes.stopped);
  if (!restarted) return failed(restarted.error().with_context("step 6 (restart)"));
  changes.stopped.clear();
  timings.add(Step::restart, mark);
  context.out << "restored snapshot " << snapshot->short_id << "; Connectware restarted (" << *restarted
              << ") and healthy.\n"
              << "Restart all Admin-UI browser sessions (log out and in again): they still hold the old state.\n"
              << "The previous state stays in " << safety.root.string() << " until the next restore.\n"
              << std::flush;
  return outcome;
}

} // namespace

Result<RestoreOutcome> run_restore(RestoreContext& context, const RestoreRequest& request) {
  StepTimings timings;
  auto result = run_steps(context, request, timings);
  if (timings.recorded()) {
    // One line for the operator and for bench/steps.sh, which greps it from stdout: keep its format.
    const auto line = timings.line();
    spdlog::info("{}", line);
    context.out << line << "\n" << std::flush;
  }
  return result;
}

} // namespace cwb::restore
