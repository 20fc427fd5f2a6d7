#include "util/cancellation.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace cwb::util {
namespace {

std::atomic<int> g_signal{0};
int g_pipe[2] = {-1, -1};
std::once_flag g_pipe_once;

void make_pipe() {
  std::call_once(g_pipe_once, [] {
    if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      g_pipe[0] = g_pipe[1] = -1;
    }
  });
}

extern "C" void on_signal(int signal) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal);
  if (g_pipe[1] >= 0) {
    const char byte = 1;
    [[maybe_unused]] auto written = write(g_pipe[1], &byte, 1);
  }
}

} // namespace

void install_cancellation_handlers() {
  make_pipe();
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool cancellation_requested() noexcept {
  return g_signal.load() != 0;
}

int cancellation_signal() noexcept {
  return g_signal.load();
}

int signal_for_children() noexcept {
  const int arrived = g_signal.load();
  return arrived == SIGINT ? SIGINT : SIGTERM;
}

int cancellation_fd() noexcept {
  make_pipe();
  return g_pipe[0];
}

void request_cancellation(int signal) noexcept {
  make_pipe();
  on_signal(signal);
}

void reset_cancellation() noexcept {
  g_signal.store(0);
  if (g_pipe[0] >= 0) {
    char buffer[64];
    while (read(g_pipe[0], buffer, sizeof buffer) > 0) {
    }
  }
}

} // namespace cwb::util
