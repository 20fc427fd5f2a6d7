#include "front_door.hpp"

#include "database.hpp"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <cmath>
#include <fcntl.h>
#include <fstream>
#include <memory>

#include "util/file_descriptor.hpp"

namespace cwb::emulator {
namespace {

constexpr std::size_t download_chunk = 64 * 1024;
constexpr std::size_t corrupted_bytes = 16;

void reply_text(httplib::Response& res, int status, const std::string& text,
                const std::string& content_type = "text/plain; charset=utf-8") {
  res.status = status;
  res.set_content(text, content_type);
}

// What nginx answers when Connectware behind it does not answer in time: HTML, not JSON.
const std::string proxy_502_page =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

void reply_json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void unauthorized(httplib::Response& res, const std::string& why) {
  res.set_header("WWW-Authenticate", "Basic realm=\"Connectware\"");
  reply_json(res, {{"error", "Unauthorized"}, {"message", why}}, 401);
}

// Reads and drops a request body that will not be used, so that the client is not cut off mid-upload.
void drain(const httplib::Request& req, const httplib::ContentReader& reader) {
  if (req.is_multipart_form_data()) {
    reader([](const httplib::MultipartFormData&) { return true; }, [](const char*, std::size_t) { return true; });
  } else {
    reader([](const char*, std::size_t) { return true; });
  }
}

enum class DownloadFault { none, truncate, corrupt, drop };

} // namespace

FrontDoor::FrontDoor(FrontDoorConfig config, Maintenance& maintenance, FaultSet& faults)
    : config_(std::move(config)), maintenance_(maintenance), faults_(faults), tokens_(random_hex(32)),
      started_(std::chrono::steady_clock::now()) {}

std::optional<std::string> FrontDoor::authorize(const httplib::Request& req, httplib::Response& res,
                                                Operation operation, const std::string& path) {
  auto database = Database::connect(config_.conninfo);
  if (!database) {
    reply_json(res, {{"error", "Service Unavailable"}, {"message", database.error().message}}, 503);
    return std::nullopt;
  }
  std::optional<std::string> username;
  Result<std::optional<std::vector<Permission>>> permissions = std::optional<std::vector<Permission>>();
  const std::string authorization = req.get_header_value("Authorization");
  if (authorization.starts_with("Basic ")) {
    const auto decoded = decode_base64(authorization.substr(6));
    const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      unauthorized(res, "malformed Basic credentials");
      return std::nullopt;
    }
    username = decoded->substr(0, colon);
    permissions = authenticate(*database, *username, decoded->substr(colon + 1));
  } else {
    std::string token;
    if (authorization.starts_with("Bearer "))
      token = authorization.substr(7);
    else if (req.has_param("apiToken"))
      token = req.get_param_value("apiToken");
    if (token.empty()) {
      unauthorized(res, "authentication required");
      return std::nullopt;
    }
    username = tokens_.verify(token, std::chrono::system_clock::now());
    if (username) permissions = permissions_of(*database, *username);
  }
  if (!permissions) {
    reply_json(res, {{"error", "Internal Server Error"}, {"message", permissions.error().message}}, 500);
    return std::nullopt;
  }
  if (!*permissions) {
    unauthorized(res, "invalid credentials or token");
    return std::nullopt;
  }
  if (!any_allows(**permissions, path, operation)) {
    reply_json(res, {{"error", "Forbidden"}, {"message", "user " + *username + " may not access " + path}}, 403);
    return std::nullopt;
  }
  return username;
}

std::optional<std::string> FrontDoor::authorize(const httplib::Request& req, httplib::Response& res) {
  return authorize(req, res, operation_for_method(req.method), req.path);
}

void FrontDoor::reply_accepted(httplib::Response& res, const std::string& text) const {
  const auto variant = faults_.value("variant").value_or("docs");
  if (variant == "nulls") return reply_json(res, {{"message", text}, {"id", nullptr}, {"queued", true}}, 200);
  if (variant == "terse") return reply_text(res, 202, "Accepted");
  reply_text(res, 202, text);
}

bool FrontDoor::injected_500(httplib::Response& res) {
  if (!faults_.consume("http_500")) return false;
  reply_text(res, 500, "Internal Server Error (injected fault http_500)");
  return true;
}

void FrontDoor::register_routes(httplib::Server& server) {
  using httplib::Request;
  using httplib::Response;
  // `curl --request POST` (as in Connectware's docs) sends no Content-Length, which cpp-httplib's body
  // reader answers with 400; the backup start needs no body, so it is answered before the body is read.
  server.set_pre_routing_handler([this](const Request& req, Response& res) {
    const bool bodyless = !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding");
    if (req.method == "POST" && req.path == "/api/maintenance/db/backup" && bodyless) {
      start_backup(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.Post("/api/login", [this](const Request& req, Response& res) { login(req, res); });
  server.Get("/api/system/info", [this](const Request& req, Response& res) { system_info(req, res); });
  server.Get("/api/system/health", [this](const Request& req, Response& res) { system_health(req, res); });
  server.Get("/api/maintenance/db", [this](const Request& req, Response& res) { maintenance_status(req, res); });
  server.Get("/api/maintenance/database/status",
             [this](const Request& req, Response& res) { maintenance_status(req, res); });
  server.Post("/api/maintenance/db/backup", [this](const Request& req, Response& res) { start_backup(req, res); });
  server.Get("/api/maintenance/db/backup", [this](const Request& req, Response& res) { download_backup(req, res); });
  server.Post("/api/maintenance/db/restore",
              [this](const Request& req, Response& res, const httplib::ContentReader& reader) {
                upload_restore(req, res, reader);
              });
  // Like Connectware: the collection lives at /api/services/ and the bare path redirects there.
  server.Get("/api/services", [](const Request&, Response& res) { res.set_redirect("/api/services/", 301); });
  server.Get("/api/services/.*", [this](const Request& req, Response& res) { forward_services(req, res); });
  server.Post("/api/services/?", [this](const Request& req, Response& res) { forward_services(req, res); });
  server.Delete("/api/services/.+", [this](const Request& req, Response& res) { forward_services(req, res); });
  server.Get("/emulator/faults", [this](const Request& req, Response& res) { get_faults(req, res); });
  server.Put("/emulator/faults", [this](const Request& req, Response& res) { put_faults(req, res); });
}

void FrontDoor::login(const httplib::Request& req, httplib::Response& res) {
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("username") || !body.contains("password") ||
      !body["username"].is_string() || !body["password"].is_string())
    return reply_json(res, {{"error", "Bad Request"}, {"message", "username and password are required"}}, 400);
  auto database = Database::connect(config_.conninfo);
  if (!database) return reply_json(res, {{"error", "Service Unavailable"}, {"message", database.error().message}}, 503);
  const auto username = body["username"].get<std::string>();
  auto permissions = authenticate(*database, username, body["password"].get<std::string>());
  if (!permissions)
    return reply_json(res, {{"error", "Internal Server Error"}, {"message", permissions.error().message}}, 500);
  if (!*permissions) return unauthorized(res, "invalid username or password");
  double hours = 24;
  if (body.contains("expireTimeInHours") && body["expireTimeInHours"].is_number())
    hours = body["expireTimeInHours"].get<double>();
  const auto lifetime = std::chrono::seconds(static_cast<std::int64_t>(std::llround(hours * 3600.0)));
  reply_json(res, {{"token", tokens_.issue(username, std::chrono::system_clock::now() + lifetime)}});
}

void FrontDoor::system_info(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res)) return;
  reply_json(res, {{"time", iso_time(std::chrono::system_clock::now())},
                   {"version", config_.version},
                   {"license", {{"valid", true}, {"name", "Connectware emulator"}}}});
}

void FrontDoor::system_health(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res)) return;
  const auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  const std::string uptime = "Up " + std::to_string(up.count()) + " seconds";

  std::string manager_state = "exited";
  if (!config_.service_manager_url.empty()) {
    httplib::Client client(config_.service_manager_url);
    client.set_connection_timeout(1);
    client.set_read_timeout(1);
    const auto answer = client.Get("/health");
    if (answer && answer->status == 200)
      manager_state = "running";
    else if (!answer && answer.error() == httplib::Error::Read)
      manager_state = "unresponsive";
    else if (answer)
      manager_state = "unhealthy";
  }
  std::string postgres_state = "exited";
  if (auto database = Database::connect(config_.conninfo); database && database->query("SELECT 1"))
    postgres_state = "running";

  nlohmann::json status = nlohmann::json::array();
  status.push_back({{"name", "connectware"}, {"status", "running"}, {"uptime", uptime}});
  status.push_back(
      {{"name", "service-manager"}, {"status", manager_state}, {"uptime", manager_state == "running" ? uptime : ""}});
  status.push_back(
      {{"name", "postgresql"}, {"status", postgres_state}, {"uptime", postgres_state == "running" ? uptime : ""}});
  if (const auto stopped = faults_.value("stopped_service"))
    status.push_back({{"name", *stopped}, {"status", "exited"}, {"uptime", ""}});
  reply_json(res, {{"system", {{"status", status}}}});
}

void FrontDoor::maintenance_status(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res, Operation::read, "/api/maintenance/db") || injected_500(res)) return;
  if (faults_.consume("status_html"))
    return reply_text(res, 200, "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate Proxy</title></head>\n<body>",
                      "text/html");
  reply_json(res, maintenance_.status());
}

void FrontDoor::start_backup(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res) || injected_500(res)) return;
  if (faults_.consume("backup_start_502")) return reply_text(res, 502, proxy_502_page, "text/html");
  if (maintenance_.start_backup() == StartOutcome::busy)
    return reply_text(res, 409, "Conflict. A database maintenance operation is already running.");
  if (faults_.consume("backup_started_502")) return reply_text(res, 502, proxy_502_page, "text/html");
  reply_accepted(res, "Accepted. Database backup started.");
}

void FrontDoor::download_backup(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res) || injected_500(res)) return;
  const auto path = maintenance_.latest_backup();
  if (!path) return reply_text(res, 404, "Not Found. No database backup has been created yet.");
  auto file = std::make_shared<util::FileDescriptor>(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
  struct stat info {};
  if (!*file || ::fstat(file->get(), &info) != 0)
    return reply_text(res, 500, "Internal Server Error. The backup file cannot be read.");
  const auto size = static_cast<std::size_t>(info.st_size);

  DownloadFault fault = DownloadFault::none;
  if (faults_.consume("truncate_download"))
    fault = DownloadFault::truncate;
  else if (faults_.consume("drop_connection"))
    fault = DownloadFault::drop;
  else if (faults_.consume("corrupt_download"))
    fault = DownloadFault::corrupt;
  // truncate: half the bytes, then the connection closes; drop: a quarter (at most one chunk), then closes.
  const std::size_t limit = fault == DownloadFault::truncate ? size / 2
                            : fault == DownloadFault::drop   ? std::min(size / 4, download_chunk)
                                                             : size;
  const std::size_t corrupt_from = size / 2;

  res.set_header("Content-Disposition", "attachment; filename=\"connectware-db-backup.tgz\"");
  res.set_content_provider(
      size, "application/gzip",
      [file, limit, fault, corrupt_from](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        if (offset >= limit) return false; // closes the connection short of Content-Length
        std::vector<char> buffer(std::min({length, download_chunk, limit - offset}));
        const ssize_t got = ::pread(file->get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
        if (got <= 0) return false;
        buffer.resize(static_cast<std::size_t>(got));
        if (fault == DownloadFault::corrupt) {
          for (std::size_t i = 0; i < buffer.size(); ++i) {
            const std::size_t at = offset + i;
            if (at >= corrupt_from && at < corrupt_from + corrupted_bytes) buffer[i] = static_cast<char>(~buffer[i]);
          }
        }
        return sink.write(buffer.data(), buffer.size());
      });
}

void FrontDoor::upload_restore(const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
  if (!authorize(req, res) || injected_500(res)) return drain(req, reader);
  if (!req.is_multipart_form_data()) {
    drain(req, reader);
    return reply_text(res, 400, "Bad Request. Expected a multipart form with the field \"file\".");
  }
  const auto upload = maintenance_.new_upload_path();
  std::ofstream out;
  bool in_file_field = false;
  bool saw_file = false;
  const bool read_ok = reader(
      [&](const httplib::MultipartFormData& field) {
        in_file_field = field.name == "file" && !saw_file;
        if (in_file_field) {
          saw_file = true;
          out.open(upload, std::ios::binary | std::ios::trunc);
          return out.is_open();
        }
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (in_file_field) out.write(data, static_cast<std::streamsize>(size));
        return !in_file_field || static_cast<bool>(out);
      });
  out.close();
  if (!read_ok || !saw_file || !out) {
    std::error_code ignored;
    std::filesystem::remove(upload, ignored);
    return reply_text(res, 400,
                      saw_file ? "Bad Request. The upload was incomplete."
                               : "Bad Request. Expected a multipart form with the field \"file\".");
  }
  if (faults_.consume("restore_start_502")) return reply_text(res, 502, proxy_502_page, "text/html");
  if (maintenance_.start_restore(upload) == StartOutcome::busy)
    return reply_text(res, 409, "Conflict. A database maintenance operation is already running.");
  if (faults_.consume("restore_started_502")) return reply_text(res, 502, proxy_502_page, "text/html");
  reply_accepted(res, "Accepted. The archive is uploaded, and the database restores process starts.");
}

void FrontDoor::forward_services(const httplib::Request& req, httplib::Response& res) {
  const std::string path = req.path == "/api/services" ? "/api/services/" : req.path;
  const auto username = authorize(req, res, operation_for_method(req.method), path);
  if (!username) return;
  if (config_.service_manager_url.empty())
    return reply_json(res, {{"error", "Bad Gateway"}, {"message", "no service-manager configured"}}, 502);

  httplib::Client client(config_.service_manager_url);
  client.set_connection_timeout(5);
  client.set_read_timeout(static_cast<time_t>(config_.forward_timeout.count()));
  client.set_write_timeout(static_cast<time_t>(config_.forward_timeout.count()));
  httplib::Params params = req.params;
  params.erase("apiToken"); // the credential stays at the front door
  const std::string target = httplib::append_query_params(path, params);
  const httplib::Headers headers = {{"X-Connectware-User", *username}};
  std::string content_type = req.get_header_value("Content-Type");
  if (content_type.empty()) content_type = "application/octet-stream";

  httplib::Result answer = req.method == "GET"    ? client.Get(target.c_str(), headers)
                           : req.method == "POST" ? client.Post(target.c_str(), headers, req.body, content_type.c_str())
                                                  : client.Delete(target.c_str(), headers);
  if (!answer)
    return reply_json(
        res, {{"error", "Bad Gateway"}, {"message", "service-manager: " + httplib::to_string(answer.error())}}, 502);
  res.status = answer->status;
  res.body = answer->body;
  if (answer->has_header("Content-Type")) res.set_header("Content-Type", answer->get_header_value("Content-Type"));
}

void FrontDoor::get_faults(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res)) return;
  reply_json(res, faults_.to_json());
}

void FrontDoor::put_faults(const httplib::Request& req, httplib::Response& res) {
  if (!authorize(req, res)) return;
  auto faults = FaultSet::from_json(nlohmann::json::parse(req.body, nullptr, false));
  if (!faults) return reply_json(res, {{"error", "Bad Request"}, {"message", faults.error().message}}, 400);
  faults_.replace(std::move(*faults));
  reply_json(res, faults_.to_json());
}

} // namespace cwb::emulator
