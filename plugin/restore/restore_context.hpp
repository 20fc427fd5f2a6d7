#pragma once
// Everything the restore pipeline works with, built once by connectware-restore's main() from the Config
// (app::make_clients) and handed in, so that tests can build it from fakes instead.

#include "config/config.hpp"
#include "connectware/client.hpp"
#include "container/container_runtime.hpp"
#include "http/transport.hpp"
#include "restic/restic.hpp"
#include "util/subprocess.hpp"

#include <ostream>

namespace cwb::restore {

struct RestoreContext {
  const config::Config& config;
  connectware::ConnectwareClient& connectware;
  /// The container runtime, or nullptr when none is configured (then volume-path and restart-command
  /// must be set).
  container::ContainerRuntime* containers = nullptr;
  restic::Restic& restic;
  /// Runs restart-command.
  util::ProcessRunner& process_runner;
  /// The environment restart-command runs with.
  const util::Environment& environment;
  /// Where the operator reads what happens (the plan, the safety copy's folder, the downgrade path).
  std::ostream& out;
  /// Progress of the database upload and of the safety export's download; empty when not printing.
  http::ProgressCallback progress;
};

} // namespace cwb::restore
