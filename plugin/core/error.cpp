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
  }
  return "unknown";
}

} // namespace cwb
