#include "util/cancellation.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <thread>

namespace cwb::util {
namespace {

ProcessOptions shell(const std::string& script) {
  ProcessOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  return options;
}

TEST(Subprocess, CapturesStdoutAndStderrSeparately) {
  auto result = run_process(shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->stdout_text, "out\n");
  EXPECT_EQ(result->stderr_text, "err\n");
  ASSERT_TRUE(result->status.code);
  EXPECT_EQ(*result->status.code, 3);
  EXPECT_FALSE(result->status.success());
}

TEST(Subprocess, PassesOnlyTheExplicitEnvironment) {
  auto options = shell("echo \"[$ONLY_THIS][$HOME]\"");
  options.env["ONLY_THIS"] = "yes";
  auto result = run_process(options);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->stdout_text, "[yes][]\n");
}

TEST(Subprocess, DeliversLinesToCallbacksIncludingAnUnterminatedLast) {
  std::vector<std::string> lines;
  auto options = shell("printf 'a\\nb\\nc'");
  options.on_stdout_line = [&](std::string_view line) { lines.emplace_back(line); };
  auto result = run_process(options);
  ASSERT_TRUE(result);
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(result->stdout_text.empty());
}

TEST(Subprocess, TimeoutKillsTheWholeProcessGroup) {
  auto options = shell("sleep 30 & sleep 30; echo never");
  options.timeout = std::chrono::milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  auto result = run_process(options);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->status.timed_out);
  EXPECT_FALSE(result->status.success());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Subprocess, ReportsAKillingSignalApartFromAnExitCode) {
  auto result = run_process(shell("kill -9 $$"));
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->status.code);
  ASSERT_TRUE(result->status.signal);
  EXPECT_EQ(*result->status.signal, 9);
}

TEST(Subprocess, MissingProgramIsAnError) {
  ProcessOptions options;
  options.argv = {"no-such-program-anywhere"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto result = run_process(options);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("no-such-program-anywhere"), std::string::npos);
}

TEST(Subprocess, CancellationIsForwardedToTheChildAndReported) {
  reset_cancellation();
  std::thread canceller([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    request_cancellation(SIGTERM);
  });
  auto result = run_process(shell("sleep 30"));
  canceller.join();
  reset_cancellation();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::interrupted);
}

TEST(ChildProcess, StopTerminatesARunningDaemon) {
  auto child = ChildProcess::start(shell("sleep 30"));
  ASSERT_TRUE(child);
  EXPECT_TRUE(child->running());
  const auto status = child->stop(SIGTERM, std::chrono::seconds(2));
  EXPECT_FALSE(child->running());
  ASSERT_TRUE(status.signal);
  EXPECT_EQ(*status.signal, SIGTERM);
}

} // namespace
} // namespace cwb::util

namespace cwb::util {
namespace {

TEST(CancellationShield, SetsARequestAsideAndRestoresItAfterwards) {
  reset_cancellation();
  request_cancellation(SIGTERM);
  {
    const CancellationShield shield;
    EXPECT_FALSE(cancellation_requested());
    // A child started on a release path runs to completion instead of being interrupted.
    ProcessOptions options;
    options.argv = {"/bin/sh", "-c", "sleep 0.2; echo done"};
    options.env = {{"PATH", "/usr/bin:/bin"}};
    auto result = run_process(options);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->stdout_text, "done\n");
  }
  EXPECT_TRUE(cancellation_requested());
  EXPECT_EQ(cancellation_signal(), SIGTERM);
  reset_cancellation();
}

TEST(CancellationShield, ASignalArrivingWhileShieldedTakesEffectAfterwards) {
  reset_cancellation();
  {
    const CancellationShield shield;
    request_cancellation(SIGINT);
  }
  EXPECT_TRUE(cancellation_requested());
  EXPECT_EQ(cancellation_signal(), SIGINT);
  reset_cancellation();
}

} // namespace
} // namespace cwb::util
