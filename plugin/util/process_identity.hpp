#pragma once
// A process named by its PID *and* its start time, so that a marker left by a dead run is not mistaken
// for a live one when the PID has been reused.

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace cwb::util {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0; // field 22 of /proc/<pid>/stat: start time in clock ticks after boot

  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

/// Returns the identity of `pid`, or nullopt when no such process exists.
std::optional<ProcessIdentity> identify_process(pid_t pid);

/// True when the process recorded in `identity` still runs (same PID, same start time).
bool is_alive(const ProcessIdentity& identity);

} // namespace cwb::util
