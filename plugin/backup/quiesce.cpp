#include "backup/quiesce.hpp"

#include "util/cancellation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace cwb::backup {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

/// Unpauses `ids`; returns those that stay paused.
std::vector<std::string> unpause_all(container::ContainerRuntime& runtime, const std::vector<std::string>& ids) {
  // Unpausing is the release path of an interrupted run: it must not be aborted by the same signal.
  const util::CancellationShield shield;
  std::vector<std::string> still_paused;
  for (const auto& id : ids) {
    auto unpaused = runtime.unpause(id);
    if (unpaused) continue;
    // Gone, or no longer paused (someone unpaused it): nothing is left to release.
    if (unpaused.error().kind == ErrorKind::not_found) continue;
    auto info = runtime.inspect(id);
    if (info && info->state != "paused") continue;
    spdlog::error("cannot unpause container {}: {}", id.substr(0, 12), unpaused.error().message);
    still_paused.push_back(id);
  }
  return still_paused;
}

} // namespace

const char* to_string(QuiesceMode mode) noexcept {
  switch (mode) {
  case QuiesceMode::pause: return "pause";
  case QuiesceMode::verify: return "verify";
  case QuiesceMode::none: return "none";
  }
  return "none";
}

Result<PauseGuard> PauseGuard::pause(container::ContainerRuntime& runtime, const StatePaths& paths,
                                     const std::string& project, const std::vector<std::string>& services) {
  std::vector<container::ContainerInfo> targets;
  for (const auto& service : services) {
    auto found = runtime.list_containers(
        container::LabelFilter{{"com.docker.compose.project=" + project, "com.docker.compose.service=" + service}});
    if (!found) return fail(found.error().with_context("finding the " + service + " container to pause"));
    const auto running = std::count_if(found->begin(), found->end(), [](const auto& info) {
      return info.state == "running" || info.state == "paused";
    });
    if (running == 0) {
      return fail(ErrorKind::quiesce_failed, "no running container of service " + service + " in Compose project " +
                                                 project + " to pause (set pause-services, or quiesce = verify)");
    }
    for (auto& info : *found) {
      if (info.state == "running")
        targets.push_back(std::move(info));
      else if (info.state == "paused")
        spdlog::warn("container {} is already paused; leaving it as it is", info.name);
    }
  }
  std::vector<std::string> ids;
  for (const auto& target : targets)
    ids.push_back(target.id);
  // Recorded before pausing: a run killed in the next lines still leaves enough to unpause them.
  CWB_TRY(write_pause_marker(paths, ids));
  PauseGuard guard(&runtime, paths, {});
  for (const auto& target : targets) {
    auto paused = runtime.pause(target.id);
    if (!paused) {
      const auto error = paused.error();
      (void)guard.release();
      return fail(ErrorKind::quiesce_failed, "cannot pause container " + target.name + ": " + error.message);
    }
    guard.paused_.push_back(target.id);
  }
  return guard;
}

PauseGuard::PauseGuard(PauseGuard&& other) noexcept
    : runtime_(std::exchange(other.runtime_, nullptr)), paths_(std::move(other.paths_)),
      paused_(std::exchange(other.paused_, {})) {}

PauseGuard& PauseGuard::operator=(PauseGuard&& other) noexcept {
  if (this != &other) {
    (void)release();
    runtime_ = std::exchange(other.runtime_, nullptr);
    paths_ = std::move(other.paths_);
    paused_ = std::exchange(other.paused_, {});
  }
  return *this;
}

PauseGuard::~PauseGuard() {
  if (auto released = release(); !released) spdlog::error("{}", released.error().message);
}

Result<> PauseGuard::release() {
  if (runtime_ == nullptr) return {};
  const auto still_paused = unpause_all(*runtime_, paused_);
  paused_ = still_paused;
  if (!still_paused.empty()) {
    return fail(ErrorKind::quiesce_failed, "container(s) " + join(still_paused) +
                                               " stay paused; the next backup run or connectware-post-backup "
                                               "retries, or run: docker unpause " +
                                               join(still_paused));
  }
  runtime_ = nullptr;
  return remove_pause_marker(paths_);
}

Result<std::vector<std::string>> release_leftover_pause(container::ContainerRuntime& runtime, const StatePaths& paths) {
  auto recorded = read_pause_marker(paths);
  if (!recorded) return fail(recorded.error());
  if (recorded->empty()) {
    CWB_TRY(remove_pause_marker(paths));
    return std::vector<std::string>{};
  }
  const auto still_paused = unpause_all(runtime, *recorded);
  if (!still_paused.empty()) {
    return fail(ErrorKind::quiesce_failed, "container(s) " + join(still_paused) + " stay paused");
  }
  CWB_TRY(remove_pause_marker(paths));
  return *recorded;
}

} // namespace cwb::backup
