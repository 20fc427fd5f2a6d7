#include "connectware/database_operations.hpp"

#include "util/duration.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <regex>

namespace cwb::connectware {

namespace {

using Clock = std::chrono::steady_clock;

// Exponential polling that never sleeps past the deadline.
class Poller {
public:
  Poller(ConnectwareClient& client, std::chrono::milliseconds initial, std::chrono::milliseconds maximum,
         std::chrono::milliseconds timeout)
      : client_(client), delay_(std::max(initial, std::chrono::milliseconds(1))), maximum_(maximum),
        deadline_(client.clock().now() + timeout) {}

  [[nodiscard]] bool expired() const { return client_.clock().now() >= deadline_; }

  Result<> wait() {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - client_.clock().now());
    CWB_TRY(client_.sleeper().sleep_for(std::clamp(left, std::chrono::milliseconds(0), delay_)));
    delay_ = std::min(delay_ * 2, std::max(maximum_, delay_));
    return {};
  }

private:
  ConnectwareClient& client_;
  std::chrono::milliseconds delay_;
  std::chrono::milliseconds maximum_;
  Clock::time_point deadline_;
};

// Waits until no maintenance operation runs; returns the status seen then.
Result<MaintenanceStatus> wait_until_idle(ConnectwareClient& client, std::chrono::milliseconds poll_initial,
                                          std::chrono::milliseconds poll_max, std::chrono::milliseconds timeout,
                                          ErrorKind kind) {
  Poller poller(client, poll_initial, poll_max, timeout);
  while (true) {
    auto status = client.status();
    if (!status) return fail(status.error());
    if (!status->running) return status;
    if (poller.expired()) {
      return fail(kind, "another database operation is still running after " + util::format_duration(timeout) +
                            "; not starting a new one");
    }
    CWB_TRY(poller.wait());
  }
}

bool contains_word_version(std::string_view text) {
  std::string lowered(text);
  std::ranges::transform(lowered, lowered.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered.find("version") != std::string::npos;
}

// A POST answered with a 5xx, or cut off by a timeout or a broken connection, may have reached Connectware
// and started the operation: only the status can tell. A refused connection (nothing was sent), a TLS
// failure or a 4xx cannot have started anything.
bool may_have_started(const Error& error) {
  switch (error.cause) {
  case Cause::http_status: return error.http_status >= 500;
  case Cause::timeout:
  case Cause::stalled:
  case Cause::truncated:
  case Cause::receive:
  case Cause::send:
  case Cause::protocol: return true;
  default: return false;
  }
}

/// What the status says after a POST whose outcome is unknown.
enum class StartEvidence { started, nothing_started, unknown };

StartEvidence evidence_of_backup(const Result<MaintenanceStatus>& status, const std::string& previous_id) {
  if (!status) return StartEvidence::unknown;
  // We waited for idle before the POST, so a running operation or a new id is the one we asked for.
  if (status->running) return StartEvidence::started;
  if (status->backup && status->backup->id != previous_id) return StartEvidence::started;
  return StartEvidence::nothing_started;
}

} // namespace

Result<PendingExport> start_export(ConnectwareClient& client, const ExportOptions& options) {
  auto idle =
      wait_until_idle(client, options.poll_initial, options.poll_max, options.wait_for_idle, ErrorKind::export_failed);
  if (!idle) return fail(idle.error().with_context("exporting the database"));
  // Only a backup with another id than this one is ours.
  PendingExport pending;
  pending.previous_id = idle->backup ? idle->backup->id : std::string();
  pending.started = client.clock().wall_now();
  // A failed POST is not a failed backup: ask the status whether the export started and follow it, or post
  // again. Posting a backup twice is harmless (the second gets 409 while the first runs), so an unknown
  // status allows another POST too.
  Poller backoff(client, options.poll_initial, options.poll_max, options.timeout);
  for (int attempt = 1;; ++attempt) {
    auto started = client.start_backup();
    if (started) return pending;
    const Error& error = started.error();
    const bool after_ambiguous_post = attempt > 1;
    if (after_ambiguous_post && error.kind == ErrorKind::export_failed && error.http_status == 409) {
      spdlog::info("the repeated start was refused as an operation is running: following the export that the "
                   "earlier start began");
      return pending;
    }
    if (!may_have_started(error) || attempt >= options.start_attempts)
      return fail(error.with_context("exporting the database"));
    spdlog::warn("{}; asking the maintenance status whether the export started", error.message);
    const auto evidence = evidence_of_backup(client.status(), pending.previous_id);
    if (evidence == StartEvidence::started) {
      spdlog::info("the maintenance status shows the export started: following it");
      return pending;
    }
    spdlog::info("{}; starting the export again (attempt {} of {})",
                 evidence == StartEvidence::nothing_started ? "nothing started" : "the status cannot tell", attempt + 1,
                 options.start_attempts);
    CWB_TRY(backoff.wait());
  }
}

Result<std::string> await_export(ConnectwareClient& client, const PendingExport& pending,
                                 const ExportOptions& options) {
  Poller poller(client, options.poll_initial, options.poll_max, options.timeout);
  // The caller may have done other work since the start (the pre-backup stage mirrors the volumes): when a
  // first poll interval has already passed, ask at once instead of sleeping on a finished export.
  bool ask_now = client.clock().wall_now() - pending.started >= options.poll_initial;
  while (true) {
    if (!ask_now) CWB_TRY(poller.wait());
    ask_now = false;
    auto status = client.status();
    if (!status) return fail(status.error().with_context("exporting the database: waiting for the backup"));
    if (options.on_wait)
      options.on_wait(std::chrono::duration_cast<std::chrono::seconds>(client.clock().wall_now() - pending.started));
    if (!status->running && status->backup && status->backup->id != pending.previous_id) {
      const auto& backup = *status->backup;
      if (backup.succeeded == true) return backup.id;
      if (backup.succeeded == false) {
        return fail(ErrorKind::export_failed,
                    "exporting the database: Connectware reports backup " + backup.id +
                        " failed: " + (backup.message.empty() ? "(no message)" : backup.message));
      }
      return fail(ErrorKind::export_failed, "exporting the database: backup " + backup.id +
                                                " finished but the status does not say whether it succeeded");
    }
    if (poller.expired()) {
      if (status->running) {
        return fail(ErrorKind::export_failed, "exporting the database: the backup is still running after " +
                                                  util::format_duration(options.timeout));
      }
      return fail(ErrorKind::export_failed, "exporting the database: no new backup appeared within " +
                                                util::format_duration(options.timeout) + " (the last id is still \"" +
                                                pending.previous_id + "\")");
    }
  }
}

Result<ExportResult> export_database(ConnectwareClient& client, const std::filesystem::path& target,
                                     const ExportOptions& options) {
  auto pending = start_export(client, options);
  if (!pending) return fail(pending.error());
  ExportResult result;
  result.started = pending->started;
  auto id = await_export(client, *pending, options);
  if (!id) return fail(id.error());
  result.id = *id;
  result.finished = client.clock().wall_now();

  auto archive = client.download_backup(target, options.progress);
  if (!archive) return fail(archive.error().with_context("exporting the database"));
  result.bytes = archive->bytes;
  result.sha256 = archive->sha256;
  return result;
}

namespace {

// "The last Connectware version that can restore this backup file is 1.4.9": the number after "last" is the
// answer even when the message names the archive's own version first.
const std::regex& version_after_last() {
  static const std::regex pattern(R"(last[^0-9]{0,80}?v?(\d+\.\d+\.\d+))", std::regex::icase);
  return pattern;
}

// "use Connectware 1.5.0 to restore it": the product's name stands for the word.
const std::regex& version_after_product() {
  static const std::regex pattern(R"(connectware[^0-9.]{0,20}?v?(\d+\.\d+\.\d+))", std::regex::icase);
  return pattern;
}

} // namespace

std::optional<std::string> version_named_in(std::string_view message) {
  static const std::regex after_word(R"(version[^0-9]{0,40}?v?(\d+\.\d+\.\d+))", std::regex::icase);
  static const std::regex any_number(R"((?:^|[^0-9.])v?(\d+\.\d+\.\d+)(?![0-9]))", std::regex::icase);
  const std::string text(message);
  std::smatch match;
  if (std::regex_search(text, match, version_after_last())) return match[1].str();
  if (std::regex_search(text, match, after_word)) return match[1].str();
  if (std::regex_search(text, match, version_after_product())) return match[1].str();
  if (contains_word_version(text) && std::regex_search(text, match, any_number)) return match[1].str();
  return std::nullopt;
}

std::optional<std::string> restoring_version_named_in(std::string_view message) {
  const std::string text(message);
  std::smatch match;
  if (std::regex_search(text, match, version_after_last())) return match[1].str();
  if (std::regex_search(text, match, version_after_product())) return match[1].str();
  return std::nullopt;
}

std::optional<std::string> version_refusal_in(std::string_view message) {
  static const std::regex says_refusal(
      R"(refus|reject|incompatib|not compatible|can restore|can be restored|can only be restored|to restore|)"
      R"(restore (it|this|the (backup|file|archive)) with)",
      std::regex::icase);
  const std::string text(message);
  if (!std::regex_search(text, says_refusal)) return std::nullopt;
  return version_named_in(message);
}

namespace {

/// How a finished restore ended, from its status object.
Result<RestoreResult> restore_outcome(const OperationStatus& restore) {
  if (restore.succeeded == true) return RestoreResult{restore.message};
  const std::string message = restore.message.empty() ? "(no message)" : restore.message;
  if (const auto version = version_refusal_in(restore.message)) {
    return fail(ErrorKind::incompatible_version,
                "restoring the database: Connectware refused the archive because of its version: " + message +
                    " (last Connectware version that can restore it: " + *version + ")");
  }
  if (restore.succeeded == false)
    return fail(ErrorKind::http, "restoring the database: Connectware reports the restore failed: " + message);
  return fail(ErrorKind::http,
              "restoring the database: the restore finished but the status does not say whether it succeeded: " +
                  message);
}

} // namespace

Result<RestoreResult> restore_database(ConnectwareClient& client, const std::filesystem::path& archive,
                                       const RestoreOptions& options) {
  auto idle = wait_until_idle(client, options.poll_initial, options.poll_max, options.wait_for_idle, ErrorKind::http);
  if (!idle) return fail(idle.error().with_context("restoring the database"));
  const std::optional<OperationStatus> before = idle->restore;

  // A failed upload may still have started the restore. Uploading again is only safe when the status proves
  // that nothing started: a second restore on top of a running one is not something to risk.
  bool seen_running = false;
  Poller backoff(client, options.poll_initial, options.poll_max, options.timeout);
  for (int attempt = 1;; ++attempt) {
    auto uploaded = client.upload_restore(archive, options.progress);
    if (uploaded) break;
    const Error& error = uploaded.error();
    if (!may_have_started(error) || attempt >= options.start_attempts)
      return fail(error.with_context("restoring the database"));
    spdlog::warn("{}; asking the maintenance status whether the restore started", error.message);
    auto status = client.status();
    if (!status) {
      return fail(error.with_context("restoring the database (the maintenance status cannot tell whether the "
                                     "restore started, so it is not uploaded again: " +
                                     status.error().message + ")"));
    }
    const bool changed = status->restore && (!before || status->restore->raw != before->raw);
    if (status->running || changed) {
      spdlog::info("the maintenance status shows the restore started: following it");
      seen_running = status->running;
      break;
    }
    spdlog::info("the status proves nothing started; uploading again (attempt {} of {})", attempt + 1,
                 options.start_attempts);
    CWB_TRY(backoff.wait());
  }

  Poller poller(client, options.poll_initial, options.poll_max, options.timeout);
  // Since when the status has been idle and as it was before the upload, `running` never seen: the clock
  // of the settle rule.
  std::optional<Clock::time_point> unchanged_since;
  while (true) {
    CWB_TRY(poller.wait());
    auto status = client.status();
    if (!status) return fail(status.error().with_context("restoring the database: waiting for the restore"));
    if (status->running) {
      seen_running = true;
      unchanged_since.reset();
    } else {
      const auto& restore = status->restore;
      const bool changed = restore && (!before || restore->raw != before->raw);
      if (restore && (seen_running || changed)) return restore_outcome(*restore);
      // A server that reports no restore object at all: the end of `running` is all we can go by.
      if (!restore && seen_running) return RestoreResult{};
      // Neither seen running nor changed: the same archive restored again leaves the same object, and a
      // restore can end before the first poll. Idle and unchanged for `settle`, it is over.
      const auto now = client.clock().now();
      if (!unchanged_since) unchanged_since = now;
      if (now - *unchanged_since >= options.settle) {
        spdlog::info("the maintenance status stayed idle and unchanged for {} after the upload, the restore never "
                     "seen running: taken as over (restore-settle)",
                     util::format_duration(options.settle));
        if (restore) return restore_outcome(*restore);
        return RestoreResult{};
      }
    }
    if (poller.expired()) {
      return fail(ErrorKind::http, "restoring the database: the restore is still running after " +
                                       util::format_duration(options.timeout));
    }
  }
}

Result<std::set<std::string>> running_services(ConnectwareClient& client) {
  auto health = client.health();
  if (!health) return fail(health.error());
  std::set<std::string> running;
  for (const auto& service : *health)
    if (service.status == "running") running.insert(service.name);
  return running;
}

Result<> wait_until_healthy(ConnectwareClient& client, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds poll_initial, std::chrono::milliseconds poll_max,
                            const std::optional<std::set<std::string>>& running_before) {
  const bool every_service = !running_before || running_before->empty();
  Poller poller(client, poll_initial, std::max(poll_initial, poll_max), timeout);
  std::string last_problem = "no answer yet";
  std::string last_logged;
  while (true) {
    auto health = client.health();
    if (health) {
      std::string not_running;
      const auto add = [&not_running](const std::string& name, const std::string& status) {
        not_running += (not_running.empty() ? "" : ", ") + name + "=" + status;
      };
      std::set<std::string> listed;
      for (const auto& service : *health) {
        listed.insert(service.name);
        const bool awaited = every_service || running_before->contains(service.name);
        if (awaited && service.status != "running") add(service.name, service.status);
      }
      if (!every_service)
        for (const auto& name : *running_before)
          if (!listed.contains(name)) add(name, "not listed");
      if (!health->empty() && not_running.empty()) return {};
      last_problem = health->empty() ? "no services listed" : "not running: " + not_running;
      if (not_running != last_logged) {
        spdlog::info("waiting for {}", not_running.empty() ? "Connectware to list its services" : not_running);
        last_logged = not_running;
      }
    } else if (health.error().kind == ErrorKind::authentication || health.error().kind == ErrorKind::interrupted) {
      return fail(health.error());
    } else {
      last_problem = health.error().message;
    }
    if (poller.expired()) {
      return fail(ErrorKind::unreachable,
                  "Connectware is not healthy after " + util::format_duration(timeout) + ": " + last_problem);
    }
    CWB_TRY(poller.wait());
  }
}

} // namespace cwb::connectware
