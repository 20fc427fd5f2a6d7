#pragma once
// Test support for cwb_emulator_tests (header-only so that it stays out of cwb_emulator_lib): a throwaway
// PostgreSQL cluster (the postgres binary run directly as user postgres, so that it dies with the test),
// a self-signed certificate made with the openssl CLI, and the emulator started as a real process.
// The lead may later replace PostgresServer with the shared harness (cwb::test::PostgresCluster).

#include "database.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <pwd.h>
#include <thread>

namespace cwb::emulator::testing {

inline const std::filesystem::path pg_bin_dir = "/usr/lib/postgresql/15/bin";

/// Returns a loopback TCP port that was free a moment ago.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

inline std::string read_text(const std::filesystem::path& path) {
  return util::read_file(path).value_or("");
}

/// Runs a command to completion and fails the test when it fails.
inline void run_checked(util::ProcessOptions options) {
  if (options.env.empty()) options.env = util::current_environment();
  const auto result = util::run_process(options);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(result->status.success()) << options.argv[0] << " " << result->status.describe() << ": "
                                        << result->stderr_text;
}

class PostgresServer {
public:
  /// Starts a fresh cluster on a free port; fails the test (fatally) when it cannot.
  void start() {
    directory_ = util::TemporaryDirectory::create("", "emulator-pg-").value();
    ::chmod(directory_.path().c_str(), 0755); // the postgres user must reach its folders
    const passwd* user = ::getpwnam("postgres");
    ASSERT_NE(user, nullptr) << "no postgres user";
    for (const char* name : {"pg", "run"}) {
      std::filesystem::create_directory(directory_.path() / name);
      ASSERT_EQ(::chown((directory_.path() / name).c_str(), user->pw_uid, user->pw_gid), 0);
    }
    util::ProcessOptions initdb;
    initdb.argv = {(pg_bin_dir / "initdb").string(),
                   "-D",
                   (directory_.path() / "pg").string(),
                   "-A",
                   "trust",
                   "-U",
                   "postgres",
                   "--no-sync"};
    initdb.run_as_user = "postgres";
    initdb.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
    ASSERT_NO_FATAL_FAILURE(run_checked(initdb));

    port_ = free_port();
    util::ProcessOptions postgres;
    postgres.argv = {(pg_bin_dir / "postgres").string(),
                     "-D",
                     (directory_.path() / "pg").string(),
                     "-c",
                     "listen_addresses=127.0.0.1",
                     "-p",
                     std::to_string(port_),
                     "-k",
                     (directory_.path() / "run").string(),
                     "-c",
                     "fsync=off",
                     "-c",
                     "full_page_writes=off"};
    postgres.run_as_user = "postgres";
    postgres.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
    postgres.parent_death_signal = SIGTERM;
    postgres.stderr_file = directory_.path() / "postgres.log";
    auto child = util::ChildProcess::start(postgres);
    ASSERT_TRUE(child) << child.error().message;
    process_ = std::move(*child);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (PQping(conninfo("postgres").c_str()) != PQPING_OK) {
      ASSERT_TRUE(process_.running()) << "postgres exited: " << read_text(directory_.path() / "postgres.log");
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "postgres did not start";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void stop() {
    if (process_.running()) process_.stop(SIGINT, std::chrono::seconds(5)); // fast shutdown
  }

  [[nodiscard]] std::string conninfo(const std::string& database) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database;
  }
  [[nodiscard]] int port() const { return port_; }

  /// Creates an empty database and returns its conninfo.
  std::string create_database(const std::string& name) {
    auto admin = Database::connect(conninfo("postgres"));
    EXPECT_TRUE(admin) << admin.error().message;
    if (admin) {
      auto made = admin->execute("CREATE DATABASE " + name);
      EXPECT_TRUE(made) << made.error().message;
    }
    return conninfo(name);
  }

private:
  util::TemporaryDirectory directory_;
  util::ChildProcess process_;
  int port_ = 0;
};

/// Writes a self-signed certificate for 127.0.0.1 (an EC key: quick to make) into `directory`.
inline void make_certificate(const std::filesystem::path& directory) {
  util::ProcessOptions openssl;
  openssl.argv = {"openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:prime256v1",
                  "-nodes",
                  "-keyout",
                  (directory / "key.pem").string(),
                  "-out",
                  (directory / "cert.pem").string(),
                  "-days",
                  "2",
                  "-subj",
                  "/CN=127.0.0.1",
                  "-addext",
                  "subjectAltName=IP:127.0.0.1,DNS:localhost"};
  run_checked(openssl);
}

/// A running connectware-emulator process.
class EmulatorProcess {
public:
  /// Starts the emulator with `arguments` (without the executable) and waits until `ready_path` answers
  /// on `port` (HTTPS when `tls`). Fails the test when it exits or does not answer in time.
  void start(const std::vector<std::string>& arguments, const std::filesystem::path& log, int port, bool tls,
             const std::filesystem::path& ca_cert, const std::string& ready_path) {
    log_ = log;
    util::ProcessOptions options;
    options.argv = {CWB_EMULATOR_EXECUTABLE};
    options.argv.insert(options.argv.end(), arguments.begin(), arguments.end());
    options.env = util::current_environment();
    options.stderr_file = log;
    options.stdout_file = log;
    options.parent_death_signal = SIGTERM;
    auto child = util::ChildProcess::start(options);
    ASSERT_TRUE(child) << child.error().message;
    process_ = std::move(*child);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      ASSERT_TRUE(process_.running()) << "the emulator exited: " << read_text(log);
      bool answered = false;
      if (tls) {
        httplib::SSLClient client("127.0.0.1", port);
        client.set_ca_cert_path(ca_cert.c_str());
        client.enable_server_certificate_verification(true);
        client.set_connection_timeout(1);
        answered = static_cast<bool>(client.Get(ready_path.c_str()));
      } else {
        httplib::Client client("127.0.0.1", port);
        client.set_connection_timeout(1);
        answered = static_cast<bool>(client.Get(ready_path.c_str()));
      }
      if (answered) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the emulator did not answer: " << read_text(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  util::ChildProcess& process() { return process_; }
  [[nodiscard]] std::string log() const { return read_text(log_); }

private:
  util::ChildProcess process_;
  std::filesystem::path log_;
};

} // namespace cwb::emulator::testing
