#pragma once
// Small helpers shared by the harness components: free ports, process identities read from /proc (so that
// a test can prove nothing outlived a component), readiness polling and keeping a failed component's log.

#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::test {

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released).
/// Errors: internal when no socket can be bound.
Result<std::uint16_t> free_loopback_port();

/// A process as seen in /proc: the start time tells a reused PID apart from the original process.
struct ProcessIdentity {
  pid_t pid = -1;
  unsigned long long start_time = 0;
  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

/// Returns the identity of a live process, nullopt when it does not exist (zombies count as gone).
std::optional<ProcessIdentity> identify_process(pid_t pid);

/// True while the very process (same PID and start time) runs and is not a zombie.
bool is_running(const ProcessIdentity& process);

/// Returns `root` and all its live descendants.
std::vector<ProcessIdentity> process_tree(pid_t root);

/// Returns the live processes whose command line contains `text` in one of its arguments.
std::vector<ProcessIdentity> processes_with_argument_containing(std::string_view text);

/// Returns the processes of `candidates` that still run.
std::vector<ProcessIdentity> still_running(const std::vector<ProcessIdentity>& candidates);

/// The environment every harness child starts from: a fixed PATH and the C.UTF-8 locale, nothing
/// inherited, so tests do not depend on the caller's shell.
util::Environment base_environment();

/// Copies `log` into a fresh folder that is never deleted and returns a phrase for an error message:
/// "log kept at /tmp/cw-harness-log-XXXX/s3rver.log" (or "no log" when it cannot be copied).
std::string keep_log(const std::filesystem::path& log);

/// The last non-empty line of a (log) file, at most 200 characters; empty when there is none.
std::string last_log_line(const std::filesystem::path& log);

/// Polls `ready` every 50 ms for up to `limit`. Returns true when it answered, false on timeout.
/// Stops early (false) when `gave_up` returns true (the daemon exited) or SIGINT/SIGTERM arrived.
bool poll_until(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                const std::function<bool()>& gave_up);

/// Builds the one-line start-up error of a component: "<component> exited during start-up (exit code 1):
/// <last log line>; log kept at ..." or "<component> did not answer on <where> within N s; log kept at ...".
Error startup_error(std::string_view component, std::string_view where, std::chrono::milliseconds limit,
                    util::ChildProcess& process, const std::filesystem::path& log);

/// True when an HTTPS server on 127.0.0.1:`port` answers `GET path` (any status) with a certificate
/// that `ca_file` verifies.
bool https_answers(std::uint16_t port, const std::string& path, const std::filesystem::path& ca_file);

/// Returns the HTTP status of `GET path` on plain-HTTP 127.0.0.1:`port`, nullopt when nothing answers.
std::optional<int> http_status(std::uint16_t port, const std::string& path);

/// Gives `folder` and its ancestors the search (x) permission for others, so that a daemon running as
/// another user (postgres) can reach a folder below the caller's 0700 temporary folders. Nothing becomes
/// listable or readable. Errors: staging_io.
Result<> make_traversable(const std::filesystem::path& folder);

/// Detaches every mount at or below the given folders (deepest first), e.g. the network namespace file
/// dockerd leaves in its exec root, so that the folders can be removed. Best effort.
void unmount_all_below(const std::vector<std::filesystem::path>& roots);

} // namespace cwb::test
