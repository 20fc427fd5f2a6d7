#pragma once
// The restic command line behind util::ProcessRunner: one method per command, options in, parsed results
// or classified errors (restic/failure.hpp) out. Passwords go to restic through the environment only.

#include "core/error.hpp"
#include "restic/failure.hpp"
#include "restic/messages.hpp"
#include "restic/version.hpp"
#include "util/subprocess.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cwb::restic {

struct ResticOptions {
  std::string binary = "restic"; // looked up in PATH of the environment when it has no '/'
  std::string repository;        // passed as RESTIC_REPOSITORY (URLs may hold credentials)
  /// Where restic reads the password: RESTIC_PASSWORD_FILE. When empty, `password` goes into
  /// RESTIC_PASSWORD. Never argv.
  std::filesystem::path password_file;
  std::string password;
  std::filesystem::path cacert;                // --cacert, for a backend with a private CA
  util::Environment extra_environment;         // AWS_*, RESTIC_CACHE_DIR, ... (override the base environment)
  std::vector<std::string> extra_global_flags; // e.g. {"--limit-upload", "1000"}
  /// restic >= 0.16: how long to wait for a lock (--retry-lock). Zero, or an older restic: fail at once.
  std::chrono::seconds retry_lock{0};
  std::chrono::milliseconds timeout{0}; // per call; 0: none
};

enum class Verify { no, yes };

struct BackupRequest {
  std::vector<std::filesystem::path> paths;
  std::vector<std::string> tags;
  std::string host; // empty: restic uses the machine's host name
  std::vector<std::string> excludes;
};

/// `restic forget`: the snapshots of `host` carrying all of `tags`, grouped by restic's default (host and
/// paths), thinned to what the keep rules keep.
struct ForgetRequest {
  std::vector<std::string> tags;
  std::string host;
  std::vector<std::pair<std::string, int>> keep; // {"last", 7} -> --keep-last 7; at least one
  bool prune = false;
};

struct ForgetResult {
  std::size_t kept = 0;
  std::size_t removed = 0;
};

class Restic {
public:
  Restic(ResticOptions options, util::ProcessRunner& runner, util::Environment base_environment);

  /// Returns restic's version (`restic version`, asked once and remembered). Errors: restic when it does
  /// not run or prints something unexpected.
  Result<Version> version();
  /// Returns what the installed restic can do; all false when the version cannot be read.
  Features features();
  /// True for restic >= 0.16.
  bool supports_retry_lock() { return features().retry_lock; }

  /// Creates the repository. Errors: restic (Failure::repository_exists, unreachable_backend, ...).
  Result<> init();

  /// Backs up `request.paths` with --json, calling `on_progress` for every status line. Returns the summary.
  /// Errors: restic; exit code 3 (some files unreadable, a snapshot was still saved) is an error naming
  /// the unreadable items; usage when no paths are given.
  Result<BackupSummary> backup(const BackupRequest& request,
                               const BackupStreamParser::ProgressCallback& on_progress = {});

  /// Returns the snapshots carrying all of `tags` (none: any) of `host` (empty: any), oldest first.
  /// Errors: restic.
  Result<std::vector<Snapshot>> snapshots(const std::vector<std::string>& tags = {}, const std::string& host = {});

  /// Returns the snapshot with this id or unique id prefix ("latest" too). Errors: no_snapshot when there is
  /// none, restic otherwise.
  Result<Snapshot> find_snapshot(const std::string& id);

  /// Restores `snapshot` into `target` (only `includes` when not empty), verifying the restored files
  /// when asked. Errors: restic (snapshot_not_found, a failed verification, ...).
  Result<> restore(const std::string& snapshot, const std::filesystem::path& target,
                   const std::vector<std::string>& includes = {}, Verify verify = Verify::yes);

  /// Adds `tags` to `snapshot` (`restic tag --add`). restic rewrites the snapshot, so its id changes: look
  /// it up again afterwards. Errors: restic.
  Result<> add_tags(const std::string& snapshot, const std::vector<std::string>& tags);

  /// Forgets the snapshots `request` does not keep (and prunes with `prune`). Returns how many were kept and
  /// removed. Errors: usage without keep rules, restic.
  Result<ForgetResult> forget(const ForgetRequest& request);

  /// Returns `stats --mode raw-data`. Errors: restic.
  Result<RawDataStats> stats_raw_data();

  /// Removes stale locks (`restic unlock`, which keeps the locks of live restic processes): what a restic
  /// killed during a run left behind, and which would make `check`, `forget --prune` and other exclusive
  /// operations fail with "repository is already locked". Errors: restic.
  Result<> unlock();

  /// Checks the repository, reading `read_data_subset` ("10%", "1/5") of the packs when not empty.
  /// Errors: restic, with restic's own complaint.
  Result<> check(const std::string& read_data_subset = {});

private:
  /// Runs restic with global flags + `arguments`; a non-zero exit becomes a classified error. Line
  /// callbacks see stdout (stderr) line by line; stderr is kept for the classification as well.
  Result<util::ProcessResult> run(const std::string& operation, std::vector<std::string> arguments,
                                  std::function<void(std::string_view)> on_stdout_line = {},
                                  std::function<void(std::string_view)> on_stderr_line = {});
  util::ProcessOptions process_options(std::vector<std::string> arguments) const;
  FailureContext failure_context(const std::string& operation) const;

  ResticOptions options_;
  util::ProcessRunner& runner_;
  util::Environment base_environment_;
  std::optional<Version> version_;
};

} // namespace cwb::restic
