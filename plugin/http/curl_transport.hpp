#pragma once
// The libcurl Transport: HTTPS with a CA file or (explicitly) without verification, optionally over a unix
// socket (the Docker Engine API), streaming uploads and downloads, cancellation through
// util::cancellation_requested(). Curl errors become classified Errors (see transfer_failure.hpp);
// credentials never appear in them.

#include "http/transport.hpp"

#include <filesystem>
#include <optional>

namespace cwb::http {

enum class TlsVerification { verify, insecure };

struct TlsOptions {
  /// Trust this CA bundle instead of the system's (Connectware's self-signed certificate).
  std::optional<std::filesystem::path> ca_file;
  /// insecure accepts any certificate and host name; a warning is logged once per process.
  TlsVerification verification = TlsVerification::verify;
};

struct CurlTransportOptions {
  TlsOptions tls;
  /// Connect to this unix socket instead of the URL's host (the URL still gives the path and Host header).
  std::optional<std::filesystem::path> unix_socket_path;
};

class CurlTransport final : public Transport {
public:
  explicit CurlTransport(CurlTransportOptions options = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;
  CurlTransport(CurlTransport&&) = delete;
  CurlTransport& operator=(CurlTransport&&) = delete;

  /// See Transport::perform. Uses a fresh curl handle per request (the handles are cheap next to the
  /// transfers here, and no state leaks from one request into the next).
  Result<Response> perform(const Request& request) override;

private:
  CurlTransportOptions options_;
};

} // namespace cwb::http
