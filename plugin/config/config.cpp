#include "config/config.hpp"

#include "config/config_file.hpp"
#include "util/duration.hpp"
#include "util/file_system.hpp"
#include "util/url_credentials.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <regex>
#include <set>
#include <utility>

namespace cwb::config {

// The accessors of one key: parse-and-store and print. Not in an anonymous namespace because
// Config::Binding (a class with external linkage) holds it.
namespace detail {
struct Accessors {
  std::function<std::expected<void, std::string>(Config&, std::string_view)> assign;
  std::function<std::string(const Config&)> show;
};
} // namespace detail

struct Config::Binding {
  KeyInfo info;
  detail::Accessors access;
};

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A parser returns the value or what was expected ("expected true or false"); the caller adds the key,
// the origin and the quoted value.
template <typename T> using Parsed = std::expected<T, std::string>;

std::unexpected<std::string> expected(std::string what) {
  return std::unexpected<std::string>("expected " + what);
}

template <typename T, typename Parse, typename Print>
detail::Accessors accessors(T Config::*member, Parse parse, Print print) {
  return detail::Accessors{[member, parse](Config& config, std::string_view raw) -> std::expected<void, std::string> {
                             auto value = parse(raw);
                             if (!value) return std::unexpected<std::string>(std::move(value).error());
                             config.*member = std::move(*value);
                             return {};
                           },
                           [member, print](const Config& config) { return print(config.*member); }};
}

std::string lower(std::string_view text) {
  std::string result{text};
  std::ranges::transform(result, result.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

bool has_blank(std::string_view text) {
  return std::ranges::any_of(text, [](unsigned char c) { return std::isspace(c) != 0 || c == '\0'; });
}

// --- parsers ---------------------------------------------------------------------------------------------

Parsed<std::string> parse_text(std::string_view raw) {
  if (raw.empty()) return expected("a non-empty value");
  return std::string{raw};
}

Parsed<std::string> parse_optional_text(std::string_view raw) {
  return std::string{raw};
}

Parsed<std::string> parse_url(std::string_view raw) {
  const auto scheme_end = raw.find("://");
  const auto scheme = scheme_end == std::string_view::npos ? std::string{} : lower(raw.substr(0, scheme_end));
  const auto rest = scheme_end == std::string_view::npos ? std::string_view{} : raw.substr(scheme_end + 3);
  if ((scheme != "http" && scheme != "https") || rest.empty() || rest.front() == '/' || has_blank(raw))
    return expected("an http:// or https:// URL with a host, like https://connectware.local");
  std::string url{raw};
  while (url.ends_with('/'))
    url.pop_back(); // paths are appended with their own leading '/'
  return url;
}

Parsed<std::string> parse_http_path(std::string_view raw) {
  if (!raw.starts_with('/') || has_blank(raw)) return expected("an HTTP path starting with \"/\"");
  return std::string{raw};
}

Parsed<fs::path> parse_path(std::string_view raw) {
  if (raw.empty()) return expected("a path");
  return fs::path{raw};
}

Parsed<std::optional<fs::path>> parse_optional_path(std::string_view raw) {
  if (raw.empty()) return std::optional<fs::path>{};
  return std::optional<fs::path>{fs::path{raw}};
}

Parsed<bool> parse_bool(std::string_view raw) {
  const auto text = lower(raw);
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  return expected("true or false");
}

auto parse_integer(int minimum, int maximum) {
  return [minimum, maximum](std::string_view raw) -> Parsed<int> {
    long long value = 0;
    const auto [end, error] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
    if (raw.empty() || error != std::errc{} || end != raw.data() + raw.size() || value < minimum || value > maximum)
      return expected("a whole number from " + std::to_string(minimum) + " to " + std::to_string(maximum));
    return static_cast<int>(value);
  };
}

// Empty: unset (a keep-* option that is not passed to restic).
auto parse_optional_integer(int minimum, int maximum) {
  return [whole = parse_integer(minimum, maximum)](std::string_view raw) -> Parsed<std::optional<int>> {
    if (raw.empty()) return std::optional<int>{};
    auto value = whole(raw);
    if (!value) return std::unexpected(value.error());
    return std::optional<int>{*value};
  };
}

// Durations are seconds; a unit suffix (ms, s, m, h) and a fraction are accepted because "3600" reads worse
// than "1h", and a poll interval or a test's timeout may be shorter than a second ("0.5s", "250ms").
// Kept in milliseconds: the smallest unit anyone configures, and what curl and our pollers take.
Parsed<milliseconds> parse_duration(std::string_view raw) {
  constexpr double one_year_ms = 365.0 * 24 * 3600 * 1000;
  auto number = raw;
  double unit_ms = 1000;
  const auto strip = [&number](std::string_view suffix) {
    if (!number.ends_with(suffix)) return false;
    number.remove_suffix(suffix.size());
    return true;
  };
  if (strip("ms"))
    unit_ms = 1;
  else if (strip("s"))
    unit_ms = 1000;
  else if (strip("m"))
    unit_ms = 60'000;
  else if (strip("h"))
    unit_ms = 3'600'000;
  double value = 0;
  const auto [end, error] =
      std::from_chars(number.data(), number.data() + number.size(), value, std::chars_format::fixed);
  const bool digits_only = std::all_of(number.begin(), number.end(),
                                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
  const double total_ms = value * unit_ms;
  if (number.empty() || !digits_only || error != std::errc{} || end != number.data() + number.size() || total_ms < 1 ||
      total_ms > one_year_ms)
    return expected("a positive duration of at least 1ms and up to a year, like 30, 30s, 0.5s, 250ms, 5m or 2h");
  return milliseconds{std::llround(total_ms)};
}

Parsed<std::optional<milliseconds>> parse_optional_duration(std::string_view raw) {
  if (raw.empty()) return std::optional<milliseconds>{};
  auto duration = parse_duration(raw);
  if (!duration) return std::unexpected(duration.error());
  return std::optional<milliseconds>{*duration};
}

template <typename Check> auto parse_list(Check check_item, std::string what) {
  return [check_item, what](std::string_view raw) -> Parsed<std::vector<std::string>> {
    std::vector<std::string> items;
    while (!raw.empty()) {
      const auto comma = raw.find(',');
      auto item = raw.substr(0, comma);
      raw = comma == std::string_view::npos ? std::string_view{} : raw.substr(comma + 1);
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
        item.remove_prefix(1);
      while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
        item.remove_suffix(1);
      if (item.empty()) continue;
      if (!check_item(item)) return expected("a comma-separated list of " + what);
      items.emplace_back(item);
    }
    return items;
  };
}

// Docker (Compose) object names: the rules Compose applies to project names, which volumes also meet.
bool is_docker_name(std::string_view name) {
  if (name.empty() || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  return std::ranges::all_of(name, [](unsigned char c) {
    return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '-' || c == '_' || c == '.';
  });
}

Parsed<std::string> parse_compose_project(std::string_view raw) {
  const auto is_project_char = [](unsigned char c) {
    return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '-' || c == '_';
  };
  if (raw.empty() || !std::isalnum(static_cast<unsigned char>(raw.front())) ||
      !std::ranges::all_of(raw, is_project_char))
    return expected("lower-case letters, digits, \"-\" and \"_\", starting with a letter or digit");
  return std::string{raw};
}

// Empty: no Docker engine (platform = host, or auto finding none).
Parsed<std::string> parse_docker_host(std::string_view raw) {
  if (raw.empty()) return std::string{};
  constexpr std::array schemes{"unix://", "tcp://", "http://", "https://"};
  const bool known = std::ranges::any_of(schemes, [raw](const char* scheme) {
    return raw.starts_with(scheme) && raw.size() > std::string_view{scheme}.size();
  });
  if (!known || has_blank(raw))
    return expected("unix:///path/to/docker.sock or tcp://HOST:PORT (or empty: no Docker engine)");
  return std::string{raw};
}

// "name=/abs/path" items: a volume name as Compose spells it, then its folder.
bool is_volume_path_item(std::string_view item) {
  const auto equals = item.find('=');
  if (equals == std::string_view::npos) return false;
  return is_docker_name(item.substr(0, equals)) && item.size() > equals + 1 && item[equals + 1] == '/';
}

Parsed<std::string> parse_host(std::string_view raw) {
  if (raw.empty() || has_blank(raw)) return expected("a host name without blanks");
  return std::string{raw};
}

// restic check --read-data-subset: "5%", "2.5%", "1/5" (the n-th of m parts), "500M" (a size); "0": no data
// read, only the structure checked.
Parsed<std::string> parse_read_data_subset(std::string_view raw) {
  static const std::regex subset(R"(^(0|(100|\d{1,2}(\.\d+)?)%|[1-9]\d*/[1-9]\d*|[1-9]\d*[KMGT]?)$)");
  const std::string text{raw};
  if (!std::regex_match(text, subset)) return expected("a percentage (5%), a part (1/5), a size (500M) or 0");
  return text;
}

// A monitoring service's ping URL: anyone holding it can ping the check, so it is kept like a password.
Parsed<Secret> parse_ping_url(std::string_view raw) {
  if (!parse_url(raw)) return expected("an http:// or https:// URL, like https://hc-ping.com/<uuid>");
  return Secret{std::string{raw}};
}

Parsed<Secret> parse_secret(std::string_view raw) {
  if (raw.empty()) return expected("a non-empty secret");
  return Secret{std::string{raw}};
}

template <typename E, typename ParseEnum> auto parse_enum(ParseEnum parse_one, std::string choices) {
  return [parse_one, choices](std::string_view raw) -> Parsed<E> {
    if (auto value = parse_one(lower(raw))) return *value;
    return expected(choices);
  };
}

// --- printers --------------------------------------------------------------------------------------------

std::string print_text(const std::string& value) {
  return value;
}
std::string print_path(const fs::path& value) {
  return value.string();
}
std::string print_optional_path(const std::optional<fs::path>& value) {
  return value ? value->string() : "";
}
std::string print_bool(bool value) {
  return value ? "true" : "false";
}
std::string print_integer(int value) {
  return std::to_string(value);
}
std::string print_optional_integer(const std::optional<int>& value) {
  return value ? std::to_string(*value) : std::string{};
}
std::string print_duration(milliseconds value) {
  return util::format_duration(value);
}
std::string print_optional_duration(const std::optional<milliseconds>& value) {
  return value ? print_duration(*value) : std::string{};
}
std::string print_secret(const Secret& value) {
  return value.redacted();
}
std::string print_list(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : ",") + item;
  return text;
}
template <typename E> std::string print_enum(E value) {
  return std::string{to_string(value)};
}

std::string machine_hostname() {
  std::array<char, HOST_NAME_MAX + 1> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "localhost";
  return buffer.data();
}

std::string describe_key(std::string_view key, const Config& config) {
  return std::string{key} + " (from " + config.origin(key).describe() + ")";
}

} // namespace

// --- the key table ---------------------------------------------------------------------------------------

const std::vector<Config::Binding>& Config::bindings() {
  static const std::vector<Binding> table = [] {
    std::vector<Binding> rows;
    const auto add = [&rows](std::string_view name, std::string_view env_var, ValueType type, std::string_view help,
                             detail::Accessors access, Sensitivity sensitivity = Sensitivity::plain,
                             std::string default_note = {}) {
      const auto exposure = sensitivity == Sensitivity::secret ? Exposure::environment_only : Exposure::everywhere;
      rows.push_back(Binding{KeyInfo{name, env_var, type, sensitivity, exposure, help, std::move(default_note)},
                             std::move(access)});
    };
    const std::string list_of_names = "names of lower-case letters, digits, \"-\", \"_\" and \".\"";

    // Connectware API
    add("connectware-url", "CONNECTWARE_URL", ValueType::string, "Base URL of Connectware",
        accessors(&Config::connectware_url_, parse_url, print_text));
    add("connectware-username", "CONNECTWARE_USERNAME", ValueType::string, "User for HTTP Basic authentication",
        accessors(&Config::connectware_username_, parse_text, print_text));
    add("connectware-password-file", "CONNECTWARE_PASSWORD_FILE", ValueType::path,
        "File holding the Connectware password (trailing newline ignored)",
        accessors(&Config::connectware_password_file_, parse_optional_path, print_optional_path));
    add("connectware-password", "CONNECTWARE_PASSWORD", ValueType::string, "Connectware password",
        accessors(&Config::connectware_password_, parse_secret, print_secret), Sensitivity::secret);
    add("connectware-token-file", "CONNECTWARE_TOKEN_FILE", ValueType::path,
        "File holding a Connectware API token (used instead of the password)",
        accessors(&Config::connectware_token_file_, parse_optional_path, print_optional_path));
    add("connectware-token", "CONNECTWARE_TOKEN", ValueType::string,
        "Connectware API token (used instead of the password)",
        accessors(&Config::connectware_token_, parse_secret, print_secret), Sensitivity::secret);
    add("ca-file", "CONNECTWARE_CA_FILE", ValueType::path, "CA certificate(s) to verify Connectware's TLS certificate",
        accessors(&Config::ca_file_, parse_optional_path, print_optional_path));
    add("insecure", "CONNECTWARE_INSECURE", ValueType::boolean,
        "Do not verify Connectware's TLS certificate (its default certificate is self-signed)",
        accessors(&Config::insecure_, parse_bool, print_bool));
    add("connect-timeout", "CONNECTWARE_CONNECT_TIMEOUT", ValueType::duration, "How long to wait for a connection",
        accessors(&Config::connect_timeout_, parse_duration, print_duration));
    add("request-timeout", "CONNECTWARE_REQUEST_TIMEOUT", ValueType::duration,
        "How long one HTTP request (including a download or upload) may take",
        accessors(&Config::request_timeout_, parse_duration, print_duration));
    add("retries", "CONNECTWARE_RETRIES", ValueType::integer, "Retries of a failed request that may be retried",
        accessors(&Config::retries_, parse_integer(0, 100), print_integer));
    add("status-path", "CONNECTWARE_STATUS_PATH", ValueType::string, "API path of the database maintenance status",
        accessors(&Config::status_path_, parse_http_path, print_text));
    add("backup-path", "CONNECTWARE_BACKUP_PATH", ValueType::string,
        "API path to start (POST) and download (GET) a database backup",
        accessors(&Config::backup_path_, parse_http_path, print_text));
    add("restore-path", "CONNECTWARE_RESTORE_PATH", ValueType::string,
        "API path to upload a database backup to restore",
        accessors(&Config::restore_path_, parse_http_path, print_text));
    add("export-timeout", "CONNECTWARE_EXPORT_TIMEOUT", ValueType::duration,
        "How long to wait for Connectware to finish a database backup or restore",
        accessors(&Config::export_timeout_, parse_duration, print_duration));
    add("restore-settle", "CONNECTWARE_RESTORE_SETTLE", ValueType::duration,
        "How long the maintenance status must stay idle and as it was before an upload before that restore is "
        "taken as finished although it was never seen running (the same archive restored twice, a restore over "
        "before the first poll)",
        accessors(&Config::restore_settle_, parse_duration, print_duration));
    add("poll-interval", "CONNECTWARE_POLL_INTERVAL", ValueType::duration, "First wait between status polls",
        accessors(&Config::poll_interval_, parse_duration, print_duration));
    add("poll-max-interval", "CONNECTWARE_POLL_MAX_INTERVAL", ValueType::duration,
        "Longest wait between status polls (the wait doubles up to this)",
        accessors(&Config::poll_max_interval_, parse_duration, print_duration));

    // Holding the configuration still
    add("scope", "CONNECTWARE_SCOPE", ValueType::enumeration,
        "What a backup holds: configuration (the configured volumes copied while Connectware runs, the database "
        "exported through its API) or full (every volume of the Compose project, the database's among them, "
        "copied with all the project's containers stopped: downtime, but the whole installation); the restore "
        "restores what this says",
        accessors(&Config::scope_, parse_enum<Scope>(parse_scope, "configuration or full"), print_enum<Scope>));
    add("quiesce", "CONNECTWARE_QUIESCE", ValueType::enumeration,
        "How to hold the configuration still: optimistic (pause nothing, check that nothing changed, and only "
        "when something did, stage again paused), pause (the services), verify (that nothing changed, else "
        "stage again unpaused), none, or auto (optimistic when the Docker engine is reachable, else verify)",
        accessors(&Config::quiesce_, parse_enum<Quiesce>(parse_quiesce, "optimistic, pause, verify, none or auto"),
                  print_enum<Quiesce>));
    add("verify-attempts", "CONNECTWARE_VERIFY_ATTEMPTS", ValueType::integer,
        "With quiesce=verify: how often to retry when the configuration changed during the backup",
        accessors(&Config::verify_attempts_, parse_integer(1, 100), print_integer));
    add("database-storage", "CONNECTWARE_DATABASE_STORAGE", ValueType::enumeration,
        "How the database archive goes into the snapshot: unpacked (gunzipped, so that restic deduplicates it "
        "across days; only when the backup proves the tar holds exactly the archive's entries and that gzipping "
        "it again gives the downloaded bytes, else as downloaded) or archive (always the downloaded bytes)",
        accessors(&Config::database_storage_,
                  parse_enum<DatabaseStorage>(parse_database_storage, "unpacked or archive"),
                  print_enum<DatabaseStorage>));
    add("platform", "CONNECTWARE_PLATFORM", ValueType::enumeration,
        "Where Connectware runs: compose (Docker Compose, through the Docker engine), host (volumes given as "
        "folders by volume-path/volume-paths, restarted by restart-command; no container runtime), or auto "
        "(compose when the Docker engine answers, else host when every volume's folder is given)",
        accessors(&Config::platform_, parse_enum<PlatformChoice>(parse_platform, "auto, compose or host"),
                  print_enum<PlatformChoice>));
    add("docker-host", "DOCKER_HOST", ValueType::string, "Docker engine to talk to (empty: none)",
        accessors(&Config::docker_host_, parse_docker_host, print_text));
    add("compose-project", "CONNECTWARE_COMPOSE_PROJECT", ValueType::string,
        "Docker Compose project of Connectware (volume names start with it)",
        accessors(&Config::compose_project_, parse_compose_project, print_text));
    add("pause-services", "CONNECTWARE_PAUSE_SERVICES", ValueType::list, "Compose services to pause during the backup",
        accessors(&Config::pause_services_, parse_list(is_docker_name, list_of_names), print_list));
    add("volumes", "CONNECTWARE_VOLUMES", ValueType::list,
        "Volumes to back up, without the project prefix (<compose-project>_<volume>)",
        accessors(&Config::volumes_, parse_list(is_docker_name, list_of_names), print_list));
    add("volume-path", "CONNECTWARE_VOLUME_PATH", ValueType::path,
        "Directory of the service-manager volume, instead of asking the Docker engine",
        accessors(&Config::volume_path_, parse_optional_path, print_optional_path));
    add("volume-paths", "CONNECTWARE_VOLUME_PATHS", ValueType::list,
        "Directory of each volume, as NAME=/path items (e.g. service-manager=/srv/cw/sm,certs=/srv/cw/certs), "
        "instead of asking the Docker engine",
        accessors(&Config::volume_paths_, parse_list(is_volume_path_item, "NAME=/absolute/path items"), print_list));

    // Pings to a monitoring service (healthchecks.io conventions: ping/ping.hpp)
    add("ping-url", "CONNECTWARE_PING_URL", ValueType::string,
        "Ping this URL when a backup starts (/start), succeeds (the URL) or fails (/<exit-code>), with the log's "
        "tail; a failed ping is a warning (environment only: the URL lets anyone ping the check)",
        accessors(&Config::ping_url_, parse_ping_url, print_secret), Sensitivity::secret);
    add("drill-ping-url", "CONNECTWARE_DRILL_PING_URL", ValueType::string,
        "The same for connectware-restore --drill (its own check: it runs weekly, not daily)",
        accessors(&Config::drill_ping_url_, parse_ping_url, print_secret), Sensitivity::secret);
    add("ping-timeout", "CONNECTWARE_PING_TIMEOUT", ValueType::duration, "How long one ping attempt may take",
        accessors(&Config::ping_timeout_, parse_duration, print_duration));
    add("ping-retries", "CONNECTWARE_PING_RETRIES", ValueType::integer,
        "How often a ping that did not arrive is tried again",
        accessors(&Config::ping_retries_, parse_integer(0, 10), print_integer));

    // Noticing a backup that lost its contents
    add("shrink-alert-percent", "CONNECTWARE_SHRINK_ALERT_PERCENT", ValueType::integer,
        "A backup whose database archive (bytes or entries) or volumes (files or bytes) dropped by more than this "
        "many percent against the last successful backup raises a shrink alert (100: never)",
        accessors(&Config::shrink_alert_percent_, parse_integer(0, 100), print_integer));
    add("on-shrink", "CONNECTWARE_ON_SHRINK", ValueType::enumeration,
        "What a shrink alert does: warn (log, status and metric; the backup is stored) or fail (nothing is "
        "stored, exit code 21)",
        accessors(&Config::on_shrink_, parse_enum<OnShrink>(parse_on_shrink, "warn or fail"), print_enum<OnShrink>));

    // Local files
    add("staging-dir", "CONNECTWARE_STAGING_DIR", ValueType::path, "Where the database export is staged for restic",
        accessors(&Config::staging_dir_, parse_path, print_path));
    add("state-dir", "CONNECTWARE_STATE_DIR", ValueType::path, "Lock, markers and status of the hooks",
        accessors(&Config::state_dir_, parse_path, print_path));
    add("status-file", "CONNECTWARE_STATUS_FILE", ValueType::path, "JSON status of the last run",
        accessors(&Config::status_file_, parse_path, print_path), Sensitivity::plain, "<state-dir>/status.json");
    add("metrics-file", "CONNECTWARE_METRICS_FILE", ValueType::path,
        "Prometheus textfile to write metrics to (none when unset)",
        accessors(&Config::metrics_file_, parse_optional_path, print_optional_path));
    add("staging-cleanup", "CONNECTWARE_STAGING_CLEANUP", ValueType::enumeration,
        "When the post hook removes the staged database: post, next-run (it stays for a backup agent that reads "
        "the staging folder after the post hook) or auto (post with a restic repository, next-run without)",
        accessors(&Config::staging_cleanup_,
                  parse_enum<StagingCleanup>(parse_staging_cleanup, "auto, post or next-run"),
                  print_enum<StagingCleanup>));
    add("mirror-full-check-every", "CONNECTWARE_MIRROR_FULL_CHECK_EVERY", ValueType::integer,
        "Every how many backups every staged file is read again and compared with the live one (the quick "
        "check by size, mtime, mode and owner misses a same-size rewrite within one mtime tick); 0: never",
        accessors(&Config::mirror_full_check_every_, parse_integer(0, 10000), print_integer));
    add("stale-run-age", "CONNECTWARE_STALE_RUN_AGE", ValueType::duration,
        "Take over an unfinished backup run this old even while its owner lives (a backup agent that never "
        "calls the post hook), with a warning; unset: only a dead owner's run is taken over",
        accessors(&Config::stale_run_age_, parse_optional_duration, print_optional_duration));
    add("drill-read-data-subset", "CONNECTWARE_DRILL_READ_DATA_SUBSET", ValueType::string,
        "connectware-restore --drill: how much of the repository's data restic check reads back and verifies "
        "(--read-data-subset: 5%, 1/5, 500M; 0: only the structure)",
        accessors(&Config::drill_read_data_subset_, parse_read_data_subset, print_text));
    add("restore-dir", "CONNECTWARE_RESTORE_DIR", ValueType::path,
        "Where connectware-restore fetches and checks a snapshot (owner-only)",
        accessors(&Config::restore_dir_, parse_path, print_path), Sensitivity::plain, "<state-dir>/restore");
    add("rollback-dir", "CONNECTWARE_ROLLBACK_DIR", ValueType::path,
        "Where connectware-restore keeps the safety copy of the live database and volumes (owner-only)",
        accessors(&Config::rollback_dir_, parse_path, print_path), Sensitivity::plain, "<state-dir>/rollback");

    // Restarting Connectware after a restore
    add("restart-command", "CONNECTWARE_RESTART_COMMAND", ValueType::string,
        "Command that restarts Connectware after a restore, split on spaces and run without a shell (e.g. "
        "\"systemctl restart connectware\"); unset: restart its containers through the Docker engine",
        accessors(&Config::restart_command_, parse_optional_text, print_text));
    add("stop-command", "CONNECTWARE_STOP_COMMAND", ValueType::string,
        "With platform = host: command run before the volumes are replaced (e.g. \"systemctl stop "
        "connectware\"), split on spaces and run without a shell; restart-command starts Connectware again",
        accessors(&Config::stop_command_, parse_optional_text, print_text));
    add("health-timeout", "CONNECTWARE_HEALTH_TIMEOUT", ValueType::duration,
        "How long to wait after a restart for the Connectware services that ran before the restore to report running",
        accessors(&Config::health_timeout_, parse_duration, print_duration));
    add("stop-timeout", "CONNECTWARE_STOP_TIMEOUT", ValueType::duration,
        "How long a container is given to stop (SIGTERM) before the Docker engine kills it, when the restore or a "
        "full backup stops containers",
        accessors(&Config::stop_timeout_, parse_duration, print_duration));

    // restic
    add("restic-binary", "CONNECTWARE_RESTIC_BINARY", ValueType::string, "restic executable (looked up in PATH)",
        accessors(&Config::restic_binary_, parse_text, print_text));
    add("repository", "RESTIC_REPOSITORY", ValueType::string, "restic repository",
        accessors(&Config::repository_, parse_optional_text, print_text));
    add("restic-password-file", "RESTIC_PASSWORD_FILE", ValueType::path, "File holding the restic repository password",
        accessors(&Config::restic_password_file_, parse_optional_path, print_optional_path));
    add("restic-password", "RESTIC_PASSWORD", ValueType::string, "restic repository password",
        accessors(&Config::restic_password_, parse_secret, print_secret), Sensitivity::secret);
    add("restic-cacert", "RESTIC_CACERT", ValueType::path, "CA certificate(s) for the repository's TLS server",
        accessors(&Config::restic_cacert_, parse_optional_path, print_optional_path));
    add("host", "CONNECTWARE_HOST", ValueType::string,
        "Host name recorded in restic snapshots; a restore picks its latest (on a new machine: the old one's name)",
        accessors(&Config::host_, parse_host, print_text), Sensitivity::plain, "the machine's hostname");
    add("tags", "CONNECTWARE_TAGS", ValueType::list, "Tags of the restic snapshots",
        accessors(&Config::tags_,
                  parse_list([](std::string_view tag) { return !has_blank(tag); }, "tags without blanks"), print_list));

    add("keep-last", "CONNECTWARE_KEEP_LAST", ValueType::integer,
        "connectware-backup: after a successful backup, forget all but the last N snapshots of this host with our "
        "tags (restic forget --keep-last); unset: no forget unless another keep-* is set",
        accessors(&Config::keep_last_, parse_optional_integer(1, 1000000), print_optional_integer));
    add("keep-daily", "CONNECTWARE_KEEP_DAILY", ValueType::integer,
        "connectware-backup: keep the last snapshot of each of the last N days (restic forget --keep-daily)",
        accessors(&Config::keep_daily_, parse_optional_integer(1, 1000000), print_optional_integer));
    add("keep-weekly", "CONNECTWARE_KEEP_WEEKLY", ValueType::integer,
        "connectware-backup: keep the last snapshot of each of the last N weeks (restic forget --keep-weekly)",
        accessors(&Config::keep_weekly_, parse_optional_integer(1, 1000000), print_optional_integer));
    add("keep-monthly", "CONNECTWARE_KEEP_MONTHLY", ValueType::integer,
        "connectware-backup: keep the last snapshot of each of the last N months (restic forget --keep-monthly)",
        accessors(&Config::keep_monthly_, parse_optional_integer(1, 1000000), print_optional_integer));
    add("keep-yearly", "CONNECTWARE_KEEP_YEARLY", ValueType::integer,
        "connectware-backup: keep the last snapshot of each of the last N years (restic forget --keep-yearly)",
        accessors(&Config::keep_yearly_, parse_optional_integer(1, 1000000), print_optional_integer));
    add("prune", "CONNECTWARE_PRUNE", ValueType::boolean,
        "connectware-backup: after forgetting, delete the data no snapshot needs any more (restic forget --prune)",
        accessors(&Config::prune_, parse_bool, print_bool));

    // Output
    add("log-level", "CONNECTWARE_LOG_LEVEL", ValueType::enumeration,
        "Log level: trace, debug, info, warn, error or off",
        accessors(&Config::log_level_, parse_enum<LogLevel>(parse_log_level, "trace, debug, info, warn, error or off"),
                  print_enum<LogLevel>));
    add("progress", "CONNECTWARE_PROGRESS", ValueType::enumeration,
        "Progress lines: auto (when stderr is a terminal), always or never",
        accessors(&Config::progress_, parse_enum<Progress>(parse_progress, "auto, always or never"),
                  print_enum<Progress>));

    const Config defaults;
    for (auto& row : rows)
      if (row.info.default_text.empty()) row.info.default_text = row.access.show(defaults);
    return rows;
  }();
  return table;
}

const std::vector<KeyInfo>& Config::keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> result;
    for (const auto& binding : bindings())
      result.push_back(binding.info);
    return result;
  }();
  return keys;
}

const KeyInfo* Config::find_key(std::string_view name) {
  const auto& all = keys();
  const auto found = std::ranges::find(all, name, &KeyInfo::name);
  return found == all.end() ? nullptr : &*found;
}

// --- resolution ------------------------------------------------------------------------------------------

std::string Origin::describe() const {
  switch (source) {
  case Source::default_value: return "default";
  case Source::config_file: return "config file " + where;
  case Source::environment: return "environment " + where;
  case Source::command_line: return "command line " + where;
  case Source::secret_file: return "file " + where;
  }
  return "unknown";
}

Origin Config::origin(std::string_view key) const {
  const auto found = origins_.find(key);
  return found == origins_.end() ? Origin{} : found->second;
}

Result<> Config::assign(const Binding& binding, std::string_view raw, Origin origin) {
  if (auto assigned = binding.access.assign(*this, raw); !assigned) {
    // A secret's value is never repeated, not even in an error.
    const std::string quoted = binding.info.sensitivity == Sensitivity::secret ? "" : " \"" + std::string{raw} + "\"";
    return fail(ErrorKind::usage, "invalid value" + quoted + " for " + std::string{binding.info.name} + " (from " +
                                      origin.describe() + "): " + assigned.error());
  }
  origins_.insert_or_assign(std::string{binding.info.name}, std::move(origin));
  return {};
}

Result<> Config::apply_config_file(const fs::path& file) {
  auto entries = read_config_file(file);
  if (!entries) return fail(entries.error());
  for (const auto& entry : *entries) {
    const auto where = file.string() + ":" + std::to_string(entry.line);
    const auto found = std::ranges::find(bindings(), entry.key, [](const Binding& b) { return b.info.name; });
    if (found == bindings().end())
      return fail(ErrorKind::usage, where + ": unknown key \"" + entry.key + "\" (--help lists the keys)");
    if (found->info.exposure == Exposure::environment_only)
      return fail(ErrorKind::usage, where + ": " + entry.key + " cannot be set in a config file: set " +
                                        std::string{found->info.env_var} + " or " + entry.key + "-file");
    CWB_TRY(assign(*found, entry.value, Origin{Origin::Source::config_file, where}));
  }
  return {};
}

Result<> Config::apply_environment(const util::Environment& environment) {
  for (const auto& binding : bindings()) {
    const auto found = environment.find(std::string{binding.info.env_var});
    // An empty variable counts as unset: `FOO= hook` is the usual way to switch a variable off.
    if (found == environment.end() || found->second.empty()) continue;
    CWB_TRY(assign(binding, found->second, Origin{Origin::Source::environment, found->first}));
  }
  return {};
}

Result<> Config::apply_command_line(const CommandLine& command_line) {
  for (const auto& [name, value] : command_line.values) {
    const auto found = std::ranges::find(bindings(), name, [](const Binding& b) { return b.info.name; });
    if (found == bindings().end() || found->info.exposure == Exposure::environment_only)
      return fail(ErrorKind::usage, "unknown option --" + name);
    CWB_TRY(assign(*found, value, Origin{Origin::Source::command_line, "--" + name}));
  }
  return {};
}

namespace {

// Returns the secret in `file` without its trailing newline. Errors: usage naming the key, its origin and
// the file, when it cannot be read or is empty.
Result<Secret> read_secret_file(const fs::path& file, const std::string& key_with_origin) {
  auto content = util::read_file(file);
  if (!content) return fail(ErrorKind::usage, key_with_origin + ": " + content.error().message);
  std::string text = std::move(*content);
  if (text.ends_with('\n')) text.pop_back();
  if (text.ends_with('\r')) text.pop_back();
  if (text.empty()) return fail(ErrorKind::usage, key_with_origin + ": " + file.string() + " is empty");
  return Secret{std::move(text)};
}

} // namespace

Result<> Config::check_work_folders() const {
  // Each of these is emptied or removed as a whole by some step: one inside another, or the state folder
  // (the lock, the markers, the mirror's index) inside one of them, would be removed with it.
  const std::array<std::pair<std::string_view, const fs::path*>, 3> folders{
      {{"staging-dir", &staging_dir_}, {"restore-dir", &restore_dir_}, {"rollback-dir", &rollback_dir_}}};
  const auto named = [this](std::string_view key, const fs::path& path) {
    return describe_key(key, *this) + " " + path.string();
  };
  for (const auto& [key, path] : folders) {
    if (util::resolved_path(*path) == util::resolved_path("/"))
      return fail(ErrorKind::usage, named(key, *path) + " is the root folder; it is emptied as a whole: give it a "
                                                        "folder of its own");
    if (util::is_same_or_inside(state_dir_, *path))
      return fail(ErrorKind::usage, named("state-dir", state_dir_) + " lies inside " + named(key, *path) +
                                        ", which is emptied as a whole: keep the state folder out of it");
  }
  for (const auto& [key, path] : folders) {
    for (const auto& [other_key, other_path] : folders) {
      if (key == other_key || !util::is_same_or_inside(*path, *other_path)) continue;
      const bool same = util::is_same_or_inside(*other_path, *path);
      return fail(ErrorKind::usage, named(key, *path) + (same ? " is the same folder as " : " lies inside ") +
                                        named(other_key, *other_path) + ": give each a folder of its own");
    }
  }
  return {};
}

Result<> Config::finish() {
  if (status_file_.empty()) status_file_ = state_dir_ / "status.json";
  if (restore_dir_.empty()) restore_dir_ = state_dir_ / "restore";
  if (rollback_dir_.empty()) rollback_dir_ = state_dir_ / "rollback";

  CWB_TRY(check_work_folders());

  if (poll_interval_ > poll_max_interval_)
    return fail(ErrorKind::usage, describe_key("poll-interval", *this) + " is " + print_duration(poll_interval_) +
                                      ", longer than " + describe_key("poll-max-interval", *this) + " " +
                                      print_duration(poll_max_interval_));

  std::set<std::string, std::less<>> given_paths;
  for (const auto& item : volume_paths_) {
    const auto name = item.substr(0, item.find('='));
    if (!given_paths.insert(name).second)
      return fail(ErrorKind::usage, describe_key("volume-paths", *this) + " names volume " + name + " twice");
  }
  if (volume_path_ && given_paths.contains(service_manager_volume))
    return fail(ErrorKind::usage, "both " + describe_key("volume-path", *this) + " and " +
                                      describe_key("volume-paths", *this) +
                                      " give the service-manager volume's folder: keep only one");

  struct SecretPair {
    std::string_view key;
    Secret Config::*secret;
    std::optional<fs::path> Config::*file;
  };
  const std::array pairs{
      SecretPair{"connectware-token", &Config::connectware_token_, &Config::connectware_token_file_},
      SecretPair{"connectware-password", &Config::connectware_password_, &Config::connectware_password_file_},
      SecretPair{"restic-password", &Config::restic_password_, &Config::restic_password_file_}};
  for (const auto& pair : pairs) {
    const auto file_key = std::string{pair.key} + "-file";
    if (!(this->*pair.secret).empty() && (this->*pair.file).has_value())
      return fail(ErrorKind::usage, "both " + describe_key(pair.key, *this) + " and " + describe_key(file_key, *this) +
                                        " are set: keep only one");
  }

  const bool has_token = !connectware_token_.empty() || connectware_token_file_.has_value();
  const bool has_password = !connectware_password_.empty() || connectware_password_file_.has_value();
  if (has_token && has_password) {
    const auto token_key = connectware_token_file_ ? "connectware-token-file" : "connectware-token";
    const auto password_key = connectware_password_file_ ? "connectware-password-file" : "connectware-password";
    warnings_.push_back("both a token and a password are set for Connectware: " + describe_key(token_key, *this) +
                        " is used and " + describe_key(password_key, *this) + " is ignored");
    connectware_password_ = Secret{};
    origins_.erase("connectware-password");
  }

  for (const auto& pair : pairs) {
    const auto file_key = std::string{pair.key} + "-file";
    const auto& file = this->*pair.file;
    if (!file) continue;
    if (pair.secret == &Config::connectware_password_ && has_token) continue; // ignored, see the warning above
    auto secret = read_secret_file(*file, describe_key(file_key, *this));
    if (!secret) return fail(secret.error());
    this->*pair.secret = std::move(*secret);
    origins_.insert_or_assign(std::string{pair.key}, Origin{Origin::Source::secret_file, file->string()});
  }

  if (insecure_ && ca_file_)
    warnings_.push_back(describe_key("insecure", *this) + " disables certificate verification, so " +
                        describe_key("ca-file", *this) + " is not used");
  return {};
}

Result<Config> Config::resolve(const CommandLine& command_line, const util::Environment& environment) {
  Config config;
  config.host_ = machine_hostname();

  if (command_line.config_file) {
    config.config_file_ = command_line.config_file;
    config.config_file_origin_ = Origin{Origin::Source::command_line, "--config"};
  } else if (const auto found = environment.find("CONNECTWARE_CONFIG");
             found != environment.end() && !found->second.empty()) {
    config.config_file_ = fs::path{found->second};
    config.config_file_origin_ = Origin{Origin::Source::environment, "CONNECTWARE_CONFIG"};
  }

  if (config.config_file_) CWB_TRY(config.apply_config_file(*config.config_file_));
  CWB_TRY(config.apply_environment(environment));
  CWB_TRY(config.apply_command_line(command_line));
  CWB_TRY(config.finish());
  return config;
}

// --- derived values and output ---------------------------------------------------------------------------

Authentication Config::authentication() const {
  if (!connectware_token_.empty()) return Authentication::token;
  if (!connectware_password_.empty()) return Authentication::password;
  return Authentication::none;
}

Result<> Config::require_connectware_credentials() const {
  if (authentication() != Authentication::none) return {};
  return fail(ErrorKind::usage, "no Connectware credentials: set CONNECTWARE_PASSWORD or --connectware-password-file "
                                "(or CONNECTWARE_TOKEN or --connectware-token-file)");
}

std::vector<const Secret*> Config::secrets() const {
  std::vector<const Secret*> result;
  for (const Secret* secret :
       {&connectware_password_, &connectware_token_, &restic_password_, &ping_url_, &drill_ping_url_})
    if (!secret->empty()) result.push_back(secret);
  return result;
}

namespace {

std::vector<std::string> split_on_spaces(const std::string& command) {
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < command.size()) {
    const auto end = std::min(command.find(' ', start), command.size());
    if (end > start) argv.push_back(command.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

} // namespace

std::vector<std::string> Config::restart_command() const {
  return split_on_spaces(restart_command_);
}

std::vector<std::string> Config::stop_command() const {
  return split_on_spaces(stop_command_);
}

std::map<std::string, fs::path> Config::volume_paths() const {
  std::map<std::string, fs::path> paths;
  for (const auto& item : volume_paths_) {
    const auto equals = item.find('=');
    paths.emplace(item.substr(0, equals), fs::path(item.substr(equals + 1)));
  }
  if (volume_path_) paths.insert_or_assign(std::string(service_manager_volume), *volume_path_);
  return paths;
}

std::string show_config(const Config& config) {
  std::string text = config.config_file() ? "# config file: " + config.config_file()->string() + "  (" +
                                                config.config_file_origin().describe() + ")\n"
                                          : std::string{"# config file: none\n"};
  for (const auto& binding : Config::bindings()) {
    text += std::string{binding.info.name} + " = " + binding.access.show(config) + "  (" +
            config.origin(binding.info.name).describe() + ")\n";
  }
  // connectware-url, repository and docker-host may carry a password; the origins may quote a URL too.
  return util::mask_url_credentials(text);
}

} // namespace cwb::config
