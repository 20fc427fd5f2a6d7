#include "backup/pre_backup.hpp"

#include "archive/archive.hpp"
#include "backup/quiesce.hpp"
#include "backup/run_state.hpp"
#include "backup/volume_staging.hpp"
#include "connectware/database_operations.hpp"
#include "snapshot/layout.hpp"
#include "util/cancellation.hpp"
#include "util/file_lock.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cwb::backup {
namespace {

using Seconds = std::chrono::duration<double>;

double seconds_since(http::Clock& clock, std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<Seconds>(clock.now() - start).count();
}

Result<> check_cancellation(const char* stage) {
  if (util::cancellation_requested()) {
    return fail(ErrorKind::interrupted,
                std::string("interrupted by signal ") + std::to_string(util::cancellation_signal()) + " " + stage);
  }
  return {};
}

/// Removes the staged database archive in either form, and partial files of both.
void remove_staged_database(const snapshot::Layout& layout) {
  for (const auto& path : {layout.database_archive(), layout.database_tar()}) {
    (void)util::remove_tree(path);
    (void)util::remove_tree(path.string() + ".part");
  }
}

/// Resolves `auto`: pause where the container runtime answers, else verify.
QuiesceMode resolve_quiesce(BackupContext& context) {
  switch (context.config.quiesce()) {
  case config::Quiesce::pause: return QuiesceMode::pause;
  case config::Quiesce::verify: return QuiesceMode::verify;
  case config::Quiesce::none: return QuiesceMode::none;
  case config::Quiesce::automatic: break;
  }
  if (context.containers != nullptr && context.containers->list_containers({})) return QuiesceMode::pause;
  spdlog::warn("the container runtime at {} does not answer: quiesce falls back to verify mode",
               context.config.docker_host());
  return QuiesceMode::verify;
}

/// Takes the run: refuses while another run's owner lives, recovers what a dead run left behind.
Result<> claim_run(BackupContext& context, const StatePaths& paths, RunMarker& marker) {
  auto previous = read_run_marker(paths);
  if (!previous) return fail(previous.error());
  if (*previous) {
    const auto& other = **previous;
    // A run whose owner lives is in progress, unless it is ours (the same job ran pre twice) or so old
    // that its owner cannot still be running it (a backup agent that never calls the post hook).
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(context.clock.wall_now().time_since_epoch()).count();
    const bool too_old = now_ms - other.started_unix_ms > std::chrono::milliseconds(stale_run_age).count();
    if (util::is_alive(other.owner) && !(other.owner == context.run_owner) && !too_old) {
      return fail(ErrorKind::locked, "another backup run is in progress (started " + other.started + " by pid " +
                                         std::to_string(other.owner.pid) + ")");
    }
    spdlog::warn("recovering from an unfinished run started {} (its post-backup hook never ran)", other.started);
  }
  if (context.containers != nullptr) {
    auto released = release_leftover_pause(*context.containers, paths);
    if (!released) return fail(released.error().with_context("releasing containers a previous run left paused"));
    if (!released->empty()) spdlog::warn("unpaused {} container(s) a previous run left paused", released->size());
  }
  return write_run_marker(paths, marker);
}

/// One attempt at a consistent copy: quiesce, export on the server while the volumes are mirrored,
/// release. Returns the finished export's id and the staged volumes.
struct AttemptResult {
  connectware::PendingExport export_started;
  std::string export_id;
  StagedVolumes volumes;
  double window_seconds = 0;
  double export_seconds = 0;
  double staging_seconds = 0;
  std::vector<std::string> paused;
};

Result<AttemptResult> stage_once(BackupContext& context, QuiesceMode mode, const StatePaths& paths,
                                 const snapshot::Layout& layout, const std::vector<VolumeSource>& sources,
                                 const connectware::ExportOptions& export_options) {
  AttemptResult result;
  const auto window_start = context.clock.now();
  PauseGuard guard;
  if (mode == QuiesceMode::pause) {
    auto paused = PauseGuard::pause(*context.containers, paths, context.config.compose_project(),
                                    context.config.pause_services());
    if (!paused) return fail(paused.error());
    guard = std::move(*paused);
    result.paused = guard.paused();
    spdlog::info("paused {} container(s) that write configuration", result.paused.size());
  }
  // The server exports while we mirror the volumes: only the slower of the two counts against the window.
  auto pending = connectware::start_export(context.connectware, export_options);
  if (!pending) return fail(pending.error());
  result.export_started = *pending;

  const auto staging_start = context.clock.now();
  auto staged = stage_volumes(sources, layout);
  if (!staged) return fail(staged.error());
  result.volumes = std::move(*staged);
  result.staging_seconds = seconds_since(context.clock, staging_start);
  CWB_TRY(check_cancellation("while staging the volumes"));

  const auto export_wait_start = context.clock.now();
  auto finished = connectware::await_export(context.connectware, *pending, export_options);
  if (!finished) return fail(finished.error());
  result.export_id = *finished;
  result.export_seconds = seconds_since(context.clock, export_wait_start);

  if (mode == QuiesceMode::pause) CWB_TRY(guard.release());
  result.window_seconds = seconds_since(context.clock, window_start);
  return result;
}

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
  if (unpack) {
    // The proof: the tar on disk is byte for byte the inflated stream whose entries (names, metadata,
    // contents) were just read and digested (same size; its SHA-256 taken as it was written), so gzip
    // cannot change them on restore, where the rebuilt archive is checked against the same digest again.
    // (Reading the tar back here would only read the same bytes from the page cache.)
    const auto stored_bytes = std::filesystem::file_size(tar_partial, error);
    const bool whole = !error && stored_bytes == archive_info->unpacked_bytes && !archive_info->unpacked_sha256.empty();
    if (whole) {
      if (auto moved = move_into_place(tar_partial, layout.database_tar()); !moved) {
        (void)util::remove_tree(tar_partial);
        return fail(moved.error());
      }
      record.file = relative(layout.database_tar());
      record.format = snapshot::database_format_tar;
      record.bytes = stored_bytes;
      record.sha256 = archive_info->unpacked_sha256;
      return record;
    }
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

/// Fingerprint of everything verify mode watches: the volume trees and the services list.
Result<std::string> configuration_fingerprint(BackupContext& context, const std::vector<VolumeSource>& sources) {
  auto trees = fingerprint_volumes(sources);
  if (!trees) return fail(trees.error());
  auto services = context.connectware.services();
  if (!services) return fail(services.error().with_context("listing services"));
  return *trees + ":" + util::sha256_hex(services->dump());
}

} // namespace

Result<PreBackupResult> run_pre_backup(BackupContext& context) {
  const auto& config = context.config;
  const StatePaths paths{config.state_dir()};
  const snapshot::Layout layout{config.staging_dir()};
  const auto run_start = context.clock.now();
  const auto started_wall = context.clock.wall_now();

  CWB_TRY(util::create_private_directory(paths.state_dir));
  auto lock = util::FileLock::try_acquire(paths.lock());
  if (!lock) return fail(lock.error());

  RunMarker marker;
  marker.started = snapshot::iso8601_utc(started_wall);
  marker.started_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(started_wall.time_since_epoch()).count();
  marker.run_id = marker.started + "-" + std::to_string(getpid());
  marker.owner = context.run_owner;
  CWB_TRY(claim_run(context, paths, marker));

  // From here on a failure must leave nothing behind: no marker, no partial archive.
  struct Cleanup {
    const StatePaths& paths;
    const snapshot::Layout& layout;
    bool armed = true;
    ~Cleanup() {
      if (!armed) return;
      remove_staged_database(layout);
      (void)remove_run_marker(paths);
    }
  } cleanup{paths, layout};

  auto result = [&]() -> Result<PreBackupResult> {
    auto info = context.connectware.system_info();
    if (!info) return fail(info.error().with_context("asking Connectware for its version"));
    spdlog::info("Connectware {} at {}", info->version, config.connectware_url());
    marker.connectware_version = info->version;

    const QuiesceMode mode = resolve_quiesce(context);
    if (mode == QuiesceMode::pause && context.containers == nullptr) {
      return fail(ErrorKind::usage, "quiesce = pause needs a container runtime (docker-host)");
    }
    marker.quiesce_mode = to_string(mode);

    CWB_TRY(util::create_private_directory(layout.root));
    CWB_TRY(util::create_private_directory(layout.database_dir()));
    auto sources = resolve_volume_sources(config, context.containers);
    if (!sources) return fail(sources.error());

    connectware::ExportOptions export_options;
    // The configuration is held still until the export is seen finished: poll early and often (from
    // 250 ms, doubling to 500 ms at most, below poll-interval / poll-max-interval when those are shorter),
    // so that the window ends at most half a second after the export does. A status GET is cheap.
    export_options.poll_initial =
        std::min<std::chrono::milliseconds>(config.poll_interval(), std::chrono::milliseconds(250));
    export_options.poll_max =
        std::max(export_options.poll_initial,
                 std::min<std::chrono::milliseconds>(config.poll_max_interval(), std::chrono::milliseconds(500)));
    export_options.timeout = config.export_timeout();
    export_options.progress = context.progress;

    // A first pass over the volumes while nothing is held: on a first run (or after many changes) it does
    // the bulk of the copying, so that the pass inside the quiesce window only re-checks metadata and copies
    // what changed in between. Without quiescing there is no window to keep short.
    double prestage_seconds = 0;
    if (mode != QuiesceMode::none) {
      const auto prestage_start = context.clock.now();
      if (auto prestaged = stage_volumes(*sources, layout); !prestaged) return fail(prestaged.error());
      prestage_seconds = seconds_since(context.clock, prestage_start);
      CWB_TRY(check_cancellation("while staging the volumes"));
    }

    const int max_attempts = mode == QuiesceMode::verify ? std::max(1, config.verify_attempts()) : 1;
    std::optional<AttemptResult> attempt;
    int attempts = 0;
    for (attempts = 1; attempts <= max_attempts; ++attempts) {
      std::string before;
      if (mode == QuiesceMode::verify) {
        auto fingerprint = configuration_fingerprint(context, *sources);
        if (!fingerprint) return fail(fingerprint.error());
        before = *fingerprint;
      }
      auto staged = stage_once(context, mode, paths, layout, *sources, export_options);
      if (!staged) return fail(staged.error());
      if (mode != QuiesceMode::verify) {
        attempt = std::move(*staged);
        break;
      }
      auto after = configuration_fingerprint(context, *sources);
      if (!after) return fail(after.error());
      if (*after == before) {
        attempt = std::move(*staged);
        break;
      }
      spdlog::warn("the configuration changed during attempt {} of {}; staging again", attempts, max_attempts);
    }
    if (!attempt) {
      return fail(ErrorKind::quiesce_failed, "the configuration kept changing during " + std::to_string(max_attempts) +
                                                 " attempts (verify mode); retry later or use quiesce = pause");
    }
    CWB_TRY(check_cancellation("after staging"));

    // The export finished inside the window; fetching it needs no stillness. Each part is timed on its
    // own: the transfer, the status check, the archive check (with the unpacking).
    const auto download_start = context.clock.now();
    const std::string partial = layout.database_archive().string() + ".part";
    // Not synced: restic reads the archive right after this stage, and a crash before the snapshot is
    // saved fails the run anyway (the next run starts over). Not hashed during the transfer either: the
    // validation reads the file once more anyway and hashes it then, so the transfer runs at curl's pace.
    connectware::DownloadOptions download_options;
    download_options.sync = false;
    download_options.hash = false;
    auto downloaded = context.connectware.download_backup(partial, context.progress, download_options);
    if (!downloaded) {
      (void)util::remove_tree(partial);
      return fail(downloaded.error().with_context("downloading the database archive"));
    }
    const double download_seconds = seconds_since(context.clock, download_start);
    // Someone could have started another export between ours finishing and the download: the archive
    // would then not be ours. The status tells.
    const auto confirm_start = context.clock.now();
    auto status = context.connectware.status();
    if (!status) return fail(status.error().with_context("confirming the downloaded archive"));
    if (status->running || !status->backup || status->backup->id != attempt->export_id) {
      (void)util::remove_tree(partial);
      return fail(ErrorKind::export_failed, "another database export started while ours was downloaded (" +
                                                (status->backup ? status->backup->id : std::string("?")) +
                                                "); run the backup again");
    }
    const double confirm_seconds = seconds_since(context.clock, confirm_start);
    const auto validate_start = context.clock.now();
    auto database = store_database_archive(config.database_storage(), layout, partial, attempt->export_id);
    (void)util::remove_tree(partial);
    if (!database) return fail(database.error());
    const double validate_seconds = seconds_since(context.clock, validate_start);

    snapshot::Manifest manifest;
    manifest.plugin_version = CWB_VERSION;
    manifest.connectware_url = http::redact_url(config.connectware_url());
    manifest.connectware_version = info->version;
    manifest.host = config.host();
    manifest.started = marker.started;
    manifest.finished = snapshot::iso8601_utc(context.clock.wall_now());
    manifest.quiesce = {to_string(mode), attempt->window_seconds, attempts, attempt->paused};
    manifest.database = *database;
    if (database->format == snapshot::database_format_tar) manifest.format = snapshot::manifest_format_version;
    manifest.volumes = attempt->volumes.records;
    manifest.tags = config.tags();
    manifest.tags.push_back("connectware-" + info->version);
    CWB_TRY(util::write_file_atomic(layout.manifest(), snapshot::to_json_text(manifest)));

    marker.quiesce_window_seconds = attempt->window_seconds;
    marker.database_bytes = database->bytes;
    marker.database_archive_bytes = database->archive_bytes;
    marker.volume_bytes = attempt->volumes.bytes;
    marker.tags = manifest.tags;
    marker.stage_seconds = {{"prestage_volumes", prestage_seconds},
                            {"export", attempt->export_seconds},
                            {"stage_volumes", attempt->staging_seconds},
                            {"download", download_seconds},
                            {"confirm_download", confirm_seconds},
                            {"validate_archive", validate_seconds},
                            {"pre_backup", seconds_since(context.clock, run_start)}};
    marker.staged = true;
    CWB_TRY(write_run_marker(paths, marker));
    spdlog::info("staged {} ({} bytes of database, {} bytes of volumes); configuration held for {:.2f} s",
                 layout.root.string(), database->bytes, attempt->volumes.bytes, attempt->window_seconds);
    return PreBackupResult{std::move(manifest), marker.tags};
  }();
  if (result) cleanup.armed = false;
  return result;
}

} // namespace cwb::backup
