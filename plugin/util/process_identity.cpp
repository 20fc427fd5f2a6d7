#include "util/process_identity.hpp"

#include "util/file_system.hpp"

#include <sstream>
#include <string>

namespace cwb::util {

std::optional<ProcessIdentity> identify_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  // Field 3 is the first after ')'; the start time is field 22.
  for (int index = 3; index < 22 && fields >> field; ++index) {
  }
  std::uint64_t start = 0;
  if (!(fields >> start)) return std::nullopt;
  return ProcessIdentity{pid, start};
}

bool is_alive(const ProcessIdentity& identity) {
  const auto current = identify_process(identity.pid);
  return current && *current == identity;
}

} // namespace cwb::util
