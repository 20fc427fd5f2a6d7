#pragma once
// Everything a backup hook works with, built once by the hook's main() (hooks/common) from the Config
// and handed to the pipelines, so that tests can build it from fakes instead.

#include "config/config.hpp"
#include "connectware/client.hpp"
#include "http/clock.hpp"
#include "installation/hold_watchdog.hpp"
#include "installation/installation.hpp"
#include "restic/restic.hpp"
#include "util/process_identity.hpp"
#include "util/progress_line.hpp"
#include "util/subprocess.hpp"

#include <functional>
#include <memory>

namespace cwb::backup {

/// How a backup shows its long steps on a terminal (app::make_backup_progress); the default shows nothing.
struct ProgressDisplay {
  http::ProgressCallback download = {}; // the database archive's download
  /// The export's wait, the volumes' mirror, restic's backup.
  std::shared_ptr<util::ProgressLine> line = std::make_shared<util::ProgressLine>(false);
};

/// Starts the release watchdog of the run with this id (installation/hold_watchdog.hpp).
using HoldWatchdogStarter = std::function<Result<installation::HoldWatchdog>(const std::string& run_id)>;

struct BackupContext {
  const config::Config& config;
  connectware::ConnectwareClient& connectware;
  /// The installation being backed up: its volumes, how to hold its configuration still.
  installation::Installation& installation;
  restic::Restic& restic;
  http::Clock& clock;
  /// The process whose life bounds this run (see installation/run_state.hpp): the pre hook's parent, or the
  /// connectware-backup process itself.
  util::ProcessIdentity run_owner;
  /// Progress on a terminal; by default none.
  ProgressDisplay progress;
  /// Set by the hook executables: a watchdog that releases the hold if this process dies holding it.
  /// Empty (tests of the pipeline): no watchdog, a killed run is released by the next one.
  HoldWatchdogStarter start_hold_watchdog;
};

} // namespace cwb::backup
