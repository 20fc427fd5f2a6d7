#pragma once
// One Connectware instance's REST API, as the backup needs it. Every call goes through the injected
// http::Transport (CurlTransport in production, a loopback server or fake in tests); idempotent GETs are
// retried per ClientOptions::retry, POSTs only when the connection could not be made at all.
//
// Errors common to every call: unreachable (connection, DNS, TLS, timeouts; the message names the URL
// without credentials), authentication (401: credentials rejected; 403: no rights on the path),
// interrupted (cancellation), http (any other unexpected status or an unparseable body).

#include "connectware/maintenance_status.hpp"
#include "connectware/secret.hpp"
#include "http/clock.hpp"
#include "http/curl_transport.hpp"
#include "http/retry.hpp"
#include "http/transport.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cwb::connectware {

struct PasswordCredentials {
  std::string username = "admin";
  Secret password;
};

/// A JWT from POST /api/login (or made in the admin UI); it carries its user's rights.
struct TokenCredentials {
  Secret token;
};

using Credentials = std::variant<std::monostate, PasswordCredentials, TokenCredentials>;

struct ClientTimeouts {
  /// Small JSON calls.
  http::Timeouts api = [] {
    http::Timeouts timeouts;
    timeouts.connect = std::chrono::seconds(10);
    timeouts.total = std::chrono::seconds(60);
    return timeouts;
  }();
  /// Archive downloads and uploads: no total limit, but a stall of 2 minutes fails.
  http::Timeouts transfer = [] {
    http::Timeouts timeouts;
    timeouts.connect = std::chrono::seconds(10);
    timeouts.total = std::chrono::milliseconds(0);
    timeouts.low_speed_bytes = 1;
    timeouts.low_speed_time = std::chrono::seconds(120);
    return timeouts;
  }();
};

struct ClientOptions {
  std::string base_url; // "https://connectware.example" (a trailing '/' is ignored)
  Credentials credentials;
  /// Used by make_transport(); a transport passed in directly brings its own TLS settings.
  http::TlsOptions tls;
  std::string status_path = "/api/maintenance/db";
  /// Tried in order when status_path answers 404 (older Connectware versions); the first that works is kept.
  std::vector<std::string> fallback_status_paths = {"/api/maintenance/database/status"};
  std::string backup_path = "/api/maintenance/db/backup";
  std::string restore_path = "/api/maintenance/db/restore";
  std::string restore_field = "file";
  std::string info_path = "/api/system/info";
  std::string health_path = "/api/system/health";
  std::string services_path = "/api/services";
  std::string login_path = "/api/login";
  ClientTimeouts timeouts;
  http::RetryPolicy retry;
};

/// Returns a CurlTransport configured with `options.tls`.
std::unique_ptr<http::Transport> make_transport(const ClientOptions& options);

struct DownloadedArchive {
  std::uint64_t bytes = 0;
  std::string sha256;
};

/// How ConnectwareClient::download_backup treats the file. A safety copy must survive a crash (synced); an
/// archive that restic reads right away need not pay for the sync, and one that is validated afterwards is
/// hashed in that pass instead of during the transfer.
struct DownloadOptions {
  bool sync = true;
  bool hash = true; // DownloadedArchive::sha256 stays empty without it
};

struct SystemInfo {
  std::string version;
  nlohmann::json raw;
};

struct ServiceHealth {
  std::string name;
  std::string status; // running, starting, stopping, restarting, exited, created
  std::string uptime;
};

class ConnectwareClient {
public:
  /// Keeps references to `transport`, `sleeper` (retry backoff, polling) and `clock` (polling deadlines):
  /// they must outlive the client.
  ConnectwareClient(ClientOptions options, http::Transport& transport, http::Sleeper& sleeper, http::Clock& clock);

  /// Returns the maintenance status. Errors: the common ones; http for a body that is not a status.
  Result<MaintenanceStatus> status();

  /// Starts a database backup (expects 202). Errors: export_failed when an operation is already running
  /// (409) or Connectware answers anything else unexpected; authentication; unreachable; interrupted.
  Result<> start_backup();

  /// Streams the last backup archive into `target` (created 0600). Returns its size and SHA-256.
  /// Errors: export_failed when there is no backup (404) or another status; export_invalid when the
  /// transfer was cut short (truncated, dropped, stalled) or the archive is empty; staging_io when
  /// `target` cannot be written; authentication; unreachable; interrupted.
  Result<DownloadedArchive> download_backup(const std::filesystem::path& target, http::ProgressCallback progress = {},
                                            DownloadOptions options = {});

  /// Uploads `archive` as a multipart form (streamed from disk) to start a restore (expects 202).
  /// Errors: http when Connectware refuses it (409: an operation is already running; other statuses with
  /// their body); staging_io when the archive cannot be read; authentication; unreachable; interrupted.
  Result<> upload_restore(const std::filesystem::path& archive, http::ProgressCallback progress = {});

  /// Returns Connectware's version (GET /api/system/info). Errors: the common ones.
  Result<SystemInfo> system_info();

  /// Returns one entry per system container (GET /api/system/health). Errors: the common ones.
  Result<std::vector<ServiceHealth>> health();

  /// Returns the service list (GET /api/services, following its redirect). Errors: the common ones.
  Result<nlohmann::json> services();

  /// Logs in and returns a token (POST /api/login). Does not change the client's credentials.
  /// Errors: authentication (401/403), the common ones.
  Result<Secret> login(const std::string& username, const Secret& password);

  void set_credentials(Credentials credentials) { options_.credentials = std::move(credentials); }
  [[nodiscard]] const ClientOptions& options() const { return options_; }
  [[nodiscard]] http::Sleeper& sleeper() { return sleeper_; }
  [[nodiscard]] http::Clock& clock() { return clock_; }

private:
  http::Request request(const std::string& method, const std::string& path) const;
  Result<http::Response> send(const http::Request& request, http::Idempotency idempotency, const std::string& what);
  Result<nlohmann::json> get_json(const std::string& path, const std::string& what, http::Redirects redirects);

  ClientOptions options_;
  http::Transport& transport_;
  http::Sleeper& sleeper_;
  http::Clock& clock_;
};

/// Returns the error for an unexpected response to `method` `path`: authentication for 401 (credentials
/// rejected) and 403 (naming the right to grant: read for GET, write otherwise, on `path`), otherwise `kind`
/// with the status and the start of the body.
Error unexpected_response(const http::Response& response, const std::string& what, std::string_view method,
                          const std::string& path, ErrorKind kind = ErrorKind::http);

} // namespace cwb::connectware
