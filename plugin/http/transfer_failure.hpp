#pragma once
// How a transfer that did not complete failed. The Error a Transport returns keeps its ErrorKind (so exit
// codes work without knowing HTTP) and carries the classification as a tag in its message,
// "transfer failed (<name>)", which transfer_failure_of() reads back. Callers branch on it: the retry loop
// retries connect/timeout/stalled/truncated/receive, the Connectware client turns truncated/receive/stalled
// downloads into export_invalid.

#include "core/error.hpp"

#include <optional>
#include <string>

namespace cwb::http {

enum class TransferFailure {
  connect,     // unreachable: DNS, connection refused, no route (nothing was sent)
  timeout,     // unreachable: connect or total time limit reached
  stalled,     // unreachable: the low-speed limit fired after body bytes had arrived
  tls,         // unreachable: TLS handshake or certificate verification failed
  truncated,   // http: the connection closed before Content-Length bytes arrived (curl "partial file")
  receive,     // http: the connection broke while receiving (reset, empty reply)
  send,        // http: the connection broke while sending (upload)
  local_io,    // staging_io: the download file could not be written or the upload file read
  interrupted, // interrupted: cancellation was requested
  protocol,    // http: anything else curl reports (bad response, too many redirects, ...)
};

/// Returns the stable name used in the message tag ("truncated").
const char* to_string(TransferFailure failure) noexcept;

/// Returns the message tag "transfer failed (<name>)".
std::string transfer_failure_tag(TransferFailure failure);

/// Returns the classification of an error a Transport produced, or nullopt for other errors (including
/// errors from other layers that quote no tag).
std::optional<TransferFailure> transfer_failure_of(const Error& error);

/// True for failures that a new attempt of the same request may cure.
bool is_transient(TransferFailure failure) noexcept;

} // namespace cwb::http
