#pragma once
// The restore's journal (<state-dir>/restore-journal.json): how far a restore got, written before each step
// that changes the live installation, so that a restore killed at any point (SIGKILL, power loss) is found
// by the next run, which says what happened and finishes it (--resume) or puts back the state before it
// (--roll-back) from the safety copy that it never deletes meanwhile. A run that ends (restored, rolled
// back, or stopped before anything changed) removes it; one whose rollback failed keeps it. While it says
// the live state may differ from before, backups and other restores are refused (exit 20): a backup of a
// half-restored installation would be a snapshot of neither state. See docs/restore.md.

#include "core/error.hpp"
#include "installation/installation.hpp"
#include "restore/snapshot_check.hpp"
#include "restore/volume_swap.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cwb::restore {

/// The step a restore had reached when its journal was last written.
enum class JournalPhase {
  safety_copy,  // step 3: nothing live has changed yet
  database,     // step 4 started: the database may have changed
  volumes,      // step 5 started: containers may be stopped, volumes partly replaced
  restart,      // step 6 started
  rolling_back, // step 7 started after a failure
};

const char* to_string(JournalPhase phase) noexcept;

/// One volume as the journal records it: enough to put it back without the snapshot.
struct JournalVolume {
  std::string name;   // as in the manifest ("service-manager")
  std::string source; // the installation's name for it ("connectware_service-manager")
  std::filesystem::path path;
  VolumeMethod method = VolumeMethod::copy;
};

struct RestoreJournal {
  std::string snapshot_id; // restic's id, or the --from folder
  std::string snapshot_short_id;
  bool from_dir = false;
  Parts parts = Parts::all;
  /// scope = full: the whole installation (its volumes created, all its containers stopped); --resume and
  /// --roll-back continue it as such whatever the configuration says now.
  bool full_scope = false;
  std::string started; // ISO 8601 UTC
  JournalPhase phase = JournalPhase::safety_copy;
  bool database_changed = false; // an upload started
  bool volumes_changed = false;  // a volume's entries started to move
  std::filesystem::path rollback_dir;
  std::vector<JournalVolume> volumes;
  std::vector<installation::Workload> stopped; // stopped by the restore and not started again
  /// The services that ran before the restore (what "healthy" means after it); nullopt: unknown.
  std::optional<std::vector<std::string>> running_before;

  /// True once the live installation may differ from before the restore: a decision is needed.
  [[nodiscard]] bool live_state_may_differ() const { return phase != JournalPhase::safety_copy; }
};

/// Writes the journal atomically (owner-only, synced). Errors: staging_io.
Result<> write_journal(const std::filesystem::path& path, const RestoreJournal& journal);

/// Returns the journal, or nullopt when there is none. Errors: staging_io when it cannot be read or is not
/// a journal (it is renamed into place, so a crash cannot leave half of one: something else wrote it).
Result<std::optional<RestoreJournal>> read_journal(const std::filesystem::path& path);

/// Removes the journal; succeeds when there is none.
Result<> remove_journal(const std::filesystem::path& path);

/// One line for the operator: "a restore of snapshot 3f2a9c1b (started ...) was killed during step 4
/// (database): the database may have changed, the volumes did not; the safety copy in ... is kept".
std::string describe_interrupted(const RestoreJournal& journal);

} // namespace cwb::restore
