#pragma once
// The world a backup hook runs in during the integration tests, and the questions the tests ask about it.
//
// BackupWorld: PostgreSQL, a private Docker engine with Connectware's two containers (the emulator) and the
// named volume connectware_service-manager, s3rver over HTTPS with an initialised restic repository. It is
// started once per test suite: dockerd, the containers and `restic init` take seconds.
//
// BackupTest: the gtest fixture every backup_*_test.cpp derives from. Each test gets its own folder with
// the staging, state and metrics paths, an explicit environment for the hook executables, and helpers to
// run the real hooks and to look at what they left: the repository's snapshots restored with --verify, the
// status file, the containers' states, the database archive loaded into a scratch database.

#include "harness/docker_engine.hpp"
#include "harness/emulator.hpp"
#include "harness/s3_server.hpp"
#include "staging/tree.hpp"
#include "support/postgres_cluster.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cwb::integration {

namespace fs = std::filesystem;

inline constexpr const char* restic_password = "restic-integration-7f3a91c2";
inline constexpr const char* connectware_version = "1.10.2";

/// How a hook process ended and what it printed.
struct HookOutcome {
  std::optional<int> exit_code; // nullopt when a signal ended it
  std::optional<int> signal;
  std::string stdout_text;
  std::string stderr_text;

  /// The stderr lines that start with "<hook>: error:" (the one line the hook ends with on failure).
  [[nodiscard]] std::vector<std::string> error_lines(const std::string& hook) const;
  /// stdout and stderr together, for assertion messages and log searches.
  [[nodiscard]] std::string log() const { return stdout_text + stderr_text; }
};

/// A snapshot as `restic snapshots --json` lists it.
struct SnapshotInfo {
  std::string id;
  std::string short_id;
  std::string host;
  std::vector<std::string> tags;
  std::vector<std::string> paths;
};

/// The components of a backup, started together (in parallel where they do not depend on each other).
class BackupWorld {
public:
  /// Starts PostgreSQL, the Docker engine (busybox imported), s3rver, the emulator containers and
  /// `restic init`s the repository. Errors: the first component that failed, with its log kept.
  static Result<std::unique_ptr<BackupWorld>> start();

  BackupWorld(const BackupWorld&) = delete;
  BackupWorld& operator=(const BackupWorld&) = delete;
  /// Stops everything (containers first, then the engine, s3rver, PostgreSQL).
  ~BackupWorld();

  [[nodiscard]] test::PostgresCluster& postgres() { return *postgres_; }
  [[nodiscard]] test::DockerEngine& docker() { return *docker_; }
  [[nodiscard]] test::S3Server& s3() { return *s3_; }
  [[nodiscard]] test::EmulatorContainers& connectware() { return *connectware_; }
  [[nodiscard]] const fs::path& folder() const { return folder_.path(); }

  /// Replaces Connectware's containers with fresh ones on a fresh database and an empty (re-seeded)
  /// volume; `faults` (NAME[=VALUE]) are set from the start and so survive a restart of the containers.
  /// Errors: as EmulatorContainers::start.
  Result<> restart_connectware(const std::vector<std::string>& faults = {});

  [[nodiscard]] std::string repository() const;
  [[nodiscard]] const fs::path& restic_password_file() const { return restic_password_file_; }
  /// The environment for running restic directly against the repository (AWS_*, RESTIC_*, cache).
  [[nodiscard]] util::Environment restic_environment() const;
  /// Runs `restic --cacert ... ARGS` with restic_environment(). Errors: internal when restic fails.
  [[nodiscard]] Result<std::string> restic(const std::vector<std::string>& args) const;
  /// Returns the repository's snapshots, oldest first.
  [[nodiscard]] Result<std::vector<SnapshotInfo>> snapshots() const;

  /// Returns `docker inspect -f {{.State.Status}} NAME`: "running", "paused", "exited", ...
  [[nodiscard]] std::string container_state(const std::string& name) const;
  /// Creates a database with a fresh name and returns the name.
  Result<std::string> create_scratch_database();

private:
  BackupWorld() = default;

  util::TemporaryDirectory folder_;
  std::unique_ptr<test::PostgresCluster> postgres_;
  std::unique_ptr<test::DockerEngine> docker_;
  std::unique_ptr<test::S3Server> s3_;
  std::unique_ptr<test::EmulatorContainers> connectware_;
  fs::path restic_password_file_;
  int databases_ = 0;
};

/// Keeps installing services through Connectware's front door (POST /api/services/) on a thread, until
/// stopped. Each request may wait as long as a paused service-manager keeps it waiting.
class ServiceWriter {
public:
  ServiceWriter(std::string base_url, fs::path ca_file, std::string prefix);
  ServiceWriter(const ServiceWriter&) = delete;
  ServiceWriter& operator=(const ServiceWriter&) = delete;
  ~ServiceWriter();

  /// Stops after the request in flight. Returns the ids installed (201).
  std::vector<std::string> stop();
  /// Answers other than 201, and transfer errors, as "id: what".
  [[nodiscard]] std::vector<std::string> failures() const;
  [[nodiscard]] std::size_t installed_count() const { return installed_count_.load(); }

private:
  void run();

  std::string base_url_;
  fs::path ca_file_;
  std::string prefix_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> installed_count_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> installed_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

/// Records every state (`docker inspect`) a container goes through, polled on a thread until stopped.
class ContainerStateWatcher {
public:
  ContainerStateWatcher(const test::DockerEngine& docker, std::string container);
  ContainerStateWatcher(const ContainerStateWatcher&) = delete;
  ContainerStateWatcher& operator=(const ContainerStateWatcher&) = delete;
  ~ContainerStateWatcher();

  /// Stops polling; returns the states seen.
  std::set<std::string> stop();

private:
  const test::DockerEngine& docker_;
  std::string container_;
  std::atomic<bool> stopping_{false};
  std::set<std::string> seen_;
  std::thread thread_;
};

/// Installs one service through the front door as admin. Errors: http with the status and body.
Result<> install_service(const std::string& base_url, const fs::path& ca_file, const std::string& id);

/// Returns Connectware's maintenance status (GET /api/maintenance/db as admin). Errors: unreachable, http.
Result<nlohmann::json> maintenance_status(const std::string& base_url, const fs::path& ca_file);
/// Returns the JSON answer to GET `path` on the front door as admin. Errors: unreachable, http (not 200 or
/// not JSON).
Result<nlohmann::json> admin_get_json(const std::string& base_url, const fs::path& ca_file, const std::string& path);

/// The gtest fixture of the backup integration tests: one BackupWorld per suite, a folder per test.
class BackupTest : public ::testing::Test {
protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static BackupWorld& world() { return *world_; }

  // Paths of this test's run.
  [[nodiscard]] fs::path staging_dir() const { return dir_.path() / "staging"; }
  [[nodiscard]] fs::path state_dir() const { return dir_.path() / "state"; }
  [[nodiscard]] fs::path status_file() const { return state_dir() / "status.json"; }
  [[nodiscard]] fs::path metrics_file() const { return dir_.path() / "metrics" / "connectware_backup.prom"; }
  [[nodiscard]] fs::path volume_mountpoint() const { return world_->connectware().volume_mountpoint(); }
  [[nodiscard]] const fs::path& test_dir() const { return dir_.path(); }

  /// The environment every hook gets: Connectware URL, CA and the backup user's password file, the
  /// engine's DOCKER_HOST, this test's staging/state/metrics paths, the repository, CONNECTWARE_POLL_INTERVAL=1.
  /// Tests change entries in `hook_env_` (an empty value removes the variable when running).
  util::Environment hook_env_;

  /// Runs hooks/<hook> with hook_env_ overlaid by `overrides`; the outcome whatever the exit code.
  HookOutcome run_hook(const std::string& hook, const std::vector<std::string>& args = {},
                       const util::Environment& overrides = {});
  /// The same under a pseudo-terminal (util-linux `script`), as an operator at a terminal runs it: its
  /// stdout and stderr both arrive, as the terminal showed them, in stdout_text.
  HookOutcome run_hook_in_terminal(const std::string& hook, const std::vector<std::string>& args = {},
                                   const util::Environment& overrides = {});
  /// A hook started in the background, its output going to files in the test's folder.
  struct RunningHook {
    util::ChildProcess process;
    fs::path stdout_file;
    fs::path stderr_file;
  };
  /// Starts hooks/<hook> in the background.
  RunningHook start_hook(const std::string& hook, const std::vector<std::string>& args = {},
                         const util::Environment& overrides = {});
  /// Waits (at most `limit`) for a started hook and collects its outcome.
  HookOutcome finish_hook(RunningHook& hook, std::chrono::seconds limit = std::chrono::seconds(120));

  /// Sets the emulator's faults (an empty map clears them); fails the test when that fails.
  void set_faults(const std::map<std::string, std::string>& faults);
  /// Returns status.json parsed (a null json when missing or invalid).
  [[nodiscard]] nlohmann::json status() const;
  /// Returns the number of snapshots in the repository; fails the test when restic cannot list them.
  std::size_t snapshot_count();
  /// Restores `snapshot` with `restic restore --verify` into a fresh folder below the test's folder and
  /// returns the restored staging folder (restic keeps absolute paths).
  fs::path restore_snapshot(const std::string& snapshot);
  /// Returns the service ids whose rows are in the database archive (dump.sql loaded into a scratch
  /// database).
  std::set<std::string> service_rows_in_archive(const fs::path& archive);
  /// Returns the ids of the services/<id>.yml files below a volume copy.
  static std::set<std::string> service_files_in(const fs::path& volume);
  /// Waits until Connectware reports an export in progress (at most `limit`); false on timeout.
  bool wait_for_export_running(std::chrono::milliseconds limit);
  /// Waits until `container` is in `state` (at most `limit`); false on timeout.
  bool wait_for_container_state(const std::string& container, const std::string& state,
                                std::chrono::milliseconds limit);
  /// Runs a full backup that must succeed; returns its outcome (the test fails when it did not exit 0).
  HookOutcome expect_successful_backup(const util::Environment& overrides = {});

  static inline std::unique_ptr<BackupWorld> world_;
  util::TemporaryDirectory dir_;
  int outputs_ = 0;
};

/// Returns the path of a hook executable in the build tree.
fs::path hook_binary(const std::string& hook);

/// The process options that run hooks/<hook> with `base` overlaid by `overrides` (an empty value removes
/// the variable).
util::ProcessOptions hook_process(const util::Environment& base, const std::string& hook,
                                  const std::vector<std::string>& args, const util::Environment& overrides);

/// Returns `scan_tree(root)` or fails the test; with the SHA-256 of every regular file in `hashes`.
std::vector<staging::TreeEntry> scan_with_hashes(const fs::path& root, std::map<std::string, std::string>& hashes);

} // namespace cwb::integration
