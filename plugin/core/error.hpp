#pragma once
// One error type for the whole plugin: a kind the caller can branch on (and that maps to one exit
// code, see core/exit_codes.hpp) and a message that carries its context ("pre-backup: exporting db: HTTP 401").

#include <expected>
#include <string>
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
};

/// Returns the stable lower-case name of a kind, as used in logs and the status JSON.
const char* to_string(ErrorKind kind) noexcept;

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;

  /// Returns a copy with `context` put in front: Error{"HTTP 401"}.with_context("exporting db")
  /// gives "exporting db: HTTP 401".
  [[nodiscard]] Error with_context(const std::string& context) const { return Error{kind, context + ": " + message}; }
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
