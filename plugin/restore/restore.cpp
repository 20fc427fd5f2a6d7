#include "restore/restore.hpp"

#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"
#include "connectware/database_operations.hpp"
#include "core/exit_codes.hpp"
#include "installation/run_state.hpp"
#include "installation/work_folders.hpp"
#include "restore/restore_journal.hpp"
#include "restore/volume_swap.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/run_report.hpp"
#include "staging/mirror.hpp"
#include "staging/tree.hpp"
#include "util/cancellation.hpp"
#include "util/duration.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"
#include "util/process_identity.hpp"
#include "util/sha256.hpp"
#include "util/step_timer.hpp"
#include "util/text.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <set>
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

/// The steps the `timings:` line reports, in its order (bench/steps.sh greps it: keep the names).
const std::vector<std::string> step_names{"fetch",   "check",   "safety_copy", "database",
                                          "volumes", "restart", "rollback"};

std::string mebibytes(std::uintmax_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
}

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

Result<> check_cancellation(const char* step) {
  if (util::cancellation_requested())
    return fail(ErrorKind::interrupted,
                std::string("interrupted by signal ") + std::to_string(util::cancellation_signal()) + " " + step);
  return {};
}

connectware::RestoreOptions restore_options(const RestoreContext& context) {
  connectware::RestoreOptions options;
  options.poll_initial = first_poll(context.config);
  options.poll_max = longest_poll(context.config);
  options.timeout = context.config.export_timeout();
  options.settle = context.config.restore_settle();
  options.start_attempts = std::max(1, context.config.retries());
  options.progress = context.progress;
  return options;
}

connectware::ExportOptions export_options(const RestoreContext& context) {
  connectware::ExportOptions options;
  options.poll_initial = first_poll(context.config);
  options.poll_max = longest_poll(context.config);
  options.timeout = context.config.export_timeout();
  options.start_attempts = std::max(1, context.config.retries());
  options.progress = context.progress;
  return options;
}

/// The snapshots among `snapshots` made on `host`, in their order.
std::vector<restic::Snapshot> of_host(const std::vector<restic::Snapshot>& snapshots, const std::string& host) {
  std::vector<restic::Snapshot> found;
  std::ranges::copy_if(snapshots, std::back_inserter(found),
                       [&host](const restic::Snapshot& snapshot) { return snapshot.hostname == host; });
  return found;
}

/// Why the default pick found nothing for `host`, and, on a new machine, how to restore another host's
/// snapshot: "no snapshot of host new with ...; the repository has snapshots of old (2, latest 1a2b3c4d
/// of 2026-12-01T10:00:00Z): restore one with --host old (its latest) or --snapshot ID; --list shows all".
std::string no_snapshot_of_host(const std::vector<restic::Snapshot>& all, const std::string& host) {
  std::string message = "no snapshot of host " + host + " with the tags of this configuration";
  if (all.empty()) return message + " in the repository, nor of any other host (--list shows what there is)";
  std::map<std::string, std::vector<const restic::Snapshot*>> by_host;
  for (const auto& snapshot : all)
    by_host[snapshot.hostname].push_back(&snapshot);
  std::string hosts;
  for (const auto& [name, snapshots] : by_host)
    hosts += fmt::format("{}{} ({}, latest {} of {})", hosts.empty() ? "" : ", ", name.empty() ? "(no host)" : name,
                         snapshots.size(), snapshots.back()->short_id, snapshots.back()->time);
  // The host of the newest snapshot: on a new machine, most likely the old one.
  const std::string example = all.back().hostname.empty() ? "NAME" : all.back().hostname;
  return message + "; the repository has snapshots of " + hosts + ": restore one with --host " + example +
         " (its latest) or --snapshot ID (--list shows them all)";
}

/// One volume of the restore: where it lives, where the snapshot's copy was fetched, how step 5 replaces
/// it, and (once step 5 started it) the swap that can undo it.
struct VolumePlan {
  installation::Volume volume;
  fs::path fetched;
  std::size_t entries = 0; // in the snapshot
  VolumeMethod method = VolumeMethod::copy;
  std::optional<VolumeSwap> swap;
  /// scope = full: a volume the snapshot has and this host does not, created at the start of step 5.
  std::optional<installation::MissingVolume> to_create;
};

/// One restore, step by step (restore.hpp lists them), with what it has changed so far for the rollback.
class RestoreRun {
public:
  RestoreRun(RestoreContext& context, const RestoreRequest& request)
      : context_(context), config_(context.config), request_(request), installation_(context.installation),
        timer_([] { return util::StepTimer::Clock::now(); }, step_names), safety_{config_.rollback_dir()},
        journal_path_(installation::StatePaths{config_.state_dir()}.restore_journal()) {}

  Result<RestoreOutcome> run() {
    CWB_TRY(take_lock());
    CWB_TRY(take_up_previous_restore());
    if (request_.continuation == Continuation::roll_back) return roll_back_interrupted();
    CWB_TRY(apply_scope());
    CWB_TRY(check_work_folders_before_fetch());
    timer_.start("fetch");
    CWB_TRY(pick_snapshot());
    timer_.start("safety_copy");
    CWB_TRY(start_safety_export());
    timer_.start("fetch");
    CWB_TRY(fetch());
    // Whatever happens next, the fetched copy goes (the safety copy stays).
    struct RemoveFetched {
      fs::path path;
      ~RemoveFetched() { (void)util::remove_tree(path); }
    } remove_fetched{config_.restore_dir()};

    timer_.start("check");
    CWB_TRY(check());
    outcome_.snapshot_id = snapshot_.id;
    outcome_.plan = plan();
    timer_.stop();
    if (request_.mode == Mode::dry_run) {
      context_.out << "dry run: snapshot " << snapshot_.short_id << " passed its checks (Connectware "
                   << running_version_ << " running, backup from " << manifest_.connectware_version
                   << "); a restore would:\n"
                   << outcome_.plan << std::flush;
      return outcome_;
    }
    if (request_.confirm) CWB_TRY(request_.confirm(outcome_.plan)); // the operator's time counts nowhere
    CWB_TRY(check_cancellation("before the restore started"));

    timer_.start("safety_copy");
    if (resuming_) {
      context_.out << "safety copy of the state before the interrupted restore, kept: " << safety_.root.string() << "\n"
                   << std::flush;
    } else {
      if (auto made = make_safety_copy(); !made) {
        (void)util::remove_tree(safety_.root);
        (void)remove_journal(journal_path_);
        return fail(Error{made.error().kind, made.error().message + " (nothing was changed)"});
      }
      context_.out << "safety copy of the current state: " << safety_.root.string() << "\n" << std::flush;
    }
    outcome_.rollback_dir = safety_.root;

    timer_.start("database");
    if (includes_database(request_.parts)) {
      auto restored = restore_database();
      if (!restored) {
        // Whatever the server said, its database may have changed: a refusal is rolled back too (rolling
        // back a database that did not change costs time, not data). A message naming a version gets the
        // downgrade path, in any wording.
        const auto& message = restored.error().message;
        const bool refused = restored.error().kind == ErrorKind::incompatible_version;
        if (refused || connectware::restoring_version_named_in(message))
          context_.out << downgrade_guidance(message) << std::flush;
        auto rolled_back = roll_back(restored.error().with_context("step 4 (database)"));
        if (refused && rolled_back.error().kind == ErrorKind::restore_rolled_back)
          return fail(Error{ErrorKind::incompatible_version,
                            message +
                                " (the database was put back from the safety export as a precaution; the "
                                "volumes were not touched; safety copy kept in " +
                                safety_.root.string() + ")"});
        return rolled_back;
      }
    }
    if (auto cancelled = check_cancellation("after the database restore"); !cancelled)
      return roll_back(cancelled.error());

    timer_.start("volumes");
    if (includes_volumes(request_.parts)) {
      if (auto replaced = replace_volumes(); !replaced)
        return roll_back(replaced.error().with_context("step 5 (volume)"));
    }
    if (auto cancelled = check_cancellation("after replacing the volumes"); !cancelled)
      return roll_back(cancelled.error());

    timer_.start("restart");
    if (auto noted = note_progress(JournalPhase::restart); !noted)
      return roll_back(noted.error().with_context("step 6 (restart)"));
    spdlog::info("step 6: restarting Connectware");
    auto restarted = restart_connectware();
    if (!restarted) return roll_back(restarted.error().with_context("step 6 (restart)"));
    timer_.stop();
    if (auto removed = remove_journal(journal_path_); !removed)
      spdlog::warn("restored, but {}: remove it by hand before the next backup", removed.error().message);
    if (left_to_operator_)
      context_.out << "restored snapshot " << snapshot_.short_id << " into the installation's volumes; " << *restarted
                   << ": " << installation_.start_hint() << ". The restore did not wait for its health.\n";
    else
      context_.out << "restored snapshot " << snapshot_.short_id << "; Connectware restarted (" << *restarted
                   << ") and healthy.\n";
    context_.out << "Restart all Admin-UI browser sessions (log out and in again): they still hold the old state.\n"
                 << "The previous state stays in " << safety_.root.string() << " until the next restore.\n"
                 << std::flush;
    return outcome_;
  }

  /// "timings: fetch 1.23 s, check 0.40 s, ..., total 11.02 s" (rollback only when one ran), or nullopt
  /// when the run stopped before its first step.
  /// Seconds per step so far (the steps that ran), for the restore's report.
  [[nodiscard]] std::map<std::string, double> step_seconds() const {
    std::map<std::string, double> seconds;
    for (const auto& [step, took] : timer_.steps())
      if (took > 0) seconds[step] = took;
    return seconds;
  }
  /// The snapshot being restored, once picked ("" before).
  [[nodiscard]] const std::string& snapshot_id() const { return snapshot_.id; }

  [[nodiscard]] std::optional<std::string> timings_line() const {
    if (!timer_.recorded()) return std::nullopt;
    std::string text = "timings:";
    bool first = true;
    for (const auto& [step, seconds] : timer_.steps()) {
      if (step == "rollback" && seconds == 0) continue;
      text += fmt::format("{} {} {:.2f} s", first ? "" : ",", step, seconds);
      first = false;
    }
    return text + fmt::format(", total {:.2f} s", timer_.total());
  }

private:
  /// scope = full: the database is restored with its volume (postgresql), never through the API, so the
  /// restore takes the snapshot's volumes only; --db-only has no meaning then.
  Result<> apply_scope() {
    if (!full_) return {};
    if (request_.parts == Parts::database_only)
      return fail(ErrorKind::usage, "--db-only with scope = full: the database is restored with its volume "
                                    "(postgresql); to restore it through Connectware's API, set scope = "
                                    "configuration");
    request_.parts = Parts::volumes_only;
    return {};
  }

  /// The installation's run lock: a backup staging while the volumes are replaced would save a mix.
  Result<> take_lock() {
    const installation::StatePaths paths{config_.state_dir()};
    auto lock = installation::acquire_run_lock(paths, installation::LockWait::no);
    if (!lock) return fail(lock.error());
    lock_ = std::move(*lock);
    // A backup killed together with its release watchdog (a reboot, a killed process group) leaves
    // containers paused or stopped: released first, or the restore would take a stopped container for one
    // its operator stopped and leave it so. A backup run that still lives keeps its own.
    auto marker = installation::read_run_marker(paths);
    if (marker && *marker && util::is_alive((**marker).owner)) return {};
    auto released = installation_.release_leftover_hold(paths);
    if (!released) return fail(released.error().with_context("releasing what a killed backup left held"));
    if (!released->empty())
      spdlog::warn("started or unpaused {} container(s) a killed backup left held", released->size());
    return {};
  }

  /// The folders this restore empties (restore-dir now, rollback-dir for the safety copy) and the
  /// staging folder must stay apart from the configured volumes. Checked before the fetch empties
  /// restore-dir; plan_volumes checks again against the snapshot's own volumes. A volume that cannot be
  /// located yet (a new machine) is checked there, once it is.
  Result<> check_work_folders_before_fetch() {
    auto located = installation_.locate_volumes(config_.volumes());
    if (!located) {
      spdlog::debug("work folders checked after the fetch: {}", located.error().message);
      return {};
    }
    return check_work_folders(*located);
  }

  /// A journal left by a restore that was killed: said and dealt with before anything else. Killed before
  /// it changed anything: said, and this run starts afresh (--resume: with that restore's snapshot). Killed
  /// after: refused unless --resume or --roll-back says what to do, and the safety copy it made is the one
  /// this run works with (never replaced, never removed: it may be the only copy of the state before).
  Result<> take_up_previous_restore() {
    auto previous = read_journal(journal_path_);
    if (!previous) return fail(previous.error());
    const auto& journal = *previous;
    if (!journal) {
      if (request_.continuation != Continuation::none)
        return fail(ErrorKind::usage, std::string("nothing to ") +
                                          (request_.continuation == Continuation::resume ? "resume" : "roll back") +
                                          ": no interrupted restore (no " + journal_path_.string() + ")");
      return {};
    }
    if (!journal->live_state_may_differ()) {
      context_.out << describe_interrupted(*journal) << "; its partial safety copy is discarded\n" << std::flush;
      spdlog::warn("{}", describe_interrupted(*journal));
      CWB_TRY(remove_journal(journal_path_));
      if (request_.continuation == Continuation::resume) continue_with(*journal);
      if (request_.continuation == Continuation::roll_back) previous_ = *journal; // nothing to put back
      return {};
    }
    if (request_.continuation == Continuation::none)
      return fail(ErrorKind::unfinished_restore, describe_interrupted(*journal) +
                                                     ". Finish it with connectware-restore --resume --yes, or put "
                                                     "back the state before it with connectware-restore --roll-back "
                                                     "--yes");
    spdlog::warn("{}; {}", describe_interrupted(*journal),
                 request_.continuation == Continuation::resume ? "resuming it" : "rolling it back");
    previous_ = *journal;
    continue_with(*journal);
    resuming_ = request_.continuation == Continuation::resume;
    safety_ = SafetyCopy{journal->rollback_dir};
    journal_started_ = journal->started;
    database_changed_ = journal->database_changed;
    volumes_changed_ = journal->volumes_changed;
    stopped_ = journal->stopped;
    if (journal->running_before)
      running_before_ = std::set<std::string>(journal->running_before->begin(), journal->running_before->end());
    return {};
  }

  /// The interrupted restore's snapshot (or folder) and parts, whatever this run's flags say.
  void continue_with(const RestoreJournal& journal) {
    request_.parts = journal.parts;
    if (journal.full_scope != full_)
      spdlog::warn("the interrupted restore had scope = {}: continuing it as such",
                   journal.full_scope ? "full" : "configuration");
    full_ = journal.full_scope;
    if (journal.from_dir) {
      request_.from_dir = fs::path(journal.snapshot_id);
      request_.snapshot.clear();
    } else {
      request_.from_dir.reset();
      request_.snapshot = journal.snapshot_id;
    }
  }

  /// --roll-back: step 7 for a restore that was killed, from its journal and safety copy alone (no
  /// snapshot needed). Ends at the state before that restore (its journal removed) or says why not (kept).
  Result<RestoreOutcome> roll_back_interrupted() {
    if (!previous_ || !previous_->live_state_may_differ()) {
      context_.out << "nothing to roll back: the interrupted restore changed nothing\n" << std::flush;
      return outcome_;
    }
    snapshot_.id = previous_->snapshot_id;
    snapshot_.short_id = previous_->snapshot_short_id;
    outcome_.snapshot_id = snapshot_.id;
    outcome_.rollback_dir = safety_.root;
    outcome_.plan = "roll back: " + describe_interrupted(*previous_) + "\n";
    if (request_.mode == Mode::dry_run) {
      context_.out << "dry run: would " << outcome_.plan << std::flush;
      return outcome_;
    }
    if (request_.confirm) CWB_TRY(request_.confirm(outcome_.plan));
    for (const auto& volume : previous_->volumes) {
      VolumePlan plan{installation::Volume{volume.name, volume.source, volume.path, {}},
                      config_.restore_dir() / "volumes" / volume.name,
                      0,
                      volume.method,
                      std::nullopt,
                      std::nullopt};
      if (volume.method == VolumeMethod::rename) {
        auto recovered = VolumeSwap::recover(volume.path, plan.fetched, safety_.volume(volume.name));
        if (!recovered) return fail(recovered.error().with_context("rolling back volume " + volume.source));
        if (*recovered) plan.swap.emplace(std::move(**recovered));
      }
      volumes_.push_back(std::move(plan));
    }
    auto rolled_back = roll_back(Error{ErrorKind::interrupted, describe_interrupted(*previous_)});
    if (rolled_back.error().kind != ErrorKind::restore_rolled_back) return rolled_back;
    context_.out << "rolled back: " << rolled_back.error().message << "\n" << std::flush;
    return outcome_;
  }

  /// Records how far the restore got, before the step that changes it. Errors: staging_io.
  Result<> note_progress(JournalPhase phase) {
    RestoreJournal journal;
    journal.snapshot_id = snapshot_.id;
    journal.snapshot_short_id = snapshot_.short_id;
    journal.from_dir = request_.from_dir.has_value();
    journal.parts = request_.parts;
    journal.full_scope = full_;
    if (journal_started_.empty()) journal_started_ = snapshot::iso8601_utc(std::chrono::system_clock::now());
    journal.started = journal_started_;
    journal.phase = phase;
    journal.database_changed = database_changed_;
    journal.volumes_changed = volumes_changed_;
    journal.rollback_dir = safety_.root;
    for (const auto& plan : volumes_)
      journal.volumes.push_back({plan.volume.name, plan.volume.source, plan.volume.path, plan.method});
    journal.stopped = stopped_;
    if (running_before_)
      journal.running_before = std::vector<std::string>(running_before_->begin(), running_before_->end());
    phase_ = phase;
    return write_journal(journal_path_, journal);
  }

  Result<> check_work_folders(const std::vector<installation::Volume>& volumes) const {
    return installation::check_work_folders_apart({{"restore-dir", config_.restore_dir()},
                                                   {"rollback-dir", config_.rollback_dir()},
                                                   {"staging-dir", config_.staging_dir()}},
                                                  volumes);
  }

  Result<> pick_snapshot() {
    if (request_.from_dir) {
      // A staging folder a backup agent brought back: no restic involved, named by its path in messages.
      snapshot_ = restic::Snapshot{};
      snapshot_.id = snapshot_.short_id = request_.from_dir->string();
      snapshot_.paths = {request_.from_dir->string()};
      return {};
    }
    if (!request_.snapshot.empty()) {
      auto found = context_.restic.find_snapshot(request_.snapshot);
      if (!found) return fail(found.error().with_context("finding snapshot " + request_.snapshot));
      snapshot_ = std::move(*found);
      return {};
    }
    auto all = list_snapshots(context_.restic, config_);
    if (!all) return fail(all.error());
    auto ours = of_host(*all, config_.host());
    if (full_) {
      // scope = full restores full snapshots only: the latest of those, not a later configuration one.
      std::erase_if(ours, [](const restic::Snapshot& snapshot) {
        return std::ranges::find(snapshot.tags, std::string(snapshot::full_scope_tag)) == snapshot.tags.end();
      });
      if (ours.empty())
        return fail(ErrorKind::no_snapshot, "no full-installation snapshot (tag " +
                                                std::string(snapshot::full_scope_tag) + ") of host " + config_.host() +
                                                "; --list shows what there is (scope = full restores only those)");
    }
    if (ours.empty()) return fail(ErrorKind::no_snapshot, no_snapshot_of_host(*all, config_.host()));
    snapshot_ = ours.back();
    if (ours.size() < all->size())
      spdlog::info("latest snapshot of host {}: {} ({}); other hosts' snapshots are left alone", config_.host(),
                   snapshot_.short_id, snapshot_.time);
    return {};
  }

  /// The safety export runs on the server while the snapshot is fetched and checked; it is downloaded in
  /// step 3. Should the restore stop before that (a failed check), the export changed nothing and nobody
  /// waits for it. Not in a dry run (never needed), nor when the operator is asked first: nothing happens
  /// on the server before the answer.
  Result<> start_safety_export() {
    if (!includes_database(request_.parts) || request_.mode != Mode::apply || request_.confirm || resuming_) return {};
    auto started = connectware::start_export(context_.connectware, export_options(context_));
    if (!started)
      return fail(Error{started.error().kind, "safety copy: " + started.error().message + " (nothing was changed)"});
    pending_export_ = *started;
    spdlog::info("safety export of the current database started on the server");
    return {};
  }

  /// Step 1: fetch only what is needed into a fresh owner-only folder. restic recreates the absolute path
  /// the snapshot was made from below the target.
  Result<> fetch() {
    if (request_.from_dir) {
      // Checked and restored exactly like a fetched snapshot, read where it is (restore-dir holds only
      // what the restore makes, such as the database archive rebuilt for the upload).
      CWB_TRY(util::remove_tree(config_.restore_dir()));
      CWB_TRY(util::create_private_directory(config_.restore_dir()));
      std::error_code error;
      if (!fs::is_directory(*request_.from_dir, error))
        return fail(ErrorKind::snapshot_invalid, "--from " + request_.from_dir->string() + ": no such folder");
      layout_ = snapshot::Layout{*request_.from_dir};
      spdlog::info("restoring from the folder {} (no restic)", request_.from_dir->string());
      return {};
    }
    if (snapshot_.paths.size() != 1 || !fs::path(snapshot_.paths.front()).is_absolute())
      return fail(ErrorKind::snapshot_invalid,
                  "snapshot " + snapshot_.short_id + " was not made by connectware-backup (it holds " +
                      std::to_string(snapshot_.paths.size()) + " paths; one staging folder expected)");
    const fs::path staged_root = snapshot_.paths.front();
    const auto& target = config_.restore_dir();
    CWB_TRY(util::remove_tree(target));
    CWB_TRY(util::create_private_directory(target));
    const snapshot::Layout source{staged_root};
    std::vector<std::string> includes;
    if (request_.parts != Parts::all) {
      includes.push_back(source.manifest().string());
      includes.push_back(request_.parts == Parts::database_only ? source.database_dir().string()
                                                                : source.volumes_dir().string());
    }
    spdlog::info("fetching snapshot {} ({}) into {}", snapshot_.short_id, snapshot_.time, target.string());
    // No --verify: it re-reads every restored file to compare it with the repository, and step 2 reads
    // every file anyway and compares it with the manifest's SHA-256, written at backup time from the live
    // data: stricter (end to end) and complete for what a restore uses. check_fetched_snapshot hashes the
    // database archive and every regular file of every volume restored, compares type, mode and link
    // target of every other entry, and refuses entries the manifest does not list; manifest.json itself is
    // parsed, and any damage to it fails the parse or the comparison. restic still checks each blob's MAC
    // and hash while reading it from the repository.
    if (auto restored = context_.restic.restore(snapshot_.id, target, includes, restic::Verify::no); !restored)
      return fail(restored.error().with_context("fetching snapshot " + snapshot_.short_id));
    layout_ = snapshot::Layout{target / staged_root.relative_path()};
    return {};
  }

  /// Step 2: the snapshot, Connectware and the installation, before anything live changes.
  Result<> check() {
    auto manifest = read_fetched_manifest(layout_);
    if (!manifest) return fail(manifest.error());
    manifest_ = std::move(*manifest);
    CWB_TRY(check_scope());
    CWB_TRY(check_fetched_snapshot(layout_, manifest_, request_.parts));
    spdlog::info("snapshot {} matches its manifest", snapshot_.short_id);
    if (includes_database(request_.parts)) {
      auto upload = database_for_upload(layout_, *manifest_.database, config_.restore_dir());
      if (!upload) return fail(upload.error());
      database_upload_ = std::move(*upload);
    }
    auto info = context_.connectware.system_info();
    if (!info && full_ && info.error().kind == ErrorKind::unreachable && !installation_runs()) {
      // A full restore is how a lost installation comes back: there may be no Connectware to ask (a new
      // host, its volumes gone). The volumes bring back the version that made them.
      spdlog::warn("Connectware does not answer ({}): its version cannot be compared with the backup's; the "
                   "restored volumes bring back Connectware {}'s data",
                   info.error().message, manifest_.connectware_version);
      running_version_ = "(not running)";
    } else {
      if (!info) return fail(info.error().with_context("asking Connectware for its version"));
      running_version_ = info->version;
      CWB_TRY(check_version(manifest_.connectware_version, running_version_));
    }
    note_running_services();
    CWB_TRY(installation_.check_restart_possible());
    if (includes_volumes(request_.parts)) CWB_TRY(plan_volumes());
    return check_room_for_safety_copy();
  }

  /// True when a container of the installation runs (or that cannot be told).
  bool installation_runs() {
    auto workloads = installation_.installation_workloads();
    return !workloads || std::ranges::any_of(*workloads, &installation::Workload::running);
  }

  /// A full restore needs a full snapshot; a configuration restore of a full one takes the configured
  /// volumes and the database export the full backup also made.
  Result<> check_scope() {
    const bool full_snapshot = manifest_.scope == snapshot::scope_full;
    if (full_ && !full_snapshot)
      return fail(ErrorKind::usage, "snapshot " + snapshot_.short_id +
                                        " is a configuration backup: it does not hold the whole installation. "
                                        "Restore it with scope = configuration");
    if (!full_ && full_snapshot)
      spdlog::info("snapshot {} is a full-installation backup; scope = configuration restores the database "
                   "through the API and only the volume(s) {}",
                   snapshot_.short_id, util::join(config_.volumes()));
    return {};
  }

  /// What "healthy again" means after the restart: the services that run now. A service stopped before the
  /// restore is no reason to roll back. When the listing cannot be read, every listed service must run.
  void note_running_services() {
    if (resuming_) return; // what ran before the interrupted restore, from its journal
    auto running = connectware::running_services(context_.connectware);
    if (!running) {
      spdlog::warn("cannot tell which Connectware services run before the restore ({}): after the restart every "
                   "listed service must run",
                   running.error().message);
      return;
    }
    running_before_ = std::move(*running);
    std::string names;
    for (const auto& name : *running_before_)
      names += (names.empty() ? "" : ", ") + name;
    spdlog::info("services running before the restore, awaited after the restart: {}", names.empty() ? "none" : names);
  }

  /// scope = full: every volume of the snapshot, created here when missing (a new host); whatever runs
  /// in the installation is stopped.
  Result<> plan_all_volumes() {
    auto labelled = installation_.locate_all_volumes();
    if (!labelled) return fail(labelled.error());
    std::vector<std::string> missing;
    for (const auto& record : manifest_.volumes) {
      const auto found = std::ranges::find(*labelled, record.name, &installation::Volume::name);
      std::optional<installation::Volume> present;
      if (found != labelled->end()) {
        present = *found;
      } else {
        // Not labelled as the project's (made by hand, or by another tool), yet there under its name: it is
        // replaced like any other, with its safety copy; never taken for missing.
        auto by_name = installation_.locate_volumes({record.name});
        if (by_name) {
          present = by_name->front();
          spdlog::warn("volume {} exists without Compose's labels of this project: replaced as it is", present->source);
        } else if (by_name.error().kind != ErrorKind::volume_missing) {
          return fail(by_name.error());
        }
      }
      if (!present) {
        auto planned = installation_.plan_volume(record.name, record.source, record.labels);
        if (!planned) return fail(planned.error());
        missing.push_back(planned->source);
        spdlog::info("volume {}: missing here, created in step 5", planned->source);
        VolumePlan plan{installation::Volume{record.name, planned->source, {}, planned->labels},
                        layout_.root / record.staged_path,
                        record.entries.size(),
                        VolumeMethod::copy,
                        std::nullopt,
                        std::move(*planned)};
        volumes_.push_back(std::move(plan));
        continue;
      }
      VolumePlan plan{
          *present,    layout_.root / record.staged_path, record.entries.size(), VolumeMethod::copy, std::nullopt,
          std::nullopt};
      CWB_TRY(choose_method(plan));
      volumes_.push_back(std::move(plan));
    }
    std::vector<installation::Volume> present_volumes;
    for (const auto& plan : volumes_)
      if (!plan.to_create) present_volumes.push_back(plan.volume);
    CWB_TRY(check_work_folders(present_volumes));
    auto workloads = installation_.installation_workloads();
    if (!workloads) return fail(workloads.error());
    users_ = std::move(*workloads);
    // Containers that exist do not mount a volume that does not: they belong to another project name (the
    // restore would fill volumes nobody uses and call that restored), or the volumes were removed under them.
    if (!missing.empty() && !users_.empty()) {
      std::vector<std::string> names;
      for (const auto& user : users_)
        names.push_back(user.name);
      return fail(ErrorKind::usage, "volume(s) " + util::join(missing) +
                                        " of the snapshot are missing here, but the installation's containers "
                                        "exist (" +
                                        util::join(names) +
                                        ") and would not use new ones: set compose-project to the project they "
                                        "belong to, or remove them first (docker compose down) to restore onto "
                                        "new volumes");
    }
    return {};
  }

  /// Rename or copy for one volume (volume_swap.hpp), as the interrupted restore did when resuming.
  Result<> choose_method(VolumePlan& plan) {
    std::string why;
    auto method = choose_volume_method(plan.volume.path, plan.fetched, config_.rollback_dir(), &why);
    if (!method) return fail(method.error().with_context("volume " + plan.volume.source));
    plan.method = *method;
    if (resuming_) {
      // The safety copy was made for the interrupted restore's method: keep to it.
      const auto recorded = std::ranges::find(previous_->volumes, plan.volume.name, &JournalVolume::name);
      if (recorded != previous_->volumes.end()) {
        plan.method = recorded->method;
        why = "as the interrupted restore did";
      }
    }
    spdlog::info("volume {}: replaced by {} ({})", plan.volume.source, to_string(plan.method), why);
    return {};
  }

  Result<> plan_volumes() {
    if (full_) return plan_all_volumes();
    std::vector<std::string> names;
    for (const auto& record : manifest_.volumes) {
      // A full snapshot restored as a configuration backup: only the configured volumes (the database
      // comes through the API; its volume is left alone).
      if (manifest_.scope == snapshot::scope_full &&
          std::ranges::find(config_.volumes(), record.name) == config_.volumes().end())
        continue;
      names.push_back(record.name);
    }
    auto located = installation_.locate_volumes(names);
    if (!located) return fail(located.error());
    CWB_TRY(check_work_folders(*located));
    for (auto& volume : *located) {
      const auto record = std::ranges::find(manifest_.volumes, volume.name, &snapshot::VolumeRecord::name);
      VolumePlan plan{std::move(volume),      layout_.root / record->staged_path,
                      record->entries.size(), VolumeMethod::copy,
                      std::nullopt,           std::nullopt};
      CWB_TRY(choose_method(plan));
      volumes_.push_back(std::move(plan));
    }
    auto users = installation_.volume_users(live_volumes());
    if (!users) return fail(users.error());
    users_ = std::move(*users);
    return {};
  }

  [[nodiscard]] std::vector<installation::Volume> live_volumes() const {
    std::vector<installation::Volume> volumes;
    for (const auto& plan : volumes_)
      volumes.push_back(plan.volume);
    return volumes;
  }

  Result<> check_room_for_safety_copy() {
    if (resuming_) return {}; // kept from the interrupted restore
    std::uintmax_t needed = 0;
    for (const auto& plan : volumes_) {
      if (plan.method == VolumeMethod::rename) continue; // moved aside in step 5: no room needed
      if (plan.to_create) continue;                      // nothing there to keep
      auto bytes = tree_bytes(plan.volume.path);
      if (!bytes) return fail(bytes.error().with_context("measuring volume " + plan.volume.source));
      needed += *bytes;
    }
    // The live database's export is unknown until made; the snapshot's archive (twice, for growth) is the
    // best guess there is.
    if (includes_database(request_.parts) && manifest_.database) needed += 2 * manifest_.database->bytes;
    auto available = util::available_space(existing_ancestor(config_.rollback_dir()));
    if (!available) return fail(available.error());
    if (*available < needed)
      return fail(ErrorKind::staging_io, "not enough room for the safety copy in " + config_.rollback_dir().string() +
                                             ": about " + mebibytes(needed) + " needed, " + mebibytes(*available) +
                                             " free");
    return {};
  }

  [[nodiscard]] std::string plan() const {
    std::string plan = fmt::format("restore snapshot {} of {} (made {} by Connectware {}):\n", snapshot_.short_id,
                                   manifest_.host, manifest_.finished, manifest_.connectware_version);
    const auto uses = [this](VolumeMethod method) {
      return std::ranges::any_of(volumes_, [method](const VolumePlan& volume) { return volume.method == method; });
    };
    if (resuming_) {
      plan += "  3. safety copy: kept from the interrupted restore in " + safety_.root.string() + "\n";
    } else {
      plan += "  3. safety copy into " + config_.rollback_dir().string() + ":";
      if (includes_database(request_.parts)) plan += " an export of the current database,";
      if (uses(VolumeMethod::copy)) plan += " a copy of the current volume(s),";
      if (uses(VolumeMethod::rename)) plan += " the current volume(s)' entries, moved aside in step 5 (no copy)";
      plan += "\n";
    }
    if (includes_database(request_.parts))
      plan += fmt::format("  4. upload the database archive ({}, backup {}) to {} and wait until it is restored\n",
                          mebibytes(manifest_.database->bytes), manifest_.database->backup_id,
                          http::redact_url(config_.connectware_url()));
    else if (full_)
      plan += "  4. database: restored with its volume (scope = full), not through the API\n";
    else
      plan += "  4. database: left as it is (--volume-only)\n";
    if (includes_volumes(request_.parts)) {
      for (const auto& volume : volumes_) {
        if (volume.to_create) {
          plan += fmt::format("  5. volume {}: create it (missing here, with Compose's labels) and fill it with the "
                              "snapshot's {} entries\n",
                              volume.volume.source, volume.entries);
          continue;
        }
        plan += fmt::format("  5. volume {}: replace the contents of {} with the snapshot's {} entries ({})\n",
                            volume.volume.source, volume.volume.path.string(), volume.entries,
                            volume.method == VolumeMethod::rename ? "by rename: one file system" : "by copy");
      }
      std::string users;
      for (const auto& user : users_)
        users += (users.empty() ? "" : ", ") + user.name + (user.running ? "" : " (not running: left so)");
      plan += "     stopping first: " + (users.empty() ? std::string("nothing") : users) + "\n";
    } else {
      plan += "  5. volumes: left as they are (--db-only)\n";
    }
    if (full_ && std::ranges::none_of(users_, &installation::Workload::running) && config_.restart_command().empty())
      plan += "  6. start Connectware: no container of the installation runs here; " + installation_.start_hint() +
              " (the restore cannot wait for its health)\n";
    else if (full_ && std::ranges::any_of(users_, &installation::Workload::running))
      plan += "  6. start the stopped containers again (reverse order); wait up to " +
              util::format_duration(config_.health_timeout()) + " until Connectware's services run\n";
    else
      plan += "  6. restart Connectware: " + installation_.describe_restart() + "; wait up to " +
              util::format_duration(config_.health_timeout()) + " until the services that ran before run again\n";
    return plan;
  }

  /// Step 3: the live database's export (started before the fetch, or made here from start to end), and a
  /// copy of every volume replaced by copy (one replaced by rename gets its safety copy in step 5, when
  /// its old entries are moved aside).
  Result<> make_safety_copy() {
    // No journal of a restore that changed anything is left (take_up_previous_restore): what rollback-dir
    // holds is the safety copy of an earlier restore that ended, replaced now as documented.
    CWB_TRY(note_progress(JournalPhase::safety_copy));
    spdlog::info("step 3: safety copy of the current state into {}", safety_.root.string());
    CWB_TRY(util::remove_tree(safety_.root));
    CWB_TRY(util::create_private_directory(safety_.root));
    if (includes_database(request_.parts)) {
      CWB_TRY(util::create_private_directory(safety_.database().parent_path()));
      const auto options = export_options(context_);
      if (pending_export_) {
        auto id = connectware::await_export(context_.connectware, *pending_export_, options);
        if (!id) return fail(id.error().with_context("safety copy: exporting the current database"));
        auto downloaded = context_.connectware.download_backup(safety_.database(), options.progress);
        if (!downloaded)
          return fail(downloaded.error().with_context("safety copy: exporting the current database: downloading it"));
      } else {
        auto exported = connectware::export_database(context_.connectware, safety_.database(), options);
        if (!exported) return fail(exported.error().with_context("safety copy: exporting the current database"));
      }
      if (auto valid = archive::validate_tar_gz(safety_.database()); !valid)
        return fail(valid.error().with_context("safety copy: checking the current database's export"));
    }
    if (includes_volumes(request_.parts)) {
      CWB_TRY(util::create_private_directory(safety_.root / "volumes"));
      for (const auto& plan : volumes_) {
        if (plan.method == VolumeMethod::rename) continue;
        // A volume created by this restore was empty before it: that is what a rollback puts back.
        if (plan.to_create) {
          CWB_TRY(util::create_private_directory(safety_.volume(plan.volume.name)));
          continue;
        }
        if (auto copied = staging::mirror_tree(plan.volume.path, safety_.volume(plan.volume.name)); !copied)
          return fail(copied.error().with_context("safety copy: copying volume " + plan.volume.source));
      }
    }
    return {};
  }

  /// Step 4.
  Result<> restore_database() {
    database_changed_ = true;
    CWB_TRY(note_progress(JournalPhase::database));
    spdlog::info("step 4: uploading the database archive and waiting until Connectware has restored it");
    auto restored = connectware::restore_database(context_.connectware, database_upload_, restore_options(context_));
    if (!restored) return fail(restored.error());
    spdlog::info("database restored{}", restored->message.empty() ? "" : ": " + restored->message);
    return {};
  }

  /// Stops what runs on the volumes (recorded before each call: a stop that fails half-way still needs a
  /// start). Stops at the first failure and returns it.
  Result<> stop_volume_users() {
    // scope = full: the whole installation (in its stop order), and anything else on its volumes.
    auto users = full_ ? installation_.installation_workloads() : installation_.volume_users(live_volumes());
    if (!users) return fail(users.error());
    if (full_) {
      auto others = installation_.volume_users(live_volumes());
      if (!others) return fail(others.error());
      for (auto& other : *others)
        if (std::ranges::find(*users, other.id, &installation::Workload::id) == users->end())
          users->push_back(std::move(other));
    }
    for (const auto& user : *users) {
      if (!user.running) continue; // stopped by its operator: stays stopped, and is not started in step 6
      if (std::ranges::find(stopped_, user.id, &installation::Workload::id) == stopped_.end()) {
        stopped_.push_back(user);
        CWB_TRY(note_progress(phase_)); // a process killed after the stop still starts it again
      }
      CWB_TRY(installation_.stop(user));
    }
    return {};
  }

  /// Step 5 for every volume: stop its users, then make it equal to the fetched copy.
  Result<> replace_volumes() {
    CWB_TRY(note_progress(JournalPhase::volumes));
    spdlog::info("step 5: stopping what uses the volumes, then replacing their contents");
    CWB_TRY(stop_volume_users());
    // From here on a rollback puts every volume back (one not touched yet costs a comparison, no data).
    volumes_changed_ = true;
    CWB_TRY(note_progress(JournalPhase::volumes));
    CWB_TRY(create_missing_volumes());
    for (auto& plan : volumes_) {
      if (plan.method == VolumeMethod::rename) {
        if (resuming_) CWB_TRY(undo_interrupted_swap(plan));
        plan.swap.emplace(plan.volume.path, plan.fetched, safety_.volume(plan.volume.name));
        auto moved = plan.swap->swap();
        if (!moved)
          return fail(
              moved.error().with_context("replacing the contents of volume " + plan.volume.source + " by rename"));
        spdlog::info("volume {}: {} top-level entries moved into {}; the old ones into {}", plan.volume.source, *moved,
                     plan.volume.path.string(), safety_.volume(plan.volume.name).string());
        continue;
      }
      std::error_code error;
      if (!fs::exists(plan.fetched, error)) CWB_TRY(util::create_private_directory(plan.fetched)); // empty volume
      // By content: a live file whose metadata matches the snapshot's may still hold other bytes.
      auto mirrored = staging::mirror_tree(plan.fetched, plan.volume.path, by_content());
      if (!mirrored)
        return fail(mirrored.error().with_context("replacing the contents of volume " + plan.volume.source));
      spdlog::info("volume {}: {} entries restored into {}", plan.volume.source, mirrored->entries,
                   plan.volume.path.string());
    }
    // Before anything starts on them again: each live volume must now be exactly the snapshot's.
    for (const auto& plan : volumes_) {
      const auto record = std::ranges::find(manifest_.volumes, plan.volume.name, &snapshot::VolumeRecord::name);
      if (record == manifest_.volumes.end()) continue;
      CWB_TRY(check_live_volume(plan.volume.path, *record));
      spdlog::info("volume {}: {} matches the snapshot's manifest", plan.volume.source, plan.volume.path.string());
    }
    return {};
  }

  /// scope = full on a new host: the snapshot's volumes that do not exist here, created with their labels
  /// (recorded in the journal at once, so that a rollback finds them).
  Result<> create_missing_volumes() {
    for (auto& plan : volumes_) {
      if (!plan.to_create) continue;
      auto created = installation_.create_volume(*plan.to_create);
      if (!created) return fail(created.error().with_context("creating volume " + plan.to_create->source));
      plan.volume = std::move(*created);
      plan.to_create.reset();
      CWB_TRY(note_progress(phase_));
    }
    return {};
  }

  /// --resume, a volume replaced by rename: the interrupted swap (complete or not) is undone first, so that
  /// the new swap starts from the old entries and an empty safety folder.
  Result<> undo_interrupted_swap(VolumePlan& plan) {
    auto recovered = VolumeSwap::recover(plan.volume.path, plan.fetched, safety_.volume(plan.volume.name));
    if (!recovered) return fail(recovered.error());
    if (!*recovered) return {};
    if (auto undone = (*recovered)->undo(); !undone) {
      plan.swap.emplace(std::move(**recovered)); // the rollback tries again
      return fail(undone.error().with_context("undoing the interrupted swap of volume " + plan.volume.source));
    }
    spdlog::info("volume {}: the interrupted swap was undone; swapping again", plan.volume.source);
    return {};
  }

  static staging::MirrorOptions by_content() {
    staging::MirrorOptions options;
    options.compare_content = true;
    return options;
  }

  /// Step 6: starts what step 5 stopped, restarts Connectware, waits until it reports healthy. Returns what
  /// was done.
  Result<std::string> restart_connectware() {
    if (full_) return start_installation();
    for (const auto& workload : stopped_)
      CWB_TRY(installation_.start(workload));
    auto done = installation_.restart();
    if (!done) return fail(done.error());
    stopped_.clear();
    spdlog::info("{}", *done);
    CWB_TRY(await_health());
    return done;
  }

  /// scope = full: starting what step 5 stopped (in the reverse order) is the restart. With nothing to
  /// start (a new host, no container), restart-command starts the installation; without one the operator
  /// does (start_hint) and the restore cannot wait for it.
  Result<std::string> start_installation() {
    std::string done;
    if (!stopped_.empty()) {
      for (auto workload = stopped_.rbegin(); workload != stopped_.rend(); ++workload)
        CWB_TRY(installation_.start(*workload));
      done = "started " + std::to_string(stopped_.size()) + " container(s) again";
      stopped_.clear();
    } else if (!config_.restart_command().empty()) {
      auto ran = installation_.restart();
      if (!ran) return fail(ran.error());
      done = *ran;
    } else {
      left_to_operator_ = true;
      return std::string("nothing started: no container of the installation was running here");
    }
    spdlog::info("{}", done);
    CWB_TRY(await_health());
    return done;
  }

  Result<> await_health() {
    spdlog::info("waiting up to {} for Connectware to report {} running",
                 util::format_duration(config_.health_timeout()),
                 running_before_ && !running_before_->empty() ? "the services that ran before" : "every service");
    if (auto healthy =
            connectware::wait_until_healthy(context_.connectware, config_.health_timeout(),
                                            std::chrono::milliseconds(250), std::chrono::seconds(2), running_before_);
        !healthy)
      return fail(healthy.error().with_context("after the restart"));
    return {};
  }

  /// Step 7: puts the safety copy back. Returns the error the run ends with: restore_rolled_back, or
  /// rollback_failed with the state things are in.
  std::unexpected<Error> roll_back(const Error& cause) {
    timer_.start("rollback");
    spdlog::error("{}; rolling back to the safety copy in {}", cause.message, safety_.root.string());
    // A SIGINT/SIGTERM may be why we are here: the rollback must still run to the end.
    const util::CancellationShield shield;
    std::vector<std::string> problems;
    if (auto noted = note_progress(JournalPhase::rolling_back); !noted)
      spdlog::warn("rolling back without a journal: {}", noted.error().message);
    std::string volume_state = "unchanged";
    std::string database_state = database_changed_ ? "possibly changed by the failed restore" : "unchanged";

    if (volumes_changed_) {
      volume_state = "possibly partly replaced";
      // Whatever runs on the volume must not see it change under it.
      if (auto stopped = stop_volume_users(); !stopped) {
        problems.push_back(stopped.error().message);
      } else if (put_volumes_back(problems)) {
        volume_state = "put back";
      }
    }
    if (problems.empty()) {
      if (auto restarted = restart_connectware(); !restarted) problems.push_back(restarted.error().message);
    }
    if (problems.empty() && database_changed_) {
      auto restored =
          connectware::restore_database(context_.connectware, safety_.database(), restore_options(context_));
      if (!restored) {
        problems.push_back("putting back the safety export of the database: " + restored.error().message);
      } else {
        database_state = "put back";
        if (auto restarted = restart_connectware(); !restarted) problems.push_back(restarted.error().message);
      }
    }
    timer_.stop();

    if (problems.empty()) {
      if (auto removed = remove_journal(journal_path_); !removed) spdlog::warn("{}", removed.error().message);
      return fail(Error{ErrorKind::restore_rolled_back,
                        cause.message +
                            "; the previous state was put back and Connectware is healthy (safety copy kept in " +
                            safety_.root.string() + ")"});
    }
    std::string joined;
    for (const auto& problem : problems)
      joined += (joined.empty() ? "" : "; ") + problem;
    std::string stopped;
    for (const auto& workload : stopped_)
      stopped += (stopped.empty() ? "" : ", ") + workload.name;
    return fail(Error{ErrorKind::rollback_failed,
                      cause.message + "; rolling back failed too: " + joined + ". State: database " + database_state +
                          ", volumes " + volume_state +
                          (stopped.empty() ? std::string() : ", still stopped: " + stopped) +
                          ". Safety copies: database export " +
                          (database_changed_ ? safety_.database().string() : std::string("(not needed)")) +
                          ", volumes " + (safety_.root / "volumes").string()});
  }

  /// Returns true when every volume is as it was before the restore; adds what failed to `problems`.
  bool put_volumes_back(std::vector<std::string>& problems) {
    bool all_back = true;
    for (auto& plan : volumes_) {
      // Never created (scope = full; an empty path: a killed restore's journal from before the creation):
      // nothing changed there.
      if (plan.to_create || plan.volume.path.empty()) continue;
      if (plan.method == VolumeMethod::rename) {
        // Only a swap that started changed anything (and only it has the old entries).
        if (!plan.swap) continue;
        if (auto back = plan.swap->undo(); !back) {
          problems.push_back(back.error().message + " (see " + plan.swap->journal().string() + ")");
          all_back = false;
        }
        continue;
      }
      if (auto back = staging::mirror_tree(safety_.volume(plan.volume.name), plan.volume.path, by_content()); !back) {
        problems.push_back(back.error().message);
        all_back = false;
      }
    }
    return all_back;
  }

  RestoreContext& context_;
  const config::Config& config_;
  RestoreRequest request_; // a copy: --resume replaces its snapshot and parts with the interrupted one's
  installation::Installation& installation_;
  util::StepTimer timer_;
  util::FileLock lock_;
  SafetyCopy safety_;
  const fs::path journal_path_;
  RestoreOutcome outcome_;

  std::optional<RestoreJournal> previous_; // the journal a killed restore left
  bool resuming_ = false;                  // --resume of a restore that changed things
  std::string journal_started_;            // when the restore (the interrupted one, when resuming) started
  JournalPhase phase_ = JournalPhase::safety_copy;

  restic::Snapshot snapshot_;
  std::optional<connectware::PendingExport> pending_export_;
  snapshot::Layout layout_{};
  snapshot::Manifest manifest_;
  fs::path database_upload_;
  std::string running_version_;
  std::optional<std::set<std::string>> running_before_; // services running before the restore (step 2)
  std::vector<VolumePlan> volumes_;
  std::vector<installation::Workload> users_; // as seen in step 2, for the plan

  // What has been changed so far, for the rollback.
  bool database_changed_ = false;               // a restore was uploaded (it may have changed the database)
  bool volumes_changed_ = false;                // the volumes' files were (maybe partly) replaced
  std::vector<installation::Workload> stopped_; // stopped and not yet started again

  bool full_ = config_.scope() == config::Scope::full; // scope = full (docs/restore.md); a resumed one's
  bool left_to_operator_ = false; // scope = full, nothing to start: the operator starts the installation
};

} // namespace

Result<std::vector<restic::Snapshot>> list_snapshots(restic::Restic& restic, const config::Config& config) {
  auto found = restic.snapshots(config.tags());
  if (!found) return fail(found.error().with_context("listing snapshots"));
  return found;
}

std::string snapshot_listing(const std::vector<restic::Snapshot>& snapshots, const std::string& this_host) {
  if (snapshots.empty()) return "no snapshots with the tags of this configuration in the repository\n";
  std::size_t time_width = 4;
  std::size_t host_width = 4;
  for (const auto& snapshot : snapshots) {
    time_width = std::max(time_width, snapshot.time.size());
    host_width = std::max(host_width, snapshot.hostname.size());
  }
  std::string text = fmt::format("  {:<8}  {:<{}}  {:<{}}  {}\n", "ID", "TIME", time_width, "HOST", host_width, "TAGS");
  std::size_t own = 0;
  for (const auto& snapshot : snapshots) {
    std::string tags;
    for (const auto& tag : snapshot.tags)
      tags += (tags.empty() ? "" : ",") + tag;
    const bool ours = snapshot.hostname == this_host;
    own += ours ? 1 : 0;
    text += fmt::format("{} {:<8}  {:<{}}  {:<{}}  {}\n", ours ? '*' : ' ', snapshot.short_id, snapshot.time,
                        time_width, snapshot.hostname, host_width, tags);
  }
  if (own > 0)
    return text + fmt::format("* = host {} (the default pick is its latest; another: --snapshot ID)\n", this_host);
  return text + fmt::format("none of host {}: restore another host's latest with --host NAME, or one with --snapshot "
                            "ID\n",
                            this_host);
}

std::string downgrade_guidance(const std::string& refusal) {
  auto version = connectware::restoring_version_named_in(refusal);
  if (!version) version = connectware::version_named_in(refusal);
  const std::string older = version ? *version : "the version the message names";
  return "Connectware refused the database archive, naming a version:\n  " + refusal +
         "\nThe database is put back from the safety export; the volumes are not touched. To restore this "
         "backup, downgrade Connectware to " +
         older +
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

/// The restore's own status and metrics (connectware_restore_*), written after every restore that was
/// meant to change something, whatever its outcome.
void record_restore(const config::Config& config, const Result<RestoreOutcome>& result,
                    const std::map<std::string, double>& step_seconds, const std::string& snapshot_id,
                    std::chrono::system_clock::time_point started) {
  snapshot::RunReport report;
  report.subject = "restore";
  report.success = result.has_value();
  if (!result) {
    report.error_kind = to_string(result.error().kind);
    report.error_message = result.error().message;
    report.exit_code = to_int(exit_code_for(result.error().kind));
  }
  const auto now = std::chrono::system_clock::now();
  report.started = snapshot::iso8601_utc(started);
  report.finished = snapshot::iso8601_utc(now);
  report.finished_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  report.stage_seconds = step_seconds;
  report.snapshot_id = snapshot_id;
  const auto metrics = config.restore_metrics_file().value_or(std::filesystem::path{});
  if (auto written = snapshot::write_run_report(report, config.restore_status_file(), metrics); !written)
    spdlog::warn("cannot record the restore in {}: {}", config.restore_status_file().string(), written.error().message);
}

} // namespace

Result<RestoreOutcome> run_restore(RestoreContext& context, const RestoreRequest& request) {
  const auto started = std::chrono::system_clock::now();
  RestoreRun run(context, request);
  auto result = run.run();
  if (const auto line = run.timings_line()) {
    // One line for the operator and for bench/steps.sh, which greps it from stdout: keep its format.
    spdlog::info("{}", *line);
    context.out << *line << "\n" << std::flush;
  }
  // A refused run (another backup or restore holds the lock) is not this installation's restore.
  const bool refused = !result && result.error().kind == ErrorKind::locked;
  if (request.mode == Mode::apply && !refused)
    record_restore(context.config, result, run.step_seconds(), run.snapshot_id(), started);
  return result;
}

} // namespace cwb::restore
