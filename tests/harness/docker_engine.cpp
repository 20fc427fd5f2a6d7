#include "harness/docker_engine.hpp"

#include "util/file_descriptor.hpp"
#include "util/file_system.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace cwb::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto start_limit = 20s;

// GET /_ping over the engine's unix socket; a tiny client so that readiness needs no extra process.
bool ping(const fs::path& socket_path) {
  const util::FileDescriptor fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket_path.string();
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  timeval timeout{2, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  // sockaddr_un and sockaddr are layout-compatible by the socket API's design.
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return false;
  const std::string request = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return false;
  }
  char buffer[256];
  const ssize_t count = recv(fd.get(), buffer, sizeof buffer, 0);
  if (count <= 0) return false;
  const std::string_view answer(buffer, static_cast<std::size_t>(count));
  return answer.starts_with("HTTP/1.") && answer.find(" 200 ") != std::string_view::npos;
}

std::vector<ProcessIdentity> processes_below(const fs::path& exec_root) {
  std::vector<ProcessIdentity> found;
  std::set<pid_t> seen;
  const auto add_tree = [&](pid_t root) {
    for (const auto& process : process_tree(root)) {
      if (seen.insert(process.pid).second) found.push_back(process);
    }
  };
  // dockerd, containerd and the shims all name the exec root in their arguments; containers are the
  // shims' children. A shim orphaned by a killed containerd is still found by its arguments.
  for (const auto& process : processes_with_argument_containing(exec_root.string()))
    add_tree(process.pid);
  // Container inits whose shim is gone already: their pid files stay in the exec root.
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(exec_root, fs::directory_options::skip_permission_denied, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->path().filename() != "init.pid") continue;
    std::ifstream in(it->path());
    long pid = 0;
    if (in >> pid && pid > 1 && pid != getpid()) add_tree(static_cast<pid_t>(pid));
  }
  return found;
}

} // namespace

struct DockerEngine::State {
  util::TemporaryDirectory folder;    // data root, logs, CLI config
  util::TemporaryDirectory exec_root; // short: sockets live here
  util::ChildProcess daemon;
  fs::path socket;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { stop(); }

  util::Environment cli_environment() const {
    auto env = base_environment();
    env["DOCKER_HOST"] = "unix://" + socket.string();
    env["DOCKER_CONFIG"] = (folder.path() / "cli").string();
    env["HOME"] = folder.path().string();
    return env;
  }

  std::vector<std::string> container_ids(const std::vector<std::string>& filters) const {
    util::ProcessOptions options;
    options.argv = {"docker", "ps", "-aq"};
    options.argv.insert(options.argv.end(), filters.begin(), filters.end());
    options.env = cli_environment();
    options.timeout = 30s;
    std::vector<std::string> ids;
    if (auto result = util::run_process(options); result && result->status.success()) {
      std::istringstream lines(result->stdout_text);
      for (std::string id; lines >> id;)
        ids.push_back(id);
    }
    return ids;
  }

  void run_cli(std::vector<std::string> argv) const {
    util::ProcessOptions options;
    options.argv = std::move(argv);
    options.env = cli_environment();
    options.timeout = 30s;
    (void)util::run_process(options); // best effort: stop() goes on with the daemon either way
  }

  void stop() {
    if (daemon.pid() <= 0 || exec_root.path().empty()) return;
    if (daemon.running()) {
      if (const auto paused = container_ids({"--filter", "status=paused"}); !paused.empty()) {
        std::vector<std::string> argv{"docker", "unpause"};
        argv.insert(argv.end(), paused.begin(), paused.end());
        run_cli(argv);
      }
      if (const auto all = container_ids({}); !all.empty()) {
        std::vector<std::string> argv{"docker", "rm", "-f", "-v"};
        argv.insert(argv.end(), all.begin(), all.end());
        run_cli(argv);
      }
    }
    daemon.stop(SIGTERM, 20s);
    const auto leftovers = processes_below(exec_root.path());
    for (const auto& process : leftovers)
      kill(process.pid, SIGKILL);
    for (int attempt = 0; attempt < 100 && !still_running(leftovers).empty(); ++attempt) {
      std::this_thread::sleep_for(50ms);
    }
    unmount_all_below({exec_root.path(), folder.path()});
  }
};

DockerEngine::DockerEngine(std::unique_ptr<State> state) : state_(std::move(state)) {}
DockerEngine::DockerEngine(DockerEngine&&) noexcept = default;
DockerEngine& DockerEngine::operator=(DockerEngine&&) noexcept = default;
DockerEngine::~DockerEngine() = default;

Result<DockerEngine> DockerEngine::start(const fs::path& parent) {
  auto state = std::make_unique<State>();
  auto folder = util::TemporaryDirectory::create(parent, "docker-");
  if (!folder) return fail(folder.error().with_context("dockerd"));
  state->folder = std::move(*folder);
  auto exec_root = util::TemporaryDirectory::create("/tmp", "cwd-");
  if (!exec_root) return fail(exec_root.error().with_context("dockerd"));
  state->exec_root = std::move(*exec_root);
  const fs::path root = state->folder.path();
  const fs::path log = root / "dockerd.log";
  state->socket = state->exec_root.path() / "docker.sock";
  CWB_TRY(util::ensure_directories(root / "cli"));
  // An empty configuration file, so that the machine's /etc/docker/daemon.json does not apply.
  CWB_TRY(util::write_file_atomic(root / "daemon.json", "{}\n", 0644));

  util::ProcessOptions options;
  options.argv = {"dockerd",
                  "--config-file",
                  (root / "daemon.json").string(),
                  "--data-root",
                  (root / "data").string(),
                  "--exec-root",
                  state->exec_root.path().string(),
                  "--host",
                  "unix://" + state->socket.string(),
                  "--pidfile",
                  (state->exec_root.path() / "docker.pid").string(),
                  "--bridge=none",
                  "--iptables=false",
                  "--ip6tables=false"};
  options.env = base_environment();
  options.working_dir = root;
  options.stdout_file = log;
  options.stderr_file = log;
  // A graceful shutdown when the test process dies: dockerd then stops its containers and containerd.
  options.parent_death_signal = SIGTERM;
  auto child = util::ChildProcess::start(options);
  if (!child) return fail(child.error().with_context("dockerd"));
  state->daemon = std::move(*child);

  const auto ready = [&] { return ping(state->socket); };
  if (!poll_until(ready, start_limit, [&] { return !state->daemon.running(); })) {
    return fail(startup_error("dockerd", state->socket.string(), start_limit, state->daemon, log));
  }
  return DockerEngine(std::move(state));
}

const fs::path& DockerEngine::socket_path() const {
  return state_->socket;
}
std::string DockerEngine::docker_host() const {
  return "unix://" + state_->socket.string();
}
util::Environment DockerEngine::cli_environment() const {
  return state_->cli_environment();
}

Result<util::ProcessResult> DockerEngine::docker(const std::vector<std::string>& args) const {
  util::ProcessOptions options;
  options.argv = {"docker"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = cli_environment();
  options.timeout = 60s;
  return util::run_process(options);
}

Result<std::string> DockerEngine::docker_checked(const std::vector<std::string>& args) const {
  auto result = docker(args);
  if (!result) return fail(result.error());
  const std::string command = "docker " + (args.empty() ? std::string() : args.front());
  if (!result->status.success()) {
    std::string reason = result->stderr_text;
    while (!reason.empty() && reason.back() == '\n')
      reason.pop_back();
    return fail(ErrorKind::container_runtime, command + " failed (" + result->status.describe() + "): " + reason);
  }
  std::string out = std::move(result->stdout_text);
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

Result<> DockerEngine::import_busybox() const {
  const fs::path image = state_->folder.path() / "busybox-image";
  CWB_TRY(util::ensure_directories(image / "bin"));
  std::error_code error;
  fs::copy_file("/bin/busybox", image / "bin" / "busybox", fs::copy_options::overwrite_existing, error);
  if (error)
    return fail(ErrorKind::staging_io, "cannot copy /bin/busybox (package busybox-static): " + error.message());
  const fs::path tarball = state_->folder.path() / "busybox.tar";
  util::ProcessOptions tar;
  tar.argv = {"tar", "-C", image.string(), "-cf", tarball.string(), "."};
  tar.env = base_environment();
  tar.timeout = 60s;
  auto packed = util::run_process(tar);
  if (!packed) return fail(packed.error());
  if (!packed->status.success())
    return fail(ErrorKind::staging_io, "tar of the busybox image failed: " + packed->stderr_text);
  auto imported = docker_checked({"import", tarball.string(), busybox_image});
  if (!imported) return fail(imported.error());
  return {};
}

std::vector<ProcessIdentity> DockerEngine::processes() const {
  if (!state_ || state_->exec_root.path().empty()) return {};
  return processes_below(state_->exec_root.path());
}

void DockerEngine::stop() {
  if (state_) state_->stop();
}

} // namespace cwb::test
