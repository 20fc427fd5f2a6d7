#pragma once
// The one place where error kinds become process exit codes. docs/exit-codes.md documents this table;
// tests/unit/exit_codes_test.cpp keeps the two in step.

#include "core/error.hpp"

namespace cwb {

enum class ExitCode : int {
  ok = 0,
  internal = 1,
  usage = 2,
  unreachable = 3,
  authentication = 4,
  export_failed = 5,
  export_invalid = 6,
  quiesce_failed = 7,
  staging_io = 8,
  restic = 9,
  locked = 10,
  interrupted = 11,
  snapshot_invalid = 12,
  incompatible_version = 13,
  restore_rolled_back = 14,
  rollback_failed = 15,
  container_runtime = 16,
  malformed_response = 17,
  volume_missing = 18,
  no_snapshot = 19,
  unfinished_restore = 20,
  shrunk = 21,
};

/// Returns the exit code a hook ends with for an error of `kind`.
ExitCode exit_code_for(ErrorKind kind) noexcept;

inline int to_int(ExitCode code) noexcept {
  return static_cast<int>(code);
}

} // namespace cwb
