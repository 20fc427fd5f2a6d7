#include "support/postgres_cluster.hpp"

#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cwb::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto start_limit = 15s;
const char* const system_user = "postgres";

Result<> give_to_postgres(const fs::path& path) {
  const passwd* user = getpwnam(system_user);
  if (user == nullptr) return fail(ErrorKind::internal, "postgres: there is no system user 'postgres'");
  if (chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    return fail(ErrorKind::staging_io, "postgres: cannot chown " + path.string() + ": " + strerror(errno));
  }
  return {};
}

} // namespace

struct PostgresCluster::State {
  util::TemporaryDirectory folder;
  util::ChildProcess server;
  std::uint16_t port = 0;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { stop(); }

  void stop() {
    if (server.pid() > 0) server.stop(SIGINT, 15s);
  }
};

PostgresCluster::PostgresCluster(std::unique_ptr<State> state) : state_(std::move(state)) {}
PostgresCluster::PostgresCluster(PostgresCluster&&) noexcept = default;
PostgresCluster& PostgresCluster::operator=(PostgresCluster&&) noexcept = default;
PostgresCluster::~PostgresCluster() = default;

fs::path PostgresCluster::bin_dir() {
  return "/usr/lib/postgresql/15/bin";
}

Result<PostgresCluster> PostgresCluster::start(const fs::path& parent) {
  auto state = std::make_unique<State>();
  auto folder = util::TemporaryDirectory::create(parent, "postgres-");
  if (!folder) return fail(folder.error().with_context("postgres"));
  state->folder = std::move(*folder);
  const fs::path root = state->folder.path();
  const fs::path data = root / "data";
  const fs::path sockets = root / "run";
  const fs::path log = root / "postgres.log";
  CWB_TRY(make_traversable(root));
  CWB_TRY(util::ensure_directories(data));
  CWB_TRY(util::ensure_directories(sockets));
  CWB_TRY(give_to_postgres(data));
  CWB_TRY(give_to_postgres(sockets));

  util::ProcessOptions initdb;
  initdb.argv = {(bin_dir() / "initdb").string(),
                 "-D",
                 data.string(),
                 "-A",
                 "trust",
                 "-U",
                 "postgres",
                 "--no-sync",
                 "-E",
                 "UTF8",
                 "--locale=C"};
  initdb.env = base_environment();
  initdb.working_dir = root;
  initdb.run_as_user = system_user;
  initdb.stdout_file = log;
  initdb.stderr_file = log;
  initdb.timeout = 60s;
  auto initialized = util::run_process(initdb);
  if (!initialized) return fail(initialized.error().with_context("postgres: initdb"));
  if (!initialized->status.success()) {
    return fail(ErrorKind::internal, "postgres: initdb failed (" + initialized->status.describe() +
                                         "): " + last_log_line(log) + "; " + keep_log(log));
  }

  auto port = free_loopback_port();
  if (!port) return fail(port.error().with_context("postgres"));
  state->port = *port;
  util::ProcessOptions server;
  server.argv = {(bin_dir() / "postgres").string(),
                 "-D",
                 data.string(),
                 "-c",
                 "listen_addresses=127.0.0.1",
                 "-p",
                 std::to_string(*port),
                 "-k",
                 sockets.string(),
                 "-c",
                 "fsync=off",
                 "-c",
                 "synchronous_commit=off",
                 "-c",
                 "full_page_writes=off"};
  server.env = base_environment();
  server.working_dir = root;
  server.run_as_user = system_user;
  server.stdout_file = log;
  server.stderr_file = log;
  // Immediate shutdown when the test process dies: the postmaster then takes its backends down too.
  server.parent_death_signal = SIGQUIT;
  auto child = util::ChildProcess::start(server);
  if (!child) return fail(child.error().with_context("postgres"));
  state->server = std::move(*child);

  const std::string port_text = std::to_string(*port);
  const auto ready = [&] {
    util::ProcessOptions probe;
    probe.argv = {(bin_dir() / "pg_isready").string(), "-q", "-h", "127.0.0.1", "-p", port_text, "-t", "1"};
    probe.env = base_environment();
    probe.timeout = 5s;
    const auto result = util::run_process(probe);
    return result && result->status.success();
  };
  if (!poll_until(ready, start_limit, [&] { return !state->server.running(); })) {
    return fail(startup_error("postgres", "127.0.0.1:" + port_text, start_limit, state->server, log));
  }
  return PostgresCluster(std::move(state));
}

std::uint16_t PostgresCluster::port() const {
  return state_->port;
}

std::string PostgresCluster::conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(state_->port) + " user=postgres dbname=" + database;
}

Result<std::string> PostgresCluster::psql(const std::string& database, const std::string& sql) const {
  util::ProcessOptions options;
  options.argv = {(bin_dir() / "psql").string(), "-X", "-At",      "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                  std::to_string(state_->port),  "-U", "postgres", "-d", database,          "-c", sql};
  options.env = base_environment();
  options.timeout = 60s;
  auto result = util::run_process(options);
  if (!result) return fail(result.error().with_context("psql"));
  if (!result->status.success()) {
    return fail(ErrorKind::internal,
                "psql in database " + database + " failed (" + result->status.describe() + "): " + result->stderr_text);
  }
  return std::move(result->stdout_text);
}

Result<> PostgresCluster::create_database(const std::string& name) const {
  // Quoted as an identifier (with '"' doubled) so that any name works.
  std::string quoted;
  for (const char c : name)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  auto created = psql("postgres", "CREATE DATABASE \"" + quoted + "\"");
  if (!created) return fail(created.error());
  return {};
}

std::vector<ProcessIdentity> PostgresCluster::processes() const {
  if (!state_ || state_->server.pid() <= 0) return {};
  return process_tree(state_->server.pid());
}

void PostgresCluster::stop() {
  if (state_) state_->stop();
}

} // namespace cwb::test
