#include "harness/compose_project.hpp"

#include "support/postgres_cluster.hpp"
#include "support/tls_certificate.hpp"
#include "util/subprocess.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include <optional>
#include <sstream>

namespace cwb::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* postgres_data = "/var/lib/postgresql/data";

struct Service {
  const char* service;
  const char* container;
  const char* depends_on; // Compose's label value; empty: none
};

// In `docker compose up`'s order: what others depend on first.
const std::vector<Service>& services() {
  static const std::vector<Service> all{
      {"postgresql", ComposeProject::postgres_container, ""},
      {"broker", ComposeProject::broker_container, ""},
      {"service-manager", ComposeProject::service_manager_container,
       "broker:service_started:false,postgresql:service_started:false"},
      {"connectware", ComposeProject::front_container,
       "service-manager:service_started:false,broker:service_started:false,postgresql:service_started:false"},
  };
  return all;
}

Result<std::string> run_tool(const std::string& tool, std::vector<std::string> args) {
  util::ProcessOptions options;
  options.argv = {(PostgresCluster::bin_dir() / tool).string()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = base_environment();
  options.timeout = 60s;
  auto result = util::run_process(options);
  if (!result) return fail(result.error().with_context(tool));
  if (!result->status.success())
    return fail(ErrorKind::internal, tool + " failed (" + result->status.describe() + "): " + result->stderr_text);
  return std::move(result->stdout_text);
}

} // namespace

const std::vector<std::string>& ComposeProject::volume_names() {
  static const std::vector<std::string> names{"brokerData", "certs", "postgresql", "service-manager"};
  return names;
}

const std::vector<std::string>& ComposeProject::container_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> found;
    for (const auto& service : services())
      found.emplace_back(service.container);
    return found;
  }();
  return names;
}

struct ComposeProject::State {
  util::TemporaryDirectory folder;
  DockerEngine* docker = nullptr;
  EmulatorOptions options;
  std::optional<TlsCertificate> certificate;
  std::uint16_t port = 0;
  std::uint16_t service_manager_port = 0;
  std::uint16_t postgres_port = 0;
  uid_t postgres_uid = 0;
  gid_t postgres_gid = 0;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (docker == nullptr) return;
    remove_containers();
    for (const auto& name : volume_names())
      (void)docker->docker({"volume", "rm", "-f", volume(name)});
  }

  void remove_containers() const {
    for (const auto& name : container_names()) {
      (void)docker->docker({"unpause", name}); // a paused container cannot be removed
      (void)docker->docker({"rm", "-f", name});
    }
  }

  [[nodiscard]] std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(postgres_port) + " user=postgres dbname=connectware";
  }

  [[nodiscard]] bool exists(const std::vector<std::string>& inspect) const {
    auto found = docker->docker(inspect);
    return found && found->status.success();
  }

  [[nodiscard]] bool running(const std::string& container) const {
    const auto state = docker->docker_checked({"inspect", "-f", "{{.State.Running}}", container});
    return state && *state == "true";
  }

  /// One line for a container that did not come up, with its `docker logs` kept.
  [[nodiscard]] Error container_error(const std::string& container, const std::string& what) const {
    const fs::path log = folder.path() / (container + ".log");
    if (auto logs = docker->docker({"logs", container}); logs)
      (void)util::write_file_atomic(log, logs->stdout_text + logs->stderr_text, 0644);
    std::string message = "container " + container + " " + what;
    if (const auto line = last_log_line(log); !line.empty()) message += ": " + line;
    return Error{ErrorKind::unreachable, message + "; " + keep_log(log)};
  }

  [[nodiscard]] std::vector<std::string> run_arguments(const Service& service) const {
    std::vector<std::string> args{"run",       "-d",
                                  "--name",    service.container,
                                  "--network", "host",
                                  "--tmpfs",   "/tmp:mode=1777",
                                  "--label",   std::string("com.docker.compose.project=") + project,
                                  "--label",   std::string("com.docker.compose.service=") + service.service,
                                  "--label",   "io.cybus.connectware=core"};
    if (*service.depends_on != '\0')
      args.insert(args.end(), {"--label", std::string("com.docker.compose.depends_on=") + service.depends_on});
    for (const char* system_dir : {"/usr", "/lib", "/lib64", "/etc"})
      if (fs::exists(system_dir)) args.insert(args.end(), {"-v", std::string(system_dir) + ":" + system_dir + ":ro"});
    return args;
  }

  [[nodiscard]] std::vector<std::string> container_command(const Service& service) const {
    const std::string name = service.service;
    const auto binary_dir = emulator_binary().parent_path().string();
    const auto tls_dir = (folder.path() / "tls").string();
    auto args = run_arguments(service);
    if (name == "postgresql") {
      args.insert(args.end(), {"--user", std::to_string(postgres_uid) + ":" + std::to_string(postgres_gid),
                               "--stop-signal", "SIGINT", "-v", volume("postgresql") + ":" + postgres_data,
                               DockerEngine::busybox_image, (PostgresCluster::bin_dir() / "postgres").string(), "-D",
                               postgres_data, "-p", std::to_string(postgres_port), "-c", "listen_addresses=127.0.0.1",
                               "-c", "unix_socket_directories=", "-c", "fsync=off"});
      return args;
    }
    if (name == "broker") {
      // `sleep & wait`: a TERM is handled at once, not after the running sleep.
      args.insert(args.end(), {"-v", volume("brokerData") + ":/data", "-v", control().string() + ":/control:ro",
                               DockerEngine::busybox_image, "/bin/busybox", "sh", "-c",
                               "trap 'if [ -f /control/on-stop.sh ]; then /bin/busybox sh /control/on-stop.sh; fi; "
                               "exit 0' TERM; while :; do /bin/busybox sleep 1 & wait $!; done"});
      return args;
    }
    args.insert(args.end(), {"-v", binary_dir + ":" + binary_dir + ":ro", "-v", tls_dir + ":" + tls_dir + ":ro"});
    if (name == "service-manager") {
      args.insert(args.end(),
                  {"-v", volume("service-manager") + ":/data", DockerEngine::busybox_image, emulator_binary().string(),
                   "--role", "service-manager", "--listen", "127.0.0.1", "--port", std::to_string(service_manager_port),
                   "--pg", conninfo(), "--pg-wait", "30", "--data-dir", "/data"});
      const auto common = emulator_arguments(options);
      args.insert(args.end(), common.begin(), common.end());
      return args;
    }
    args.insert(args.end(), {"-v",
                             volume("certs") + ":/connectware_certs",
                             DockerEngine::busybox_image,
                             emulator_binary().string(),
                             "--role",
                             "front",
                             "--listen",
                             "127.0.0.1",
                             "--port",
                             std::to_string(port),
                             "--cert",
                             certificate->cert_path().string(),
                             "--key",
                             certificate->key_path().string(),
                             "--pg",
                             conninfo(),
                             "--pg-wait",
                             "30",
                             "--service-manager-url",
                             "http://127.0.0.1:" + std::to_string(service_manager_port),
                             "--work-dir",
                             "/tmp"});
    const auto common = emulator_arguments(options);
    args.insert(args.end(), common.begin(), common.end());
    add_faults(args, options);
    return args;
  }

  [[nodiscard]] fs::path control() const { return folder.path() / "control"; }

  [[nodiscard]] bool postgres_accepts() const {
    return static_cast<bool>(run_tool("psql", {"-X", "-At", "-h", "127.0.0.1", "-p", std::to_string(postgres_port),
                                               "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"}));
  }

  /// A fresh volume gets a cluster made by initdb inside a container, as the postgres image does.
  Result<bool> initialise_postgres() const {
    auto mountpoint = docker->docker_checked({"volume", "inspect", "-f", "{{.Mountpoint}}", volume("postgresql")});
    if (!mountpoint) return fail(mountpoint.error());
    if (fs::exists(fs::path(*mountpoint) / "PG_VERSION")) return false;
    if (::chown(mountpoint->c_str(), postgres_uid, postgres_gid) != 0)
      return fail(ErrorKind::internal, "cannot hand the postgresql volume to the postgres user");
    std::vector<std::string> args{"run",  "--rm",   "--network",
                                  "none", "--user", std::to_string(postgres_uid) + ":" + std::to_string(postgres_gid)};
    for (const char* system_dir : {"/usr", "/lib", "/lib64", "/etc"})
      if (fs::exists(system_dir)) args.insert(args.end(), {"-v", std::string(system_dir) + ":" + system_dir + ":ro"});
    // initdb runs `postgres -V` through /bin/sh, which the busybox image lacks: the host's, read-only.
    args.insert(args.end(), {"-v", "/bin:/bin:ro", "-v", volume("postgresql") + ":" + postgres_data,
                             DockerEngine::busybox_image, (PostgresCluster::bin_dir() / "initdb").string(), "-D",
                             postgres_data, "-A", "trust", "-U", "postgres", "--no-sync"});
    auto initialised = docker->docker_checked(args);
    if (!initialised) return fail(initialised.error().with_context("initdb in the postgresql volume"));
    return true;
  }
};

ComposeProject::ComposeProject(std::unique_ptr<State> state) : state_(std::move(state)) {}
ComposeProject::ComposeProject(ComposeProject&&) noexcept = default;
ComposeProject& ComposeProject::operator=(ComposeProject&&) noexcept = default;
ComposeProject::~ComposeProject() = default;

Result<ComposeProject> ComposeProject::start(const fs::path& parent, DockerEngine& docker,
                                             const EmulatorOptions& options) {
  CWB_TRY(require_emulator_binary());
  auto state = std::make_unique<State>();
  auto folder = util::TemporaryDirectory::create(parent, "compose-project-");
  if (!folder) return fail(folder.error().with_context("compose project"));
  state->folder = std::move(*folder);
  CWB_TRY(make_traversable(state->folder.path()));
  CWB_TRY(util::create_private_directory(state->control()));
  CWB_TRY(make_traversable(state->control()));
  const passwd* postgres_user = ::getpwnam("postgres");
  if (postgres_user == nullptr) return fail(ErrorKind::internal, "compose project: no user postgres on this machine");
  state->postgres_uid = postgres_user->pw_uid;
  state->postgres_gid = postgres_user->pw_gid;
  state->options = options;
  auto certificate = TlsCertificate::generate(state->folder.path() / "tls");
  if (!certificate) return fail(certificate.error().with_context("compose project"));
  state->certificate = *certificate;
  for (auto* port : {&state->port, &state->service_manager_port, &state->postgres_port}) {
    auto free = free_loopback_port();
    if (!free) return fail(ErrorKind::internal, "compose project: no free loopback port");
    *port = *free;
  }
  state->docker = &docker;
  ComposeProject started(std::move(state));
  CWB_TRY(started.up());
  return started;
}

Result<> ComposeProject::up() {
  auto& state = *state_;
  auto& docker = *state.docker;
  if (!docker.docker_checked({"image", "inspect", DockerEngine::busybox_image})) CWB_TRY(docker.import_busybox());
  for (const auto& name : volume_names()) {
    if (state.exists({"volume", "inspect", volume(name)})) continue;
    auto created =
        docker.docker_checked({"volume", "create", "--label", std::string("com.docker.compose.project=") + project,
                               "--label", "com.docker.compose.volume=" + name, volume(name)});
    if (!created) return fail(created.error().with_context("compose project: creating volume " + volume(name)));
  }
  auto fresh = state.initialise_postgres();
  if (!fresh) return fail(fresh.error());

  for (const auto& service : services()) {
    const bool exists = state.exists({"container", "inspect", service.container});
    auto started = exists ? docker.docker_checked({"start", service.container})
                          : docker.docker_checked(state.container_command(service));
    if (!started)
      return fail(started.error().with_context(std::string("compose project: starting ") + service.container));
    if (std::string(service.service) != "postgresql") continue;
    // The emulator's containers connect at once: the database must accept connections first.
    if (!poll_until([&state] { return state.postgres_accepts(); }, 20s,
                    [&state] { return !state.running(postgres_container); }))
      return fail(state.container_error(postgres_container, "did not accept connections within 20 s"));
    if (*fresh) {
      if (auto created = psql_in("postgres", "CREATE DATABASE connectware"); !created) return fail(created.error());
    }
  }
  const auto limit = state.options.start_limit;
  if (!poll_until([&state] { return http_status(state.service_manager_port, "/health") == 200; }, limit,
                  [&state] { return !state.running(service_manager_container); }))
    return fail(state.container_error(service_manager_container, "did not answer on /health"));
  if (!poll_until([&state] { return https_answers(state.port, "/api/system/info", state.certificate->cert_path()); },
                  limit, [&state] { return !state.running(front_container); }))
    return fail(state.container_error(front_container, "did not answer on /api/system/info"));
  return {};
}

Result<> ComposeProject::down() {
  state_->remove_containers();
  for (const auto& name : container_names())
    if (state_->exists({"container", "inspect", name}))
      return fail(ErrorKind::container_runtime, "compose project: container " + name + " could not be removed");
  return {};
}

Result<> ComposeProject::remove_volumes() {
  for (const auto& name : volume_names()) {
    auto removed = state_->docker->docker_checked({"volume", "rm", volume(name)});
    if (!removed) return fail(removed.error().with_context("compose project: removing volume " + volume(name)));
  }
  return {};
}

std::string ComposeProject::base_url() const {
  return "https://127.0.0.1:" + std::to_string(state_->port);
}
std::uint16_t ComposeProject::port() const {
  return state_->port;
}
std::uint16_t ComposeProject::postgres_port() const {
  return state_->postgres_port;
}
const fs::path& ComposeProject::ca_file() const {
  return state_->certificate->cert_path();
}
fs::path ComposeProject::control_dir() const {
  return state_->control();
}

Result<fs::path> ComposeProject::mountpoint(const std::string& name) const {
  auto found = state_->docker->docker_checked({"volume", "inspect", "-f", "{{.Mountpoint}}", volume(name)});
  if (!found) return fail(ErrorKind::not_found, "no volume " + volume(name) + ": " + found.error().message);
  return fs::path(*found);
}

std::map<std::string, std::string> ComposeProject::container_states() const {
  std::map<std::string, std::string> states;
  for (const auto& name : container_names()) {
    auto state = state_->docker->docker_checked({"inspect", "-f", "{{.State.Status}}", name});
    if (state) states[name] = *state;
  }
  return states;
}

bool ComposeProject::all_running() const {
  const auto states = container_states();
  if (states.size() != container_names().size()) return false;
  return std::ranges::all_of(states, [](const auto& entry) { return entry.second == "running"; });
}

Result<std::string> ComposeProject::psql(const std::string& sql) const {
  return psql_in("connectware", sql);
}

Result<std::string> ComposeProject::psql_in(const std::string& database, const std::string& sql) const {
  return run_tool("psql", {"-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                           std::to_string(state_->postgres_port), "-U", "postgres", "-d", database, "-c", sql});
}

Result<std::string> ComposeProject::dump_rows() const {
  auto dumped = run_tool("pg_dump", {"--data-only", "--no-owner", "-h", "127.0.0.1", "-p",
                                     std::to_string(state_->postgres_port), "-U", "postgres", "connectware"});
  if (!dumped) return dumped;
  // pg_dump (15.14 and later) fences its output with \restrict KEY ... \unrestrict KEY, a new random KEY
  // each time: not part of the rows.
  std::string rows;
  std::istringstream in(*dumped);
  for (std::string line; std::getline(in, line);)
    if (!line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) rows += line + "\n";
  return rows;
}

} // namespace cwb::test
