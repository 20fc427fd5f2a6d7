#pragma once
// Recorded restic output played back through a util::ProcessRunner fake, the way run_process delivers it:
// line callbacks get the lines (and the result keeps no text), otherwise the text lands in the result.
// Shared by the restic module's own tests and the pipelines' tests that script restic.

#include "util/subprocess.hpp"

#include <string>
#include <string_view>

namespace cwb::test {

struct RecordedReply {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

/// Returns what run_process would return for a child that printed `reply` and exited with its code.
inline util::ProcessResult play_back(const RecordedReply& reply, const util::ProcessOptions& options) {
  const auto deliver = [](const std::string& text, const std::function<void(std::string_view)>& callback) {
    if (!callback) return text;
    std::string_view rest = text;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      callback(rest.substr(0, end));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    return std::string{};
  };
  util::ProcessResult result;
  result.status.code = reply.exit_code;
  result.stdout_text = deliver(reply.stdout_text, options.on_stdout_line);
  result.stderr_text = deliver(reply.stderr_text, options.on_stderr_line);
  return result;
}

} // namespace cwb::test
