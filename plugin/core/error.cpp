#include "core/error.hpp"

namespace cwb {

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::internal: return "internal";
  case ErrorKind::usage: return "usage";
  case ErrorKind::unreachable: return "unreachable";
  case ErrorKind::authentication: return "authentication";
  case ErrorKind::export_failed: return "export_failed";
  case ErrorKind::export_invalid: return "export_invalid";
  case ErrorKind::quiesce_failed: return "quiesce_failed";
  case ErrorKind::staging_io: return "staging_io";
  case ErrorKind::restic: return "restic";
  case ErrorKind::locked: return "locked";
  case ErrorKind::interrupted: return "interrupted";
  case ErrorKind::snapshot_invalid: return "snapshot_invalid";
  case ErrorKind::incompatible_version: return "incompatible_version";
  case ErrorKind::restore_rolled_back: return "restore_rolled_back";
  case ErrorKind::rollback_failed: return "rollback_failed";
  case ErrorKind::not_found: return "not_found";
  case ErrorKind::http: return "http";
  case ErrorKind::container_runtime: return "container_runtime";
  case ErrorKind::malformed_response: return "malformed_response";
  case ErrorKind::volume_missing: return "volume_missing";
  case ErrorKind::no_snapshot: return "no_snapshot";
  case ErrorKind::unfinished_restore: return "unfinished_restore";
  case ErrorKind::shrunk: return "shrunk";
  }
  return "unknown";
}

std::optional<ErrorKind> error_kind_named(std::string_view name) noexcept {
  for (int value = 0; value <= static_cast<int>(last_error_kind); ++value) {
    const auto kind = static_cast<ErrorKind>(value);
    if (name == to_string(kind)) return kind;
  }
  return std::nullopt;
}

const char* to_string(Cause cause) noexcept {
  switch (cause) {
  case Cause::none: return "none";
  case Cause::connect: return "connect";
  case Cause::timeout: return "timeout";
  case Cause::stalled: return "stalled";
  case Cause::tls: return "tls";
  case Cause::truncated: return "truncated";
  case Cause::receive: return "receive";
  case Cause::send: return "send";
  case Cause::local_io: return "local_io";
  case Cause::interrupted: return "interrupted";
  case Cause::protocol: return "protocol";
  case Cause::http_status: return "http_status";
  case Cause::restic_wrong_password: return "restic_wrong_password";
  case Cause::restic_no_repository: return "restic_no_repository";
  case Cause::restic_locked: return "restic_locked";
  case Cause::restic_unreachable_backend: return "restic_unreachable_backend";
  case Cause::restic_incomplete_snapshot: return "restic_incomplete_snapshot";
  case Cause::restic_snapshot_not_found: return "restic_snapshot_not_found";
  case Cause::restic_repository_exists: return "restic_repository_exists";
  }
  return "none";
}

} // namespace cwb
