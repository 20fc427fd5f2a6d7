#pragma once
// Child processes without a shell: an argv vector, an explicit environment, stdout and stderr read
// separately with poll() (optionally line by line), a timeout that kills the whole process group, and
// SIGINT/SIGTERM forwarded to the child when the cancellation token (util/cancellation.hpp) fires.

#include "core/error.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::util {

using Environment = std::map<std::string, std::string>;

/// Returns a copy of this process's environment. Only main() should call it; everything below takes the
/// environment as a parameter.
Environment current_environment();

/// How a child ended. A code and a signal are kept apart: a process killed by SIGTERM has no code.
struct ExitStatus {
  std::optional<int> code;
  std::optional<int> signal;
  bool timed_out = false;

  [[nodiscard]] bool success() const { return code && *code == 0 && !timed_out; }
  /// "exit code 3", "killed by signal 15", "timed out after 30s"
  [[nodiscard]] std::string describe() const;
};

struct ProcessOptions {
  std::vector<std::string> argv; // argv[0] is looked up in PATH of `env` when it has no '/'
  Environment env;
  std::filesystem::path working_dir; // empty: inherit
  std::filesystem::path stdin_file;  // empty: /dev/null (never the terminal: restic would prompt)
  /// When set, stdout (stderr) is delivered line by line (without the '\n') and not kept in the result.
  std::function<void(std::string_view)> on_stdout_line;
  std::function<void(std::string_view)> on_stderr_line;
  /// When set, the stream goes to this file (appended) instead of a pipe: for daemons' logs.
  std::filesystem::path stdout_file;
  std::filesystem::path stderr_file;
  std::chrono::milliseconds timeout{0}; // 0: no timeout
  /// Run as this user (name), for programs such as postgres that refuse root. Empty: as we are.
  std::string run_as_user;
  /// Signal the child receives when its parent dies (prctl PR_SET_PDEATHSIG); 0 for none. Test daemons
  /// use it so that nothing outlives a crashed test.
  int parent_death_signal = 0;
  /// ChildProcess::start only: the child reads this descriptor as its stdin (the caller keeps it; it
  /// should be close-on-exec, so that no other child holds it open). -1: stdin_file.
  int stdin_fd = -1;
  /// ChildProcess::start only: the child writes to our stderr (its lines join our log) instead of
  /// stderr_file.
  bool inherit_stderr = false;
};

struct ProcessResult {
  ExitStatus status;
  std::string stdout_text; // empty when on_stdout_line or stdout_file was used
  std::string stderr_text;
};

/// Runs a child to completion. Returns an error only when it cannot be started (kind internal) or
/// when the cancellation token fired (kind interrupted; the child got the same signal and was reaped).
/// A child that fails is not an error here: look at `status`.
Result<ProcessResult> run_process(const ProcessOptions& options);

/// Seam for code that spawns processes (restic, pg_dump): tests replace it with recorded output.
class ProcessRunner {
public:
  virtual ~ProcessRunner() = default;
  virtual Result<ProcessResult> run(const ProcessOptions& options) = 0;
};

class SystemProcessRunner final : public ProcessRunner {
public:
  Result<ProcessResult> run(const ProcessOptions& options) override { return run_process(options); }
};

/// A started child that runs on its own (a daemon in a test harness, a server). Not copyable. The
/// destructor terminates the process group (SIGTERM, then SIGKILL after a grace period) if it still runs.
class ChildProcess {
public:
  /// Starts the child with stdout/stderr going to the given files (or /dev/null); line callbacks and
  /// timeouts are ignored here. Errors: internal when fork/exec fails.
  static Result<ChildProcess> start(const ProcessOptions& options);

  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const { return pid_; }
  /// True while the child has not been reaped and has not exited.
  bool running();
  /// Waits up to `timeout` for the child to exit; returns nullopt if it is still running.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  /// Sends `signal` to the child's process group, waits up to `grace`, then SIGKILLs the group.
  ExitStatus stop(int signal, std::chrono::milliseconds grace);
  /// Forgets the child without stopping it (it keeps running).
  pid_t release();

private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

/// Looks `program` up in the PATH of `env` (or returns it unchanged when it contains a '/').
std::optional<std::filesystem::path> find_program(const std::string& program, const Environment& env);

} // namespace cwb::util
