#pragma once
// What one HTTP exchange asks for and what it gives back, and the Transport interface that performs it.
// HTTP statuses are not errors at this level: a 500 is a Response with status 500. Only a transfer that
// did not complete is an Error (see transfer_failure.hpp for how such errors are classified).

#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cwb::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// HTTP Basic credentials. Never logged; never part of an error message.
struct BasicAuth {
  std::string username;
  std::string password;
};

/// A bearer token (Connectware JWT), sent as "Authorization: Bearer ...". Never logged.
struct BearerAuth {
  std::string token;
};

using Auth = std::variant<std::monostate, BasicAuth, BearerAuth>;

/// One file sent as a multipart/form-data field, streamed from disk by the transport (never read into memory).
struct MultipartFile {
  std::string field_name = "file";
  std::filesystem::path path;
  std::string filename; // the name the server sees; empty: the file's own name
  std::string content_type = "application/octet-stream";
};

/// Time limits of one request. A transfer slower than `low_speed_bytes` per second for `low_speed_time`
/// fails, so a stalled download does not hang forever even without a total limit.
struct Timeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds total{0}; // 0: no total limit (large downloads)
  long low_speed_bytes = 1;
  std::chrono::seconds low_speed_time{60};
};

enum class Redirects { do_not_follow, follow };

/// Called during a transfer with the bytes done and the total (0 when unknown): downloaded bytes for
/// downloads, uploaded bytes for uploads.
using ProgressCallback = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  /// The request body (JSON). Ignored when `upload` is set.
  std::string body;
  /// A multipart upload streamed from a file; the method stays as given (normally POST).
  std::optional<MultipartFile> upload;
  /// When set, a 2xx response body is streamed into this file (created 0600, truncated) and hashed while
  /// it is written; Response::body then stays empty. A non-2xx body stays in memory for error messages and
  /// the file is removed; so is a partial file when the transfer fails.
  std::optional<std::filesystem::path> download_to;
  /// With download_to: fsync the file before the request succeeds. Off for files that only live until
  /// another program reads them back (page cache suffices); on for copies that must survive a crash.
  bool sync_download = true;
  /// With download_to: hash the body as it arrives (Response::sha256). Off when the caller hashes the file
  /// in a later pass it makes anyway.
  bool hash_download = true;
  Redirects redirects = Redirects::do_not_follow;
  Auth auth;
  Timeouts timeouts;
  ProgressCallback progress;
  /// In-memory bodies larger than this fail the request (protects against a misdirected download).
  std::size_t max_body_bytes = 16 * 1024 * 1024;
};

struct Response {
  long status = 0;
  /// Headers of the final response (after redirects), names lower-cased, in arrival order.
  Headers headers;
  /// The body, unless it went to Request::download_to.
  std::string body;
  /// Body bytes received (for downloads: bytes written to the file).
  std::uint64_t bytes = 0;
  /// Lower-case hex SHA-256 of the downloaded file's contents; empty when not downloading.
  std::string sha256;
  /// The URL that answered, after redirects (credentials removed).
  std::string effective_url;

  /// Returns the first header named `name` (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
  [[nodiscard]] bool success() const { return status >= 200 && status < 300; }
};

class Transport {
public:
  virtual ~Transport() = default;
  /// Performs one request. Returns the response whatever its status. Errors: unreachable (connect, DNS,
  /// timeouts, TLS), http (transfer broke off, see transfer_failure_of), staging_io (local file trouble),
  /// interrupted (cancellation requested), usage (a malformed request).
  virtual Result<Response> perform(const Request& request) = 0;
};

/// Returns `url` without user:password@ and with the values of token-like query parameters (apiToken,
/// token, access_token) replaced by ********, for messages and logs.
std::string redact_url(std::string_view url);

/// Returns `text` with every character outside [A-Za-z0-9-._~] percent-encoded (query values, path parts).
std::string url_encode(std::string_view text);

} // namespace cwb::http
