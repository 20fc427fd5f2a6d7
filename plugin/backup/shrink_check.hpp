#pragma once
// The shrink alert: a backup much smaller than the last successful one (an emptied volume, a database that
// lost its users) is noticed on the night it happens, before retention prunes the good snapshots.
// docs/operations.md, "Shrink alert".

#include "snapshot/run_report.hpp"

#include <string>
#include <vector>

namespace cwb::backup {

/// Returns one finding per size of `now` that dropped by more than `percent` % against `last_success`
/// ("volume files: 1204 -> 3 (-99.8 %)"), in a fixed order: database archive bytes, database entries, volume
/// files, volume bytes. A size that was 0 before (nothing to lose, or a status file without it) is never a
/// finding; `percent` 100 finds nothing (no drop is more than 100 %), 0 finds every drop.
std::vector<std::string> shrink_findings(const snapshot::RunSizes& last_success, const snapshot::RunSizes& now,
                                         int percent);

} // namespace cwb::backup
