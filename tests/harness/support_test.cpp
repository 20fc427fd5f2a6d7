#include "support/support.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>

namespace cwb::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SupportTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto dir = util::TemporaryDirectory::create("", "harness-support-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
  }

  util::ChildProcess start_shell(const std::string& script) {
    util::ProcessOptions options;
    options.argv = {"/bin/sh", "-c", script};
    options.env = base_environment();
    options.stdout_file = log();
    options.stderr_file = log();
    auto child = util::ChildProcess::start(options);
    EXPECT_TRUE(child) << child.error().message;
    return child ? std::move(*child) : util::ChildProcess{};
  }

  fs::path log() const { return dir_.path() / "daemon.log"; }

  // Returns the kept log named by an error message, removing its folder afterwards.
  static fs::path kept_log(const std::string& message) {
    const auto at = message.find("log kept at ");
    if (at == std::string::npos) return {};
    return message.substr(at + std::string("log kept at ").size());
  }

  util::TemporaryDirectory dir_;
};

TEST_F(SupportTest, FreeLoopbackPortsAreNonZeroAndUsuallyDistinct) {
  auto first = free_loopback_port();
  auto second = free_loopback_port();
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, 0);
  EXPECT_NE(*first, *second);
}

TEST_F(SupportTest, ADaemonThatExitsGivesOneLineWithItsLastLogLineAndAKeptLog) {
  auto child = start_shell("echo starting; echo 'fatal: port taken' >&2; exit 3");
  ASSERT_FALSE(poll_until([] { return false; }, 5s, [&] { return !child.running(); }));
  const auto error = startup_error("mydaemon", "127.0.0.1:1", 5s, child, log());
  EXPECT_TRUE(error.message.starts_with("mydaemon exited during start-up (exit code 3): fatal: port taken; "))
      << error.message;
  EXPECT_EQ(error.message.find('\n'), std::string::npos);
  const auto kept = kept_log(error.message);
  ASSERT_FALSE(kept.empty()) << error.message;
  auto content = util::read_file(kept);
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_NE(content->find("fatal: port taken"), std::string::npos);
  std::error_code ignored;
  fs::remove_all(kept.parent_path(), ignored);
}

TEST_F(SupportTest, ADaemonThatNeverAnswersIsNamedWithWhereAndHowLongItWasAwaited) {
  auto child = start_shell("exec sleep 30");
  ASSERT_FALSE(poll_until([] { return false; }, 200ms, [&] { return !child.running(); }));
  const auto error = startup_error("s3rver", "127.0.0.1:40123", 15s, child, log());
  EXPECT_TRUE(error.message.starts_with("s3rver did not answer on 127.0.0.1:40123 within 15 s; log kept at "))
      << error.message;
  std::error_code ignored;
  fs::remove_all(kept_log(error.message).parent_path(), ignored);
}

TEST_F(SupportTest, ProcessTreeFindsDescendantsAndStillRunningForgetsStoppedOnes) {
  auto child = start_shell("sleep 30 & sleep 30 & wait");
  std::vector<ProcessIdentity> tree;
  ASSERT_TRUE(poll_until([&] { return (tree = process_tree(child.pid())).size() == 3; }, 5s, [] { return false; }));
  EXPECT_EQ(still_running(tree).size(), 3U);
  child.stop(SIGTERM, 5s);
  EXPECT_TRUE(poll_until([&] { return still_running(tree).empty(); }, 5s, [] { return false; }));
}

} // namespace
} // namespace cwb::test
