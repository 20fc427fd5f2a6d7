#pragma once
// The asynchronous database export and restore as Connectware runs them: start, poll the maintenance status
// with backoff (through the client's Sleeper and Clock, so tests take no wall time), then download or
// report. And waiting for Connectware to be healthy again after a restart.

#include "connectware/client.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace cwb::connectware {

struct ExportOptions {
  std::chrono::milliseconds poll_initial{1000};
  std::chrono::milliseconds poll_max{10'000};
  /// How long the backup may run on the server.
  std::chrono::milliseconds timeout{1'800'000};
  /// How long to wait for an operation that was already running to finish before starting ours.
  std::chrono::milliseconds wait_for_idle{300'000};
  /// How many times the start is POSTed when an answer leaves open whether it started (5xx, timeout,
  /// broken connection) and the status shows nothing started.
  int start_attempts = 4;
  http::ProgressCallback progress; // download progress
  /// Called after each status poll while the export runs, with the time since it was requested (a
  /// progress line); empty: nothing is reported.
  std::function<void(std::chrono::seconds waited)> on_wait = {};
};

struct ExportResult {
  std::string id;
  std::uint64_t bytes = 0;
  std::string sha256;
  std::chrono::system_clock::time_point started;  // when the backup was requested
  std::chrono::system_clock::time_point finished; // when the status first reported it done
};

/// A backup this client started and has not yet seen finish.
struct PendingExport {
  std::string previous_id; // the last backup id before ours: a finished backup with another id is ours
  std::chrono::system_clock::time_point started;
};

/// Starts a database backup on the server: waits (bounded) until no operation is running, notes the last
/// backup id and POSTs. Returns at once; the server exports asynchronously (the pre-backup stage stages
/// the volumes meanwhile). A POST answered with a 5xx, a timeout or a broken connection is not the end: the
/// status tells whether the export started (then it is followed), else the POST is repeated, up to
/// start_attempts times with backoff. Errors: export_failed when another operation is still running after
/// wait_for_idle or the start is refused; the client's common errors.
Result<PendingExport> start_export(ConnectwareClient& client, const ExportOptions& options);

/// Polls until `pending` finished: `running` false and a backup with a new id that succeeded. The first
/// status request is made at once when poll_initial has already passed since the start, else after it. Returns
/// that id. Errors: export_failed when the server reports a failure (with its message), or when it is
/// still running (or no new backup appeared) after `timeout`; the client's common errors.
Result<std::string> await_export(ConnectwareClient& client, const PendingExport& pending, const ExportOptions& options);

/// Exports Connectware's database into `target` (start_export, await_export, then the download): waits (bounded) until
/// no operation is running, notes the last backup id, starts a backup, polls until `running` is false and a backup with
/// a NEW id reports success, then downloads the archive. Errors: export_failed when another operation is still running
/// after wait_for_idle, when the start is refused (409 or other), when the server reports the backup failed (with its
/// message), when it is still running (or no new backup appeared) after `timeout`, or when there is nothing to
/// download; export_invalid when the download is cut short or empty; and the client's common errors.
Result<ExportResult> export_database(ConnectwareClient& client, const std::filesystem::path& target,
                                     const ExportOptions& options);

struct RestoreOptions {
  std::chrono::milliseconds poll_initial{1000};
  std::chrono::milliseconds poll_max{10'000};
  std::chrono::milliseconds timeout{3'600'000};
  std::chrono::milliseconds wait_for_idle{300'000};
  /// How long the status must stay idle with the `restore` object unchanged (or absent) after the upload,
  /// `running` never seen, before the restore is taken as over: the same archive restored twice leaves
  /// the same object, and a restore may end before the first poll.
  std::chrono::milliseconds settle{10'000};
  /// How many times the archive is uploaded when an upload's outcome is unknown (5xx, timeout, broken
  /// connection) and the status proves that nothing started; an unknown status ends the restore instead.
  int start_attempts = 4;
  http::ProgressCallback progress; // upload progress
};

struct RestoreResult {
  std::string message; // the server's message about the finished restore (may be empty)
};

/// Restores `archive` into Connectware: waits (bounded) until no operation is running, uploads the
/// archive, and polls until the restore is over. The restore counts as over once `running` is false after
/// it was seen true, when the `restore` object differs from the one before the upload (any field: a time,
/// an id, the message), or when neither happened but the status stayed idle and unchanged for `settle`
/// (then the object, the one before if unchanged, says how it ended; none at all counts as success).
/// Errors: incompatible_version when the server refuses the archive with a message naming a Connectware
/// version (the whole message is kept: it names the last version that can restore the file); http when
/// the restore failed otherwise (the server's message), when an operation is still running after
/// wait_for_idle, when the upload is refused, or when the restore is still running after `timeout`
/// (the restore pipeline decides what that means for rollback); staging_io when the archive cannot be
/// read; and the client's common errors.
Result<RestoreResult> restore_database(ConnectwareClient& client, const std::filesystem::path& archive,
                                       const RestoreOptions& options);

/// Returns the Connectware version a refusal message names ("... last version 1.4.1 ...", "v1.4.1"), or
/// nullopt. Tolerant: a number after the word "version" wins; otherwise, if the message mentions a version
/// at all, its first X.Y.Z number.
std::optional<std::string> version_named_in(std::string_view message);

/// The Connectware version a failure message names as one that can restore the archive, in any wording
/// ("the last version ... is 1.4.9", "requires Connectware 1.3.2"), or nullopt: unlike version_named_in,
/// not any version number (a failure quoting psql's version names no Connectware to downgrade to).
std::optional<std::string> restoring_version_named_in(std::string_view message);

/// Returns the version a refusal for the archive's version names: only when the message also says it is a
/// refusal ("refused", "rejected", "incompatible", "can restore", "can only be restored", "use Connectware
/// X to restore"). A generic failure that happens to quote a version ("pg_restore: server version 14.11.0
/// ...") is not one: that restore may have changed the database, and must be rolled back.
std::optional<std::string> version_refusal_in(std::string_view message);

/// The names of the services /api/system/health reports running now: what a restart must bring back.
/// Errors: the client's common ones.
Result<std::set<std::string>> running_services(ConnectwareClient& client);

/// Polls /api/system/health until it lists at least one service and every service of `running_before`
/// is "running" (a service that did not run before may be in any state; one missing from the listing
/// counts as not running); with nullopt (or an empty set), every listed service. The services still
/// awaited are logged whenever they change. Unreachable or failing answers in between are expected
/// (Connectware restarting) and polled through.
/// Errors: unreachable after `timeout` (the message lists the services not running, or the last error);
/// authentication at once; interrupted.
/// Polls from `poll_initial`, doubling up to `poll_max`: a restart that is quick is seen quickly, a slow
/// one is not asked about more than every `poll_max`.
Result<> wait_until_healthy(ConnectwareClient& client, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds poll_initial = std::chrono::milliseconds(250),
                            std::chrono::milliseconds poll_max = std::chrono::seconds(2),
                            const std::optional<std::set<std::string>>& running_before = std::nullopt);

} // namespace cwb::connectware
