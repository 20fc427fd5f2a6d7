#pragma once
// One error type for the whole plugin: a kind the caller can branch on (and that maps to one exit
// code, see core/exit_codes.hpp) and a message that carries its context ("pre-backup: exporting db: HTTP 401").

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cwb {

enum class ErrorKind {
  internal,             // a bug or an unexpected condition in the plugin itself
  usage,                // bad flags or configuration
  unreachable,          // Connectware (or another server) cannot be reached, or timed out
  authentication,       // 401 or 403
  export_failed,        // Connectware's DB export failed, was refused, or never finished
  export_invalid,       // the downloaded archive is truncated, corrupt, empty or does not match its checksum
  quiesce_failed,       // the configuration could not be held still (pause failed, or it kept changing)
  staging_io,           // local file system trouble: full disk, permissions, missing paths
  restic,               // restic failed (wrong password, no repository, locked, incomplete snapshot)
  locked,               // another run holds the lock
  interrupted,          // SIGINT or SIGTERM
  snapshot_invalid,     // a restore source that fails its checks (tampered, escaping paths, missing files)
  incompatible_version, // Connectware refuses the DB archive because of its version
  restore_rolled_back,  // a restore failed and the previous state was put back
  rollback_failed,      // a restore failed and so did putting the previous state back
  not_found,            // a thing looked up does not exist (a container, a snapshot, a file)
  http,                 // an HTTP request failed in a way not covered above (4xx other than auth)
  container_runtime,    // the container runtime (Docker engine) failed or is unreachable
  malformed_response,   // a server answered, but not with what its API promises (not JSON, wrong types, HTML)
  volume_missing,       // a volume to back up or restore does not exist on this installation
  no_snapshot,          // no snapshot to restore: none for this host and tags, or the id is unknown
  unfinished_restore,   // a restore was killed after it began changing things: --resume or --roll-back first
  shrunk,               // the backup is much smaller than the last good one, and on-shrink = fail
};
/// The last ErrorKind: keep it the last one above (error_kind_named walks up to it).
inline constexpr ErrorKind last_error_kind = ErrorKind::shrunk;

/// Why a transfer or request failed, for callers that branch on it (retry policies, the Connectware client
/// turning a cut download into export_invalid) without reading the message. `none` for errors that need no
/// finer class than their kind.
enum class Cause {
  none,
  connect,     // nothing was sent: DNS, connection refused, no route
  timeout,     // connect or total time limit reached
  stalled,     // the low-speed limit fired after body bytes had arrived
  tls,         // TLS handshake or certificate verification failed
  truncated,   // the connection closed before Content-Length bytes arrived
  receive,     // the connection broke while receiving (reset, empty reply)
  send,        // the connection broke while sending (upload)
  local_io,    // the download file could not be written or the upload file read
  interrupted, // cancellation was requested
  protocol,    // anything else the transport reports (bad response, too many redirects, ...)
  http_status, // the server answered with an unexpected HTTP status (Error::http_status says which)
  // restic's failure classes (restic/failure.hpp), read from its exit code and stderr
  restic_wrong_password,
  restic_no_repository,
  restic_locked,
  restic_unreachable_backend,
  restic_incomplete_snapshot,
  restic_snapshot_not_found,
  restic_repository_exists,
};

/// Returns the stable lower-case name of a cause ("truncated").
const char* to_string(Cause cause) noexcept;

/// Returns the stable lower-case name of a kind, as used in logs and the status JSON.
const char* to_string(ErrorKind kind) noexcept;

/// Returns the kind whose to_string() is `name`, or nullopt (a record written by another version).
std::optional<ErrorKind> error_kind_named(std::string_view name) noexcept;

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  Cause cause = Cause::none;
  int http_status = 0; // with Cause::http_status: the status the server answered

  /// Returns a copy with `context` put in front: Error{"HTTP 401"}.with_context("exporting db")
  /// gives "exporting db: HTTP 401". Kind and cause are kept.
  [[nodiscard]] Error with_context(const std::string& context) const {
    return Error{kind, context + ": " + message, cause, http_status};
  }
  /// Returns a copy with another kind (a layer that knows better what the failure means), cause kept.
  [[nodiscard]] Error as(ErrorKind other) const { return Error{other, message, cause, http_status}; }
};

template <typename T = void> using Result = std::expected<T, Error>;

/// Shorthand for `return fail(ErrorKind::x, "...")` in functions returning Result<T>.
inline std::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return std::unexpected<Error>(Error{kind, std::move(message)});
}
inline std::unexpected<Error> fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

} // namespace cwb

// Propagates the error of an expression returning Result<...>: CWB_TRY(do_something());
#define CWB_TRY(expr)                                                                                                  \
  do {                                                                                                                 \
    if (auto cwb_try_result_ = (expr); !cwb_try_result_) return ::cwb::fail(std::move(cwb_try_result_).error());       \
  } while (false)
