// docs/configuration.md against the key table: every key of Config::keys() has its row, with its
// environment variable, its flag (none for secrets) and its default, so the page cannot drift from the code.
#include "config/config.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

namespace cwb::config {
namespace {

/// Returns the table row of `key` ("| `key` | ..."), or "" when there is none.
std::string row_of(const std::string& page, std::string_view key) {
  std::istringstream in(page);
  const std::string start = "| `" + std::string(key) + "` |";
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(start)) return line;
  }
  return {};
}

TEST(ConfigurationDoc, EveryKeyHasARowWithItsEnvironmentVariableFlagAndDefault) {
  const auto page = util::read_file(std::filesystem::path(CWB_SOURCE_DIR) / "docs/configuration.md");
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_FALSE(Config::keys().empty());
  for (const auto& key : Config::keys()) {
    SCOPED_TRACE(std::string(key.name));
    const auto row = row_of(*page, key.name);
    ASSERT_FALSE(row.empty()) << "docs/configuration.md has no row for " << key.name;
    EXPECT_NE(row.find("`" + std::string(key.env_var) + "`"), std::string::npos) << row;
    if (key.exposure == Exposure::environment_only) {
      EXPECT_EQ(row.find("`--" + std::string(key.name)), std::string::npos) << "a secret has no flag: " << row;
      EXPECT_NE(row.find("environment only"), std::string::npos) << row;
    } else {
      EXPECT_NE(row.find("`--" + std::string(key.name)), std::string::npos) << row;
    }
    if (!key.default_text.empty()) {
      EXPECT_NE(row.find("`" + key.default_text + "`"), std::string::npos)
          << "default " << key.default_text << ": " << row;
    }
  }
}

TEST(ConfigurationDoc, ListsNoKeyTheCodeDoesNotKnow) {
  const auto page = util::read_file(std::filesystem::path(CWB_SOURCE_DIR) / "docs/configuration.md");
  ASSERT_TRUE(page);
  std::istringstream in(*page);
  int rows = 0;
  bool in_keys = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("## ")) in_keys = line == "## Keys";
    if (!in_keys || !line.starts_with("| `")) continue;
    const auto end = line.find('`', 3);
    ASSERT_NE(end, std::string::npos) << line;
    const auto name = line.substr(3, end - 3);
    EXPECT_NE(Config::find_key(name), nullptr) << "docs/configuration.md documents unknown key " << name;
    ++rows;
  }
  EXPECT_EQ(rows, static_cast<int>(Config::keys().size()));
}

} // namespace
} // namespace cwb::config
