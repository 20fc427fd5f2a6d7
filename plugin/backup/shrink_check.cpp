#include "backup/shrink_check.hpp"

#include <fmt/format.h>

namespace cwb::backup {

std::vector<std::string> shrink_findings(const snapshot::RunSizes& last_success, const snapshot::RunSizes& now,
                                         int percent) {
  std::vector<std::string> findings;
  const auto compare = [&findings, percent](const char* what, std::uint64_t before, std::uint64_t after) {
    if (before == 0 || after >= before) return;
    // In long double: a byte count times 100 may not fit 64 bits.
    const long double drop = 100.0L * static_cast<long double>(before - after) / static_cast<long double>(before);
    if (drop <= static_cast<long double>(percent)) return;
    findings.push_back(fmt::format("{}: {} -> {} (-{:.1f} %)", what, before, after, static_cast<double>(drop)));
  };
  compare("database archive bytes", last_success.database_archive_bytes, now.database_archive_bytes);
  compare("database entries", last_success.database_entries, now.database_entries);
  compare("volume files", last_success.volume_files, now.volume_files);
  compare("volume bytes", last_success.volume_bytes, now.volume_bytes);
  return findings;
}

} // namespace cwb::backup
