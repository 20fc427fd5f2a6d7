#include "emulator.hpp"

#include "database.hpp"
#include "faults.hpp"
#include "front_door.hpp"
#include "maintenance.hpp"
#include "service_manager.hpp"
#include "util/file_system.hpp"
#include "version.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

namespace cwb::emulator {
namespace {

constexpr int exit_usage = 2;
constexpr int exit_startup = 1;

int startup_failure(int code, const std::string& message) {
  std::fprintf(stderr, "connectware-emulator: %s\n", message.c_str());
  return code;
}

void log_request(const httplib::Request& req, const httplib::Response& res) {
  std::fprintf(stderr, "connectware-emulator: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
}

// Many worker threads: forwarded requests may wait up to two minutes for a paused service-manager and must
// not starve the status polls.
void configure_server(httplib::Server& server) {
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.set_logger(log_request);
  server.set_read_timeout(30);
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second emulator share a taken port
  // instead of failing to start.
  server.set_socket_options([](int socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_write_timeout(30);
}

// Binds `server`; returns the port or an error message.
Result<int> bind_server(httplib::Server& server, const std::string& host, int port, const char* what) {
  if (port == 0) {
    const int bound = server.bind_to_any_port(host);
    if (bound <= 0) return fail(ErrorKind::unreachable, std::string("cannot listen for the ") + what + " on " + host);
    return bound;
  }
  if (!server.bind_to_port(host, port))
    return fail(ErrorKind::unreachable, std::string("cannot listen for the ") + what + " on " + host + ":" +
                                            std::to_string(port) + " (address in use or not allowed)");
  return port;
}

bool needs_front(Role role) {
  return role == Role::front || role == Role::all;
}
bool needs_service_manager(Role role) {
  return role == Role::service_manager || role == Role::all;
}

} // namespace

int run_emulator(const EmulatorOptions& options) {
  // Options that can be checked without touching anything.
  auto own_version = Version::parse(options.connectware_version);
  if (!own_version) return startup_failure(exit_usage, "--connectware-version: " + own_version.error().message);
  std::vector<CompatRule> compat;
  for (const auto& text : options.compat) {
    auto rule = CompatRule::parse(text);
    if (!rule) return startup_failure(exit_usage, "--compat: " + rule.error().message);
    compat.push_back(std::move(*rule));
  }
  auto initial_faults = FaultSet::parse(options.faults);
  if (!initial_faults) return startup_failure(exit_usage, "--fault: " + initial_faults.error().message);
  if (options.pg_conninfo.empty()) return startup_failure(exit_usage, "--pg is required");
  if (needs_front(options.role)) {
    if (options.cert.empty() || options.key.empty())
      return startup_failure(exit_usage, "--cert and --key are required for the front door");
    for (const auto& file : {options.cert, options.key}) {
      std::error_code error;
      if (!std::filesystem::is_regular_file(file, error))
        return startup_failure(exit_startup, "cannot read TLS file " + file.string() + ": no such file");
    }
  }
  if (needs_service_manager(options.role) && options.data_dir.empty())
    return startup_failure(exit_usage, "--data-dir is required for the service-manager");

  // The database must answer before anything listens.
  auto database = Database::connect(options.pg_conninfo);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(options.pg_wait_seconds);
  while (!database && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    database = Database::connect(options.pg_conninfo);
  }
  if (!database) return startup_failure(exit_startup, database.error().message);
  if (options.seed) {
    if (auto made = create_schema(*database); !made)
      return startup_failure(exit_startup, "creating the schema: " + made.error().message);
    if (needs_front(options.role)) {
      if (auto seeded = seed_users(*database); !seeded) return startup_failure(exit_startup, seeded.error().message);
    }
  }
  if (needs_service_manager(options.role)) {
    if (auto made = util::ensure_directories(options.data_dir / "services"); !made)
      return startup_failure(exit_startup, made.error().message);
    if (options.seed) {
      if (auto seeded = seed_services(*database, options.data_dir); !seeded)
        return startup_failure(exit_startup, seeded.error().message);
    }
  }

  util::TemporaryDirectory temporary_work_dir;
  std::filesystem::path work_dir = options.work_dir;
  if (work_dir.empty()) {
    auto created = util::TemporaryDirectory::create("", "connectware-emulator-");
    if (!created) return startup_failure(exit_startup, created.error().message);
    temporary_work_dir = std::move(*created);
    work_dir = temporary_work_dir.path();
  } else if (auto made = util::ensure_directories(work_dir); !made) { // never chmod a shared folder such as /tmp
    return startup_failure(exit_startup, made.error().message);
  }

  // Signals are taken synchronously by this thread (sigtimedwait below); every thread started from here
  // inherits the block. Children get a clean mask from util::run_process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  FaultSet faults;
  faults.replace(std::move(*initial_faults));

  ServiceManagerConfig manager_config{options.pg_conninfo, options.data_dir};
  std::unique_ptr<httplib::Server> manager_server;
  std::string service_manager_url = options.service_manager_url;
  if (needs_service_manager(options.role)) {
    manager_server = std::make_unique<httplib::Server>();
    configure_server(*manager_server);
    register_service_manager_routes(*manager_server, manager_config);
    const int wanted = options.role == Role::all ? options.service_manager_port : options.port;
    auto port = bind_server(*manager_server, options.listen, wanted, "service-manager");
    if (!port) return startup_failure(exit_startup, port.error().message);
    if (options.role == Role::all) service_manager_url = "http://127.0.0.1:" + std::to_string(*port);
    std::fprintf(stderr, "connectware-emulator: service-manager listening on http://%s:%d\n", options.listen.c_str(),
                 *port);
  }

  MaintenanceConfig maintenance_config{options.pg_conninfo,        options.pg_bin_dir, work_dir, *own_version, compat,
                                       util::current_environment()};
  Maintenance maintenance(std::move(maintenance_config), faults);
  std::unique_ptr<httplib::SSLServer> front_server;
  std::unique_ptr<FrontDoor> front_door;
  if (needs_front(options.role)) {
    front_server = std::make_unique<httplib::SSLServer>(options.cert.c_str(), options.key.c_str());
    if (!front_server->is_valid())
      return startup_failure(exit_startup, "cannot load the TLS certificate " + options.cert.string() + " and key " +
                                               options.key.string());
    configure_server(*front_server);
    front_door = std::make_unique<FrontDoor>(
        FrontDoorConfig{options.pg_conninfo, service_manager_url, options.connectware_version}, maintenance, faults);
    front_door->register_routes(*front_server);
    auto port = bind_server(*front_server, options.listen, options.port, "front door");
    if (!port) return startup_failure(exit_startup, port.error().message);
    std::fprintf(stderr, "connectware-emulator: front door listening on https://%s:%d (Connectware %s)\n",
                 options.listen.c_str(), *port, options.connectware_version.c_str());
  }

  std::vector<std::thread> listeners;
  std::atomic<bool> listener_failed = false;
  for (httplib::Server* server :
       {static_cast<httplib::Server*>(manager_server.get()), static_cast<httplib::Server*>(front_server.get())}) {
    if (server == nullptr) continue;
    listeners.emplace_back([server, &listener_failed] {
      if (!server->listen_after_bind()) listener_failed = true;
    });
  }

  int exit_code = 0;
  const timespec poll_interval{0, 200'000'000};
  while (true) {
    const int signal = sigtimedwait(&stop_signals, nullptr, &poll_interval);
    if (signal == SIGTERM || signal == SIGINT) {
      std::fprintf(stderr, "connectware-emulator: stopping (signal %d)\n", signal);
      break;
    }
    if (listener_failed) {
      std::fprintf(stderr, "connectware-emulator: a server stopped unexpectedly\n");
      exit_code = exit_startup;
      break;
    }
  }
  if (front_server) front_server->stop();
  if (manager_server) manager_server->stop();
  for (auto& listener : listeners)
    listener.join();
  maintenance.shutdown();
  std::fprintf(stderr, "connectware-emulator: stopped\n");
  return exit_code;
}

} // namespace cwb::emulator
