#pragma once
// Test support for cwb_emulator_tests (header-only so that it stays out of cwb_emulator_lib): the shared
// PostgreSQL cluster, certificate and free ports of tests/support, and the emulator started as a real process.

#include "database.hpp"
#include "support/postgres_cluster.hpp"
#include "support/support.hpp"
#include "support/tls_certificate.hpp"
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

/// Returns a loopback TCP port that was free a moment ago (the shared, checked helper).
inline int free_port() {
  auto port = test::free_loopback_port();
  EXPECT_TRUE(port) << (port ? std::string() : port.error().message);
  return port ? static_cast<int>(*port) : 0;
}

inline std::string read_text(const std::filesystem::path& path) {
  return util::read_file(path).value_or("");
}

/// The shared throwaway PostgreSQL cluster (support/postgres_cluster.hpp), with the calls these tests use.
class PostgresServer {
public:
  /// Starts a fresh cluster on a free port; fails the test (fatally) when it cannot.
  void start() {
    auto cluster = test::PostgresCluster::start(std::filesystem::temp_directory_path());
    ASSERT_TRUE(cluster) << cluster.error().message;
    cluster_.emplace(std::move(*cluster));
  }

  void stop() {
    if (cluster_) cluster_->stop();
  }

  [[nodiscard]] std::string conninfo(const std::string& database) const { return cluster_->conninfo(database); }
  [[nodiscard]] int port() const { return cluster_->port(); }

  /// Creates an empty database and returns its conninfo.
  std::string create_database(const std::string& name) {
    auto made = cluster_->create_database(name);
    EXPECT_TRUE(made) << made.error().message;
    return conninfo(name);
  }

private:
  std::optional<test::PostgresCluster> cluster_;
};

/// Writes a self-signed certificate for 127.0.0.1 into `directory` (the shared generator).
inline void make_certificate(const std::filesystem::path& directory) {
  auto certificate = test::TlsCertificate::generate(directory);
  ASSERT_TRUE(certificate) << certificate.error().message;
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
