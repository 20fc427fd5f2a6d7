#include "util/process_identity.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

namespace cwb::util {
namespace {

TEST(ProcessIdentity, OwnProcessIsAliveAndStable) {
  const auto self = identify_process(getpid());
  ASSERT_TRUE(self);
  EXPECT_GT(self->start_ticks, 0u);
  EXPECT_TRUE(is_alive(*self));
  EXPECT_EQ(identify_process(getpid()), self);
}

TEST(ProcessIdentity, ADeadProcessIsNotAlive) {
  ProcessOptions options;
  options.argv = {"/bin/sleep", "30"};
  auto child = ChildProcess::start(options);
  ASSERT_TRUE(child);
  const auto identity = identify_process(child->pid());
  ASSERT_TRUE(identity);
  EXPECT_TRUE(is_alive(*identity));
  child->stop(SIGKILL, std::chrono::seconds(1));
  EXPECT_FALSE(is_alive(*identity));
}

TEST(ProcessIdentity, ASameNumberedProcessWithAnotherStartTimeIsNotTheSame) {
  auto self = identify_process(getpid());
  ASSERT_TRUE(self);
  self->start_ticks += 1;
  EXPECT_FALSE(is_alive(*self));
}

} // namespace
} // namespace cwb::util
