// deploy/systemd: the units the package installs. systemd-analyze verify must accept them without a single
// complaint (it only warns, exit 0, about unknown keys and bad values, so its output must be empty), with
// ExecStart pointed at the built hooks; and the tests pin what an operator relies on: the schedule, the
// hardening, the settings file.
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace cwb {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

const fs::path units_dir = fs::path(CWB_SOURCE_DIR) / "deploy" / "systemd";
const fs::path hooks_dir = fs::path(CWB_BINARY_DIR) / "hooks";
const std::vector<std::string> unit_names = {"connectware-backup.service", "connectware-backup.timer",
                                             "connectware-restore-drill.service", "connectware-restore-drill.timer"};

std::string unit_text(const std::string& name) {
  auto text = util::read_file(units_dir / name);
  EXPECT_TRUE(text) << name;
  return text ? *text : std::string{};
}

/// The `Key=Value` lines of a unit (comments skipped); a key given twice keeps every value.
std::multimap<std::string, std::string> directives(const std::string& name) {
  std::multimap<std::string, std::string> found;
  std::istringstream in(unit_text(name));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() == '#' || line.front() == '[') continue;
    const auto equals = line.find('=');
    if (equals != std::string::npos) found.emplace(line.substr(0, equals), line.substr(equals + 1));
  }
  return found;
}

std::string value_of(const std::multimap<std::string, std::string>& found, const std::string& key) {
  const auto it = found.find(key);
  return it == found.end() ? std::string{} : it->second;
}

class SystemdUnits : public testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-systemd-units-test");
    ASSERT_TRUE(temp);
    temp_ = std::move(*temp);
  }

  /// Copies the units into the scratch folder with /usr/bin/ (where the package puts the hooks) replaced
  /// by the build's hooks folder, after `edit` on each text.
  void copy_units(const std::function<void(std::string&)>& edit = {}) {
    for (const auto& name : unit_names) {
      auto text = std::regex_replace(unit_text(name), std::regex("/usr/bin/"), hooks_dir.string() + "/");
      if (edit) edit(text);
      ASSERT_TRUE(util::write_file_atomic(temp_.path() / name, text, 0644));
    }
  }

  util::ProcessResult verify() {
    util::ProcessOptions run;
    run.argv = {"systemd-analyze", "verify", "--man=no"};
    for (const auto& name : unit_names)
      run.argv.push_back((temp_.path() / name).string());
    run.env = {{"PATH", "/usr/bin:/bin"}, {"SYSTEMD_LOG_COLOR", "0"}};
    run.timeout = std::chrono::seconds(60);
    auto result = util::run_process(run);
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : util::ProcessResult{};
  }

  util::TemporaryDirectory temp_;
};

TEST_F(SystemdUnits, SystemdAnalyzeVerifyAcceptsThemWithoutAWarning) {
  copy_units();
  const auto result = verify();
  EXPECT_TRUE(result.status.success()) << result.status.describe() << "\n" << result.stderr_text;
  EXPECT_EQ(result.stderr_text, "");
  EXPECT_EQ(result.stdout_text, "");
}

TEST_F(SystemdUnits, TheVerifyCheckCatchesAMisspelledHardeningKey) {
  // The test above is only worth something if systemd-analyze speaks up about a typo.
  copy_units([](std::string& text) { text = std::regex_replace(text, std::regex("ProtectSystem="), "ProtectSystm="); });
  EXPECT_THAT(verify().stderr_text, HasSubstr("Unknown key 'ProtectSystm'"));
}

TEST_F(SystemdUnits, ServicesRunTheHooksHardenedWithTheSettingsFile) {
  const std::map<std::string, std::string> exec_start = {
      {"connectware-backup.service", "/usr/bin/connectware-backup"},
      {"connectware-restore-drill.service", "/usr/bin/connectware-restore --drill"}};
  for (const auto& [name, command] : exec_start) {
    SCOPED_TRACE(name);
    const auto unit = directives(name);
    EXPECT_EQ(value_of(unit, "ExecStart"), command);
    EXPECT_EQ(value_of(unit, "Type"), "oneshot");
    EXPECT_EQ(value_of(unit, "EnvironmentFile"), "/etc/connectware-backup/env");
    EXPECT_EQ(value_of(unit, "ProtectSystem"), "strict");
    EXPECT_EQ(value_of(unit, "StateDirectory"), "connectware-backup");
    EXPECT_EQ(value_of(unit, "StateDirectoryMode"), "0700");
    EXPECT_EQ(value_of(unit, "PrivateTmp"), "yes");
    EXPECT_EQ(value_of(unit, "NoNewPrivileges"), "yes");
    EXPECT_EQ(value_of(unit, "UMask"), "0077");
    // restic's cache must live in a writable place: $HOME is read-only under ProtectSystem=strict.
    EXPECT_EQ(value_of(unit, "CacheDirectory"), "connectware-backup");
    bool cache_set = false;
    for (auto [it, end] = unit.equal_range("Environment"); it != end; ++it)
      cache_set |= it->second == "RESTIC_CACHE_DIR=/var/cache/connectware-backup";
    EXPECT_TRUE(cache_set);
    // Only what is needed: AF_UNIX (the Docker socket, the journal), IPv4 and IPv6 (API, S3).
    EXPECT_EQ(value_of(unit, "RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
    // The backup pauses containers through the Docker socket: nothing may hide /run from it.
    EXPECT_EQ(unit.count("InaccessiblePaths"), 0U);
    EXPECT_NE(value_of(unit, "ProtectHome"), "yes");
  }
  // Stopping the drill must never stop a running backup.
  EXPECT_EQ(directives("connectware-restore-drill.service").count("Conflicts"), 0U);
}

TEST_F(SystemdUnits, TimersAreDailyAndWeeklyPersistentAndSpreadOut) {
  const std::map<std::string, std::string> period = {{"connectware-backup.timer", "daily"},
                                                     {"connectware-restore-drill.timer", "weekly"}};
  for (const auto& [name, expected] : period) {
    SCOPED_TRACE(name);
    const auto timer = directives(name);
    EXPECT_EQ(value_of(timer, "Persistent"), "true");
    EXPECT_FALSE(value_of(timer, "RandomizedDelaySec").empty());
    EXPECT_EQ(value_of(timer, "WantedBy"), "timers.target");
    // systemd-analyze calendar gives the next two elapses: a day or a week apart.
    util::ProcessOptions run;
    run.argv = {"systemd-analyze", "calendar", "--iterations=2", value_of(timer, "OnCalendar")};
    run.env = {{"PATH", "/usr/bin:/bin"}, {"TZ", "UTC"}, {"LC_ALL", "C"}};
    run.timeout = std::chrono::seconds(30);
    auto result = util::run_process(run);
    ASSERT_TRUE(result && result->status.success()) << (result ? result->stderr_text : result.error().message);
    std::smatch when;
    std::vector<std::string> dates;
    const std::regex date(R"((\d{4}-\d{2}-\d{2}) \d{2}:\d{2}:\d{2})");
    for (auto text = result->stdout_text; std::regex_search(text, when, date); text = when.suffix())
      dates.push_back(when[1]);
    ASSERT_GE(dates.size(), 2U) << result->stdout_text; // the next elapse and the one after
    std::tm first{}, second{};
    std::istringstream(dates.front()) >> std::get_time(&first, "%Y-%m-%d");
    std::istringstream(dates.back()) >> std::get_time(&second, "%Y-%m-%d");
    const auto days = (timegm(&second) - timegm(&first)) / 86400;
    EXPECT_EQ(days, expected == "daily" ? 1 : 7) << result->stdout_text;
  }
}

} // namespace
} // namespace cwb
