#pragma once
// The enumerated settings of the configuration, with their spellings in flags, files and --show-config.

#include <optional>
#include <string_view>

namespace cwb::config {

/// How the configuration is held still during a backup. `automatic` ("auto") is resolved later in the
/// pipeline: optimistic when the Docker engine is reachable (its retry pauses), else verify.
enum class Quiesce { automatic, optimistic, pause, verify, none };
/// How the database archive is stored in the snapshot: gunzipped (restic deduplicates it across days) when
/// the backup proves the tar rebuilds an archive with identical entries, or exactly as downloaded.
enum class DatabaseStorage { unpacked, archive };

/// Which platform Connectware runs on (plugin/installation): `automatic` ("auto") is resolved at start-up:
/// compose when the Docker engine answers, host when every volume's folder is given, else a usage error.
enum class PlatformChoice { automatic, compose, host };

/// Whether progress lines are printed: `automatic` ("auto") prints them when stderr is a terminal.
enum class Progress { automatic, always, never };

/// When the post-backup hook removes the staged database: `post` (right away: restic has stored it),
/// `next_run` ("next-run": it stays for a backup agent that reads the staging folder after the post hook,
/// and the next pre-backup hook replaces it), `automatic` ("auto"): post with a restic repository, next-run
/// without one.
enum class StagingCleanup { automatic, post, next_run };

/// What a backup holds: `configuration` (the configured volumes, hot, and the database through the API) or
/// `full` (every volume of the Compose project, copied with the project stopped; the database in its own
/// volume). See docs/operations.md.
enum class Scope { configuration, full };

/// What a backup much smaller than the last successful one does (docs/operations.md, "Shrink alert"): `warn`
/// (log, status and metric say so; the backup is stored) or `fail` (nothing is stored; exit code shrunk).
enum class OnShrink { warn, fail };

enum class LogLevel { trace, debug, info, warn, error, off };

/// Returns the spelling used in flags and files: "auto", "pause", ...
std::string_view to_string(Quiesce value) noexcept;
std::string_view to_string(DatabaseStorage value) noexcept;
std::string_view to_string(PlatformChoice value) noexcept;
std::string_view to_string(Progress value) noexcept;
std::string_view to_string(StagingCleanup value) noexcept;
std::string_view to_string(Scope value) noexcept;
std::string_view to_string(OnShrink value) noexcept;
std::string_view to_string(LogLevel value) noexcept;

/// Return the value spelled `text` exactly (lower case), or nullopt.
std::optional<Quiesce> parse_quiesce(std::string_view text) noexcept;
std::optional<DatabaseStorage> parse_database_storage(std::string_view text) noexcept;
std::optional<PlatformChoice> parse_platform(std::string_view text) noexcept;
std::optional<Progress> parse_progress(std::string_view text) noexcept;
std::optional<StagingCleanup> parse_staging_cleanup(std::string_view text) noexcept;
std::optional<Scope> parse_scope(std::string_view text) noexcept;
std::optional<OnShrink> parse_on_shrink(std::string_view text) noexcept;
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;

} // namespace cwb::config
