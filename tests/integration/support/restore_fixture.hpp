#pragma once
// The restore integration tests' fixture: the backup tests' world (PostgreSQL, Docker engine with the
// emulator's containers and volume, s3rver with a restic repository; support/backup_fixture.hpp) plus what a
// restore test asks: the live database's user/role/permission/service rows, the live volume with hashes, the
// containers' start times, services installed and removed through the API, and a tampered snapshot.

#include "integration/support/backup_fixture.hpp"

#include <map>
#include <string>
#include <vector>

namespace cwb::integration {

/// The live state a restore must bring back.
struct LiveState {
  std::string database;                      // the rows of users, roles, permissions, user_roles, services
  std::vector<staging::TreeEntry> volume;    // the volume's entries (mtimes, modes, links)
  std::map<std::string, std::string> hashes; // SHA-256 of every regular file of the volume

  bool operator==(const LiveState&) const = default;
};

/// Prints the rows and the volume's entries, so that a failed comparison shows what differs.
void PrintTo(const LiveState& state, std::ostream* out);

class RestoreTest : public BackupTest {
protected:
  void SetUp() override;

  /// Returns the name of the database the emulator's containers use.
  std::string connectware_database();
  /// Runs SQL in Connectware's database; fails the test when psql fails.
  std::string sql(const std::string& statement);
  /// Returns the live database rows and volume.
  LiveState live_state();
  /// Returns `docker inspect -f {{.State.StartedAt}}` of a container.
  std::string started_at(const std::string& container);
  /// Makes a backup with hooks/connectware-backup (with `overrides` in its environment) and returns its
  /// snapshot id (the test fails otherwise).
  std::string back_up(const util::Environment& overrides = {});
  /// Runs hooks/connectware-restore with `args`.
  HookOutcome run_restore(const std::vector<std::string>& args, const util::Environment& overrides = {});
  /// Starts hooks/connectware-restore with `args` and kills it and its children with SIGKILL (as a power
  /// loss would) as soon as its log holds `marker`. Fails the test when the marker never appears or the
  /// restore ended before the kill.
  HookOutcome kill_restore_when_logged(const std::vector<std::string>& args, const std::string& marker,
                                       const util::Environment& overrides = {});
  enum class VolumeChange { edit, empty };
  /// Changes everything: users added and removed via SQL, a service installed and one removed through
  /// the API, a file edited, and then (VolumeChange::empty) the volume emptied.
  void change_everything(VolumeChange volume = VolumeChange::empty);
  /// Restores `snapshot` with restic, lets `tamper` change the copy of the staging folder, and stores the
  /// copy as a new snapshot (restic backup, our tag and host). Returns the new snapshot's id.
  std::string tampered_snapshot(const std::string& snapshot, const std::function<void(const fs::path&)>& tamper);
  /// Installs and removes a service through the front door as admin. Errors: http.
  Result<> remove_service(const std::string& id);

  /// Numbers the services and users tests add: unique across the suite, whose database restores rewind.
  static inline int changes_ = 0;
};

} // namespace cwb::integration
