#include "installation/command.hpp"

namespace cwb::installation {
namespace {

std::string last_line(const std::string& text) {
  const auto end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  const auto newline = text.rfind('\n', end);
  const auto start = newline == std::string::npos ? 0 : newline + 1;
  return text.substr(start, end + 1 - start);
}

} // namespace

std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& word : argv)
    text += (text.empty() ? "" : " ") + word;
  return text;
}

Result<> run_operator_command(util::ProcessRunner& runner, const util::Environment& environment,
                              const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                              const std::string& setting) {
  util::ProcessOptions options;
  options.argv = argv;
  options.env = environment;
  options.timeout = timeout;
  auto run = runner.run(options);
  if (!run) return fail(run.error().with_context("running " + setting + " `" + command_text(argv) + "`"));
  if (!run->status.success()) {
    const auto said = last_line(run->stderr_text);
    return fail(ErrorKind::container_runtime, setting + " `" + command_text(argv) + "` " + run->status.describe() +
                                                  (said.empty() ? std::string() : ": " + said));
  }
  return {};
}

} // namespace cwb::installation
