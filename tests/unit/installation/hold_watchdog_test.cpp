#include "installation/hold_watchdog.hpp"

#include "support/support.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace cwb::installation {
namespace {

using namespace std::chrono_literals;

TEST(HookReleasedHold, IsTrueAfterTheWordAndFalseWhenThePipeClosesWithoutIt) {
  int said[2];
  ASSERT_EQ(pipe2(said, O_CLOEXEC), 0);
  ASSERT_EQ(write(said[1], hold_released_word.data(), hold_released_word.size()),
            static_cast<ssize_t>(hold_released_word.size()));
  close(said[1]);
  EXPECT_TRUE(hook_released_hold(said[0]));
  close(said[0]);

  int died[2];
  ASSERT_EQ(pipe2(died, O_CLOEXEC), 0);
  ASSERT_EQ(write(died[1], "rel", 3), 3); // a hook killed in the middle of the word
  close(died[1]);
  EXPECT_FALSE(hook_released_hold(died[0]));
  close(died[0]);
}

/// A stand-in watchdog that copies what it reads to `file` and exits at end of input.
std::vector<std::string> recording_watchdog(const std::filesystem::path& file) {
  return {"/bin/sh", "-c", "cat > '" + file.string() + "'"};
}

TEST(HoldWatchdog, SaysReleasedWhenDestroyedAndTheWatchdogExits) {
  auto dir = util::TemporaryDirectory::create({}, "cwb-watchdog-test-");
  ASSERT_TRUE(dir);
  const auto heard = dir->path() / "heard";
  pid_t pid = 0;
  {
    auto watchdog = HoldWatchdog::start(recording_watchdog(heard), test::base_environment());
    ASSERT_TRUE(watchdog) << watchdog.error().message;
    pid = watchdog->pid();
    EXPECT_GT(pid, 0);
  }
  EXPECT_EQ(util::read_file(heard).value_or(""), std::string(hold_released_word));
  EXPECT_NE(kill(pid, 0), 0) << "the watchdog still runs";
}

/// Returns the "pipe:[inode]" targets of this process's open descriptors.
std::set<std::string> our_pipes() {
  std::set<std::string> pipes;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ignored;
    const auto target = std::filesystem::read_symlink(entry.path(), ignored).string();
    if (target.starts_with("pipe:")) pipes.insert(target);
  }
  return pipes;
}

TEST(HoldWatchdog, ItsPipeIsNotInheritedByTheHooksOtherChildren) {
  // Close-on-exec: a child started while the watchdog runs (restic) cannot hold the pipe open, or a killed
  // hook would go unnoticed for as long as that child lives.
  auto dir = util::TemporaryDirectory::create({}, "cwb-watchdog-test-");
  ASSERT_TRUE(dir);
  const auto before = our_pipes();
  auto watchdog = HoldWatchdog::start(recording_watchdog(dir->path() / "heard"), test::base_environment());
  ASSERT_TRUE(watchdog) << watchdog.error().message;
  std::set<std::string> watchdog_pipe;
  for (const auto& pipe : our_pipes())
    if (!before.contains(pipe)) watchdog_pipe.insert(pipe);
  ASSERT_EQ(watchdog_pipe.size(), 1U);

  util::ProcessOptions other;
  other.argv = {"/bin/sh", "-c", "for fd in /proc/$$/fd/*; do readlink \"$fd\"; done"};
  other.env = test::base_environment();
  auto listed = util::run_process(other);
  ASSERT_TRUE(listed);
  EXPECT_NE(listed->stdout_text.find("pipe:"), std::string::npos) << "the listing shows no pipes at all";
  EXPECT_EQ(listed->stdout_text.find(*watchdog_pipe.begin()), std::string::npos) << listed->stdout_text;
}

} // namespace
} // namespace cwb::installation
