#include "http/curl_transport.hpp"

#include "http/transfer_failure.hpp"
#include "util/cancellation.hpp"
#include "util/file_descriptor.hpp"
#include "util/sha256.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>

namespace cwb::http {

namespace {

struct EasyDeleter {
  void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct MimeDeleter {
  void operator()(curl_mime* mime) const noexcept { curl_mime_free(mime); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;
using MimeHandle = std::unique_ptr<curl_mime, MimeDeleter>;

void initialise_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void warn_insecure_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    spdlog::warn("TLS VERIFICATION IS DISABLED (insecure option): any server can impersonate Connectware and "
                 "receive its credentials. Configure a CA file instead.");
  });
}

// Everything the curl callbacks touch during one transfer.
struct TransferState {
  CURL* easy = nullptr;
  const Request* request = nullptr;
  Response response;
  util::FileDescriptor file; // the download target, when downloading
  util::Sha256 hasher;
  std::optional<std::string> local_error;
  bool body_too_large = false;
  bool cancelled = false;
};

constexpr long download_buffer_bytes = 512L * 1024;

bool status_is_success(CURL* easy) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

std::optional<std::string> write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return std::string(std::strerror(errno));
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return std::nullopt;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const std::size_t length = size * count;
  // Only a successful body goes to the file: a 404 page must not become the "archive".
  if (state.file && status_is_success(state.easy)) {
    if (auto failure = write_all(state.file.get(), data, length)) {
      state.local_error = "writing " + state.request->download_to->string() + ": " + *failure;
      return 0;
    }
    if (state.request->hash_download) state.hasher.update(data, length);
    state.response.bytes += length;
    return length;
  }
  if (state.response.body.size() + length > state.request->max_body_bytes) {
    state.body_too_large = true;
    return 0;
  }
  state.response.body.append(data, length);
  state.response.bytes += length;
  return length;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const std::size_t length = size * count;
  std::string_view line(data, length);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  // A new status line starts the headers of the next response (after a redirect or a 100 Continue).
  if (line.starts_with("HTTP/")) {
    state.response.headers.clear();
    return length;
  }
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::ranges::transform(name, name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    state.response.headers.emplace_back(std::move(name), std::string(value));
  }
  return length;
}

int on_progress(void* user, curl_off_t download_total, curl_off_t download_now, curl_off_t upload_total,
                curl_off_t upload_now) {
  auto& state = *static_cast<TransferState*>(user);
  if (util::cancellation_requested()) {
    state.cancelled = true;
    return 1; // makes curl abort with CURLE_ABORTED_BY_CALLBACK
  }
  if (state.request->progress) {
    const bool uploading = state.request->upload.has_value();
    const auto done = uploading ? upload_now : download_now;
    const auto total = uploading ? upload_total : download_total;
    try {
      state.request->progress(static_cast<std::uint64_t>(done), static_cast<std::uint64_t>(total));
    } catch (...) {
      // A progress display must not break the transfer.
    }
  }
  return 0;
}

// Replaces every occurrence of the request's secrets in `text`: curl's own messages should not contain
// them, but a message that leaks a password is a worse bug than a redundant scan.
std::string scrub_secrets(std::string text, const Auth& auth) {
  auto scrub = [&](const std::string& secret) {
    if (secret.empty()) return;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "********");
    }
  };
  if (const auto* basic = std::get_if<BasicAuth>(&auth)) scrub(basic->password);
  if (const auto* bearer = std::get_if<BearerAuth>(&auth)) scrub(bearer->token);
  return text;
}

struct Classified {
  TransferFailure failure;
  ErrorKind kind;
};

Classified classify(CURLcode code, const TransferState& state) {
  switch (code) {
  case CURLE_ABORTED_BY_CALLBACK:
    return state.cancelled ? Classified{TransferFailure::interrupted, ErrorKind::interrupted}
                           : Classified{TransferFailure::protocol, ErrorKind::http};
  case CURLE_WRITE_ERROR:
    return state.local_error ? Classified{TransferFailure::local_io, ErrorKind::staging_io}
                             : Classified{TransferFailure::protocol, ErrorKind::http};
  case CURLE_READ_ERROR: return {TransferFailure::local_io, ErrorKind::staging_io};
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT: return {TransferFailure::connect, ErrorKind::unreachable};
  case CURLE_OPERATION_TIMEDOUT:
    return {state.response.bytes > 0 ? TransferFailure::stalled : TransferFailure::timeout, ErrorKind::unreachable};
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR: return {TransferFailure::tls, ErrorKind::unreachable};
  case CURLE_PARTIAL_FILE: return {TransferFailure::truncated, ErrorKind::http};
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING: return {TransferFailure::receive, ErrorKind::http};
  case CURLE_SEND_ERROR: return {TransferFailure::send, ErrorKind::http};
  default: return {TransferFailure::protocol, ErrorKind::http};
  }
}

Error transfer_error(CURLcode code, const TransferState& state, const char* curl_message) {
  const auto [failure, kind] = classify(code, state);
  std::string reason = curl_message[0] != '\0' ? curl_message : curl_easy_strerror(code);
  if (failure == TransferFailure::local_io && state.local_error) reason = *state.local_error;
  if (failure == TransferFailure::protocol && state.body_too_large) {
    reason = "response body larger than " + std::to_string(state.request->max_body_bytes) + " bytes";
  }
  std::string message = state.request->method + " " + redact_url(state.request->url) + ": " +
                        transfer_failure_tag(failure) + ": " + reason;
  if (state.request->download_to) message += " (after " + std::to_string(state.response.bytes) + " bytes)";
  if (failure == TransferFailure::tls) {
    message += "; if the server uses a self-signed certificate, give its CA certificate with the CA file option";
  }
  return Error{kind, scrub_secrets(std::move(message), state.request->auth), failure};
}

} // namespace

CurlTransport::CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
  initialise_curl_once();
  if (options_.tls.verification == TlsVerification::insecure) warn_insecure_once();
}

CurlTransport::~CurlTransport() = default;

Result<Response> CurlTransport::perform(const Request& request) {
  if (request.url.empty()) return fail(ErrorKind::usage, "HTTP request without a URL");
  EasyHandle easy(curl_easy_init());
  if (!easy) return fail(ErrorKind::internal, "curl_easy_init failed");
  CURL* handle = easy.get();

  TransferState state;
  state.easy = handle;
  state.request = &request;

  if (request.download_to) {
    const int fd = ::open(request.download_to->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fail(ErrorKind::staging_io,
                  "opening " + request.download_to->string() + " for the download: " + std::strerror(errno));
    }
    state.file.reset(fd);
  }

  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &state);
  // Larger reads than libcurl's 16 KiB default: fewer write callbacks (write + hash) per archive; the
  // curl command line tool uses 100 KiB for the same reason.
  if (request.download_to) curl_easy_setopt(handle, CURLOPT_BUFFERSIZE, download_buffer_bytes);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &state);

  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.timeouts.connect.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeouts.total.count()));
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, request.timeouts.low_speed_bytes);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.timeouts.low_speed_time.count()));

  if (request.redirects == Redirects::follow) {
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 10L);
  }

  if (options_.tls.ca_file) curl_easy_setopt(handle, CURLOPT_CAINFO, options_.tls.ca_file->c_str());
  if (options_.tls.verification == TlsVerification::insecure) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (options_.unix_socket_path) {
    curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, options_.unix_socket_path->c_str());
  }

  HeaderList headers;
  auto add_header = [&](const std::string& line) {
    curl_slist* extended = curl_slist_append(headers.get(), line.c_str());
    if (extended != nullptr) {
      static_cast<void>(headers.release());
      headers.reset(extended);
    }
  };
  for (const auto& [name, value] : request.headers)
    add_header(name + ": " + value);

  if (const auto* basic = std::get_if<BasicAuth>(&request.auth)) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(handle, CURLOPT_USERNAME, basic->username.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, basic->password.c_str());
  } else if (const auto* bearer = std::get_if<BearerAuth>(&request.auth)) {
    // As a header rather than in the URL (?apiToken=) so it stays out of proxies' and servers' access logs.
    add_header("Authorization: Bearer " + bearer->token);
  }

  MimeHandle mime;
  if (request.upload) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(request.upload->path, error)) {
      return fail(ErrorKind::staging_io, "uploading " + request.upload->path.string() + ": not a readable file");
    }
    mime.reset(curl_mime_init(handle));
    curl_mimepart* part = curl_mime_addpart(mime.get());
    curl_mime_name(part, request.upload->field_name.c_str());
    // curl reads the file in chunks while sending: the archive is never held in memory.
    if (curl_mime_filedata(part, request.upload->path.c_str()) != CURLE_OK) {
      return fail(ErrorKind::staging_io, "uploading " + request.upload->path.string() + ": cannot open it");
    }
    if (!request.upload->filename.empty()) curl_mime_filename(part, request.upload->filename.c_str());
    curl_mime_type(part, request.upload->content_type.c_str());
    curl_easy_setopt(handle, CURLOPT_MIMEPOST, mime.get());
    if (request.method != "POST") curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    add_header("Expect:"); // no 100-continue round trip
  } else if (request.method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (request.method != "POST") curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(handle);

  char* effective_url = nullptr;
  curl_easy_getinfo(handle, CURLINFO_EFFECTIVE_URL, &effective_url);
  state.response.effective_url = redact_url(effective_url != nullptr ? effective_url : request.url);

  if (code != CURLE_OK) {
    auto error = transfer_error(code, state, error_buffer);
    // A partial archive must not be mistaken for a complete one later.
    if (request.download_to) {
      state.file.reset();
      std::error_code ignored;
      std::filesystem::remove(*request.download_to, ignored);
    }
    return fail(std::move(error));
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &state.response.status);
  if (state.file) {
    if (state.response.success()) {
      if (request.sync_download && ::fsync(state.file.get()) != 0) {
        return fail(ErrorKind::staging_io, "syncing " + request.download_to->string() + ": " + std::strerror(errno));
      }
      if (request.hash_download) state.response.sha256 = state.hasher.finish_hex();
      state.file.reset();
    } else {
      // The error page went to Response::body; an empty file would only look like a failed archive.
      state.file.reset();
      std::error_code ignored;
      std::filesystem::remove(*request.download_to, ignored);
    }
  }
  return std::move(state.response);
}

} // namespace cwb::http
