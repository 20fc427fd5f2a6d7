#pragma once
// connectware-restore --drill: prove that a backup comes back, without touching Connectware.
//   1 fetch   the snapshot (default: the latest of this host with our tags) into a scratch folder below
//             state-dir, removed afterwards
//   2 check   what a real restore checks before it changes anything: the manifest, every file against its
//             SHA-256, type, mode and link target, nothing escaping its volume
//   3 database the archive rebuilt as a restore uploads it and read to its last entry, its entries equal to
//             the export's
//   4 repository `restic check --read-data-subset` (drill-read-data-subset): packs the fetch did not read
// No Docker engine, no Connectware credentials, no lock of the installation: a drill only reads the
// repository (restic's locks keep that consistent with a backup running). It records its own status
// (<state-dir>/drill-status.json) and metrics (connectware_restore_drill_*, next to metrics-file).

#include "config/config.hpp"
#include "core/error.hpp"
#include "restic/restic.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace cwb::restore {

struct DrillContext {
  const config::Config& config;
  restic::Restic& restic;
  /// Where the operator reads the result line.
  std::ostream& out;
  /// Wall-clock time: the snapshot's age and the report's times.
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

struct DrillRequest {
  /// Empty: the latest snapshot with our tags of the configured host.
  std::string snapshot;
};

struct DrillOutcome {
  std::string snapshot_id;
  std::string snapshot_time;
  std::int64_t snapshot_age_seconds = 0;
  std::uint64_t volume_entries = 0;   // entries of every volume checked
  std::uint64_t database_entries = 0; // tar entries of the rebuilt archive (0 without a database)
};

/// Runs the drill and records it (status and metrics) whatever the outcome. Errors: usage (no repository),
/// restic (fetching, or restic check found damage), no_snapshot, snapshot_invalid (the snapshot would not
/// restore: the message names the first offending entry), staging_io (the scratch folder).
Result<DrillOutcome> run_drill(DrillContext& context, const DrillRequest& request);

} // namespace cwb::restore
