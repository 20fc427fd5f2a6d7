#pragma once
// The operator's commands the installation runs (restart-command, stop-command): argv without a shell,
// the hook's environment, a time limit, and a one-line error with the command's last words.

#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace cwb::installation {

/// Returns the command as an operator wrote it: "systemctl restart connectware".
std::string command_text(const std::vector<std::string>& argv);

/// Runs `argv` (the `setting` names it in errors) and waits up to `timeout`. Errors: container_runtime when it
/// cannot start, fails or times out (with its exit status and the last line of its stderr), interrupted.
Result<> run_operator_command(util::ProcessRunner& runner, const util::Environment& environment,
                              const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                              const std::string& setting);

} // namespace cwb::installation
