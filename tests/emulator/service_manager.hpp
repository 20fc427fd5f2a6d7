#pragma once
// The service-manager role: service commissioning files in <data-dir>/services/<id>.yml plus one row per
// service in the services table, behind a plain-HTTP API (loopback only; the front door checks identity).

#include "core/error.hpp"
#include "database.hpp"

#include <httplib.h>

#include <filesystem>
#include <string>

namespace cwb::emulator {

struct ServiceManagerConfig {
  std::string conninfo;
  std::filesystem::path data_dir;
};

/// Registers GET /health, GET /api/services/, GET /api/services/<id>, POST /api/services(/) and
/// DELETE /api/services/<id> on `server`. `config` must outlive the server.
void register_service_manager_routes(httplib::Server& server, const ServiceManagerConfig& config);

/// When the services table is empty: writes three services' YAML files and rows, plus a nested folder and
/// a relative symlink in the data dir (so that backups meet both). Errors: staging_io or internal.
Result<> seed_services(Database& database, const std::filesystem::path& data_dir);

} // namespace cwb::emulator
