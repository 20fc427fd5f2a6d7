#include "harness/s3_server.hpp"

#include "support/tls_certificate.hpp"
#include "util/file_system.hpp"

#include <signal.h>

#include <optional>

namespace cwb::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
constexpr auto start_limit = 15s;
} // namespace

struct S3Server::State {
  util::TemporaryDirectory folder;
  util::ChildProcess server;
  std::optional<TlsCertificate> certificate;
  std::uint16_t port = 0;
  std::string bucket;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { stop(); }

  void stop() {
    if (server.pid() > 0) server.stop(SIGTERM, 5s);
  }
};

S3Server::S3Server(std::unique_ptr<State> state) : state_(std::move(state)) {}
S3Server::S3Server(S3Server&&) noexcept = default;
S3Server& S3Server::operator=(S3Server&&) noexcept = default;
S3Server::~S3Server() = default;

Result<S3Server> S3Server::start(const fs::path& parent, const std::string& bucket) {
  auto state = std::make_unique<State>();
  state->bucket = bucket;
  auto folder = util::TemporaryDirectory::create(parent, "s3rver-");
  if (!folder) return fail(folder.error().with_context("s3rver"));
  state->folder = std::move(*folder);
  const fs::path root = state->folder.path();
  const fs::path log = root / "s3rver.log";
  CWB_TRY(util::ensure_directories(root / "data"));
  auto certificate = TlsCertificate::generate(root / "tls");
  if (!certificate) return fail(certificate.error().with_context("s3rver"));
  state->certificate = *certificate;
  auto port = free_loopback_port();
  if (!port) return fail(port.error().with_context("s3rver"));
  state->port = *port;

  util::ProcessOptions options;
  options.argv = {CWB_S3RVER,
                  "-d",
                  (root / "data").string(),
                  "-a",
                  "127.0.0.1",
                  "-p",
                  std::to_string(*port),
                  "--key",
                  certificate->key_path().string(),
                  "--cert",
                  certificate->cert_path().string(),
                  "--configure-bucket",
                  bucket};
  options.env = base_environment();
  options.working_dir = root;
  options.stdout_file = log;
  options.stderr_file = log;
  options.parent_death_signal = SIGKILL;
  auto child = util::ChildProcess::start(options);
  if (!child) return fail(child.error().with_context("s3rver"));
  state->server = std::move(*child);

  const auto ready = [&] { return https_answers(*port, "/", certificate->cert_path()); };
  if (!poll_until(ready, start_limit, [&] { return !state->server.running(); })) {
    return fail(startup_error("s3rver", "127.0.0.1:" + std::to_string(*port), start_limit, state->server, log));
  }
  return S3Server(std::move(state));
}

std::string S3Server::endpoint() const {
  return "https://127.0.0.1:" + std::to_string(state_->port);
}
std::uint16_t S3Server::port() const {
  return state_->port;
}
const std::string& S3Server::bucket() const {
  return state_->bucket;
}
const fs::path& S3Server::cacert() const {
  return state_->certificate->cert_path();
}

std::string S3Server::restic_repository(const std::string& prefix) const {
  return "s3:" + endpoint() + "/" + state_->bucket + "/" + prefix;
}

util::Environment S3Server::restic_environment() {
  return {{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"}};
}

std::vector<ProcessIdentity> S3Server::processes() const {
  if (!state_ || state_->server.pid() <= 0) return {};
  return process_tree(state_->server.pid());
}

void S3Server::stop() {
  if (state_) state_->stop();
}

} // namespace cwb::test
