#pragma once
// One configuration for every hook (connectware-pre-backup, -post-backup, -backup, -restore), resolved as
//   command-line flags > environment (CONNECTWARE_*, RESTIC_*, DOCKER_HOST) > config file > defaults,
// with the origin of every value kept for --show-config and for error messages. The key table in
// config.cpp is the single place that ties a key to its flag, environment variable, type, help text and
// validator; the defaults are the in-class initialisers below.
//
// Decisions worth knowing:
// - Secrets (connectware-password, connectware-token, restic-password) come from the environment only, or
//   from a *-file key, so they never appear in argv, in a config file or in --show-config.
// - A secret and its *-file both set is a usage error (which one was meant is a guess).
// - A token beats a password: with a token set the password settings are ignored (with a warning) and the
//   password file is not read.
// - insecure together with ca-file is a warning, not an error: insecure wins.
// - Empty environment variables count as unset. An empty value in a file or flag unsets an optional key.

#include "config/command_line.hpp"
#include "config/secret.hpp"
#include "config/values.hpp"
#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::config {

/// The volume every installation has: Connectware's service commissioning files (and the default of
/// `volumes` and `pause-services`). volume-path names its folder.
inline constexpr std::string_view service_manager_volume = "service-manager";

/// Where a value came from.
struct Origin {
  enum class Source { default_value, config_file, environment, command_line, secret_file };
  Source source = Source::default_value;
  std::string where; // "FILE:LINE", "VAR", "--flag" or the secret file's path; empty for defaults

  /// Returns "default", "config file /etc/cwb.conf:3", "environment CONNECTWARE_URL",
  /// "command line --connectware-url" or "file /run/secrets/pw".
  [[nodiscard]] std::string describe() const;
};

enum class ValueType { string, path, boolean, integer, duration, enumeration, list };
enum class Sensitivity { plain, secret };
/// Where a key may be set: secrets only through the environment, never as a flag or in a config file.
enum class Exposure { everywhere, environment_only };

/// What the key table says about one key: for --help, docs and tests.
struct KeyInfo {
  std::string_view name;    // config-file key and long flag without "--": "connectware-url"
  std::string_view env_var; // "CONNECTWARE_URL"
  ValueType type = ValueType::string;
  Sensitivity sensitivity = Sensitivity::plain;
  Exposure exposure = Exposure::everywhere;
  std::string_view help;
  std::string default_text; // the default as --show-config prints it
};

/// restic forget's --keep-* options for connectware-backup; a policy with none set forgets nothing.
struct RetentionPolicy {
  std::optional<int> last, daily, weekly, monthly, yearly;
  bool prune = false; // `forget --prune`: also delete the data no snapshot needs any more

  [[nodiscard]] bool any() const { return last || daily || weekly || monthly || yearly; }
};

/// Which credentials the Connectware client should use.
enum class Authentication { none, token, password };

class Config {
public:
  /// Returns every key, in the order --help and --show-config list them.
  static const std::vector<KeyInfo>& keys();
  /// Returns the key called `name`, or nullptr.
  static const KeyInfo* find_key(std::string_view name);

  /// Builds the configuration from the parsed flags and the environment: reads the config file (from
  /// --config or CONNECTWARE_CONFIG), applies the layers, validates every value, derives status-file and
  /// reads the secret files. Errors (all usage): unreadable or malformed config file, unknown or
  /// environment-only key in it, invalid value ('invalid value "fast" for quiesce (from environment
  /// CONNECTWARE_QUIESCE): expected optimistic, pause, verify, none or auto'), conflicting settings, missing,
  /// unreadable or empty secret file.
  static Result<Config> resolve(const CommandLine& command_line, const util::Environment& environment);

  /// Returns where `key` got its value (a default origin for keys never set or unknown).
  [[nodiscard]] Origin origin(std::string_view key) const;
  /// Returns the config file that was read, if any, and where its name came from.
  [[nodiscard]] const std::optional<std::filesystem::path>& config_file() const { return config_file_; }
  [[nodiscard]] const Origin& config_file_origin() const { return config_file_origin_; }
  /// Returns non-fatal findings of resolve() (e.g. insecure with ca-file), for the hook to log once
  /// logging is set up.
  [[nodiscard]] const std::vector<std::string>& warnings() const { return warnings_; }
  /// Returns the secrets that are set, for redact() (config/logging.hpp).
  [[nodiscard]] std::vector<const Secret*> secrets() const;

  // Connectware API
  [[nodiscard]] const std::string& connectware_url() const { return connectware_url_; } // no trailing '/'
  [[nodiscard]] const std::string& connectware_username() const { return connectware_username_; }
  [[nodiscard]] const Secret& connectware_password() const { return connectware_password_; } // maybe empty
  [[nodiscard]] const Secret& connectware_token() const { return connectware_token_; }       // maybe empty
  /// Returns token when a token is set, else password when a password is set, else none.
  [[nodiscard]] Authentication authentication() const;
  /// Returns success when authentication() is not none. Errors: usage, naming the ways to set one.
  [[nodiscard]] Result<> require_connectware_credentials() const;
  [[nodiscard]] const std::optional<std::filesystem::path>& ca_file() const { return ca_file_; }
  [[nodiscard]] bool insecure() const { return insecure_; }
  [[nodiscard]] std::chrono::milliseconds connect_timeout() const { return connect_timeout_; }
  [[nodiscard]] std::chrono::milliseconds request_timeout() const { return request_timeout_; }
  [[nodiscard]] int retries() const { return retries_; }
  [[nodiscard]] int mirror_full_check_every() const { return mirror_full_check_every_; }
  [[nodiscard]] const std::string& status_path() const { return status_path_; }
  [[nodiscard]] const std::string& backup_path() const { return backup_path_; }
  [[nodiscard]] const std::string& restore_path() const { return restore_path_; }
  [[nodiscard]] std::chrono::milliseconds export_timeout() const { return export_timeout_; }
  [[nodiscard]] std::chrono::milliseconds restore_settle() const { return restore_settle_; }
  [[nodiscard]] std::chrono::milliseconds poll_interval() const { return poll_interval_; }
  [[nodiscard]] std::chrono::milliseconds poll_max_interval() const { return poll_max_interval_; }

  // Holding the configuration still
  [[nodiscard]] Scope scope() const { return scope_; }
  [[nodiscard]] Quiesce quiesce() const { return quiesce_; } // `automatic` is resolved by the pipeline
  [[nodiscard]] int verify_attempts() const { return verify_attempts_; }
  [[nodiscard]] DatabaseStorage database_storage() const { return database_storage_; }
  [[nodiscard]] PlatformChoice platform() const { return platform_; } // resolved by installation/select
  /// Returns docker-host; empty when no Docker engine is to be used.
  [[nodiscard]] const std::string& docker_host() const { return docker_host_; }
  [[nodiscard]] const std::string& compose_project() const { return compose_project_; }
  [[nodiscard]] const std::vector<std::string>& pause_services() const { return pause_services_; }
  /// Returns the volume names as configured ("service-manager"), without any platform's prefix.
  [[nodiscard]] const std::vector<std::string>& volumes() const { return volumes_; }
  /// Returns the folders given for volumes: volume-paths' items, and volume-path as service-manager's.
  [[nodiscard]] std::map<std::string, std::filesystem::path> volume_paths() const;

  // Noticing a backup that lost its contents
  /// A drop by more than this many percent against the last successful backup is a shrink alert (100: never).
  [[nodiscard]] int shrink_alert_percent() const { return shrink_alert_percent_; }
  [[nodiscard]] OnShrink on_shrink() const { return on_shrink_; }

  // Local files
  [[nodiscard]] const std::filesystem::path& staging_dir() const { return staging_dir_; }
  [[nodiscard]] const std::filesystem::path& state_dir() const { return state_dir_; }
  /// Returns status-file, or <state-dir>/status.json when it was not set.
  [[nodiscard]] const std::filesystem::path& status_file() const { return status_file_; }
  [[nodiscard]] const std::optional<std::filesystem::path>& metrics_file() const { return metrics_file_; }
  /// Returns staging-cleanup with `auto` resolved: post when a restic repository is configured.
  [[nodiscard]] StagingCleanup staging_cleanup() const {
    if (staging_cleanup_ != StagingCleanup::automatic) return staging_cleanup_;
    return repository_.empty() ? StagingCleanup::next_run : StagingCleanup::post;
  }
  /// Returns stale-run-age: how old an unfinished run must be to be taken over while its owner still lives;
  /// nullopt (the default): never, only a dead owner's run is.
  [[nodiscard]] const std::optional<std::chrono::milliseconds>& stale_run_age() const { return stale_run_age_; }
  /// Returns restore-dir, or <state-dir>/restore when it was not set: where connectware-restore fetches a
  /// snapshot to check it.
  [[nodiscard]] const std::filesystem::path& restore_dir() const { return restore_dir_; }
  /// Returns <state-dir>/restore-status.json: the report of the last restore (not a setting, like the
  /// backup's status-file default).
  [[nodiscard]] std::filesystem::path restore_status_file() const { return state_dir_ / "restore-status.json"; }
  /// Returns connectware_restore.prom next to metrics-file when that is set: the restore's metrics.
  [[nodiscard]] std::optional<std::filesystem::path> restore_metrics_file() const {
    if (!metrics_file_) return std::nullopt;
    return metrics_file_->parent_path() / "connectware_restore.prom";
  }
  /// Returns ping-url: where pings of backup runs go; empty: no pings.
  [[nodiscard]] const Secret& ping_url() const { return ping_url_; }
  /// Returns drill-ping-url: where pings of drills go; empty: no pings.
  [[nodiscard]] const Secret& drill_ping_url() const { return drill_ping_url_; }
  [[nodiscard]] std::chrono::milliseconds ping_timeout() const { return ping_timeout_; }
  [[nodiscard]] int ping_retries() const { return ping_retries_; }
  /// Returns <state-dir>/ping-run-id: the run id connectware-pre-backup's start ping used, for the post
  /// hook's end ping to pair with it.
  [[nodiscard]] std::filesystem::path ping_run_id_file() const { return state_dir_ / "ping-run-id"; }
  /// Returns drill-read-data-subset: restic check --read-data-subset for a drill ("0": none).
  [[nodiscard]] const std::string& drill_read_data_subset() const { return drill_read_data_subset_; }
  /// Returns <state-dir>/drill-status.json: the report of the last restore drill.
  [[nodiscard]] std::filesystem::path drill_status_file() const { return state_dir_ / "drill-status.json"; }
  /// Returns connectware_restore_drill.prom next to metrics-file when that is set: the drill's metrics.
  [[nodiscard]] std::optional<std::filesystem::path> drill_metrics_file() const {
    if (!metrics_file_) return std::nullopt;
    return metrics_file_->parent_path() / "connectware_restore_drill.prom";
  }
  /// Returns rollback-dir, or <state-dir>/rollback when it was not set: where connectware-restore keeps the
  /// safety copy of the live state.
  [[nodiscard]] const std::filesystem::path& rollback_dir() const { return rollback_dir_; }

  // Restarting Connectware after a restore
  /// Returns restart-command split on spaces (run without a shell), empty when unset: then the container
  /// runtime restarts Connectware's containers.
  [[nodiscard]] std::vector<std::string> restart_command() const;
  /// Returns stop-command split on spaces, empty when unset (platform = host only).
  [[nodiscard]] std::vector<std::string> stop_command() const;
  [[nodiscard]] std::chrono::milliseconds health_timeout() const { return health_timeout_; }
  /// How long a container is given to stop before the engine kills it, in the engine's whole seconds:
  /// rounded up, and at least 1 s (0 would kill at once, without a clean shutdown).
  [[nodiscard]] std::chrono::seconds stop_timeout() const {
    return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(stop_timeout_));
  }

  // restic
  [[nodiscard]] const std::string& restic_binary() const { return restic_binary_; }
  [[nodiscard]] const std::string& repository() const { return repository_; } // empty: unset
  [[nodiscard]] const std::optional<std::filesystem::path>& restic_password_file() const {
    return restic_password_file_;
  }
  [[nodiscard]] const Secret& restic_password() const { return restic_password_; } // maybe empty
  [[nodiscard]] const std::optional<std::filesystem::path>& restic_cacert() const { return restic_cacert_; }
  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] const std::vector<std::string>& tags() const { return tags_; }
  /// keep-* and prune: what connectware-backup forgets after a successful backup.
  [[nodiscard]] RetentionPolicy retention() const {
    return {keep_last_, keep_daily_, keep_weekly_, keep_monthly_, keep_yearly_, prune_};
  }

  // Output
  [[nodiscard]] LogLevel log_level() const { return log_level_; }
  [[nodiscard]] Progress progress() const { return progress_; }

private:
  struct Binding; // a KeyInfo plus how to assign and print the value (config.cpp)
  static const std::vector<Binding>& bindings();
  friend std::string show_config(const Config& config);

  Result<> assign(const Binding& binding, std::string_view raw, Origin origin);
  Result<> apply_config_file(const std::filesystem::path& file);
  Result<> apply_environment(const util::Environment& environment);
  Result<> apply_command_line(const CommandLine& command_line);
  Result<> finish(); // derived defaults, cross-key checks, secret files
  /// staging-dir, restore-dir and rollback-dir: not `/`, apart from each other, the state folder in none.
  /// Errors: usage naming both keys, their origins and values.
  [[nodiscard]] Result<> check_work_folders() const;

  std::string connectware_url_ = "https://localhost";
  std::string connectware_username_ = "admin";
  std::optional<std::filesystem::path> connectware_password_file_;
  Secret connectware_password_;
  std::optional<std::filesystem::path> connectware_token_file_;
  Secret connectware_token_;
  std::optional<std::filesystem::path> ca_file_;
  bool insecure_ = false;
  std::chrono::milliseconds connect_timeout_ = std::chrono::seconds{10};
  std::chrono::milliseconds request_timeout_ = std::chrono::seconds{300};
  int retries_ = 4;
  int mirror_full_check_every_ = 7;
  std::string status_path_ = "/api/maintenance/db";
  std::string backup_path_ = "/api/maintenance/db/backup";
  std::string restore_path_ = "/api/maintenance/db/restore";
  std::chrono::milliseconds export_timeout_ = std::chrono::seconds{3600};
  // Connectware sets `running` as soon as the upload is in (the 202 says the process starts), so a status
  // idle and unchanged this long after it means the restore is over, not that it has yet to begin.
  std::chrono::milliseconds restore_settle_ = std::chrono::seconds{10};
  std::chrono::milliseconds poll_interval_ = std::chrono::seconds{1};
  // Short: while the export runs the configuration is held still, and every second of backoff past the
  // export's end is a second longer pause. A status poll costs Connectware next to nothing.
  std::chrono::milliseconds poll_max_interval_ = std::chrono::seconds{2};

  Scope scope_ = Scope::configuration;
  Quiesce quiesce_ = Quiesce::automatic;
  int verify_attempts_ = 3;
  DatabaseStorage database_storage_ = DatabaseStorage::unpacked;
  PlatformChoice platform_ = PlatformChoice::automatic;
  std::string docker_host_ = "unix:///var/run/docker.sock";
  std::string compose_project_ = "connectware";
  std::vector<std::string> pause_services_{std::string(service_manager_volume)};
  std::vector<std::string> volumes_{std::string(service_manager_volume)};
  std::optional<std::filesystem::path> volume_path_;
  std::vector<std::string> volume_paths_; // "name=/path" items

  int shrink_alert_percent_ = 50;
  std::string drill_read_data_subset_ = "5%";
  Secret ping_url_;
  Secret drill_ping_url_;
  std::chrono::milliseconds ping_timeout_ = std::chrono::seconds{10};
  int ping_retries_ = 2;
  OnShrink on_shrink_ = OnShrink::warn;

  std::filesystem::path staging_dir_ = "/var/lib/connectware-backup/staging";
  std::filesystem::path state_dir_ = "/var/lib/connectware-backup";
  std::filesystem::path status_file_; // empty until finish() derives it from state-dir
  std::optional<std::filesystem::path> metrics_file_;
  std::optional<std::chrono::milliseconds> stale_run_age_;
  StagingCleanup staging_cleanup_ = StagingCleanup::automatic;
  std::filesystem::path restore_dir_;  // empty until finish() derives it from state-dir
  std::filesystem::path rollback_dir_; // empty until finish() derives it from state-dir
  std::string restart_command_;
  std::string stop_command_;
  std::chrono::milliseconds health_timeout_ = std::chrono::seconds{300};
  std::chrono::milliseconds stop_timeout_ = std::chrono::seconds{30};

  std::string restic_binary_ = "restic";
  std::string repository_;
  std::optional<std::filesystem::path> restic_password_file_;
  Secret restic_password_;
  std::optional<std::filesystem::path> restic_cacert_;
  std::string host_; // the machine's hostname unless set
  std::vector<std::string> tags_{"connectware"};
  std::optional<int> keep_last_, keep_daily_, keep_weekly_, keep_monthly_, keep_yearly_;
  bool prune_ = false;

  LogLevel log_level_ = LogLevel::info;
  Progress progress_ = Progress::automatic;

  std::map<std::string, Origin, std::less<>> origins_;
  std::optional<std::filesystem::path> config_file_;
  Origin config_file_origin_;
  std::vector<std::string> warnings_;
};

/// Returns one line per key, "key = value  (origin)", secrets as "********", preceded by a comment line
/// naming the config file: the output of --show-config.
std::string show_config(const Config& config);

} // namespace cwb::config
