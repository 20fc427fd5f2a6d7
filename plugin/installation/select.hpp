#pragma once
// Which Installation a hook works on, from the `platform` setting: compose, host, or auto (compose when the
// Docker engine answers; host when every volume's folder is given; otherwise a usage error naming both).

#include "config/config.hpp"
#include "container/container_runtime.hpp"
#include "installation/installation.hpp"
#include "util/subprocess.hpp"

#include <memory>
#include <string>

namespace cwb::installation {

struct SelectedInstallation {
  std::unique_ptr<Installation> installation;
  std::string reason; // why this platform: "set by platform", "auto: the Docker engine at ... answers"
};

/// Builds the installation `config` describes. `runtime` is the Docker engine client (nullptr when
/// docker-host is empty); it is asked once, with platform = auto. The references must outlive the result.
/// Errors: usage (compose without docker-host; auto with no engine configured and not every volume's folder
/// given: the message names both ways); container_runtime (auto, the configured engine does not answer and
/// not every volume's folder is given: an outage of a Compose installation, the message names both ways).
Result<SelectedInstallation> select_installation(const config::Config& config, container::ContainerRuntime* runtime,
                                                 util::ProcessRunner& process_runner,
                                                 const util::Environment& environment);

} // namespace cwb::installation
