#pragma once
// How a transfer that did not complete failed. The Error a Transport returns keeps its ErrorKind (so exit
// codes work without knowing HTTP) and carries the classification as its machine-readable cause
// (Error::cause), which transfer_failure_of() returns. Callers branch on it: the retry loop retries
// connect/timeout/stalled/truncated/receive, the Connectware client turns truncated/receive/stalled
// downloads into export_invalid. The message names it too ("transfer failed (truncated)"), for people only.

#include "core/error.hpp"

#include <optional>
#include <string>

namespace cwb::http {

/// The transfer failures are the transport's share of the causes in core/error.hpp (every Cause but none and
/// http_status): connect, timeout, stalled, tls (kind unreachable); truncated, receive, send, protocol (kind
/// http); local_io (kind staging_io); interrupted (kind interrupted).
using TransferFailure = Cause;

/// Returns the stable name used in messages ("truncated").
inline const char* transfer_failure_name(TransferFailure failure) noexcept {
  return to_string(failure);
}

/// Returns the message text "transfer failed (<name>)".
std::string transfer_failure_tag(TransferFailure failure);

/// Returns the transfer failure an error carries as its cause, or nullopt for other errors (no cause, or an
/// unexpected HTTP status).
std::optional<TransferFailure> transfer_failure_of(const Error& error);

/// True for failures that a new attempt of the same request may cure.
bool is_transient(TransferFailure failure) noexcept;

} // namespace cwb::http
