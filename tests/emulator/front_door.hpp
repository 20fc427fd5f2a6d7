#pragma once
// The front door: Connectware's HTTPS ingress with authentication (Basic, Bearer, ?apiToken=), the
// database maintenance API, system info and health, /api/services forwarded to the service-manager,
// and the emulator's own fault endpoint /emulator/faults.

#include "auth.hpp"
#include "faults.hpp"
#include "maintenance.hpp"

#include <httplib.h>

#include <chrono>
#include <optional>
#include <string>

namespace cwb::emulator {

struct FrontDoorConfig {
  std::string conninfo;
  std::string service_manager_url; // http://127.0.0.1:M; empty: /api/services answers 502
  std::string version;
  std::chrono::seconds forward_timeout{120}; // long, so that requests wait while the service-manager is paused
};

class FrontDoor {
public:
  FrontDoor(FrontDoorConfig config, Maintenance& maintenance, FaultSet& faults);
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  /// Registers every route on `server`; this object must outlive it.
  void register_routes(httplib::Server& server);

private:
  /// Returns the caller's name when they may do `operation` on `path`; otherwise answers 401, 403 or 503
  /// on `res` and returns nullopt.
  std::optional<std::string> authorize(const httplib::Request& req, httplib::Response& res, Operation operation,
                                       const std::string& path);
  std::optional<std::string> authorize(const httplib::Request& req, httplib::Response& res);
  /// Returns true (having answered 500) when the http_500 fault takes this maintenance request.
  bool injected_500(httplib::Response& res);
  /// Answers a started backup or restore as the selected variant does (202 text, 200 JSON, ...).
  void reply_accepted(httplib::Response& res, const std::string& text) const;

  void login(const httplib::Request& req, httplib::Response& res);
  void system_info(const httplib::Request& req, httplib::Response& res);
  void system_health(const httplib::Request& req, httplib::Response& res);
  void maintenance_status(const httplib::Request& req, httplib::Response& res);
  void start_backup(const httplib::Request& req, httplib::Response& res);
  void download_backup(const httplib::Request& req, httplib::Response& res);
  void upload_restore(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void forward_services(const httplib::Request& req, httplib::Response& res);
  void get_faults(const httplib::Request& req, httplib::Response& res);
  void put_faults(const httplib::Request& req, httplib::Response& res);

  FrontDoorConfig config_;
  Maintenance& maintenance_;
  FaultSet& faults_;
  TokenSigner tokens_;
  std::chrono::steady_clock::time_point started_;
};

} // namespace cwb::emulator
