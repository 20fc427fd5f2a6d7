#include "harness/emulator.hpp"

#include "support/tls_certificate.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <optional>
#include <set>
#include <thread>

namespace cwb::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

Credentials admin_credentials() {
  return {"admin", "admin"};
}
Credentials backup_credentials() {
  return {"backup", "backup-secret"};
}
Credentials viewer_credentials() {
  return {"viewer", "viewer"};
}

fs::path emulator_binary() {
  return fs::path(CWB_BINARY_DIR) / "tests" / "emulator" / "connectware-emulator";
}

namespace {

Result<> put_faults(std::uint16_t port, const fs::path& ca_file, const std::map<std::string, std::string>& faults) {
  nlohmann::json body = {{"faults", nlohmann::json::object()}};
  for (const auto& [name, value] : faults)
    body["faults"][name] = value;
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path(ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  const auto admin = admin_credentials();
  client.set_basic_auth(admin.username.c_str(), admin.password.c_str());
  const auto response = client.Put("/emulator/faults", body.dump(), "application/json");
  if (!response) {
    return fail(ErrorKind::unreachable, "PUT /emulator/faults on 127.0.0.1:" + std::to_string(port) + ": " +
                                            httplib::to_string(response.error()));
  }
  if (response->status < 200 || response->status >= 300) {
    return fail(ErrorKind::http,
                "PUT /emulator/faults answered HTTP " + std::to_string(response->status) + ": " + response->body);
  }
  return {};
}

} // namespace

std::vector<std::string> emulator_arguments(const EmulatorOptions& options) {
  std::vector<std::string> args{"--connectware-version", options.connectware_version, "--seed"};
  for (const auto& rule : options.compat) {
    args.insert(args.end(), {"--compat", rule});
  }
  return args;
}

void add_faults(std::vector<std::string>& args, const EmulatorOptions& options) {
  for (const auto& fault : options.faults)
    args.insert(args.end(), {"--fault", fault});
}

Result<> require_emulator_binary() {
  if (!fs::exists(emulator_binary())) {
    return fail(ErrorKind::internal, "connectware-emulator is not built: " + emulator_binary().string() +
                                         " is missing (cmake --build ... --target connectware-emulator)");
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------
// EmulatorProcess

struct EmulatorProcess::State {
  util::TemporaryDirectory folder;
  util::ChildProcess emulator;
  std::optional<TlsCertificate> certificate;
  std::uint16_t port = 0;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { stop(); }

  void stop() {
    if (emulator.pid() > 0) emulator.stop(SIGTERM, 10s);
  }
};

EmulatorProcess::EmulatorProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}
EmulatorProcess::EmulatorProcess(EmulatorProcess&&) noexcept = default;
EmulatorProcess& EmulatorProcess::operator=(EmulatorProcess&&) noexcept = default;
EmulatorProcess::~EmulatorProcess() = default;

Result<EmulatorProcess> EmulatorProcess::start(const fs::path& parent, PostgresCluster& postgres,
                                               const EmulatorOptions& options) {
  CWB_TRY(require_emulator_binary());
  auto state = std::make_unique<State>();
  auto folder = util::TemporaryDirectory::create(parent, "emulator-");
  if (!folder) return fail(folder.error().with_context("connectware-emulator"));
  state->folder = std::move(*folder);
  const fs::path root = state->folder.path();
  const fs::path log = root / "emulator.log";
  CWB_TRY(util::ensure_directories(root / "data"));
  CWB_TRY(util::ensure_directories(root / "work"));
  if (auto created = postgres.create_database(options.database); !created) {
    return fail(created.error().with_context("connectware-emulator: creating its database"));
  }
  auto certificate = TlsCertificate::generate(root / "tls");
  if (!certificate) return fail(certificate.error().with_context("connectware-emulator"));
  state->certificate = *certificate;
  auto port = free_loopback_port();
  if (!port) return fail(port.error().with_context("connectware-emulator"));
  state->port = *port;

  util::ProcessOptions process;
  process.argv = {emulator_binary().string(),
                  "--role",
                  "all",
                  "--listen",
                  "127.0.0.1",
                  "--port",
                  std::to_string(*port),
                  "--service-manager-port",
                  "0",
                  "--cert",
                  certificate->cert_path().string(),
                  "--key",
                  certificate->key_path().string(),
                  "--pg",
                  postgres.conninfo(options.database),
                  "--pg-bin-dir",
                  PostgresCluster::bin_dir().string(),
                  "--data-dir",
                  (root / "data").string(),
                  "--work-dir",
                  (root / "work").string()};
  const auto common = emulator_arguments(options);
  process.argv.insert(process.argv.end(), common.begin(), common.end());
  add_faults(process.argv, options);
  process.env = base_environment();
  process.working_dir = root;
  process.stdout_file = log;
  process.stderr_file = log;
  process.parent_death_signal = SIGKILL;
  auto child = util::ChildProcess::start(process);
  if (!child) return fail(child.error().with_context("connectware-emulator"));
  state->emulator = std::move(*child);

  const auto ready = [&] { return https_answers(*port, "/api/system/info", certificate->cert_path()); };
  if (!poll_until(ready, options.start_limit, [&] { return !state->emulator.running(); })) {
    return fail(startup_error("connectware-emulator", "https://127.0.0.1:" + std::to_string(*port), options.start_limit,
                              state->emulator, log));
  }
  return EmulatorProcess(std::move(state));
}

std::string EmulatorProcess::base_url() const {
  return "https://127.0.0.1:" + std::to_string(state_->port);
}
std::uint16_t EmulatorProcess::port() const {
  return state_->port;
}
const fs::path& EmulatorProcess::ca_file() const {
  return state_->certificate->cert_path();
}
fs::path EmulatorProcess::data_dir() const {
  return state_->folder.path() / "data";
}

Result<> EmulatorProcess::set_faults(const std::map<std::string, std::string>& faults) const {
  return put_faults(state_->port, ca_file(), faults);
}

std::vector<ProcessIdentity> EmulatorProcess::processes() const {
  if (!state_ || state_->emulator.pid() <= 0) return {};
  return process_tree(state_->emulator.pid());
}

void EmulatorProcess::stop() {
  if (state_) state_->stop();
}

// ---------------------------------------------------------------------------------------------------------
// EmulatorContainers

struct EmulatorContainers::State {
  util::TemporaryDirectory folder;
  DockerEngine* docker = nullptr;
  std::optional<TlsCertificate> certificate;
  std::uint16_t port = 0;
  std::uint16_t service_manager_port = 0;
  std::string front_id;
  std::string service_manager_id;
  fs::path mountpoint;
  bool volume_created = false;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { stop(); }

  void stop() {
    if (docker == nullptr) return;
    for (const char* name : {front_container, service_manager_container}) {
      // Paused containers cannot be removed; unpausing a running one just fails.
      (void)docker->docker({"unpause", name});
      (void)docker->docker({"rm", "-f", name});
    }
    if (volume_created) (void)docker->docker({"volume", "rm", "-f", volume});
    docker = nullptr;
  }

  [[nodiscard]] bool container_running(const std::string& name) const {
    const auto running = docker->docker_checked({"inspect", "-f", "{{.State.Running}}", name});
    return running && *running == "true";
  }

  // One line for a container that did not come up, with its `docker logs` kept.
  Error container_error(const std::string& name, const std::string& where, std::chrono::milliseconds limit) const {
    const fs::path log = folder.path() / (name + ".log");
    if (auto logs = docker->docker({"logs", name}); logs) {
      (void)util::write_file_atomic(log, logs->stdout_text + logs->stderr_text, 0644);
    }
    std::string message = "container " + name;
    if (!container_running(name)) {
      const auto status = docker->docker_checked({"inspect", "-f", "{{.State.ExitCode}}", name});
      message += " exited during start-up (exit code " + status.value_or("?") + ")";
      if (const auto line = last_log_line(log); !line.empty()) message += ": " + line;
    } else {
      message += " did not answer on " + where + " within " +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) + " s";
    }
    return Error{ErrorKind::unreachable, message + "; " + keep_log(log)};
  }
};

EmulatorContainers::EmulatorContainers(std::unique_ptr<State> state) : state_(std::move(state)) {}
EmulatorContainers::EmulatorContainers(EmulatorContainers&&) noexcept = default;
EmulatorContainers& EmulatorContainers::operator=(EmulatorContainers&&) noexcept = default;
EmulatorContainers::~EmulatorContainers() = default;

Result<EmulatorContainers> EmulatorContainers::start(const fs::path& parent, DockerEngine& docker,
                                                     PostgresCluster& postgres, const EmulatorOptions& options) {
  CWB_TRY(require_emulator_binary());
  auto state = std::make_unique<State>();
  auto folder = util::TemporaryDirectory::create(parent, "emulator-containers-");
  if (!folder) return fail(folder.error().with_context("emulator containers"));
  state->folder = std::move(*folder);
  const fs::path root = state->folder.path();
  // Everything inside the containers runs as root: the bound folders only need to be reachable.
  CWB_TRY(make_traversable(root));

  if (!docker.docker_checked({"image", "inspect", DockerEngine::busybox_image})) {
    if (auto imported = docker.import_busybox(); !imported) {
      return fail(imported.error().with_context("emulator containers: importing busybox"));
    }
  }
  state->docker = &docker;
  auto created = docker.docker_checked({"volume", "create", "--label", "com.docker.compose.project=connectware",
                                        "--label", "com.docker.compose.volume=service-manager", volume});
  if (!created) return fail(created.error().with_context("emulator containers: creating the volume"));
  state->volume_created = true;
  auto mountpoint = docker.docker_checked({"volume", "inspect", "-f", "{{.Mountpoint}}", volume});
  if (!mountpoint) return fail(mountpoint.error().with_context("emulator containers"));
  state->mountpoint = *mountpoint;
  if (auto database = postgres.create_database(options.database); !database) {
    return fail(database.error().with_context("emulator containers: creating the database"));
  }
  auto certificate = TlsCertificate::generate(root / "tls");
  if (!certificate) return fail(certificate.error().with_context("emulator containers"));
  state->certificate = *certificate;
  auto port = free_loopback_port();
  auto manager_port = free_loopback_port();
  if (!port || !manager_port) return fail(ErrorKind::internal, "emulator containers: no free loopback port");
  state->port = *port;
  state->service_manager_port = *manager_port;

  const auto binary_dir = emulator_binary().parent_path().string();
  const auto tls_dir = (root / "tls").string();
  const auto run_arguments = [&](const std::string& name, const std::string& service) {
    std::vector<std::string> args{"run",       "-d",
                                  "--name",    name,
                                  "--network", "host",
                                  "--tmpfs",   "/tmp",
                                  "--label",   "com.docker.compose.project=connectware",
                                  "--label",   "com.docker.compose.service=" + service,
                                  "--label",   "io.cybus.connectware=core"};
    for (const char* system_dir : {"/usr", "/lib", "/lib64", "/etc"}) {
      if (fs::exists(system_dir)) args.insert(args.end(), {"-v", std::string(system_dir) + ":" + system_dir + ":ro"});
    }
    args.insert(args.end(), {"-v", binary_dir + ":" + binary_dir + ":ro", "-v", tls_dir + ":" + tls_dir + ":ro"});
    return args;
  };
  const auto common = emulator_arguments(options);
  const std::string conninfo = postgres.conninfo(options.database);

  auto manager = run_arguments(service_manager_container, "service-manager");
  manager.insert(manager.end(), {"-v", std::string(volume) + ":/data", DockerEngine::busybox_image,
                                 emulator_binary().string(), "--role", "service-manager", "--listen", "127.0.0.1",
                                 "--port", std::to_string(*manager_port), "--pg", conninfo, "--data-dir", "/data"});
  manager.insert(manager.end(), common.begin(), common.end());
  auto manager_id = docker.docker_checked(manager);
  if (!manager_id) return fail(manager_id.error().with_context("emulator containers: starting the service-manager"));
  state->service_manager_id = *manager_id;

  auto front = run_arguments(front_container, "connectware");
  front.insert(front.end(), {DockerEngine::busybox_image, emulator_binary().string(), "--role", "front", "--listen",
                             "127.0.0.1", "--port", std::to_string(*port), "--cert", certificate->cert_path().string(),
                             "--key", certificate->key_path().string(), "--pg", conninfo, "--service-manager-url",
                             "http://127.0.0.1:" + std::to_string(*manager_port), "--work-dir", "/tmp"});
  front.insert(front.end(), common.begin(), common.end());
  add_faults(front, options);
  auto front_id = docker.docker_checked(front);
  if (!front_id) return fail(front_id.error().with_context("emulator containers: starting the front door"));
  state->front_id = *front_id;

  // Both start together; each is given the whole limit.
  const auto manager_ready = [&] { return http_status(*manager_port, "/health") == 200; };
  if (!poll_until(manager_ready, options.start_limit,
                  [&] { return !state->container_running(service_manager_container); })) {
    return fail(state->container_error(service_manager_container,
                                       "http://127.0.0.1:" + std::to_string(*manager_port) + "/health",
                                       options.start_limit));
  }
  const auto front_ready = [&] { return https_answers(*port, "/api/system/info", certificate->cert_path()); };
  if (!poll_until(front_ready, options.start_limit, [&] { return !state->container_running(front_container); })) {
    return fail(
        state->container_error(front_container, "https://127.0.0.1:" + std::to_string(*port), options.start_limit));
  }
  return EmulatorContainers(std::move(state));
}

std::string EmulatorContainers::base_url() const {
  return "https://127.0.0.1:" + std::to_string(state_->port);
}
std::uint16_t EmulatorContainers::port() const {
  return state_->port;
}
std::uint16_t EmulatorContainers::service_manager_port() const {
  return state_->service_manager_port;
}
const fs::path& EmulatorContainers::ca_file() const {
  return state_->certificate->cert_path();
}
const std::string& EmulatorContainers::front_id() const {
  return state_->front_id;
}
const std::string& EmulatorContainers::service_manager_id() const {
  return state_->service_manager_id;
}
const fs::path& EmulatorContainers::volume_mountpoint() const {
  return state_->mountpoint;
}

Result<> EmulatorContainers::set_faults(const std::map<std::string, std::string>& faults) const {
  return put_faults(state_->port, ca_file(), faults);
}

std::vector<ProcessIdentity> EmulatorContainers::processes() const {
  std::vector<ProcessIdentity> found;
  if (!state_ || state_->docker == nullptr) return found;
  for (const char* name : {front_container, service_manager_container}) {
    const auto pid = state_->docker->docker_checked({"inspect", "-f", "{{.State.Pid}}", name});
    if (!pid || pid->empty() || *pid == "0") continue;
    const auto tree = process_tree(static_cast<pid_t>(std::stol(*pid)));
    found.insert(found.end(), tree.begin(), tree.end());
  }
  return found;
}

void EmulatorContainers::stop() {
  if (state_) state_->stop();
}

} // namespace cwb::test
