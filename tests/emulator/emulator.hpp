#pragma once
// The emulator program as a function: options in, servers up until SIGTERM/SIGINT, exit code out.

#include <filesystem>
#include <string>
#include <vector>

namespace cwb::emulator {

enum class Role { front, service_manager, all };

struct EmulatorOptions {
  Role role = Role::all;
  std::string listen = "127.0.0.1";
  int port = 0;                 // front: HTTPS; service-manager role: plain HTTP; 0 picks a free port
  int service_manager_port = 0; // role all: the internal service-manager port; 0 picks a free port
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string pg_conninfo;
  /// How long start-up retries connecting to PostgreSQL, as Connectware's services do when Compose starts
  /// them beside their database; 0: one attempt.
  int pg_wait_seconds = 0;
  std::filesystem::path pg_bin_dir = "/usr/lib/postgresql/15/bin";
  std::filesystem::path data_dir;
  std::string service_manager_url;
  std::string connectware_version = "1.10.2";
  std::vector<std::string> compat; // "<1.5.0=1.4.9"
  bool seed = false;
  std::vector<std::string> faults; // "NAME[=VALUE]"
  std::filesystem::path work_dir;  // empty: a temporary folder removed at exit
};

/// Runs the emulator until SIGTERM or SIGINT and returns the process exit code: 0 after a clean stop,
/// 2 for bad options, 1 when it cannot start (port taken, database unreachable, certificate missing),
/// each failure reported as one line on stderr.
int run_emulator(const EmulatorOptions& options);

} // namespace cwb::emulator
