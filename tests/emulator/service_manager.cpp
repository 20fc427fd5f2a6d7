#include "service_manager.hpp"

#include "util/file_system.hpp"

#include <nlohmann/json.hpp>

#include <regex>

namespace cwb::emulator {
namespace {

std::filesystem::path service_file(const std::filesystem::path& data_dir, const std::string& id) {
  return data_dir / "services" / (id + ".yml");
}

bool valid_service_id(const std::string& id) {
  static const std::regex pattern("[A-Za-z0-9][A-Za-z0-9_-]{0,63}");
  return std::regex_match(id, pattern);
}

nlohmann::json service_json(const Row& row) {
  return nlohmann::json{{"id", row[0].value_or("")},
                        {"name", row[1].value_or("")},
                        {"file", row[2].value_or("")},
                        {"state", row[3].value_or("")}};
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

std::string sample_yaml(const std::string& id, const std::string& description) {
  return "description: " + description + "\nmetadata:\n  name: " + id + "\n  version: 1.0.0\nresources:\n  " + id +
         "Connection:\n    type: Cybus::Connection\n    properties:\n"
         "      protocol: Mqtt\n      connection:\n        host: 127.0.0.1\n        port: 1883\n";
}

void list_services(const ServiceManagerConfig& config, httplib::Response& res) {
  auto database = Database::connect(config.conninfo);
  if (!database) return reply_error(res, 503, database.error().message);
  auto rows = database->query("SELECT id, name, file, state FROM services ORDER BY id");
  if (!rows) return reply_error(res, 500, rows.error().message);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& row : *rows)
    list.push_back(service_json(row));
  res.set_content(list.dump(), "application/json");
}

void get_service(const ServiceManagerConfig& config, const std::string& id, httplib::Response& res) {
  auto database = Database::connect(config.conninfo);
  if (!database) return reply_error(res, 503, database.error().message);
  auto rows = database->query("SELECT id, name, file, state FROM services WHERE id = $1", {id});
  if (!rows) return reply_error(res, 500, rows.error().message);
  if (rows->empty()) return reply_error(res, 404, "no such service: " + id);
  res.set_content(service_json(rows->front()).dump(), "application/json");
}

void install_service(const ServiceManagerConfig& config, const httplib::Request& req, httplib::Response& res) {
  std::string id = req.get_param_value("id");
  std::string yaml = req.body;
  std::string name;
  if (req.get_header_value("Content-Type").starts_with("application/json")) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("yaml") || !body["yaml"].is_string())
      return reply_error(res, 400, R"(expected {"id": "...", "yaml": "..."})");
    id = body.value("id", id);
    name = body.value("name", std::string());
    yaml = body["yaml"].get<std::string>();
  }
  if (!valid_service_id(id)) return reply_error(res, 400, "invalid or missing service id: \"" + id + "\"");
  if (name.empty()) name = id;

  auto database = Database::connect(config.conninfo);
  if (!database) return reply_error(res, 503, database.error().message);
  auto existing = database->query("SELECT 1 FROM services WHERE id = $1", {id});
  if (!existing) return reply_error(res, 500, existing.error().message);
  if (!existing->empty()) return reply_error(res, 409, "service already installed: " + id);

  // File first, then the row; a row that cannot be written takes the file back with it.
  const auto file = service_file(config.data_dir, id);
  if (auto made = util::ensure_directories(file.parent_path()); !made)
    return reply_error(res, 500, made.error().message);
  if (auto written = util::write_file_atomic(file, yaml, 0644); !written)
    return reply_error(res, 500, written.error().message);
  auto inserted = database->query("INSERT INTO services (id, name, file, state) VALUES ($1, $2, $3, 'disabled') "
                                  "RETURNING id, name, file, state",
                                  {id, name, file.string()});
  if (!inserted) {
    (void)util::remove_tree(file);
    return reply_error(res, 500, inserted.error().message);
  }
  res.status = 201;
  res.set_content(service_json(inserted->front()).dump(), "application/json");
}

void delete_service(const ServiceManagerConfig& config, const std::string& id, httplib::Response& res) {
  auto database = Database::connect(config.conninfo);
  if (!database) return reply_error(res, 503, database.error().message);
  auto deleted = database->query("DELETE FROM services WHERE id = $1 RETURNING file", {id});
  if (!deleted) return reply_error(res, 500, deleted.error().message);
  if (deleted->empty()) return reply_error(res, 404, "no such service: " + id);
  if (auto removed = util::remove_tree(service_file(config.data_dir, id)); !removed)
    return reply_error(res, 500, removed.error().message);
  res.status = 204;
}

} // namespace

void register_service_manager_routes(httplib::Server& server, const ServiceManagerConfig& config) {
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  server.Get("/api/services/?",
             [&config](const httplib::Request&, httplib::Response& res) { list_services(config, res); });
  server.Get("/api/services/([^/]+)", [&config](const httplib::Request& req, httplib::Response& res) {
    get_service(config, req.matches[1], res);
  });
  server.Post("/api/services/?",
              [&config](const httplib::Request& req, httplib::Response& res) { install_service(config, req, res); });
  server.Delete("/api/services/([^/]+)", [&config](const httplib::Request& req, httplib::Response& res) {
    delete_service(config, req.matches[1], res);
  });
}

Result<> seed_services(Database& database, const std::filesystem::path& data_dir) {
  CWB_TRY(database.execute("BEGIN; SELECT pg_advisory_xact_lock(4244);"));
  auto seeded = [&]() -> Result<> {
    auto count = database.query("SELECT count(*) FROM services");
    if (!count) return fail(count.error());
    if ((*count)[0][0] != "0") return {};
    struct Seed {
      const char* id;
      const char* name;
      const char* state;
    };
    const Seed seeds[] = {{"opcua-bridge", "OPC UA bridge", "enabled"},
                          {"mqtt-forwarder", "MQTT forwarder", "enabled"},
                          {"historian", "Historian", "disabled"}};
    CWB_TRY(util::ensure_directories(data_dir / "services"));
    for (const auto& seed : seeds) {
      const auto file = service_file(data_dir, seed.id);
      CWB_TRY(util::write_file_atomic(file, sample_yaml(seed.id, seed.name), 0644));
      CWB_TRY(database.query("INSERT INTO services (id, name, file, state) VALUES ($1, $2, $3, $4)",
                             {seed.id, seed.name, file.string(), seed.state}));
    }
    CWB_TRY(util::ensure_directories(data_dir / "resources" / "certs"));
    CWB_TRY(util::write_file_atomic(data_dir / "resources" / "certs" / "opcua-client.pem",
                                    "-----BEGIN CERTIFICATE-----\nZW11bGF0b3I=\n-----END CERTIFICATE-----\n", 0644));
    std::error_code error;
    const auto link = data_dir / "current-service.yml";
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(link, error))) {
      std::filesystem::create_symlink("services/opcua-bridge.yml", link, error);
      if (error) return fail(ErrorKind::staging_io, "creating symlink " + link.string() + ": " + error.message());
    }
    return {};
  }();
  if (!seeded) {
    (void)database.execute("ROLLBACK");
    return fail(seeded.error().with_context("seeding services"));
  }
  return database.execute("COMMIT");
}

} // namespace cwb::emulator
