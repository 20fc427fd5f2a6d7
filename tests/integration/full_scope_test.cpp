// scope = full end to end: a whole Compose installation (tests/harness/compose_project.hpp: PostgreSQL on
// its own volume, the emulator's service-manager and front door, a broker; four labelled volumes) on a real
// Docker engine, real restic on s3rver over HTTPS. A full backup stops every container, copies every
// volume of the project and starts them again; a full restore brings the installation back onto the same
// host or (volumes deleted) a new one. Failures while the project is stopped (SIGTERM, a full disk, kill -9
// of the hook and of its watchdog) end with every container running again and nothing lost.

#include "harness/compose_project.hpp"
#include "harness/docker_engine.hpp"
#include "harness/s3_server.hpp"
#include "integration/support/backup_fixture.hpp"
#include "snapshot/manifest.hpp"
#include "support/tree_files.hpp"
#include "util/sha256.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <thread>

namespace cwb::integration {
namespace {

using namespace std::chrono_literals;
using test::ComposeProject;
using ::testing::HasSubstr;

constexpr const char* backup_hook = "connectware-backup";
constexpr const char* restore_hook = "connectware-restore";

/// The components, started once for the suite: s3rver with a repository, a Docker engine, the project,
/// and a volume of another project that a full backup must leave out.
struct FullWorld {
  util::TemporaryDirectory folder;
  std::unique_ptr<test::S3Server> s3;
  std::unique_ptr<test::DockerEngine> docker;
  std::unique_ptr<ComposeProject> project;
  fs::path restic_password_file;

  [[nodiscard]] util::Environment restic_environment() const {
    auto env = test::base_environment();
    for (const auto& [name, value] : test::S3Server::restic_environment())
      env[name] = value;
    env["RESTIC_REPOSITORY"] = s3->restic_repository("full");
    env["RESTIC_PASSWORD_FILE"] = restic_password_file.string();
    env["RESTIC_CACERT"] = s3->cacert().string();
    env["HOME"] = (folder.path() / "home").string();
    return env;
  }

  Result<std::string> restic(const std::vector<std::string>& args) const {
    util::ProcessOptions options;
    options.argv = {"restic", "--cacert", s3->cacert().string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = restic_environment();
    options.timeout = 120s;
    auto result = util::run_process(options);
    if (!result) return fail(result.error());
    if (!result->status.success()) return fail(ErrorKind::internal, "restic: " + result->stderr_text);
    return std::move(result->stdout_text);
  }
};

/// Every entry of a tree with the SHA-256 of every regular file, for comparing two trees.
struct TreeState {
  std::vector<staging::TreeEntry> entries;
  std::map<std::string, std::string> hashes;
  bool operator==(const TreeState&) const = default;
};

void PrintTo(const TreeState& state, std::ostream* out) {
  for (const auto& entry : state.entries) {
    const auto hash = state.hashes.find(entry.path);
    *out << "\n  " << entry.path << " " << staging::to_string(entry.type) << " mode=" << std::oct << entry.mode
         << std::dec << " uid=" << entry.uid << " gid=" << entry.gid << " size=" << entry.size
         << " mtime_ns=" << entry.mtime_ns << (entry.link_target.empty() ? "" : " -> " + entry.link_target)
         << (hash == state.hashes.end() ? "" : " sha256=" + hash->second.substr(0, 12));
  }
}

TreeState tree_state(const fs::path& root) {
  TreeState state;
  state.entries = scan_with_hashes(root, state.hashes);
  return state;
}

class FullScopeTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    auto world = std::make_unique<FullWorld>();
    auto folder = util::TemporaryDirectory::create("", "cwb-integration-full-");
    ASSERT_TRUE(folder) << folder.error().message;
    world->folder = std::move(*folder);
    const fs::path root = world->folder.path();
    world->restic_password_file = root / "restic-password";
    ASSERT_TRUE(util::write_file_atomic(world->restic_password_file, std::string(restic_password) + "\n", 0600));
    ASSERT_TRUE(util::create_private_directory(root / "home"));
    auto s3 = test::S3Server::start(root, "cwb-full");
    ASSERT_TRUE(s3) << s3.error().message;
    world->s3 = std::make_unique<test::S3Server>(std::move(*s3));
    auto docker = test::DockerEngine::start(root);
    ASSERT_TRUE(docker) << docker.error().message;
    world->docker = std::make_unique<test::DockerEngine>(std::move(*docker));
    auto initialised = world->restic({"init"});
    ASSERT_TRUE(initialised) << initialised.error().message;
    test::EmulatorOptions options;
    options.connectware_version = connectware_version;
    auto project = ComposeProject::start(root, *world->docker, options);
    ASSERT_TRUE(project) << project.error().message;
    world->project = std::make_unique<ComposeProject>(std::move(*project));
    // Another project's volume on the same engine: never part of this installation's backup.
    ASSERT_TRUE(world->docker->docker_checked({"volume", "create", "--label", "com.docker.compose.project=other",
                                               "--label", "com.docker.compose.volume=data", "other_data"}));
    world_ = std::move(world);
  }

  static void TearDownTestSuite() { world_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(world_) << "the suite's components did not start";
    auto dir = util::TemporaryDirectory::create("", "cwb-full-case-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
    (void)util::remove_tree(project().control_dir() / "on-stop.sh");
    if (!project().all_running()) {
      auto started = project().up();
      ASSERT_TRUE(started) << started.error().message;
    }
    const auto password_file = dir_.path() / "connectware-password";
    ASSERT_TRUE(util::write_file_atomic(password_file, test::backup_credentials().password + "\n", 0600));
    env_ = world_->restic_environment();
    env_["CONNECTWARE_URL"] = project().base_url();
    env_["CONNECTWARE_CA_FILE"] = project().ca_file().string();
    env_["CONNECTWARE_USERNAME"] = test::backup_credentials().username;
    env_["CONNECTWARE_PASSWORD_FILE"] = password_file.string();
    env_["DOCKER_HOST"] = world_->docker->docker_host();
    env_["CONNECTWARE_STAGING_DIR"] = staging_dir().string();
    env_["CONNECTWARE_STATE_DIR"] = state_dir().string();
    env_["CONNECTWARE_METRICS_FILE"] = (dir_.path() / "metrics" / "connectware_backup.prom").string();
    env_["CONNECTWARE_POLL_INTERVAL"] = "1";
    env_["CONNECTWARE_POLL_MAX_INTERVAL"] = "1";
    env_["CONNECTWARE_HOST"] = "cwb-full";
    env_["CONNECTWARE_SCOPE"] = "full";
    env_["CONNECTWARE_HEALTH_TIMEOUT"] = "60";
    env_["CONNECTWARE_STOP_TIMEOUT"] = "20";
    env_["CONNECTWARE_PROGRESS"] = "never";
  }

  static ComposeProject& project() { return *world_->project; }
  static test::DockerEngine& docker() { return *world_->docker; }
  [[nodiscard]] fs::path staging_dir() const { return dir_.path() / "staging"; }
  [[nodiscard]] fs::path state_dir() const { return dir_.path() / "state"; }

  HookOutcome run(const std::string& hook, const std::vector<std::string>& args = {},
                  const util::Environment& overrides = {}) {
    auto options = hook_process(env_, hook, args, overrides);
    options.timeout = 300s;
    auto result = util::run_process(options);
    EXPECT_TRUE(result) << result.error().message;
    if (!result) return {};
    return HookOutcome{result->status.code, result->status.signal, std::move(result->stdout_text),
                       std::move(result->stderr_text)};
  }

  util::ChildProcess start(const std::string& hook, const fs::path& log) {
    auto options = hook_process(env_, hook, {}, {});
    options.stdout_file = log;
    options.stderr_file = log.string() + ".err";
    options.parent_death_signal = SIGKILL;
    auto child = util::ChildProcess::start(options);
    EXPECT_TRUE(child) << child.error().message;
    return child ? std::move(*child) : util::ChildProcess{};
  }

  /// Gives the volumes content a real installation has beyond what the emulator writes: certificates with
  /// owner-only modes and another owner, a link, a nested folder; broker state.
  static void fill_volumes(const std::string& marker) {
    auto certs = project().mountpoint("certs");
    auto broker = project().mountpoint("brokerData");
    ASSERT_TRUE(certs && broker);
    test::write(*certs / "ca" / "ca.crt", "CA " + marker + "\n");
    test::write(*certs / "private" / "server.key", "KEY " + marker + "\n", 0600);
    ASSERT_EQ(::chown((*certs / "private" / "server.key").c_str(), 1234, 1234), 0);
    std::error_code error;
    fs::remove(*certs / "server.crt", error);
    fs::create_symlink("ca/ca.crt", *certs / "server.crt", error);
    ASSERT_FALSE(error) << error.message();
    test::write(*broker / "retained" / ("topic-" + marker), std::string(64 * 1024, 'b'));
  }

  void set_on_stop(const std::string& script) {
    ASSERT_TRUE(util::write_file_atomic(project().control_dir() / "on-stop.sh", script + "\n", 0644));
  }

  /// Every volume's tree as the snapshot holds it: restored with restic restore --verify.
  std::map<std::string, TreeState> snapshot_volumes(const std::string& snapshot) {
    const fs::path target = dir_.path() / ("snapshot-" + snapshot);
    auto restored = world_->restic({"restore", snapshot, "--target", target.string(), "--verify"});
    EXPECT_TRUE(restored) << restored.error().message;
    std::map<std::string, TreeState> trees;
    for (const auto& name : ComposeProject::volume_names())
      trees[name] = tree_state(target / staging_dir().relative_path() / "volumes" / name);
    return trees;
  }

  snapshot::Manifest snapshot_manifest(const std::string& snapshot) {
    const fs::path target = dir_.path() / ("manifest-" + snapshot);
    auto restored = world_->restic(
        {"restore", snapshot, "--target", target.string(), "--include", (staging_dir() / "manifest.json").string()});
    EXPECT_TRUE(restored) << restored.error().message;
    auto text = util::read_file(target / staging_dir().relative_path() / "manifest.json");
    EXPECT_TRUE(text) << text.error().message;
    auto manifest = snapshot::parse_manifest(text.value_or("{}"));
    EXPECT_TRUE(manifest) << manifest.error().message;
    return manifest.value_or(snapshot::Manifest{});
  }

  std::string latest_snapshot() {
    auto listed = world_->restic({"snapshots", "--json", "--latest", "1"});
    EXPECT_TRUE(listed) << listed.error().message;
    const auto snapshots = nlohmann::json::parse(listed.value_or("[]"), nullptr, false);
    if (!snapshots.is_array() || snapshots.empty()) return "";
    return snapshots.back().value("id", "");
  }

  nlohmann::json status() const {
    auto text = util::read_file(state_dir() / "status.json");
    return text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json{};
  }

  std::string rows() {
    auto dumped = project().dump_rows();
    EXPECT_TRUE(dumped) << dumped.error().message;
    return dumped.value_or("");
  }

  bool wait_for_state(const std::string& container, const std::string& state, std::chrono::milliseconds limit) {
    return test::poll_until(
        [&] {
          const auto states = project().container_states();
          const auto found = states.find(container);
          return found != states.end() && found->second == state;
        },
        limit, [] { return false; });
  }

  /// Waits until the backup is stopping the broker (whose on-stop.sh makes that take seconds): the front
  /// door and the service-manager, stopped before it, have exited.
  bool wait_for_broker_stopping() {
    if (!wait_for_state(ComposeProject::front_container, "exited", 120s)) return false;
    if (!wait_for_state(ComposeProject::service_manager_container, "exited", 30s)) return false;
    std::this_thread::sleep_for(500ms); // the broker's stop request is on its way
    return true;
  }

  /// Ends with every container running again (or fails the test), so that the next test starts clean.
  void expect_all_running_within(std::chrono::milliseconds limit) {
    EXPECT_TRUE(test::poll_until([] { return project().all_running(); }, limit, [] { return false; }))
        << "not every container runs again";
  }

  static inline std::unique_ptr<FullWorld> world_;
  util::TemporaryDirectory dir_;
  util::Environment env_;
};

TEST_F(FullScopeTest, AFullBackupHoldsEveryVolumeOfTheProjectWithItsLabelsAndReportsTheDowntime) {
  fill_volumes("one");
  ASSERT_TRUE(install_service(project().base_url(), project().ca_file(), "full-one"));
  const auto backup = run(backup_hook);
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  EXPECT_TRUE(project().all_running());

  const auto manifest = snapshot_manifest(latest_snapshot());
  EXPECT_EQ(manifest.scope, snapshot::scope_full);
  EXPECT_GE(manifest.format, snapshot::manifest_format_full_scope);
  std::vector<std::string> names;
  for (const auto& volume : manifest.volumes) {
    names.push_back(volume.name);
    EXPECT_EQ(volume.labels.at("com.docker.compose.project"), "connectware") << volume.name;
    EXPECT_EQ(volume.labels.at("com.docker.compose.volume"), volume.name);
  }
  EXPECT_EQ(names, ComposeProject::volume_names()) << "other_data belongs to another project";
  // Dependents first (Compose's depends_on labels), the database last.
  EXPECT_EQ(manifest.installation.stopped_containers,
            (std::vector<std::string>{ComposeProject::front_container, ComposeProject::service_manager_container,
                                      ComposeProject::broker_container, ComposeProject::postgres_container}));
  EXPECT_GT(manifest.installation.downtime_seconds, 0.0);
  ASSERT_TRUE(manifest.database) << "the API export is taken too, for a configuration restore";

  EXPECT_EQ(status().value("scope", ""), "full") << status().dump();
  EXPECT_GT(status().value("downtime_seconds", 0.0), 0.0) << status().dump();
  auto metrics = util::read_file(dir_.path() / "metrics" / "connectware_backup.prom");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, HasSubstr("connectware_backup_downtime_seconds "));
  EXPECT_FALSE(fs::exists(state_dir() / "stopped-containers.json"));
}

TEST_F(FullScopeTest, VolumesDeletedThenAFullRestoreBringsBackEveryVolumeByTreeAndEveryRow) {
  fill_volumes("two");
  ASSERT_TRUE(install_service(project().base_url(), project().ca_file(), "full-two"));
  const auto rows_backed_up = rows();
  ASSERT_THAT(rows_backed_up, HasSubstr("full-two"));
  const auto backup = run(backup_hook);
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  const auto snapshot = latest_snapshot();
  const auto expected = snapshot_volumes(snapshot);

  // The host is lost: containers and volumes gone (a new machine, the same engine for the test).
  ASSERT_TRUE(project().down());
  ASSERT_TRUE(project().remove_volumes());

  const auto listed = run(restore_hook, {"--list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.log();
  EXPECT_THAT(listed.stdout_text, HasSubstr("scope-full"));
  const auto dry = run(restore_hook, {"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.log();
  EXPECT_THAT(dry.stdout_text, HasSubstr("create it (missing here"));
  EXPECT_THAT(dry.stdout_text, HasSubstr("restored with its volume"));
  EXPECT_FALSE(project().mountpoint("postgresql")) << "a dry run creates nothing";

  const auto restored = run(restore_hook, {"--yes"});
  ASSERT_EQ(restored.exit_code, 0) << restored.log();
  EXPECT_THAT(restored.stdout_text, HasSubstr("docker compose -p connectware up -d"));
  for (const auto& name : ComposeProject::volume_names()) {
    auto labels =
        docker().docker_checked({"volume", "inspect", "-f", "{{json .Labels}}", ComposeProject::volume(name)});
    ASSERT_TRUE(labels) << name << " was not created";
    EXPECT_THAT(*labels, HasSubstr("\"com.docker.compose.volume\":\"" + name + "\""));
    EXPECT_THAT(*labels, HasSubstr("\"com.docker.compose.project\":\"connectware\""));
    auto mountpoint = project().mountpoint(name);
    ASSERT_TRUE(mountpoint);
    EXPECT_EQ(tree_state(*mountpoint), expected.at(name)) << "volume " << name;
  }

  // The operator's `docker compose up -d`.
  ASSERT_TRUE(project().up());
  EXPECT_EQ(rows(), rows_backed_up);
  EXPECT_TRUE(admin_get_json(project().base_url(), project().ca_file(), "/api/services/full-two"));
}

TEST_F(FullScopeTest, AFullRestoreOnTheSameHostStopsTheProjectReplacesEveryVolumeAndStartsItHealthy) {
  fill_volumes("three");
  const auto rows_backed_up = rows();
  const auto backup = run(backup_hook);
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  const auto expected = snapshot_volumes(latest_snapshot());

  // Changes after the backup, in the database and in three volumes.
  ASSERT_TRUE(install_service(project().base_url(), project().ca_file(), "after-the-backup"));
  fill_volumes("later");
  ASSERT_NE(rows(), rows_backed_up);

  // --volume-only is what a full restore does anyway (the database is in its volume).
  const auto restored = run(restore_hook, {"--yes", "--volume-only"});
  ASSERT_EQ(restored.exit_code, 0) << restored.log();
  EXPECT_THAT(restored.stdout_text, HasSubstr("healthy"));
  EXPECT_TRUE(project().all_running());
  EXPECT_EQ(rows(), rows_backed_up);
  // PostgreSQL rewrites its own files as soon as it runs; its rows are compared above.
  for (const auto& name : {"brokerData", "certs", "service-manager"}) {
    auto mountpoint = project().mountpoint(name);
    ASSERT_TRUE(mountpoint);
    EXPECT_EQ(tree_state(*mountpoint), expected.at(name)) << "volume " << name;
  }
}

TEST_F(FullScopeTest, AConfigurationRestoreOfAFullSnapshotUsesTheApiExportAndTheServiceManagerVolumeOnly) {
  const auto rows_backed_up = rows();
  const auto backup = run(backup_hook);
  ASSERT_EQ(backup.exit_code, 0) << backup.log();
  const auto expected = snapshot_volumes(latest_snapshot());
  ASSERT_TRUE(install_service(project().base_url(), project().ca_file(), "configuration-later"));
  fill_volumes("configuration-later");
  auto certs = project().mountpoint("certs");
  ASSERT_TRUE(certs);
  const auto certs_now = tree_state(*certs);

  const auto restored = run(restore_hook, {"--yes"}, {{"CONNECTWARE_SCOPE", "configuration"}});
  ASSERT_EQ(restored.exit_code, 0) << restored.log();
  EXPECT_TRUE(project().all_running());
  auto services = admin_get_json(project().base_url(), project().ca_file(), "/api/services");
  ASSERT_TRUE(services);
  EXPECT_THAT(services->dump(), ::testing::Not(HasSubstr("configuration-later")));
  auto manager = project().mountpoint("service-manager");
  ASSERT_TRUE(manager);
  EXPECT_EQ(tree_state(*manager), expected.at("service-manager"));
  EXPECT_EQ(tree_state(*certs), certs_now) << "a configuration restore leaves the other volumes alone";
}

TEST_F(FullScopeTest, SigtermWhileTheProjectIsStoppedStartsEveryContainerAgainAndLosesNothing) {
  fill_volumes("sigterm");
  const auto rows_before = rows();
  auto certs = project().mountpoint("certs");
  ASSERT_TRUE(certs);
  const auto certs_before = tree_state(*certs);
  set_on_stop("/bin/busybox sleep 5");
  auto hook = start(backup_hook, dir_.path() / "backup.log");
  ASSERT_TRUE(wait_for_broker_stopping());
  ASSERT_EQ(::kill(hook.pid(), SIGTERM), 0);
  auto ended = hook.wait_for(60s);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->code, 11) << util::read_file(dir_.path() / "backup.log.err").value_or("");
  expect_all_running_within(30s);
  EXPECT_FALSE(fs::exists(state_dir() / "stopped-containers.json"));
  EXPECT_EQ(status().value("exit_code", 0), 11) << status().dump();
  EXPECT_EQ(rows(), rows_before);
  EXPECT_EQ(tree_state(*certs), certs_before);

  (void)util::remove_tree(project().control_dir() / "on-stop.sh");
  const auto next = run(backup_hook);
  EXPECT_EQ(next.exit_code, 0) << next.log();
}

TEST_F(FullScopeTest, AFullDiskWhileTheProjectIsStoppedStartsEveryContainerAgainAndLeavesTheVolumesAsTheyWere) {
  // Room for the copy made while the project runs, not for what the broker writes when it is stopped.
  std::uint64_t bytes = 0;
  for (const auto& name : ComposeProject::volume_names()) {
    auto mountpoint = project().mountpoint(name);
    ASSERT_TRUE(mountpoint);
    for (const auto& entry : test::tree(*mountpoint))
      bytes += entry.type == staging::EntryType::file ? entry.size : 4096;
  }
  const auto size = bytes + 16 * 1024 * 1024;
  ASSERT_TRUE(util::create_private_directory(staging_dir()));
  ASSERT_EQ(::mount("cwb-full-disk", staging_dir().c_str(), "tmpfs", 0, ("size=" + std::to_string(size)).c_str()), 0)
      << std::strerror(errno);
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{staging_dir()};
  // Random bytes: zeros would be staged as a sparse file and take no room.
  set_on_stop("/bin/busybox dd if=/dev/urandom of=/data/flushed-on-stop bs=1M count=64 2>/dev/null");

  const auto backup = run(backup_hook);
  EXPECT_EQ(backup.exit_code, 8) << backup.log();
  EXPECT_EQ(backup.error_lines(backup_hook).size(), 1u) << backup.log();
  expect_all_running_within(30s);
  auto broker = project().mountpoint("brokerData");
  ASSERT_TRUE(broker);
  std::error_code error;
  EXPECT_EQ(fs::file_size(*broker / "flushed-on-stop", error), 64u * 1024 * 1024) << "the live data is untouched";
  fs::remove(*broker / "flushed-on-stop", error);
}

TEST_F(FullScopeTest, KillNineOfTheHookWhileStoppedIsHealedByItsWatchdog) {
  set_on_stop("/bin/busybox sleep 4");
  auto hook = start(backup_hook, dir_.path() / "backup.log");
  ASSERT_TRUE(wait_for_broker_stopping());
  ASSERT_EQ(::kill(hook.pid(), SIGKILL), 0);
  (void)hook.wait_for(10s);
  expect_all_running_within(60s);
  EXPECT_TRUE(test::poll_until([this] { return !fs::exists(state_dir() / "run.json"); }, 20s, [] { return false; }));
  EXPECT_FALSE(fs::exists(state_dir() / "stopped-containers.json"));
}

TEST_F(FullScopeTest, KillNineOfTheHookAndItsWatchdogWhileStoppedIsHealedByTheNextRun) {
  set_on_stop("/bin/busybox sleep 4");
  auto hook = start(backup_hook, dir_.path() / "backup.log");
  ASSERT_TRUE(wait_for_broker_stopping());
  // The hook and its watchdog at once (a killed process group, a reboot).
  for (const auto& process : test::processes_with_argument_containing("--release-watchdog"))
    ::kill(process.pid, SIGKILL);
  ASSERT_EQ(::kill(hook.pid(), SIGKILL), 0);
  (void)hook.wait_for(10s);
  ASSERT_TRUE(wait_for_state(ComposeProject::broker_container, "exited", 30s));
  EXPECT_EQ(project().container_states().at(ComposeProject::front_container), "exited") << "left stopped";
  EXPECT_TRUE(fs::exists(state_dir() / "stopped-containers.json"));

  (void)util::remove_tree(project().control_dir() / "on-stop.sh");
  const auto next = run(backup_hook);
  EXPECT_EQ(next.exit_code, 0) << next.log();
  EXPECT_TRUE(project().all_running());
  EXPECT_FALSE(fs::exists(state_dir() / "stopped-containers.json"));
}

} // namespace
} // namespace cwb::integration
