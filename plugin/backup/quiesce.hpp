#pragma once
// Holding Connectware's configuration still while the database is exported and the volume staged.
//
// Connectware has no read-only mode, so the plugin pauses the containers that write configuration (by
// default the `service-manager` of the Compose project) through the container runtime: their requests wait
// in the kernel's socket queues and complete after the unpause, nothing is lost. The PauseGuard releases on
// every path: explicitly after staging, in its destructor on errors and on SIGINT/SIGTERM (cancellation
// unwinds normally), and through the pause marker (run_state.hpp) after a SIGKILL.

#include "backup/run_state.hpp"
#include "container/container_runtime.hpp"
#include "core/error.hpp"

#include <string>
#include <vector>

namespace cwb::backup {

enum class QuiesceMode { pause, verify, none };

const char* to_string(QuiesceMode mode) noexcept;

/// Paused containers, unpaused when released or destroyed. Not copyable.
class PauseGuard {
public:
  /// Pauses the running containers labelled com.docker.compose.project=`project` and
  /// com.docker.compose.service in `services`, after recording them in the pause marker. Containers that
  /// are already paused are left as they are (and not unpaused later: they were not ours).
  /// Errors: quiesce_failed when no such container runs or a pause fails (whatever was paused is unpaused
  /// again before returning); container_runtime when the runtime cannot be asked; staging_io for the marker.
  static Result<PauseGuard> pause(container::ContainerRuntime& runtime, const StatePaths& paths,
                                  const std::string& project, const std::vector<std::string>& services);

  PauseGuard() = default;
  PauseGuard(PauseGuard&& other) noexcept;
  PauseGuard& operator=(PauseGuard&& other) noexcept;
  PauseGuard(const PauseGuard&) = delete;
  PauseGuard& operator=(const PauseGuard&) = delete;
  ~PauseGuard();

  /// Unpauses every container this guard paused and removes the pause marker. Errors: quiesce_failed
  /// naming the containers that stay paused (the marker is kept so the next run retries).
  Result<> release();

  [[nodiscard]] const std::vector<std::string>& paused() const { return paused_; }

private:
  PauseGuard(container::ContainerRuntime* runtime, StatePaths paths, std::vector<std::string> paused)
      : runtime_(runtime), paths_(std::move(paths)), paused_(std::move(paused)) {}

  container::ContainerRuntime* runtime_ = nullptr;
  StatePaths paths_;
  std::vector<std::string> paused_;
};

/// Unpauses the containers a killed run left paused (from the pause marker) and removes the marker.
/// Returns the ids that were unpaused. Errors: quiesce_failed when some stay paused.
Result<std::vector<std::string>> release_leftover_pause(container::ContainerRuntime& runtime, const StatePaths& paths);

} // namespace cwb::backup
