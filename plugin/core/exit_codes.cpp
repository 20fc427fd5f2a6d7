#include "core/exit_codes.hpp"

namespace cwb {

ExitCode exit_code_for(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::internal: return ExitCode::internal;
  case ErrorKind::usage: return ExitCode::usage;
  case ErrorKind::unreachable: return ExitCode::unreachable;
  case ErrorKind::authentication: return ExitCode::authentication;
  case ErrorKind::export_failed: return ExitCode::export_failed;
  case ErrorKind::export_invalid: return ExitCode::export_invalid;
  case ErrorKind::quiesce_failed: return ExitCode::quiesce_failed;
  case ErrorKind::staging_io: return ExitCode::staging_io;
  case ErrorKind::restic: return ExitCode::restic;
  case ErrorKind::locked: return ExitCode::locked;
  case ErrorKind::interrupted: return ExitCode::interrupted;
  case ErrorKind::snapshot_invalid: return ExitCode::snapshot_invalid;
  case ErrorKind::incompatible_version: return ExitCode::incompatible_version;
  case ErrorKind::restore_rolled_back: return ExitCode::restore_rolled_back;
  case ErrorKind::rollback_failed: return ExitCode::rollback_failed;
  // A container or other object the runtime no longer has: the runtime's situation, not a bug of ours.
  case ErrorKind::not_found: return ExitCode::container_runtime;
  // An HTTP exchange that broke off or got an unexpected status: the server is not serving us.
  case ErrorKind::http: return ExitCode::unreachable;
  case ErrorKind::container_runtime: return ExitCode::container_runtime;
  case ErrorKind::malformed_response: return ExitCode::malformed_response;
  case ErrorKind::volume_missing: return ExitCode::volume_missing;
  case ErrorKind::no_snapshot: return ExitCode::no_snapshot;
  case ErrorKind::unfinished_restore: return ExitCode::unfinished_restore;
  case ErrorKind::shrunk: return ExitCode::shrunk;
  }
  return ExitCode::internal;
}

} // namespace cwb
