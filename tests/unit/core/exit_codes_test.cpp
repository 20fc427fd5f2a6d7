#include "core/exit_codes.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

namespace cwb {
namespace {

constexpr ErrorKind all_kinds[] = {
    ErrorKind::internal,
    ErrorKind::usage,
    ErrorKind::unreachable,
    ErrorKind::authentication,
    ErrorKind::export_failed,
    ErrorKind::export_invalid,
    ErrorKind::quiesce_failed,
    ErrorKind::staging_io,
    ErrorKind::restic,
    ErrorKind::locked,
    ErrorKind::interrupted,
    ErrorKind::snapshot_invalid,
    ErrorKind::incompatible_version,
    ErrorKind::restore_rolled_back,
    ErrorKind::rollback_failed,
    ErrorKind::not_found,
    ErrorKind::http,
    ErrorKind::container_runtime,
    ErrorKind::malformed_response,
    ErrorKind::volume_missing,
    ErrorKind::no_snapshot,
    ErrorKind::unfinished_restore,
    ErrorKind::shrunk,
};

// Reads "| code | name | ..." rows of docs/exit-codes.md.
std::map<int, std::string> documented_codes() {
  auto page = util::read_file(std::filesystem::path(CWB_SOURCE_DIR) / "docs" / "exit-codes.md");
  EXPECT_TRUE(page) << page.error().message;
  std::map<int, std::string> codes;
  const std::regex row(R"(^\|\s*(\d+)\s*\|\s*([a-z_]+)\s*\|)");
  std::istringstream lines(page.value_or(""));
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, row)) codes.emplace(std::stoi(match[1]), match[2]);
  }
  return codes;
}

TEST(ExitCodes, EveryKindIsFoundByItsNameAndTheListEndsWithTheLastKind) {
  // The post hook reads a failed pre hook's kind back by name (installation/run_state.cpp).
  for (const auto kind : all_kinds)
    EXPECT_EQ(error_kind_named(to_string(kind)), kind) << to_string(kind);
  EXPECT_EQ(std::end(all_kinds)[-1], last_error_kind);
  EXPECT_EQ(std::size(all_kinds), static_cast<std::size_t>(last_error_kind) + 1);
}

TEST(ExitCodes, EveryKindMapsToADocumentedCode) {
  const auto documented = documented_codes();
  ASSERT_FALSE(documented.empty());
  for (const auto kind : all_kinds) {
    const int code = to_int(exit_code_for(kind));
    EXPECT_TRUE(documented.contains(code)) << to_string(kind) << " -> " << code << " is not in docs/exit-codes.md";
  }
}

TEST(ExitCodes, DocumentedNamesMatchTheKindsOfTheSameCode) {
  for (const auto& [code, name] : documented_codes()) {
    if (code == 0) continue;
    bool found = false;
    for (const auto kind : all_kinds) {
      if (to_int(exit_code_for(kind)) == code && name == to_string(kind)) found = true;
    }
    EXPECT_TRUE(found) << "docs/exit-codes.md row " << code << " " << name << " has no kind of that name mapping to it";
  }
}

TEST(ExitCodes, FailureClassesOfTheBackupHaveDistinctCodes) {
  const ErrorKind classes[] = {ErrorKind::usage,         ErrorKind::unreachable,    ErrorKind::authentication,
                               ErrorKind::export_failed, ErrorKind::export_invalid, ErrorKind::quiesce_failed,
                               ErrorKind::staging_io,    ErrorKind::restic,         ErrorKind::locked,
                               ErrorKind::interrupted};
  std::set<int> codes;
  for (const auto kind : classes)
    codes.insert(to_int(exit_code_for(kind)));
  EXPECT_EQ(codes.size(), std::size(classes));
  EXPECT_FALSE(codes.contains(0));
}

TEST(Error, WithContextPutsTheContextFirstAndKeepsTheKind) {
  const Error error{ErrorKind::authentication, "HTTP 401"};
  const auto wrapped = error.with_context("exporting db");
  EXPECT_EQ(wrapped.message, "exporting db: HTTP 401");
  EXPECT_EQ(wrapped.kind, ErrorKind::authentication);
}

} // namespace
} // namespace cwb
