#pragma once
// A private Docker engine: its own dockerd (and the containerd it starts) with its own data root, a short
// exec root under /tmp (unix socket paths are limited to 107 bytes), no bridge network and no iptables.
// Nothing can be pulled here: import_busybox() makes the one image the tests need from /bin/busybox.

#include "core/error.hpp"
#include "support/support.hpp"
#include "util/subprocess.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cwb::test {

class DockerEngine {
public:
  /// The image import_busybox() creates.
  static constexpr const char* busybox_image = "local/busybox:1";

  /// Creates a fresh data root under `parent` and an exec root under /tmp, starts dockerd and waits (at
  /// most 20 s) until GET /_ping on its socket answers. Errors: one line naming dockerd and the reason, its
  /// log kept.
  static Result<DockerEngine> start(const std::filesystem::path& parent);

  DockerEngine(DockerEngine&&) noexcept;
  DockerEngine& operator=(DockerEngine&&) noexcept;
  DockerEngine(const DockerEngine&) = delete;
  DockerEngine& operator=(const DockerEngine&) = delete;
  /// Same as stop(), then removes both folders.
  ~DockerEngine();

  [[nodiscard]] const std::filesystem::path& socket_path() const;
  /// Returns "unix://<socket_path>" for DOCKER_HOST.
  [[nodiscard]] std::string docker_host() const;
  /// Returns the environment for the docker CLI: base_environment() plus DOCKER_HOST and a private
  /// DOCKER_CONFIG.
  [[nodiscard]] util::Environment cli_environment() const;

  /// Runs `docker ARGS...` against this engine (time limit 60 s). Errors only when the CLI cannot start;
  /// a failing command is reported in the status.
  Result<util::ProcessResult> docker(const std::vector<std::string>& args) const;
  /// Like docker(), but a non-zero exit is an error (container_runtime, with the CLI's stderr), and the
  /// stdout is returned without its trailing newline.
  Result<std::string> docker_checked(const std::vector<std::string>& args) const;

  /// Builds local/busybox:1 from /bin/busybox (a folder with bin/busybox, tarred and docker import-ed).
  /// Errors: staging_io, container_runtime.
  Result<> import_busybox() const;

  /// Returns dockerd, containerd, the shims and the containers' processes as they run now.
  [[nodiscard]] std::vector<ProcessIdentity> processes() const;
  /// Removes all containers (unpausing paused ones) so the daemon need not wait for them, stops dockerd
  /// (SIGTERM, SIGKILL after 20 s), kills whatever is left of containerd, shims and containers (found by
  /// their exec-root paths and pid files) and unmounts what is left below both folders. Safe to call twice.
  void stop();

private:
  struct State;
  explicit DockerEngine(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace cwb::test
