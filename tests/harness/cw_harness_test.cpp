#include "support/support.hpp"

#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

namespace cwb::test {
namespace {

namespace fs = std::filesystem;

const fs::path cw_harness = fs::path(CWB_BINARY_DIR) / "tests" / "harness" / "cw-harness";

util::ProcessResult run_harness(const std::vector<std::string>& args) {
  util::ProcessOptions options;
  options.argv = {cw_harness.string()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = base_environment();
  options.timeout = std::chrono::seconds(90);
  auto result = util::run_process(options);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : util::ProcessResult{};
}

std::map<std::string, std::string> parse_env(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (const auto equals = line.find('='); equals != std::string::npos) {
      env[line.substr(0, equals)] = line.substr(equals + 1);
    }
  }
  return env;
}

TEST(CwHarnessTest, RunsTheCommandWithTheComponentsEnvironmentAndItsExitCode) {
  // The command checks PostgreSQL and S3 itself and then exits 7.
  const auto result = run_harness(
      {"run", "--with", "postgres,s3", "--", "/bin/sh", "-c",
       "env; pg_isready -q -h 127.0.0.1 -p \"$CW_PG_PORT\" && curl -sS --cacert \"$CW_S3_CACERT\" -o /dev/null "
       "-w 'curl-ok\\n' \"$CW_S3_ENDPOINT/\"; exit 7"});
  EXPECT_EQ(result.status.code, 7) << result.stderr_text;
  auto env = parse_env(result.stdout_text);
  EXPECT_TRUE(env.contains("CW_HARNESS_DIR"));
  EXPECT_EQ(env.count("CW_PG_PORT"), 1U);
  EXPECT_NE(env["CW_PG_CONNINFO"].find("dbname=connectware"), std::string::npos);
  EXPECT_TRUE(env["CW_S3_REPOSITORY"].starts_with("s3:https://127.0.0.1:"));
  EXPECT_EQ(env["AWS_ACCESS_KEY_ID"], "S3RVER");
  EXPECT_EQ(env["AWS_SECRET_ACCESS_KEY"], "S3RVER");
  EXPECT_FALSE(env.contains("DOCKER_HOST"));
  EXPECT_NE(result.stdout_text.find("curl-ok"), std::string::npos) << result.stdout_text;
  // Everything is stopped and removed afterwards.
  EXPECT_FALSE(fs::exists(env["CW_HARNESS_DIR"]));
  EXPECT_TRUE(processes_with_argument_containing(env["CW_HARNESS_DIR"]).empty());
}

TEST(CwHarnessTest, UnknownComponentIsAUsageErrorAndRunsNothing) {
  const auto result = run_harness({"run", "--with", "postgres,mysql", "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(result.status.code, 2);
  EXPECT_NE(result.stderr_text.find("unknown component 'mysql'"), std::string::npos) << result.stderr_text;
  EXPECT_EQ(result.stdout_text.find("ran"), std::string::npos);
}

// Starts cw-harness in the background; returns once its command has printed the variables `names`.
struct BackgroundHarness {
  util::TemporaryDirectory dir;
  util::ChildProcess process;
  std::vector<std::string> values;
};

std::optional<BackgroundHarness> start_in_background(const std::string& with, const std::vector<std::string>& names) {
  auto dir = util::TemporaryDirectory::create("", "harness-cli-test-");
  EXPECT_TRUE(dir) << dir.error().message;
  if (!dir) return std::nullopt;
  BackgroundHarness harness{std::move(*dir), {}, {}};
  std::string script;
  for (const auto& name : names)
    script += "echo \"$" + name + "\"; ";
  util::ProcessOptions options;
  options.argv = {cw_harness.string(), "run", "--with", with, "--", "/bin/sh", "-c", script + "exec sleep 60"};
  options.env = base_environment();
  options.stdout_file = harness.dir.path() / "out";
  options.stderr_file = harness.dir.path() / "err";
  auto started = util::ChildProcess::start(options);
  EXPECT_TRUE(started) << started.error().message;
  if (!started) return std::nullopt;
  harness.process = std::move(*started);
  const bool printed = poll_until(
      [&] {
        auto out = util::read_file(options.stdout_file);
        if (!out || std::count(out->begin(), out->end(), '\n') < static_cast<long>(names.size())) return false;
        std::istringstream lines(*out);
        for (std::string line; std::getline(lines, line);)
          harness.values.push_back(line);
        return true;
      },
      std::chrono::seconds(30), [&] { return !harness.process.running(); });
  EXPECT_TRUE(printed) << util::read_file(harness.dir.path() / "err").value_or("");
  if (!printed) return std::nullopt;
  return harness;
}

TEST(CwHarnessTest, SigtermStopsTheCommandAndEveryComponentAndExitsLikeAShell) {
  auto harness = start_in_background("postgres,s3", {"CW_HARNESS_DIR"});
  ASSERT_TRUE(harness);
  const auto& dir = harness->values.at(0);
  const auto processes = processes_with_argument_containing(dir);
  EXPECT_GE(processes.size(), 2U) << "postgres and s3rver run in " << dir;
  kill(harness->process.pid(), SIGTERM); // cw-harness alone, not its process group
  const auto status = harness->process.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 128 + SIGTERM) << status->describe();
  EXPECT_TRUE(still_running(processes).empty());
  EXPECT_FALSE(fs::exists(dir));
}

TEST(CwHarnessTest, AKilledHarnessLeavesNoDaemonBehind) {
  auto harness = start_in_background("postgres,s3,docker", {"CW_HARNESS_DIR", "DOCKER_HOST"});
  ASSERT_TRUE(harness);
  const fs::path dir = harness->values.at(0);
  const fs::path exec_root = fs::path(harness->values.at(1).substr(std::string("unix://").size())).parent_path();
  auto processes = processes_with_argument_containing(dir.string());
  const auto engine = processes_with_argument_containing(exec_root.string());
  processes.insert(processes.end(), engine.begin(), engine.end());
  EXPECT_GE(processes.size(), 4U) << "postgres, s3rver, dockerd and containerd";
  // A crash: no destructor runs, only the parent-death signals.
  harness->process.stop(SIGKILL, std::chrono::seconds(5));
  EXPECT_TRUE(
      poll_until([&] { return still_running(processes).empty(); }, std::chrono::seconds(20), [] { return false; }));
  // What a crash cannot clean up: the folders.
  unmount_all_below({exec_root, dir});
  std::error_code ignored;
  fs::remove_all(exec_root, ignored);
  fs::remove_all(dir, ignored);
}

} // namespace
} // namespace cwb::test
