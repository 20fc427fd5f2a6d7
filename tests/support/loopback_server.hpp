#pragma once
// Test helpers shared by the http, connectware and container unit tests: a cpp-httplib server on
// 127.0.0.1 (plain or TLS) running in a background thread, a self-signed certificate made with the openssl
// CLI, a port nobody listens on, and a Sleeper/Clock pair that takes no wall time.

#include "http/clock.hpp"
#include "support/support.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <httplib.h>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace cwb::test {

/// A certificate for 127.0.0.1 and localhost and its key, in a temporary directory.
struct TestCertificate {
  util::TemporaryDirectory directory;
  std::filesystem::path cert;
  std::filesystem::path key;

  /// Makes a new self-signed EC certificate (fast to generate). Fails the calling test when openssl fails.
  static std::unique_ptr<TestCertificate> create() {
    auto dir = util::TemporaryDirectory::create({}, "cwb-cert-");
    if (!dir) return nullptr;
    auto result = std::make_unique<TestCertificate>();
    result->cert = dir->path() / "cert.pem";
    result->key = dir->path() / "key.pem";
    result->directory = std::move(*dir);
    util::ProcessOptions options;
    options.argv = {"openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    result->key.string(),
                    "-out",
                    result->cert.string(),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"};
    options.env = {{"PATH", "/usr/bin:/bin"}};
    auto run = util::run_process(options);
    if (!run || !run->status.success()) {
      ADD_FAILURE() << "openssl req failed: " << (run ? run->stderr_text : run.error().message);
      return nullptr;
    }
    return result;
  }
};

/// Runs `server` on 127.0.0.1 at a free port until destroyed. Register handlers before constructing.
class LoopbackServer {
public:
  explicit LoopbackServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    ::signal(SIGPIPE, SIG_IGN); // a client that hangs up must not kill the test binary
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 200 && !server_->is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] int port() const { return port_; }
  /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  [[nodiscard]] std::string base_url(bool tls = false) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }

private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = -1;
  std::thread thread_;
};

/// Returns a loopback port that was free a moment ago and has no listener now (connection refused).
inline int unused_port() {
  auto port = free_loopback_port();
  EXPECT_TRUE(port) << (port ? std::string() : port.error().message);
  return port ? static_cast<int>(*port) : 0;
}

/// A clock that only moves when told to (or when FakeSleeper sleeps).
class FakeClock final : public http::Clock {
public:
  std::chrono::steady_clock::time_point now() override { return steady_; }
  std::chrono::system_clock::time_point wall_now() override { return wall_; }
  void advance(std::chrono::milliseconds duration) {
    steady_ += duration;
    wall_ += duration;
  }

private:
  std::chrono::steady_clock::time_point steady_{std::chrono::hours(1000)};
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'700'000'000)};
};

/// Records every sleep and advances the (optional) fake clock instead of waiting.
class FakeSleeper final : public http::Sleeper {
public:
  explicit FakeSleeper(FakeClock* clock = nullptr) : clock_(clock) {}
  Result<> sleep_for(std::chrono::milliseconds duration) override {
    sleeps.push_back(duration);
    if (clock_ != nullptr) clock_->advance(duration);
    return {};
  }
  std::vector<std::chrono::milliseconds> sleeps;

private:
  FakeClock* clock_;
};

} // namespace cwb::test
