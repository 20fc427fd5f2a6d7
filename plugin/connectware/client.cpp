#include "connectware/client.hpp"

#include "http/transfer_failure.hpp"

namespace cwb::connectware {

namespace {

using nlohmann::json;

std::string trim_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  return url;
}

Result<json> parse_json(const std::string& body, const std::string& what) {
  auto document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded())
    return fail(ErrorKind::malformed_response, what + ": response is not JSON: \"" + excerpt(body) + "\"");
  return document;
}

} // namespace

std::unique_ptr<http::Transport> make_transport(const ClientOptions& options) {
  http::CurlTransportOptions transport_options;
  transport_options.tls = options.tls;
  return std::make_unique<http::CurlTransport>(std::move(transport_options));
}

Error unexpected_response(const http::Response& response, const std::string& what, std::string_view method,
                          const std::string& path, ErrorKind kind) {
  const std::string status = "HTTP " + std::to_string(response.status) + " from " + std::string(method) + " " + path;
  if (response.status == 401) {
    return Error{ErrorKind::authentication,
                 what + ": " + status +
                     ": Connectware rejected the credentials (wrong username or password, or an "
                     "expired or invalid token)"};
  }
  if (response.status == 403) {
    // Connectware grants HTTP paths with read (GET) or write (anything else): name the one that is missing.
    const std::string right = method == "GET" || method == "HEAD" ? "read" : "write";
    return Error{ErrorKind::authentication, what + ": " + status + ": the user has no " + right + " right on " + path +
                                                ": grant " + right + " on " + path +
                                                " to its role (docs/configuration.md lists every path the hooks use)"};
  }
  std::string message = what + ": " + status;
  if (!response.body.empty()) message += ": \"" + excerpt(response.body) + "\"";
  // The status travels with the error: a 5xx to a POST means "maybe started" to the layer above.
  return Error{kind, std::move(message), Cause::http_status, static_cast<int>(response.status)};
}

ConnectwareClient::ConnectwareClient(ClientOptions options, http::Transport& transport, http::Sleeper& sleeper,
                                     http::Clock& clock)
    : options_(std::move(options)), transport_(transport), sleeper_(sleeper), clock_(clock) {
  options_.base_url = trim_trailing_slash(options_.base_url);
}

http::Request ConnectwareClient::request(const std::string& method, const std::string& path) const {
  http::Request request;
  request.method = method;
  request.url = options_.base_url + path;
  request.timeouts = options_.timeouts.api;
  request.headers.emplace_back("Accept", "application/json");
  if (const auto* password = std::get_if<PasswordCredentials>(&options_.credentials)) {
    request.auth = http::BasicAuth{password->username, password->password.reveal()};
  } else if (const auto* token = std::get_if<TokenCredentials>(&options_.credentials)) {
    request.auth = http::BearerAuth{token->token.reveal()};
  }
  return request;
}

Result<http::Response> ConnectwareClient::send(const http::Request& request, http::Idempotency idempotency,
                                               const std::string& what) {
  auto response = http::perform_with_retry(transport_, request, options_.retry, sleeper_, idempotency);
  if (!response) return fail(response.error().with_context(what));
  return response;
}

Result<json> ConnectwareClient::get_json(const std::string& path, const std::string& what, http::Redirects redirects) {
  auto get = request("GET", path);
  get.redirects = redirects;
  auto response = send(get, http::Idempotency::idempotent, what);
  if (!response) return fail(response.error());
  if (!response->success()) return fail(unexpected_response(*response, what, "GET", path));
  return parse_json(response->body, what);
}

Result<MaintenanceStatus> ConnectwareClient::status() {
  std::vector<std::string> paths{options_.status_path};
  paths.insert(paths.end(), options_.fallback_status_paths.begin(), options_.fallback_status_paths.end());
  std::optional<Error> first_error;
  for (const auto& path : paths) {
    auto response = send(request("GET", path), http::Idempotency::idempotent, "reading the maintenance status");
    if (!response) return fail(response.error());
    if (response->status == 404) {
      if (!first_error) first_error = unexpected_response(*response, "reading the maintenance status", "GET", path);
      continue;
    }
    if (!response->success())
      return fail(unexpected_response(*response, "reading the maintenance status", "GET", path));
    auto status = parse_maintenance_status(response->body);
    if (!status) return fail(status.error().with_context("reading the maintenance status from " + path));
    // Remember the path that answered, so later polls go straight to it.
    options_.status_path = path;
    return status;
  }
  return fail(*first_error);
}

Result<> ConnectwareClient::start_backup() {
  const std::string what = "starting the database backup";
  auto post = request("POST", options_.backup_path);
  auto response = send(post, http::Idempotency::non_idempotent, what);
  if (!response) return fail(response.error());
  if (response->status == 409) {
    return fail(
        Error{ErrorKind::export_failed, what + ": HTTP 409: an operation is already running", Cause::http_status, 409});
  }
  if (!response->success())
    return fail(unexpected_response(*response, what, "POST", options_.backup_path, ErrorKind::export_failed));
  return {};
}

Result<DownloadedArchive> ConnectwareClient::download_backup(const std::filesystem::path& target,
                                                             http::ProgressCallback progress, DownloadOptions options) {
  const std::string what = "downloading the database backup";
  auto get = request("GET", options_.backup_path);
  get.headers = {{"Accept", "application/octet-stream, application/gzip, */*"}};
  get.timeouts = options_.timeouts.transfer;
  get.download_to = target;
  get.sync_download = options.sync;
  get.hash_download = options.hash;
  get.progress = std::move(progress);
  auto response = http::perform_with_retry(transport_, get, options_.retry, sleeper_, http::Idempotency::idempotent);
  if (!response) {
    const auto failure = http::transfer_failure_of(response.error());
    if (failure == http::TransferFailure::truncated || failure == http::TransferFailure::receive ||
        failure == http::TransferFailure::stalled) {
      return fail(ErrorKind::export_invalid, what + ": the archive arrived incomplete: " + response.error().message);
    }
    return fail(response.error().with_context(what));
  }
  if (response->status == 404) {
    return fail(ErrorKind::export_failed, what + ": HTTP 404: Connectware has no backup to download");
  }
  if (!response->success()) {
    return fail(unexpected_response(*response, what, "GET", options_.backup_path, ErrorKind::export_failed));
  }
  if (response->bytes == 0) return fail(ErrorKind::export_invalid, what + ": the archive is empty");
  return DownloadedArchive{response->bytes, response->sha256};
}

Result<> ConnectwareClient::upload_restore(const std::filesystem::path& archive, http::ProgressCallback progress) {
  const std::string what = "uploading the database archive for restore";
  auto post = request("POST", options_.restore_path);
  post.timeouts = options_.timeouts.transfer;
  post.upload = http::MultipartFile{options_.restore_field, archive, archive.filename().string(), "application/gzip"};
  post.progress = std::move(progress);
  auto response = send(post, http::Idempotency::non_idempotent, what);
  if (!response) return fail(response.error());
  if (response->status == 409) {
    return fail(Error{ErrorKind::http, what + ": HTTP 409: an operation is already running", Cause::http_status, 409});
  }
  if (!response->success()) return fail(unexpected_response(*response, what, "POST", options_.restore_path));
  return {};
}

Result<SystemInfo> ConnectwareClient::system_info() {
  const std::string what = "reading the Connectware version";
  auto document = get_json(options_.info_path, what, http::Redirects::do_not_follow);
  if (!document) return fail(document.error());
  try {
    return SystemInfo{document->at("version").get<std::string>(), *document};
  } catch (const json::exception& error) {
    return fail(ErrorKind::malformed_response, what + ": " + error.what());
  }
}

Result<std::vector<ServiceHealth>> ConnectwareClient::health() {
  const std::string what = "reading the system health";
  auto document = get_json(options_.health_path, what, http::Redirects::do_not_follow);
  if (!document) return fail(document.error());
  try {
    std::vector<ServiceHealth> services;
    for (const auto& entry : document->at("system").at("status")) {
      ServiceHealth health;
      health.name = entry.at("name").get<std::string>();
      health.status = entry.at("status").get<std::string>();
      if (const auto it = entry.find("uptime"); it != entry.end() && !it->is_null()) {
        health.uptime = it->is_string() ? it->get<std::string>() : it->dump();
      }
      services.push_back(std::move(health));
    }
    return services;
  } catch (const json::exception& error) {
    return fail(ErrorKind::malformed_response, what + ": " + error.what());
  }
}

Result<json> ConnectwareClient::services() {
  return get_json(options_.services_path, "listing the services", http::Redirects::follow);
}

Result<Secret> ConnectwareClient::login(const std::string& username, const Secret& password) {
  const std::string what = "logging in as " + username;
  auto post = request("POST", options_.login_path);
  post.auth = std::monostate{};
  post.headers.emplace_back("Content-Type", "application/json");
  post.body = json{{"username", username},
                   {"password", password.reveal()},
                   {"expireTimeInHours", 1},
                   {"label", "connectware-restic-backup"}}
                  .dump();
  auto response = send(post, http::Idempotency::non_idempotent, what);
  if (!response) return fail(response.error());
  if (!response->success()) return fail(unexpected_response(*response, what, "POST", options_.login_path));
  auto document = parse_json(response->body, what);
  if (!document) return fail(document.error());
  try {
    return Secret(document->at("token").get<std::string>());
  } catch (const json::exception& error) {
    return fail(ErrorKind::malformed_response, what + ": " + error.what());
  }
}

} // namespace cwb::connectware
