// cw-harness: runs a command inside the test fixture (PostgreSQL, s3rver, a private Docker engine, the
// Connectware emulator as a process or as containers), with environment variables telling it where
// everything is, then stops everything and exits with the command's exit code. Scripts (the demo, the
// benchmarks) use it; C++ tests use the library directly.

#include "harness/docker_engine.hpp"
#include "harness/emulator.hpp"
#include "harness/s3_server.hpp"
#include "support/postgres_cluster.hpp"
#include "util/cancellation.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

namespace {

using namespace cwb;
using Clock = std::chrono::steady_clock;

struct RunCommand {
  std::string with = "postgres,s3,emulator";
  std::string user = "admin";
  bool keep_dir = false;
  std::vector<std::string> command;
};

// What was asked for, with dependencies added: an emulator needs PostgreSQL, containers need the engine.
Result<std::set<std::string>> components(const std::string& list) {
  static const std::set<std::string> known{"postgres", "s3", "docker", "emulator", "emulator-containers"};
  std::set<std::string> chosen;
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    if (!known.contains(item)) {
      return fail(ErrorKind::usage,
                  "unknown component '" + item + "' (known: postgres, s3, docker, emulator, emulator-containers)");
    }
    chosen.insert(item);
  }
  if (chosen.contains("emulator") && chosen.contains("emulator-containers")) {
    return fail(ErrorKind::usage, "choose either emulator or emulator-containers: both use the database connectware");
  }
  if (chosen.contains("emulator") || chosen.contains("emulator-containers")) chosen.insert("postgres");
  if (chosen.contains("emulator-containers")) chosen.insert("docker");
  return chosen;
}

void report_ready(const std::string& what, Clock::time_point started) {
  const auto elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::fprintf(stderr, "cw-harness: %s ready in %.1f s\n", what.c_str(), elapsed);
}

test::Credentials credentials_of(const std::string& user) {
  if (user == "backup") return test::backup_credentials();
  if (user == "viewer") return test::viewer_credentials();
  return test::admin_credentials();
}

// The fixture lives in this order so that it is torn down in reverse: emulators before their engine and
// database.
struct Fixture {
  util::TemporaryDirectory root;
  std::optional<test::PostgresCluster> postgres;
  std::optional<test::S3Server> s3;
  std::optional<test::DockerEngine> docker;
  std::optional<test::EmulatorProcess> emulator;
  std::optional<test::EmulatorContainers> containers;
};

Result<int> run(const RunCommand& options, const util::Environment& environment) {
  auto chosen = components(options.with);
  if (!chosen) return fail(chosen.error());
  Fixture fixture;
  auto root = util::TemporaryDirectory::create("", "cw-harness-");
  if (!root) return fail(root.error());
  fixture.root = std::move(*root);
  const auto& dir = fixture.root.path();
  util::Environment env = environment;
  env["CW_HARNESS_DIR"] = dir.string();

  if (chosen->contains("postgres")) {
    const auto started = Clock::now();
    auto postgres = test::PostgresCluster::start(dir);
    if (!postgres) return fail(postgres.error());
    fixture.postgres = std::move(*postgres);
    report_ready("postgres on 127.0.0.1:" + std::to_string(fixture.postgres->port()), started);
    env["CW_PG_PORT"] = std::to_string(fixture.postgres->port());
    env["CW_PG_CONNINFO"] = fixture.postgres->conninfo("connectware");
  }
  if (chosen->contains("s3")) {
    const auto started = Clock::now();
    auto s3 = test::S3Server::start(dir, "backups");
    if (!s3) return fail(s3.error());
    fixture.s3 = std::move(*s3);
    report_ready("s3rver on " + fixture.s3->endpoint(), started);
    env["CW_S3_ENDPOINT"] = fixture.s3->endpoint();
    env["CW_S3_CACERT"] = fixture.s3->cacert().string();
    env["CW_S3_REPOSITORY"] = fixture.s3->restic_repository("restic");
    for (const auto& [key, value] : test::S3Server::restic_environment())
      env[key] = value;
  }
  if (chosen->contains("docker")) {
    const auto started = Clock::now();
    auto docker = test::DockerEngine::start(dir);
    if (!docker) return fail(docker.error());
    fixture.docker = std::move(*docker);
    if (auto imported = fixture.docker->import_busybox(); !imported) return fail(imported.error());
    report_ready("dockerd on " + fixture.docker->docker_host() + " (with local/busybox:1)", started);
    env["DOCKER_HOST"] = fixture.docker->docker_host();
  }
  std::string connectware_url;
  std::filesystem::path connectware_ca;
  if (chosen->contains("emulator")) {
    const auto started = Clock::now();
    auto emulator = test::EmulatorProcess::start(dir, *fixture.postgres);
    if (!emulator) return fail(emulator.error());
    fixture.emulator = std::move(*emulator);
    report_ready("connectware-emulator on " + fixture.emulator->base_url(), started);
    connectware_url = fixture.emulator->base_url();
    connectware_ca = fixture.emulator->ca_file();
  }
  if (chosen->contains("emulator-containers")) {
    const auto started = Clock::now();
    auto containers = test::EmulatorContainers::start(dir, *fixture.docker, *fixture.postgres);
    if (!containers) return fail(containers.error());
    fixture.containers = std::move(*containers);
    report_ready("connectware-emulator containers on " + fixture.containers->base_url(), started);
    connectware_url = fixture.containers->base_url();
    connectware_ca = fixture.containers->ca_file();
    env["CW_VOLUME_MOUNTPOINT"] = fixture.containers->volume_mountpoint().string();
  }
  if (!connectware_url.empty()) {
    const auto credentials = credentials_of(options.user);
    const auto password_file = dir / "connectware-password";
    CWB_TRY(util::write_file_atomic(password_file, credentials.password, 0600));
    env["CONNECTWARE_URL"] = connectware_url;
    env["CONNECTWARE_CA_FILE"] = connectware_ca.string();
    env["CONNECTWARE_USERNAME"] = credentials.username;
    env["CONNECTWARE_PASSWORD_FILE"] = password_file.string();
  }

  util::ProcessOptions process;
  process.argv = options.command;
  process.env = env;
  process.stdin_file = "/dev/stdin";
  process.parent_death_signal = SIGTERM; // the command must not outlive a killed cw-harness either
  process.on_stdout_line = [](std::string_view line) { std::cout << line << '\n' << std::flush; };
  process.on_stderr_line = [](std::string_view line) { std::cerr << line << '\n' << std::flush; };
  auto result = util::run_process(process);
  if (options.keep_dir) std::fprintf(stderr, "cw-harness: keeping %s\n", fixture.root.release().c_str());
  if (!result) return fail(result.error());
  if (result->status.code) return *result->status.code;
  if (result->status.signal) return 128 + *result->status.signal;
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Runs a command inside the test fixture: PostgreSQL, s3rver over HTTPS, a private Docker engine "
               "and the Connectware emulator, all on loopback and stopped afterwards."};
  app.require_subcommand(1);
  RunCommand options;
  auto* run_command = app.add_subcommand("run", "Start the components, run COMMAND with their environment, stop them");
  run_command
      ->add_option("--with", options.with,
                   "Comma-separated components: postgres, s3, docker, emulator, emulator-containers "
                   "(dependencies are added)")
      ->capture_default_str();
  run_command->add_option("--user", options.user, "Connectware user exported to the command: admin, backup, viewer")
      ->check(CLI::IsMember({"admin", "backup", "viewer"}))
      ->capture_default_str();
  run_command->add_flag("--keep-dir", options.keep_dir, "Keep the fixture's folder (logs, data) afterwards");
  run_command->add_option("command", options.command, "The command and its arguments (after --)")->required();
  CLI11_PARSE(app, argc, argv);

  util::install_cancellation_handlers();
  auto exit_code = run(options, util::current_environment());
  if (!exit_code) {
    std::fprintf(stderr, "cw-harness: %s\n", exit_code.error().message.c_str());
    // Like a shell: 128 + the signal that interrupted us.
    if (exit_code.error().kind == ErrorKind::interrupted) return 128 + util::cancellation_signal();
    return 2;
  }
  return *exit_code;
}
