#pragma once
// The one place where a failed restic call becomes an error: a table of restic 0.14's stderr texts (and
// the exit codes of restic >= 0.16) naming the cause, the repository and where the password came from,
// never the password itself.

#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <string>
#include <string_view>

namespace cwb::restic {

enum class Failure {
  wrong_password,      // "wrong password or no key found"; exit 12 in >= 0.16
  no_repository,       // no config file at the location; exit 10 in >= 0.16
  locked,              // another restic holds a lock; exit 11 in >= 0.16
  unreachable_backend, // connection refused, unknown host, TLS/x509 trouble
  incomplete_snapshot, // exit 3: a snapshot was saved but some files could not be read
  snapshot_not_found,  // no snapshot matches the id given
  repository_exists,   // init on an existing repository
  other,
};

/// Returns the stable name of a failure ("wrong_password"), for logs and tests.
const char* to_string(Failure failure) noexcept;

/// Returns the cause an Error of this failure carries (Cause::none for other).
Cause to_cause(Failure failure) noexcept;

/// Returns the restic failure an error carries as its cause; other for errors that are not restic's.
Failure failure_of(const Error& error) noexcept;

/// What the message names besides the cause.
struct FailureContext {
  std::string operation;       // "backup", "snapshots", ...
  std::string repository;      // already redacted (see redact_repository)
  std::string password_source; // "RESTIC_PASSWORD_FILE=/etc/x" or "RESTIC_PASSWORD (environment)"
};

struct ClassifiedFailure {
  Failure failure = Failure::other;
  Error error; // kind restic, cause to_cause(failure); a one-line message naming the cause and the repository
};

/// Returns the cause of a failed restic run from its exit status and stderr text. Timeouts and signals
/// give Failure::other with the status described.
ClassifiedFailure classify_failure(const util::ExitStatus& status, std::string_view stderr_text,
                                   const FailureContext& context);

/// Returns `repository` with any password in its URL replaced by "***" (rest:https://user:pw@host/).
std::string redact_repository(std::string_view repository);

} // namespace cwb::restic
