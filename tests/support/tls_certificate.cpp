#include "support/tls_certificate.hpp"

#include "support/support.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

namespace cwb::test {

Result<TlsCertificate> TlsCertificate::generate(const std::filesystem::path& folder) {
  CWB_TRY(util::ensure_directories(folder));
  const auto cert = folder / "cert.pem";
  const auto key = folder / "key.pem";
  util::ProcessOptions options;
  options.argv = {"openssl",  "req",           "-x509",   "-newkey",
                  "rsa:2048", "-nodes",        "-keyout", key.string(),
                  "-out",     cert.string(),   "-days",   "2",
                  "-subj",    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"};
  options.env = base_environment();
  options.timeout = std::chrono::seconds(30);
  auto result = util::run_process(options);
  if (!result) return fail(result.error().with_context("generating a TLS certificate"));
  if (!result->status.success()) {
    return fail(ErrorKind::internal, "openssl req failed (" + result->status.describe() + "): " + result->stderr_text);
  }
  return TlsCertificate(cert, key);
}

} // namespace cwb::test
