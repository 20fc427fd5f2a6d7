#include "restore/drill.hpp"

#include "archive/archive.hpp"
#include "core/exit_codes.hpp"
#include "restore/restore.hpp"
#include "restore/snapshot_check.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "snapshot/run_report.hpp"
#include "util/file_system.hpp"
#include "util/step_timer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace cwb::restore {

namespace fs = std::filesystem;

namespace {

class Drill {
public:
  Drill(DrillContext& context, const DrillRequest& request) : context_(context), request_(request) {}

  Result<DrillOutcome> run() {
    timer_.start("fetch");
    CWB_TRY(pick_snapshot());
    // Below state-dir (owner-only): the fetch holds the database export. Never restore-dir, which a
    // restore running meanwhile uses.
    CWB_TRY(util::create_private_directory(context_.config.state_dir()));
    auto scratch = util::TemporaryDirectory::create(context_.config.state_dir(), "drill-");
    if (!scratch) return fail(scratch.error().with_context("making the drill's scratch folder"));
    CWB_TRY(fetch(scratch->path()));
    timer_.start("check");
    auto manifest = read_fetched_manifest(layout_);
    if (!manifest) return fail(manifest.error());
    CWB_TRY(check_fetched_snapshot(layout_, *manifest, Parts::all));
    for (const auto& volume : manifest->volumes)
      outcome_.volume_entries += volume.entries.size();
    spdlog::info("snapshot {} matches its manifest ({} volume entries)", snapshot_.short_id, outcome_.volume_entries);
    timer_.start("database");
    if (manifest->database) CWB_TRY(check_database(*manifest->database, scratch->path()));
    timer_.start("repository_check");
    CWB_TRY(check_repository());
    timer_.stop();
    return outcome_;
  }

  [[nodiscard]] std::map<std::string, double> step_seconds() const {
    std::map<std::string, double> steps;
    for (const auto& [step, seconds] : timer_.steps())
      steps[step] = seconds;
    return steps;
  }
  [[nodiscard]] const restic::Snapshot& snapshot() const { return snapshot_; }

private:
  Result<> pick_snapshot() {
    if (!request_.snapshot.empty()) {
      auto found = context_.restic.find_snapshot(request_.snapshot);
      if (!found) return fail(found.error().with_context("finding snapshot " + request_.snapshot));
      snapshot_ = std::move(*found);
    } else {
      auto all = list_snapshots(context_.restic, context_.config);
      if (!all) return fail(all.error());
      // Oldest first: the last one of this host is the latest.
      const auto& host = context_.config.host();
      const restic::Snapshot* latest = nullptr;
      for (const auto& snapshot : *all) {
        if (snapshot.hostname == host) latest = &snapshot;
      }
      if (latest == nullptr)
        return fail(ErrorKind::no_snapshot,
                    "no snapshot of host " + host + " with the tags of this configuration to drill");
      snapshot_ = *latest;
    }
    outcome_.snapshot_id = snapshot_.id;
    outcome_.snapshot_time = snapshot_.time;
    if (const auto taken = restic::unix_seconds_of(snapshot_.time)) {
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(context_.now().time_since_epoch()).count();
      outcome_.snapshot_age_seconds = std::max<std::int64_t>(0, now - *taken);
    }
    return {};
  }

  Result<> fetch(const fs::path& target) {
    if (snapshot_.paths.size() != 1 || !fs::path(snapshot_.paths.front()).is_absolute())
      return fail(ErrorKind::snapshot_invalid,
                  "snapshot " + snapshot_.short_id + " was not made by connectware-backup (it holds " +
                      std::to_string(snapshot_.paths.size()) + " paths; one staging folder expected)");
    spdlog::info("drill: fetching snapshot {} ({}) into {}", snapshot_.short_id, snapshot_.time, target.string());
    // No --verify, as in a restore: the check reads every file against the manifest's SHA-256.
    if (auto restored = context_.restic.restore(snapshot_.id, target, {}, restic::Verify::no); !restored)
      return fail(restored.error().with_context("fetching snapshot " + snapshot_.short_id));
    layout_ = snapshot::Layout{target / fs::path(snapshot_.paths.front()).relative_path()};
    return {};
  }

  /// The archive a restore would upload, read to its last entry.
  Result<> check_database(const snapshot::DatabaseRecord& record, const fs::path& work_dir) {
    auto upload = database_for_upload(layout_, record, work_dir);
    if (!upload) return fail(upload.error());
    auto info = archive::validate_tar_gz(*upload);
    if (!info)
      return fail(ErrorKind::snapshot_invalid,
                  "the database archive a restore would upload does not read back: " + info.error().message);
    if (!record.entries_sha256.empty() && info->entries_sha256 != record.entries_sha256)
      return fail(ErrorKind::snapshot_invalid,
                  "the database archive a restore would upload does not hold the entries Connectware exported");
    if (record.entry_count != 0 && info->entry_count != record.entry_count)
      return fail(ErrorKind::snapshot_invalid, "the database archive holds " + std::to_string(info->entry_count) +
                                                   " entries, the manifest says " + std::to_string(record.entry_count));
    outcome_.database_entries = info->entry_count;
    spdlog::info("database archive reads back to its last entry ({} entries, as exported)", info->entry_count);
    return {};
  }

  Result<> check_repository() {
    const auto& subset = context_.config.drill_read_data_subset();
    spdlog::info("drill: restic check{}", subset == "0" ? "" : " --read-data-subset=" + subset);
    if (auto checked = context_.restic.check(subset == "0" ? std::string{} : subset); !checked)
      return fail(checked.error().with_context("checking the repository"));
    return {};
  }

  DrillContext& context_;
  const DrillRequest& request_;
  util::StepTimer timer_{[] { return util::StepTimer::Clock::now(); },
                         {"fetch", "check", "database", "repository_check"}};
  restic::Snapshot snapshot_;
  snapshot::Layout layout_{fs::path{}};
  DrillOutcome outcome_;
};

void record_drill(const DrillContext& context, const Result<DrillOutcome>& result, const Drill& drill,
                  std::chrono::system_clock::time_point started) {
  snapshot::RunReport report;
  report.subject = "restore_drill";
  report.success = result.has_value();
  if (!result) {
    report.error_kind = to_string(result.error().kind);
    report.error_message = result.error().message;
    report.exit_code = to_int(exit_code_for(result.error().kind));
  }
  const auto now = context.now();
  report.started = snapshot::iso8601_utc(started);
  report.finished = snapshot::iso8601_utc(now);
  report.finished_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  report.stage_seconds = drill.step_seconds();
  report.duration_seconds = std::chrono::duration<double>(now - started).count();
  report.snapshot_id = drill.snapshot().id;
  if (const auto taken = restic::unix_seconds_of(drill.snapshot().time))
    report.snapshot_age_seconds = std::max<std::int64_t>(0, report.finished_unix - *taken);
  report.read_data_subset = context.config.drill_read_data_subset();
  const auto status_file = context.config.drill_status_file();
  const auto metrics = context.config.drill_metrics_file().value_or(fs::path{});
  if (auto written = snapshot::write_run_report(report, status_file, metrics); !written)
    spdlog::warn("cannot record the drill in {}: {}", status_file.string(), written.error().message);
}

} // namespace

Result<DrillOutcome> run_drill(DrillContext& context, const DrillRequest& request) {
  const auto started = context.now();
  Drill drill(context, request);
  auto result = drill.run();
  record_drill(context, result, drill, started);
  if (result) {
    context.out << "drill: snapshot " << result->snapshot_id.substr(0, 8) << " (" << result->snapshot_time
                << ") comes back: every file matches its manifest, the database archive reads back ("
                << result->database_entries << " entries), restic check passed\n"
                << std::flush;
  }
  return result;
}

} // namespace cwb::restore
