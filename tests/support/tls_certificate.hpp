#pragma once
// A self-signed server certificate for 127.0.0.1 (and localhost), made with the openssl CLI. It is its own
// CA: clients verify the server with the certificate file itself.

#include "core/error.hpp"

#include <filesystem>

namespace cwb::test {

class TlsCertificate {
public:
  /// Writes cert.pem and key.pem (RSA 2048, valid 2 days, CN=127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost)
  /// into `folder`, creating it. Errors: staging_io when the folder cannot be made, internal when openssl
  /// fails (its stderr in the message).
  static Result<TlsCertificate> generate(const std::filesystem::path& folder);

  [[nodiscard]] const std::filesystem::path& cert_path() const { return cert_path_; }
  [[nodiscard]] const std::filesystem::path& key_path() const { return key_path_; }

private:
  TlsCertificate(std::filesystem::path cert, std::filesystem::path key)
      : cert_path_(std::move(cert)), key_path_(std::move(key)) {}
  std::filesystem::path cert_path_;
  std::filesystem::path key_path_;
};

} // namespace cwb::test
