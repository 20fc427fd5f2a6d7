#include "backup/pre_backup.hpp"

#include "archive/archive.hpp"
#include "archive/gzip_recipe.hpp"
#include "backup/quiesce.hpp"
#include "backup/shrink_check.hpp"
#include "backup/volume_staging.hpp"
#include "connectware/database_operations.hpp"
#include "installation/run_state.hpp"
#include "installation/work_folders.hpp"
#include "restore/snapshot_check.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/run_report.hpp"
#include "util/cancellation.hpp"
#include "util/duration.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"
#include "util/removal_guard.hpp"
#include "util/sha256.hpp"
#include "util/step_timer.hpp"
#include "util/text.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

namespace cwb::backup {
namespace {

using installation::RunMarker;
using installation::StatePaths;

Result<> check_cancellation(const char* stage) {
  if (util::cancellation_requested()) {
    return fail(ErrorKind::interrupted,
                std::string("interrupted by signal ") + std::to_string(util::cancellation_signal()) + " " + stage);
  }
  return {};
}

/// One attempt at a consistent copy: the export's id and the staged volumes, and how long the
/// configuration was held.
struct Attempt {
  std::string export_id;
  StagedVolumes volumes;
  double window_seconds = 0;
  std::vector<std::string> held;
};

Result<> move_into_place(const std::string& partial, const std::filesystem::path& target) {
  if (std::rename(partial.c_str(), target.c_str()) == 0) return {};
  return fail(ErrorKind::staging_io, "cannot move " + partial + " to " + target.string() + ": " + std::strerror(errno));
}

/// Checks the downloaded archive `partial` (one pass: gzip checksums, every tar entry, its SHA-256) and puts
/// it into the staging folder: with `unpacked`, gunzipped in that same pass, and kept so only when reading
/// the tar back gives exactly the archive's entries (the restore gzips it again and checks the same
/// digest); otherwise, or with `archive`, as downloaded. Returns the manifest's record. `partial` is left
/// for the caller to remove.
Result<snapshot::DatabaseRecord> store_database_archive(config::DatabaseStorage storage, const snapshot::Layout& layout,
                                                        const std::string& partial, const std::string& export_id) {
  // A previous run's, maybe in the other form (not `partial`, the download this run just made).
  for (const auto& stale : {layout.database_archive(), layout.database_tar(),
                            std::filesystem::path(layout.database_tar().string() + ".part")})
    (void)util::remove_tree(stale);
  const auto relative = [&layout](const std::filesystem::path& path) {
    return std::filesystem::relative(path, layout.root).generic_string();
  };
  const bool unpack = storage == config::DatabaseStorage::unpacked;
  const std::string tar_partial = layout.database_tar().string() + ".part";
  archive::ValidateOptions options;
  if (unpack) options.unpack_to = tar_partial;
  auto archive_info = archive::validate_tar_gz(partial, options);
  if (!archive_info) {
    (void)util::remove_tree(tar_partial);
    return fail(archive_info.error().with_context("checking the database archive"));
  }
  std::error_code error;
  const auto archive_bytes = std::filesystem::file_size(partial, error);
  if (error) return fail(ErrorKind::staging_io, "cannot read the size of " + partial + ": " + error.message());

  snapshot::DatabaseRecord record;
  record.backup_id = export_id;
  record.entries_sha256 = archive_info->entries_sha256;
  record.archive_bytes = archive_bytes;
  record.archive_sha256 = archive_info->sha256;
  record.entry_count = archive_info->entry_count;
  if (unpack) {
    // The proof: the tar on disk is byte for byte the inflated stream whose entries (names, metadata,
    // contents) were just read and digested (same size; its SHA-256 taken as it was written), so gzip
    // cannot change them on restore, where the rebuilt archive is checked against the same digest again.
    // (Reading the tar back here would only read the same bytes from the page cache.)
    const auto stored_bytes = std::filesystem::file_size(tar_partial, error);
    const bool whole = !error && stored_bytes == archive_info->unpacked_bytes && !archive_info->unpacked_sha256.empty();
    // And Connectware gets back the very bytes it exported: only when gzipping the tar again is proven to
    // reproduce the archive (archive/gzip_recipe.hpp); otherwise the archive is stored as downloaded.
    std::optional<archive::GzipRecipe> recipe;
    if (whole) {
      const auto proof_started = std::chrono::steady_clock::now();
      auto found = archive::find_gzip_recipe(partial, tar_partial);
      if (!found) {
        (void)util::remove_tree(tar_partial);
        return fail(found.error().with_context("proving the database archive's compression"));
      }
      recipe = *found;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - proof_started).count();
      if (recipe)
        spdlog::info("database archive: its tar gzipped again (level {}, memLevel {}) is the download byte for byte "
                     "(proven in {:.2f} s): stored unpacked",
                     recipe->level, recipe->mem_level, seconds);
      else
        spdlog::warn("the database archive is stored as downloaded: gzipping its tar again with the parameters of "
                     "zlib-based writers does not reproduce it byte for byte (tried in {:.2f} s)",
                     seconds);
    }
    if (whole && recipe) {
      if (auto moved = move_into_place(tar_partial, layout.database_tar()); !moved) {
        (void)util::remove_tree(tar_partial);
        return fail(moved.error());
      }
      record.file = relative(layout.database_tar());
      record.format = snapshot::database_format_tar;
      record.bytes = stored_bytes;
      record.sha256 = archive_info->unpacked_sha256;
      record.gzip_header = recipe->header;
      record.gzip_level = recipe->level;
      record.gzip_mem_level = recipe->mem_level;
      return record;
    }
    if (!whole)
      spdlog::warn("the database archive is stored as downloaded: its unpacked tar on disk is not the whole inflated "
                   "stream ({} bytes of {})",
                   error ? 0 : stored_bytes, archive_info->unpacked_bytes);
    (void)util::remove_tree(tar_partial);
  }
  CWB_TRY(move_into_place(partial, layout.database_archive()));
  record.file = relative(layout.database_archive());
  record.format = snapshot::database_format_archive;
  record.bytes = archive_bytes;
  record.sha256 = archive_info->sha256;
  return record;
}

/// The pre-backup stage as named steps over one run's state. Each step either completes or returns the
/// error the stage ends with; `partial_files` removes what a failed run leaves half-written.
class PreBackupRun {
public:
  explicit PreBackupRun(BackupContext& context)
      : context_(context), config_(context.config), paths_{config_.state_dir()}, layout_{config_.staging_dir()},
        timer_([&clock = context.clock] { return clock.now(); }) {}

  Result<PreBackupResult> run() {
    CWB_TRY(take_run());
    // From here on a failure must leave nothing behind: no marker, no partial archive.
    struct ForgetRun {
      const StatePaths& paths;
      bool armed = true;
      ~ForgetRun() {
        if (armed) (void)installation::remove_run_marker(paths);
      }
    } forget_run{paths_};
    for (const auto& path : {layout_.database_archive(), layout_.database_tar()}) {
      partial_files_.remove_on_failure(path);
      partial_files_.remove_on_failure(path.string() + ".part");
    }

    CWB_TRY(ask_connectware_version());
    CWB_TRY(choose_quiesce());
    CWB_TRY(locate_volumes());
    CWB_TRY(prestage_volumes());
    CWB_TRY(stage_consistently());
    CWB_TRY(check_cancellation("after staging"));
    CWB_TRY(download_database());
    CWB_TRY(confirm_download());
    CWB_TRY(store_database());
    if (full_scope()) CWB_TRY(stage_with_installation_stopped());
    CWB_TRY(check_shrinkage());
    auto result = write_manifest();
    if (!result) return fail(result.error());
    partial_files_.keep();
    forget_run.armed = false;
    return result;
  }

private:
  /// Takes the lock and the run: refuses while another run's owner lives, recovers what a dead run left.
  Result<> take_run() {
    auto lock = installation::acquire_run_lock(paths_, installation::LockWait::no);
    if (!lock) return fail(lock.error());
    lock_ = std::move(*lock);
    CWB_TRY(installation::refuse_if_restore_unfinished(paths_));
    const auto started_wall = context_.clock.wall_now();
    marker_.started = snapshot::iso8601_utc(started_wall);
    marker_.started_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(started_wall.time_since_epoch()).count();
    marker_.run_id = marker_.started + "-" + std::to_string(getpid());
    marker_.owner = context_.run_owner;

    auto previous = installation::read_run_marker(paths_);
    if (!previous) return fail(previous.error());
    if (*previous) {
      const auto& other = **previous;
      // A run whose owner lives is in progress, unless it is ours (the same job ran pre twice). Its age
      // alone proves nothing (a slow first upload to S3 can take a day), so a live owner's run is only
      // taken over past stale-run-age, when the operator set one (a backup agent that never calls post).
      const bool owner_lives = util::is_alive(other.owner) && !(other.owner == context_.run_owner);
      const auto age = std::chrono::milliseconds(marker_.started_unix_ms - other.started_unix_ms);
      const auto& stale_age = config_.stale_run_age();
      if (owner_lives && !(stale_age && age > *stale_age)) {
        return fail(ErrorKind::locked,
                    "another backup run is in progress (started " + other.started + " by pid " +
                        std::to_string(other.owner.pid) +
                        "); if that run is abandoned while its owner lives on (a backup agent that never ran the post "
                        "hook), set stale-run-age");
      }
      if (owner_lives) {
        spdlog::warn("taking over the unfinished run started {} by pid {}, which still lives: it is older than "
                     "stale-run-age ({})",
                     other.started, other.owner.pid, util::format_duration(*stale_age));
      }
      spdlog::warn("recovering from an unfinished run started {} (its post-backup hook never ran)", other.started);
      remove_stale_restic_locks();
    }
    auto released = context_.installation.release_leftover_hold(paths_);
    if (!released) return fail(released.error().with_context("releasing what a previous run left held"));
    if (!released->empty()) spdlog::warn("released {} container(s) a previous run left paused", released->size());
    // A failure an earlier pre hook recorded for a post hook that never came is not this run's.
    CWB_TRY(installation::remove_pre_backup_failure(paths_));
    return installation::write_run_marker(paths_, marker_);
  }

  /// A run killed during `restic backup` leaves its lock in the repository: later backups work, but
  /// `restic check`, `forget --prune` and the restore's exclusive steps would fail on it. Only stale locks
  /// go (restic keeps a live process's); failing to remove them is worth a warning, not the backup.
  void remove_stale_restic_locks() {
    if (config_.repository().empty()) return; // no restic here (an enterprise agent backs up the staging)
    if (auto unlocked = context_.restic.unlock(); !unlocked) {
      spdlog::warn("could not remove stale restic locks the unfinished run may have left: {}",
                   unlocked.error().message);
      return;
    }
    spdlog::info("removed stale restic locks the unfinished run may have left (restic unlock)");
  }

  Result<> ask_connectware_version() {
    timer_.start("system_info");
    auto info = context_.connectware.system_info();
    if (!info) return fail(info.error().with_context("asking Connectware for its version"));
    spdlog::info("Connectware {} at {}", info->version, http::redact_url(config_.connectware_url()));
    marker_.connectware_version = info->version;
    return {};
  }

  /// Resolves `auto` (and `optimistic`): optimistic where the installation can hold its writers (its retry
  /// pauses them), else verify.
  Result<> choose_quiesce() {
    switch (config_.quiesce()) {
    case config::Quiesce::pause: mode_ = QuiesceMode::pause; break;
    case config::Quiesce::verify: mode_ = QuiesceMode::verify; break;
    case config::Quiesce::none: mode_ = QuiesceMode::none; break;
    case config::Quiesce::automatic:
    case config::Quiesce::optimistic:
      if (context_.installation.can_hold_configuration()) {
        mode_ = QuiesceMode::optimistic;
      } else {
        spdlog::warn("the {} installation cannot pause its configuration writers now: quiesce falls back to verify "
                     "mode",
                     installation::to_string(context_.installation.platform()));
        mode_ = QuiesceMode::verify;
      }
      break;
    }
    marker_.quiesce_mode = to_string(mode_);
    return {};
  }

  [[nodiscard]] bool full_scope() const { return config_.scope() == config::Scope::full; }

  /// The located volumes that the `volumes` setting names (all of them outside scope = full).
  [[nodiscard]] std::vector<installation::Volume> configured_volumes() const {
    std::vector<installation::Volume> configured;
    for (const auto& volume : volumes_)
      if (std::ranges::find(config_.volumes(), volume.name) != config_.volumes().end()) configured.push_back(volume);
    return configured;
  }

  Result<> locate_volumes() {
    // scope = full: every volume of the installation, found by the platform's labels, not by name.
    auto volumes = full_scope() ? context_.installation.locate_all_volumes()
                                : context_.installation.locate_volumes(config_.volumes());
    if (!volumes) return fail(volumes.error());
    if (full_scope() && volumes->empty())
      return fail(ErrorKind::volume_missing, "the Docker engine has no volume labelled com.docker.compose.project=" +
                                                 config_.compose_project() + " (scope = full; set compose-project)");
    if (full_scope()) {
      std::string names;
      for (const auto& volume : *volumes)
        names += (names.empty() ? "" : ", ") + volume.source;
      spdlog::info("scope = full: {} volume(s) of the installation: {}", volumes->size(), names);
    }
    volumes_ = std::move(*volumes);
    // The staging folder is emptied and filled as a whole: inside a volume (or holding one) it would
    // stage the volume into itself or remove its files.
    CWB_TRY(installation::check_work_folders_apart({{"staging-dir", config_.staging_dir()}}, volumes_));
    CWB_TRY(util::create_private_directory(layout_.root));
    CWB_TRY(util::create_private_directory(layout_.database_dir()));
    auto described = context_.installation.describe(volumes_);
    if (!described) return fail(described.error().with_context("describing the installation"));
    description_ = std::move(*described);
    return {};
  }

  /// A first pass over the volumes while nothing is held: on a first run (or after many changes) it does
  /// the bulk of the copying, so that the pass inside the quiesce window only re-checks metadata and copies
  /// what changed in between. Without quiescing there is no window to keep short.
  Result<> prestage_volumes() {
    // Without quiescing there is no window to keep short, unless the installation is to be stopped. The
    // optimistic attempt holds nothing: it does the bulk itself, and a paused retry only catches up.
    if (!holds_first_attempt() && !full_scope()) return {};
    timer_.start("prestage_volumes");
    // The full re-read (every mirror-full-check-every runs) happens here, outside the freeze window.
    if (auto prestaged = stage_volumes(volumes_, layout_, full_check_every(), context_.progress.line.get()); !prestaged)
      return fail(prestaged.error());
    prestaged_ = true;
    return check_cancellation("while staging the volumes");
  }

  /// Whether the first staging attempt holds the configuration writers (pause), or checks that nothing
  /// changed (verify), so that a pass before it keeps that attempt short.
  [[nodiscard]] bool holds_first_attempt() const { return mode_ == QuiesceMode::pause || mode_ == QuiesceMode::verify; }

  [[nodiscard]] unsigned full_check_every() const { return static_cast<unsigned>(config_.mirror_full_check_every()); }

  /// What verify and optimistic mode compare: the volume trees and the services list. `too_recent_by`: an
  /// entry changed less than a ctime tick before this fingerprint, so that a second write within that tick
  /// could leave the same fingerprint; such a "before" proves nothing until the tick is over (git's
  /// racy-index rule). Zero otherwise.
  struct ConfigurationFingerprint {
    std::string digest;
    std::chrono::nanoseconds too_recent_by{0};
  };

  /// The ctime tick assumed: 1 s, as the mirror's racy window (coarse file systems included).
  static constexpr std::chrono::nanoseconds ctime_tick = std::chrono::seconds(1);

  Result<ConfigurationFingerprint> configuration_fingerprint() {
    const auto taken =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
    // scope = full: only the configuration's volumes; the database's files change all the time, and every
    // volume is copied again with the installation stopped anyway.
    auto trees =
        fingerprint_volumes(full_scope() ? configured_volumes() : volumes_, taken.count() + ctime_tick.count());
    if (!trees) return fail(trees.error());
    auto services = context_.connectware.services();
    if (!services) return fail(services.error().with_context("listing services"));
    // Capped at one tick: a ctime ahead of the clock (a clock set back, a network file system's server) is
    // no reason to wait longer, and a write from now on gives its entry another ctime anyway.
    const auto settled = std::chrono::nanoseconds(trees->newest_ctime_ns) + ctime_tick;
    return ConfigurationFingerprint{trees->digest + ":" + util::sha256_hex(services->dump()),
                                    std::clamp(settled - taken, std::chrono::nanoseconds(0), ctime_tick)};
  }

  /// The "before" fingerprint of an unpaused attempt: taken again after waiting out the ctime tick of a
  /// change just before it (three tries, one tick each at most, cancellable). `proven` is false when the
  /// last one was still too recent (the volumes keep changing): the attempt then cannot count as unchanged.
  struct BeforeFingerprint {
    std::string digest;
    bool proven = false;
  };

  Result<BeforeFingerprint> settled_fingerprint() {
    constexpr int tries = 3;
    for (int attempt = 1;; ++attempt) {
      auto fingerprint = configuration_fingerprint();
      if (!fingerprint) return fail(fingerprint.error());
      if (fingerprint->too_recent_by.count() == 0) return BeforeFingerprint{std::move(fingerprint->digest), true};
      if (attempt == tries) return BeforeFingerprint{std::move(fingerprint->digest), false};
      const auto until = std::chrono::steady_clock::now() + fingerprint->too_recent_by;
      while (std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(50),
                                                                       until - std::chrono::steady_clock::now()));
        CWB_TRY(check_cancellation("while waiting for the volumes to settle"));
      }
    }
  }

  connectware::ExportOptions export_options() const {
    connectware::ExportOptions options;
    // The configuration is held still until the export is seen finished: poll early and often (from
    // 250 ms, doubling to 500 ms at most, below poll-interval / poll-max-interval when those are shorter),
    // so that the window ends at most half a second after the export does. A status GET is cheap.
    options.poll_initial = std::min<std::chrono::milliseconds>(config_.poll_interval(), std::chrono::milliseconds(250));
    options.poll_max =
        std::max(options.poll_initial,
                 std::min<std::chrono::milliseconds>(config_.poll_max_interval(), std::chrono::milliseconds(500)));
    options.timeout = config_.export_timeout();
    options.start_attempts = std::max(1, config_.retries());
    options.progress = context_.progress.download;
    if (context_.progress.line->enabled()) {
      options.on_wait = [line = context_.progress.line](std::chrono::seconds waited) {
        line->show("waiting for the database export", util::clock_text(waited) + " elapsed");
      };
    }
    return options;
  }

  /// The release watchdog for a hold about to begin (backup_context.hpp); none in the pipeline's tests, or
  /// when it cannot start: then a warning saying what happens `if_killed` instead.
  std::optional<installation::HoldWatchdog> start_watchdog(const char* if_killed) {
    if (!context_.start_hold_watchdog) return std::nullopt;
    auto started = context_.start_hold_watchdog(marker_.run_id);
    if (!started) {
      spdlog::warn("{}; if this hook is killed {}", started.error().message, if_killed);
      return std::nullopt;
    }
    return std::optional<installation::HoldWatchdog>(std::move(*started));
  }

  /// One attempt: hold (with `pause`), export on the server while the volumes are mirrored, release.
  /// `full_check`: this pass is the run's first over the volumes (no prestage_volumes) and does the periodic
  /// full re-read.
  Result<Attempt> stage_once(bool pause, bool full_check) {
    Attempt attempt;
    const auto window_start = context_.clock.now();
    // Declared before the hold, so that it outlives it: the hold is released (or its destructor ran) before
    // the watchdog hears "released".
    std::optional<installation::HoldWatchdog> watchdog;
    std::unique_ptr<installation::ConfigurationHold> hold;
    if (pause) {
      watchdog = start_watchdog("while containers are paused, the next run releases them");
      auto held = context_.installation.hold_configuration(paths_);
      if (!held) return fail(held.error());
      hold = std::move(*held);
      attempt.held = hold->held();
      spdlog::info("paused {} container(s) that write configuration", attempt.held.size());
    }
    // The server exports while we mirror the volumes: only the slower of the two counts against the window.
    const auto options = export_options();
    auto pending = connectware::start_export(context_.connectware, options);
    if (!pending) return fail(pending.error());

    timer_.start("stage_volumes");
    // With a first pass (prestage_volumes) this one only catches up; without, it is the only pass.
    auto staged = stage_volumes(volumes_, layout_, full_check ? full_check_every() : 0, context_.progress.line.get());
    if (!staged) return fail(staged.error());
    attempt.volumes = std::move(*staged);
    CWB_TRY(check_cancellation("while staging the volumes"));

    timer_.start("export");
    auto finished = connectware::await_export(context_.connectware, *pending, options);
    if (context_.progress.line->enabled()) {
      context_.progress.line->finish("waiting for the database export", finished ? "done" : "failed");
    }
    if (!finished) return fail(finished.error());
    attempt.export_id = *finished;
    timer_.stop();

    if (hold) {
      CWB_TRY(hold->release());
      // The window is how long the writers were held; an attempt that held nothing froze nothing.
      attempt.window_seconds = std::chrono::duration<double>(context_.clock.now() - window_start).count();
    }
    if (watchdog) watchdog->released();
    return attempt;
  }

  /// Stages once (pause, none), until one attempt saw the configuration unchanged (verify: at most
  /// verify-attempts), or once unpaused and, when the configuration changed meanwhile, once more paused
  /// (optimistic: two attempts at most, the second cannot fail for a change).
  Result<> stage_consistently() {
    if (mode_ == QuiesceMode::pause || mode_ == QuiesceMode::none) {
      attempts_ = 1;
      auto staged = stage_once(mode_ == QuiesceMode::pause, /*full_check=*/!prestaged_);
      if (!staged) return fail(staged.error());
      attempt_ = std::move(*staged);
      return {};
    }
    if (mode_ == QuiesceMode::optimistic) {
      attempts_ = 1;
      auto unchanged = stage_unchanged(/*full_check=*/!prestaged_);
      if (!unchanged) return fail(unchanged.error());
      if (*unchanged) {
        marker_.quiesce_outcome = quiesce_outcome_unchanged;
        spdlog::info("the configuration did not change while it was staged: nothing was paused");
        return {};
      }
      spdlog::warn("the configuration changed while it was staged unpaused (optimistic quiesce); staging again with "
                   "its writers paused");
      CWB_TRY(check_cancellation("before the paused retry"));
      attempts_ = 2;
      auto staged = stage_once(/*pause=*/true, /*full_check=*/false);
      if (!staged) return fail(staged.error());
      attempt_ = std::move(*staged);
      marker_.quiesce_outcome = quiesce_outcome_paused_retry;
      return {};
    }
    const int max_attempts = std::max(1, config_.verify_attempts());
    for (attempts_ = 1; attempts_ <= max_attempts; ++attempts_) {
      auto unchanged = stage_unchanged(/*full_check=*/false);
      if (!unchanged) return fail(unchanged.error());
      if (*unchanged) return {};
      spdlog::warn("the configuration changed during attempt {} of {}; staging again", attempts_, max_attempts);
    }
    return fail(ErrorKind::quiesce_failed, "the configuration kept changing during " + std::to_string(max_attempts) +
                                               " attempts (verify mode); retry later or use quiesce = pause");
  }

  /// One unpaused attempt between two fingerprints of the configuration. Returns whether they were equal
  /// (and the first one settled enough to prove it); then the attempt is the run's (attempt_). Either way
  /// the volumes were staged once (the bulk of the copying, and the periodic full re-read with `full_check`).
  Result<bool> stage_unchanged(bool full_check) {
    auto before = settled_fingerprint();
    if (!before) return fail(before.error());
    auto staged = stage_once(/*pause=*/false, full_check);
    if (!staged) return fail(staged.error());
    auto after = configuration_fingerprint();
    if (!after) return fail(after.error());
    if (after->digest != before->digest) return false;
    if (!before->proven) {
      spdlog::info("the volumes kept changing within the last second before the attempt: it cannot prove that the "
                   "configuration held still");
      return false;
    }
    attempt_ = std::move(*staged);
    return true;
  }

  /// The export finished inside the window; fetching it needs no stillness. Not synced: restic reads the
  /// archive right after this stage, and a crash before the snapshot is saved fails the run anyway (the
  /// next run starts over). Not hashed during the transfer either: the validation reads the file once
  /// more anyway and hashes it then, so the transfer runs at curl's pace.
  Result<> download_database() {
    timer_.start("download");
    downloaded_ = layout_.database_archive().string() + ".part";
    connectware::DownloadOptions options;
    options.sync = false;
    options.hash = false;
    auto downloaded = context_.connectware.download_backup(downloaded_, context_.progress.download, options);
    if (!downloaded) return fail(downloaded.error().with_context("downloading the database archive"));
    return {};
  }

  /// Someone could have started another export between ours finishing and the download: the archive
  /// would then not be ours. The status tells.
  Result<> confirm_download() {
    timer_.start("confirm_download");
    auto status = context_.connectware.status();
    if (!status) return fail(status.error().with_context("confirming the downloaded archive"));
    if (status->running || !status->backup || status->backup->id != attempt_.export_id) {
      return fail(ErrorKind::export_failed, "another database export started while ours was downloaded (" +
                                                (status->backup ? status->backup->id : std::string("?")) +
                                                "); run the backup again");
    }
    return {};
  }

  Result<> store_database() {
    timer_.start("validate_archive");
    auto database = store_database_archive(config_.database_storage(), layout_, downloaded_, attempt_.export_id);
    (void)util::remove_tree(downloaded_);
    if (!database) return fail(database.error());
    database_ = std::move(*database);
    timer_.stop();
    return {};
  }

  /// scope = full: the volumes' copy that counts is made with every container of the installation
  /// stopped (the database's files at rest), after the hot passes did the bulk of the copying: inside the
  /// downtime the mirror only re-checks metadata and copies what changed. Then everything starts again
  /// (reverse stop order) and Connectware must answer healthy. The database export taken before stays in
  /// the snapshot, for a `configuration` restore from it.
  Result<> stage_with_installation_stopped() {
    auto before = connectware::running_services(context_.connectware);
    if (!before)
      spdlog::warn("cannot tell which Connectware services run before the stop ({}): after it every listed service "
                   "must run",
                   before.error().message);
    auto watchdog = start_watchdog("while the installation is stopped, the next run starts it");
    timer_.start("stop_installation");
    auto workloads = context_.installation.installation_workloads();
    if (!workloads) return fail(workloads.error().with_context("listing the installation's containers"));
    for (const auto& workload : *workloads)
      if (workload.running) stopped_containers_.push_back(workload.name);
    const auto stop_started = context_.clock.now();
    {
      auto held = context_.installation.stop_installation(paths_);
      if (!held) return fail(held.error().with_context("stopping the installation (scope = full)"));
      spdlog::info("stopped {} container(s) of the installation, in this order: {}", (*held)->held().size(),
                   util::join(stopped_containers_));
      timer_.start("stage_stopped");
      auto staged = stage_volumes(volumes_, layout_, 0);
      if (!staged) return fail(staged.error().with_context("copying the volumes with the installation stopped"));
      attempt_.volumes = std::move(*staged);
      CWB_TRY(check_cancellation("while the installation was stopped"));
      timer_.start("start_installation");
      CWB_TRY((*held)->release());
    }
    if (watchdog) watchdog->released();
    timer_.start("await_health");
    const std::optional<std::set<std::string>> awaited = before ? std::optional(*before) : std::nullopt;
    if (auto healthy =
            connectware::wait_until_healthy(context_.connectware, config_.health_timeout(),
                                            std::chrono::milliseconds(250), std::chrono::seconds(2), awaited);
        !healthy)
      return fail(healthy.error().with_context("after the full backup started the installation again"));
    timer_.stop();
    downtime_seconds_ = std::chrono::duration<double>(context_.clock.now() - stop_started).count();
    spdlog::info("installation stopped for {:.2f} s (scope = full): {} bytes copied inside the downtime",
                 downtime_seconds_, attempt_.volumes.bytes_copied);
    return {};
  }

  /// The shrink alert: this backup's sizes against the last successful backup's (from the status file). With
  /// on-shrink = fail the run ends here, before restic stores anything; with warn the findings go on into the
  /// status and metrics.
  Result<> check_shrinkage() {
    marker_.database_entries = database_.entry_count;
    marker_.volume_files = 0;
    for (const auto& volume : attempt_.volumes.records)
      marker_.volume_files += (volume.spooled ? volume.spooled->files : 0) +
                              static_cast<std::uint64_t>(std::ranges::count(volume.entries, snapshot::EntryType::file,
                                                                            &snapshot::VolumeEntry::type));
    const snapshot::RunSizes now{database_.archive_bytes, marker_.database_entries, marker_.volume_files,
                                 attempt_.volumes.bytes};
    const auto last_success = snapshot::read_last_success_sizes(config_.status_file());
    if (!last_success) return {}; // a first backup, or the status of a version that did not record sizes
    const auto findings = shrink_findings(*last_success, now, config_.shrink_alert_percent());
    if (findings.empty()) return {};
    const auto when = snapshot::read_last_success(config_.status_file());
    const std::string what = fmt::format(
        "this backup is smaller than the last successful one{} by more than shrink-alert-percent ({} %): {}",
        when && !when->second.empty() ? " (" + when->second + ")" : "", config_.shrink_alert_percent(),
        util::join(findings, "; "));
    if (config_.on_shrink() == config::OnShrink::fail)
      return fail(ErrorKind::shrunk, what + "; nothing was stored (on-shrink = fail; docs/operations.md, \"Shrink "
                                            "alert\")");
    spdlog::warn("shrink alert: {} (on-shrink = warn: the backup goes on)", what);
    marker_.shrink_findings = findings;
    return {};
  }

  Result<PreBackupResult> write_manifest() {
    snapshot::Manifest manifest;
    manifest.plugin_version = CWB_VERSION;
    manifest.connectware_url = http::redact_url(config_.connectware_url());
    manifest.connectware_version = marker_.connectware_version;
    manifest.host = config_.host();
    manifest.started = marker_.started;
    manifest.finished = snapshot::iso8601_utc(context_.clock.wall_now());
    manifest.quiesce = {to_string(mode_), marker_.quiesce_outcome, attempt_.window_seconds, attempts_, attempt_.held};
    manifest.scope = full_scope() ? snapshot::scope_full : snapshot::scope_configuration;
    manifest.installation = {description_.platform,   description_.project, description_.volumes,
                             description_.containers, stopped_containers_,  downtime_seconds_};
    manifest.database = database_;
    if (database_.format == snapshot::database_format_tar)
      manifest.format = snapshot::manifest_format_unpacked_database;
    manifest.volumes = std::move(attempt_.volumes.records); // counted already (check_shrinkage); not used again
    manifest.tags = config_.tags();
    manifest.tags.push_back("connectware-" + marker_.connectware_version);
    if (full_scope()) manifest.tags.emplace_back(snapshot::full_scope_tag); // --list shows which snapshots are full
    CWB_TRY(snapshot::write_manifest_file(manifest, layout_.manifest()));
    // The entries are in manifest.json now; the check below reads them back from there.
    for (auto& volume : manifest.volumes) {
      if (volume.spooled) CWB_TRY(util::remove_tree(volume.spooled->file));
      volume.spooled.reset();
      volume.entries = {};
    }
    // A backup that its own restore would refuse is a failed backup: the manifest is read back as the
    // restore reads it, and the staged tree checked against it (the contents were hashed while copied).
    CWB_TRY(restore::check_staging_restorable(layout_));

    marker_.quiesce_window_seconds = attempt_.window_seconds;
    marker_.database_bytes = database_.bytes;
    marker_.database_archive_bytes = database_.archive_bytes;
    marker_.volume_bytes = attempt_.volumes.bytes;
    marker_.tags = manifest.tags;
    marker_.scope = manifest.scope;
    marker_.downtime_seconds = downtime_seconds_;
    marker_.stage_seconds.clear();
    for (const auto& step :
         {"prestage_volumes", "export", "stage_volumes", "download", "confirm_download", "validate_archive"})
      marker_.stage_seconds.emplace_back(step, timer_.seconds(step));
    if (full_scope())
      for (const auto& step : {"stop_installation", "stage_stopped", "start_installation", "await_health"})
        marker_.stage_seconds.emplace_back(step, timer_.seconds(step));
    marker_.stage_seconds.emplace_back("pre_backup", timer_.total());
    marker_.staged = true;
    CWB_TRY(installation::write_run_marker(paths_, marker_));
    spdlog::info("staged {} ({} bytes of database, {} bytes of volumes); configuration held for {:.2f} s",
                 layout_.root.string(), database_.bytes, attempt_.volumes.bytes, attempt_.window_seconds);
    return PreBackupResult{std::move(manifest), marker_.tags};
  }

  BackupContext& context_;
  const config::Config& config_;
  const StatePaths paths_;
  const snapshot::Layout layout_;
  util::StepTimer timer_;
  util::FileLock lock_; // declared before partial_files_: released only after they are removed
  util::RemovalGuard partial_files_;
  RunMarker marker_;
  QuiesceMode mode_ = QuiesceMode::none;
  std::vector<installation::Volume> volumes_;
  installation::Description description_;
  Attempt attempt_;
  int attempts_ = 0;
  bool prestaged_ = false; // prestage_volumes made a pass (with the periodic full re-read)
  std::string downloaded_;
  snapshot::DatabaseRecord database_;
  std::vector<std::string> stopped_containers_; // scope = full: by name, in stop order
  double downtime_seconds_ = 0;
};

} // namespace

Result<PreBackupResult> run_pre_backup(BackupContext& context) {
  return PreBackupRun(context).run();
}

} // namespace cwb::backup
