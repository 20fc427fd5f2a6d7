#pragma once
// Everything the restore pipeline works with, built once by connectware-restore's main() from the Config
// (app::make_clients) and handed in, so that tests can build it from fakes instead.

#include "config/config.hpp"
#include "connectware/client.hpp"
#include "http/transport.hpp"
#include "installation/installation.hpp"
#include "restic/restic.hpp"

#include <ostream>

namespace cwb::restore {

struct RestoreContext {
  const config::Config& config;
  connectware::ConnectwareClient& connectware;
  /// The installation restored into: its volumes, who uses them, how Connectware restarts.
  installation::Installation& installation;
  restic::Restic& restic;
  /// Where the operator reads what happens (the plan, the safety copy's folder, the downgrade path).
  std::ostream& out;
  /// Progress of the database upload and of the safety export's download; empty when not printing.
  http::ProgressCallback progress;
};

} // namespace cwb::restore
