// platform = host end to end: a backup and a restore that never talk to a Docker engine. The configured
// docker-host points at a socket that does not exist; the volume is given as a folder (the real named
// volume's data, as an operator without Docker rights would be given it); Connectware is stopped and
// restarted by the operator's stop-command and restart-command (here the docker CLI on the test's own
// engine, standing for systemctl), and the restore waits until Connectware reports healthy.

#include "harness/emulator.hpp"
#include "integration/support/restore_fixture.hpp"
#include "snapshot/manifest.hpp"

#include <gmock/gmock.h>

namespace cwb::integration {
namespace {

using testing::HasSubstr;
using testing::Not;
using Containers = test::EmulatorContainers;

class RestoreHostPlatform : public RestoreTest {
protected:
  /// The hook environment of a host without Docker: no socket at docker-host, every folder given.
  util::Environment without_docker(const std::string& platform) {
    const auto missing_socket = state_dir() / "no-docker-here" / "docker.sock";
    return {{"DOCKER_HOST", "unix://" + missing_socket.string()},
            {"CONNECTWARE_PLATFORM", platform},
            {"CONNECTWARE_VOLUME_PATHS", "service-manager=" + volume_mountpoint().string()}};
  }

  /// The operator's commands: the docker CLI against the test's engine (the hooks never see its address).
  std::string docker_cli(const std::string& arguments) {
    return "docker --host " + world().docker().docker_host() + " " + arguments;
  }
};

TEST_F(RestoreHostPlatform, BacksUpAndRestoresWithoutAnyDockerSocket) {
  auto backup_env = without_docker("auto"); // auto: no engine answers, every folder is given -> host
  const auto state_a = live_state();
  const auto snapshot = back_up(backup_env);
  ASSERT_FALSE(snapshot.empty());

  auto manifest_text = util::read_file(staging_dir() / "manifest.json");
  ASSERT_TRUE(manifest_text) << manifest_text.error().message;
  auto manifest = snapshot::parse_manifest(*manifest_text);
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->installation.platform, "host");
  EXPECT_EQ(manifest->quiesce.mode, "verify"); // nothing to pause on a plain host
  ASSERT_EQ(manifest->volumes.size(), 1u);
  EXPECT_EQ(manifest->volumes.front().source, volume_mountpoint().string());

  change_everything();
  ASSERT_NE(live_state(), state_a);
  const auto front_started = started_at(Containers::front_container);
  const auto manager_started = started_at(Containers::service_manager_container);

  auto restore_env = without_docker("host");
  restore_env["CONNECTWARE_STOP_COMMAND"] = docker_cli(std::string("stop ") + Containers::service_manager_container);
  restore_env["CONNECTWARE_RESTART_COMMAND"] =
      docker_cli(std::string("restart ") + Containers::front_container + " " + Containers::service_manager_container);
  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"}, restore_env);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();

  const auto restored = live_state();
  EXPECT_EQ(restored.database, state_a.database);
  EXPECT_EQ(restored.volume, state_a.volume);
  EXPECT_EQ(restored.hashes, state_a.hashes);
  // The restart command ran (both containers started anew) and the restore waited for health.
  EXPECT_NE(started_at(Containers::front_container), front_started);
  EXPECT_NE(started_at(Containers::service_manager_container), manager_started);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  EXPECT_THAT(outcome.stdout_text, HasSubstr("healthy"));
  EXPECT_THAT(outcome.log(), HasSubstr("platform host"));
  EXPECT_THAT(outcome.log(), Not(HasSubstr("listing the containers")));
}

TEST_F(RestoreHostPlatform, AutoWithNeitherAnEngineNorTheFoldersSaysHowToChoose) {
  // A configured engine that does not answer: an outage of the Compose installation (16).
  util::Environment env{{"DOCKER_HOST", "unix://" + (state_dir() / "none" / "docker.sock").string()}};
  auto down = run_hook("connectware-backup", {}, env);
  EXPECT_EQ(down.exit_code, 16) << down.log();
  auto errors = down.error_lines("connectware-backup");
  ASSERT_EQ(errors.size(), 1u) << down.log();
  EXPECT_THAT(errors.front(), HasSubstr("volume-paths"));
  EXPECT_THAT(errors.front(), HasSubstr("docker-host"));
  // No engine configured at all (docker-host empty) and no folders: the configuration is missing (2).
  const auto config_file = state_dir() / "no-engine.conf";
  ASSERT_TRUE(util::ensure_directories(state_dir()));
  ASSERT_TRUE(util::write_file_atomic(config_file, "docker-host =\n"));
  auto unset = run_hook("connectware-backup", {}, {{"DOCKER_HOST", ""}, {"CONNECTWARE_CONFIG", config_file.string()}});
  EXPECT_EQ(unset.exit_code, 2) << unset.log();
  errors = unset.error_lines("connectware-backup");
  ASSERT_EQ(errors.size(), 1u) << unset.log();
  EXPECT_THAT(errors.front(), HasSubstr("no Docker engine is configured"));
  EXPECT_THAT(errors.front(), HasSubstr("volume-paths"));
}

TEST_F(RestoreHostPlatform, ShowConfigNamesThePlatformAndWhy) {
  auto outcome = run_hook("connectware-restore", {"--show-config"}, without_docker("auto"));
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log();
  EXPECT_THAT(outcome.stdout_text, HasSubstr("# platform: host (auto: the Docker engine at unix://"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("every volume's folder is given"));
  auto compose = run_hook("connectware-restore", {"--show-config"});
  ASSERT_EQ(compose.exit_code, 0) << compose.log();
  EXPECT_THAT(compose.stdout_text, HasSubstr("# platform: compose (auto: the Docker engine at"));
}

} // namespace
} // namespace cwb::integration
