#include "snapshot/run_report.hpp"

#include "util/file_system.hpp"
#include "util/url_credentials.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

namespace cwb::snapshot {

using nlohmann::json;

namespace {

json sizes_json(const std::optional<RunSizes>& sizes) {
  if (!sizes) return nullptr;
  return {{"database_archive_bytes", sizes->database_archive_bytes},
          {"database_entries", sizes->database_entries},
          {"volume_files", sizes->volume_files},
          {"volume_bytes", sizes->volume_bytes}};
}

} // namespace

std::string status_json(const RunReport& report) {
  json out = {
      {"success", report.success},
      {"exit_code", report.exit_code},
      {"started", report.started},
      {"finished", report.finished},
      {"finished_unix", report.finished_unix},
      {"last_success", report.last_success ? json(*report.last_success) : json(nullptr)},
      {"last_success_unix", report.last_success_unix ? json(*report.last_success_unix) : json(nullptr)},
      {"stage_seconds", report.stage_seconds},
      {"quiesce",
       {{"mode", report.quiesce_mode},
        {"outcome", report.quiesce_outcome.empty() ? json(nullptr) : json(report.quiesce_outcome)},
        {"window_seconds", report.quiesce_window_seconds}}},
      {"scope", report.scope},
      {"downtime_seconds", report.downtime_seconds},
      {"bytes",
       {{"database", report.database_bytes},
        {"database_archive", report.database_archive_bytes},
        {"volumes", report.volume_bytes},
        {"restic_data_added", report.restic_data_added}}},
      {"snapshot_id", report.snapshot_id.empty() ? json(nullptr) : json(report.snapshot_id)},
      {"connectware_version", report.connectware_version},
  };
  if (report.subject == "backup") {
    out["sizes"] = sizes_json(report.sizes);
    out["last_success_sizes"] = sizes_json(report.last_success_sizes);
    out["shrink_alert"] = {{"raised", report.shrink_alert}, {"findings", report.shrink_findings}};
    out["retention"] = nullptr;
    if (const auto& retention = report.retention) {
      out["retention"] = {{"success", retention->success},
                          {"pruned", retention->pruned},
                          {"kept", retention->kept},
                          {"removed", retention->removed}};
      if (!retention->success) out["retention"]["error"] = util::mask_url_credentials(retention->error);
    }
  }
  if (report.subject == "restore_drill") {
    out["snapshot_age_seconds"] = report.snapshot_age_seconds ? json(*report.snapshot_age_seconds) : json(nullptr);
    out["duration_seconds"] = report.duration_seconds;
    out["read_data_subset"] = report.read_data_subset;
  }
  if (!report.success)
    out["error"] = {{"kind", report.error_kind}, {"message", util::mask_url_credentials(report.error_message)}};
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string prometheus_text(const RunReport& report) {
  std::string out;
  const std::string prefix = "connectware_" + report.subject + "_";
  const auto metric = [&out, &prefix](const char* name, const char* type, const std::string& help,
                                      const std::string& samples) {
    out += fmt::format("# HELP {}{} {}\n# TYPE {}{} {}\n{}", prefix, name, help, prefix, name, type, samples);
  };
  const std::string& run = report.subject;
  metric("success", "gauge", fmt::format("1 if the last {} run succeeded, 0 if it failed.", run),
         fmt::format("{}success {}\n", prefix, report.success ? 1 : 0));
  metric("exit_code", "gauge", fmt::format("Exit code of the last {} run (see docs/exit-codes.md).", run),
         fmt::format("{}exit_code {}\n", prefix, report.exit_code));
  metric("last_run_timestamp_seconds", "gauge", fmt::format("Unix time the last {} run finished.", run),
         fmt::format("{}last_run_timestamp_seconds {}\n", prefix, report.finished_unix));
  if (report.last_success_unix) {
    metric("last_success_timestamp_seconds", "gauge", fmt::format("Unix time of the last successful {}.", run),
           fmt::format("{}last_success_timestamp_seconds {}\n", prefix, *report.last_success_unix));
  }
  std::string stages;
  for (const auto& [stage, seconds] : report.stage_seconds) {
    stages += fmt::format("{}stage_duration_seconds{{stage=\"{}\"}} {:.3f}\n", prefix, stage, seconds);
  }
  if (!stages.empty()) metric("stage_duration_seconds", "gauge", "Duration of each stage of the last run.", stages);
  if (report.subject == "restore_drill") {
    metric("duration_seconds", "gauge", "How long the last drill took.",
           fmt::format("connectware_restore_drill_duration_seconds {:.3f}\n", report.duration_seconds));
    if (report.snapshot_age_seconds) {
      metric("snapshot_age_seconds", "gauge",
             "Age of the snapshot the last drill fetched and checked, when it ran (how stale the proof is).",
             fmt::format("connectware_restore_drill_snapshot_age_seconds {}\n", *report.snapshot_age_seconds));
    }
    return out;
  }
  if (report.subject != "backup") return out;
  metric("quiesce_window_seconds", "gauge", "How long configuration changes were held in the last run.",
         fmt::format("connectware_backup_quiesce_window_seconds {:.3f}\n", report.quiesce_window_seconds));
  metric("downtime_seconds", "gauge",
         "How long the last run kept Connectware stopped (scope = full; 0 for a configuration backup).",
         fmt::format("connectware_backup_downtime_seconds {:.3f}\n", report.downtime_seconds));
  metric("shrink_alert", "gauge",
         "1 if the last run was smaller than the last successful one by more than shrink-alert-percent.",
         fmt::format("connectware_backup_shrink_alert {}\n", report.shrink_alert ? 1 : 0));
  if (const auto& retention = report.retention) {
    metric("forget_success", "gauge", "1 if the last run's retention (restic forget) succeeded, 0 if it failed.",
           fmt::format("connectware_backup_forget_success {}\n", retention->success ? 1 : 0));
    metric("forget_removed_snapshots", "gauge", "Snapshots the last run's retention removed.",
           fmt::format("connectware_backup_forget_removed_snapshots {}\n", retention->removed));
  }
  metric("bytes", "gauge", "Bytes handled by the last run.",
         fmt::format("connectware_backup_bytes{{kind=\"database\"}} {}\n"
                     "connectware_backup_bytes{{kind=\"database_archive\"}} {}\n"
                     "connectware_backup_bytes{{kind=\"volumes\"}} {}\n"
                     "connectware_backup_bytes{{kind=\"restic_data_added\"}} {}\n",
                     report.database_bytes, report.database_archive_bytes, report.volume_bytes,
                     report.restic_data_added));
  return out;
}

namespace {

/// A previous status file as a JSON object; nullopt when there is none or it is unreadable or not an object.
std::optional<json> read_previous_status(const std::filesystem::path& status_file) {
  auto text = util::read_file(status_file);
  if (!text) return std::nullopt;
  json previous = json::parse(*text, nullptr, false);
  if (previous.is_discarded() || !previous.is_object()) return std::nullopt;
  return previous;
}

} // namespace

std::optional<std::pair<std::int64_t, std::string>> read_last_success(const std::filesystem::path& status_file) {
  const auto previous = read_previous_status(status_file);
  if (!previous) return std::nullopt;
  const auto unix_time = previous->find("last_success_unix");
  if (unix_time == previous->end() || !unix_time->is_number_integer()) return std::nullopt;
  const auto iso = previous->find("last_success");
  return std::make_pair(unix_time->get<std::int64_t>(),
                        iso != previous->end() && iso->is_string() ? iso->get<std::string>() : "");
}

std::optional<RunSizes> read_last_success_sizes(const std::filesystem::path& status_file) {
  const auto previous = read_previous_status(status_file);
  if (!previous) return std::nullopt;
  const auto sizes = previous->find("last_success_sizes");
  if (sizes == previous->end() || !sizes->is_object()) return std::nullopt;
  const auto count = [&sizes](const char* name) {
    const auto value = sizes->find(name);
    return value != sizes->end() && value->is_number_unsigned() ? value->get<std::uint64_t>() : std::uint64_t{0};
  };
  return RunSizes{count("database_archive_bytes"), count("database_entries"), count("volume_files"),
                  count("volume_bytes")};
}

Result<> write_run_report(RunReport report, const std::filesystem::path& status_file,
                          const std::filesystem::path& metrics_file) {
  if (report.success) {
    report.last_success_unix = report.finished_unix;
    report.last_success = report.finished;
    report.last_success_sizes = report.sizes;
  } else {
    if (auto previous = read_last_success(status_file)) {
      report.last_success_unix = previous->first;
      report.last_success = previous->second;
    }
    if (report.subject == "backup") report.last_success_sizes = read_last_success_sizes(status_file);
  }
  if (!status_file.parent_path().empty()) CWB_TRY(util::ensure_directories(status_file.parent_path()));
  CWB_TRY(util::write_file_atomic(status_file, status_json(report), 0644));
  if (!metrics_file.empty()) {
    if (!metrics_file.parent_path().empty()) CWB_TRY(util::ensure_directories(metrics_file.parent_path()));
    // node_exporter reads *.prom files; an atomic rename keeps it from reading half a file.
    CWB_TRY(util::write_file_atomic(metrics_file, prometheus_text(report), 0644));
  }
  return {};
}

} // namespace cwb::snapshot
