#pragma once
// connectware-restore: put a snapshot back into the running Connectware, or leave it as it was.
//   1 fetch   `restic restore` into restore-dir (only the parts needed); the safety export already runs
//             on the server meanwhile (with --yes)
//   2 check   every file against the manifest, nothing escaping its volume, Connectware reachable, the
//             backup's version not newer than the running one, rename or copy per volume, room for the
//             safety copy
//   3 safety  download the live database's export; copy into rollback-dir the volumes replaced by copy
//   4 DB      upload the archive, wait for Connectware to finish (a version refusal stops here)
//   5 volume  stop the containers using it, make it equal to the snapshot's copy: swap the top-level
//             entries by rename (old ones into rollback-dir) on one mount, else mirror the copy over it
//   6 restart Connectware, wait until healthy
//   7 any failure after 3: put the safety copy back, restart, check health (exit 14; 15 when that fails)
// Steps 3 to 7 are recorded in a journal before they change anything (restore_journal.hpp): a restore killed
// on the way is found by the next run, which refuses (exit 20) until --resume or --roll-back.
// Prints one `timings:` line with each step's wall time (bench/steps.sh greps it). See docs/restore.md.

#include "restic/messages.hpp"
#include "restore/restore_context.hpp"
#include "restore/snapshot_check.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cwb::restore {

enum class Mode { apply, dry_run };

/// What to do about a restore that was killed after it began changing things (its journal,
/// restore/restore_journal.hpp, says so): refuse (exit 20, saying what happened), finish it, or put back
/// the state before it.
enum class Continuation { none, resume, roll_back };

struct RestoreRequest {
  /// Empty: the latest snapshot with our tags of the configured host (`host`, --host: on a new machine, the
  /// old machine's name).
  std::string snapshot;
  /// Restore from this folder instead of a restic snapshot: a staging folder that a backup agent brought
  /// back (restic is not used at all).
  std::optional<std::filesystem::path> from_dir;
  Parts parts = Parts::all;
  Mode mode = Mode::apply;
  /// --resume: restore the interrupted restore's snapshot (its parts, its safety copy kept as it is);
  /// --roll-back: put back the safety copy of the state before it. Either needs a journal.
  Continuation continuation = Continuation::none;
  /// Asked once the snapshot passed its checks, with the plan; an error stops the restore before anything
  /// changed (usage when the operator says no). Empty: no question (--yes).
  std::function<Result<>(const std::string& plan)> confirm;
};

struct RestoreOutcome {
  std::string snapshot_id;
  std::string plan;                   // what steps 3 to 6 do (or would do)
  std::filesystem::path rollback_dir; // the safety copy; empty in a dry run
};

/// Runs the restore. Errors: usage (bad request, refused confirmation, no way to restart), locked (a backup
/// or restore runs), restic (fetching), no_snapshot (none for this host, or no such id), volume_missing (a
/// volume of the snapshot does not exist here), snapshot_invalid (step 2),
/// incompatible_version (a backup from a newer Connectware, or Connectware refused the archive: nothing
/// changed), unreachable/authentication (step 2), staging_io (no room for the safety copy, or it failed:
/// nothing changed), export_failed/export_invalid (the safety export: nothing changed),
/// restore_rolled_back (a later step failed and the previous state is back), rollback_failed (putting it
/// back failed too: the message says what state things are in and where the safety copies are),
/// interrupted, unfinished_restore (a killed restore's journal says the live state may differ: resume or
/// roll back first; usage when there is nothing to resume or roll back).
Result<RestoreOutcome> run_restore(RestoreContext& context, const RestoreRequest& request);

/// Returns our snapshots (all configured tags) of every host, oldest first: a new machine restores the old
/// one's. Errors: restic.
Result<std::vector<restic::Snapshot>> list_snapshots(restic::Restic& restic, const config::Config& config);

/// Returns what --list prints: one line per snapshot (id, time, host, tags), those of `this_host` marked
/// with `*`, and how to pick one; or a line saying there are none.
std::string snapshot_listing(const std::vector<restic::Snapshot>& snapshots, const std::string& this_host);

/// Returns the text an operator reads after Connectware refused an archive for its version: the server's
/// message and Connectware's documented downgrade path.
std::string downgrade_guidance(const std::string& refusal);

} // namespace cwb::restore
