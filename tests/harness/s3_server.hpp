#pragma once
// s3rver (a Node S3 emulator) over HTTPS only: over plain HTTP it stores aws-chunked bodies verbatim and
// corrupts restic repositories. One bucket is created at start-up.

#include "core/error.hpp"
#include "support/support.hpp"
#include "util/subprocess.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cwb::test {

class S3Server {
public:
  /// Creates a fresh folder under `parent`, a certificate for 127.0.0.1 and starts s3rver on a free port
  /// with `bucket` (at least 3 characters) configured; waits (at most 15 s) until the port answers TLS.
  /// Errors: one line naming s3rver and the reason, its log kept.
  static Result<S3Server> start(const std::filesystem::path& parent, const std::string& bucket);

  S3Server(S3Server&&) noexcept;
  S3Server& operator=(S3Server&&) noexcept;
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;
  /// Stops s3rver and removes its folder with the stored objects.
  ~S3Server();

  /// Returns "https://127.0.0.1:PORT".
  [[nodiscard]] std::string endpoint() const;
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] const std::string& bucket() const;
  /// The server's certificate, which is also its CA: restic --cacert, curl --cacert.
  [[nodiscard]] const std::filesystem::path& cacert() const;
  /// Returns "s3:https://127.0.0.1:PORT/BUCKET/prefix".
  [[nodiscard]] std::string restic_repository(const std::string& prefix) const;
  /// Returns AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (S3RVER/S3RVER) to add to restic's environment.
  [[nodiscard]] static util::Environment restic_environment();

  [[nodiscard]] std::vector<ProcessIdentity> processes() const;
  /// Stops s3rver (SIGTERM, SIGKILL after 5 s). Safe to call twice.
  void stop();

private:
  struct State;
  explicit S3Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace cwb::test
