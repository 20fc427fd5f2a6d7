// connectware-restore end to end, the failure paths: a tampered snapshot is refused before anything
// changes (12); an archive Connectware refuses for its version stops before the volume (13); failures
// after the safety copy (server-side restore failure, a full disk under the volume, Connectware not coming
// back healthy) put the previous state back (14). The volume is edited rather than emptied before these
// restores: Connectware's restart during the rollback recreates the services folder in an empty volume.
// A container that will not stop is made at the API boundary (support/docker_api_proxy.hpp): a real
// engine always stops a container in the end.

#include "harness/emulator.hpp"
#include "integration/support/docker_api_proxy.hpp"
#include "integration/support/restore_fixture.hpp"
#include "snapshot/layout.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

namespace cwb::integration {
namespace {

using testing::HasSubstr;
using Containers = test::EmulatorContainers;

class RestoreFailure : public RestoreTest {};

TEST_F(RestoreFailure, FileNotMatchingTheManifestIsRefusedBeforeAnythingChanges) {
  const auto snapshot = back_up();
  const auto tampered = tampered_snapshot(snapshot, [](const fs::path& staging) {
    const auto services = snapshot::Layout{staging}.volume("service-manager") / "services";
    std::error_code error;
    for (const auto& file : fs::directory_iterator(services, error)) {
      ASSERT_TRUE(util::write_file_atomic(file.path(), "tampered: true\n", 0644));
      break;
    }
    ASSERT_FALSE(error) << error.message();
  });
  change_everything(VolumeChange::edit);
  const auto before = live_state();

  const auto outcome = run_restore({"--snapshot", tampered, "--yes"});
  EXPECT_EQ(outcome.exit_code, 12) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("the snapshot fails its check: volume service-manager: services/"));
  EXPECT_EQ(live_state(), before);
  EXPECT_FALSE(fs::exists(state_dir() / "rollback"));
}

TEST_F(RestoreFailure, EntryEscapingTheVolumeIsRefusedBeforeAnythingChanges) {
  const auto snapshot = back_up();
  const auto tampered = tampered_snapshot(snapshot, [](const fs::path& staging) {
    const snapshot::Layout layout{staging};
    auto text = util::read_file(layout.manifest());
    ASSERT_TRUE(text);
    auto manifest = nlohmann::json::parse(*text);
    manifest["volumes"][0]["entries"].push_back({{"path", "../../../../../etc/cwb-escape"},
                                                 {"type", "file"},
                                                 {"size", 0},
                                                 {"sha256", std::string(64, '0')},
                                                 {"mode", 0644},
                                                 {"uid", 0},
                                                 {"gid", 0},
                                                 {"mtime_ns", 0}});
    ASSERT_TRUE(util::write_file_atomic(layout.manifest(), manifest.dump(2)));
  });
  const auto before = live_state();

  const auto outcome = run_restore({"--snapshot", tampered, "--yes"});
  EXPECT_EQ(outcome.exit_code, 12) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("escapes its volume"));
  EXPECT_EQ(live_state(), before);
  EXPECT_FALSE(fs::exists("/etc/cwb-escape"));
}

TEST_F(RestoreFailure, RestoreFolderInsideTheVolumeIsAUsageErrorBeforeAnythingChanges) {
  // The fetch empties restore-dir as a whole: inside the volume it would remove the volume's own files.
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto inside = volume_mountpoint() / "services";
  ASSERT_TRUE(fs::is_directory(inside));
  const auto before = live_state();

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"}, {{"CONNECTWARE_RESTORE_DIR", inside.string()}});
  EXPECT_EQ(outcome.exit_code, 2) << outcome.log();
  EXPECT_THAT(outcome.stderr_text,
              HasSubstr("restore-dir " + inside.string() + " lies inside volume connectware_service-manager"));
  EXPECT_EQ(live_state(), before);
  EXPECT_FALSE(fs::exists(state_dir() / "rollback"));
}

TEST_F(RestoreFailure, ArchiveRefusedForItsVersionStopsBeforeTheVolume) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  const auto manager_started = started_at(Containers::service_manager_container);
  set_faults({{"refuse_restore", "1.4.9"}});

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  EXPECT_EQ(outcome.exit_code, 13) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("1.4.9"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("downgrade Connectware to 1.4.9"));
  EXPECT_THAT(outcome.stdout_text, HasSubstr("remove the volumes postgresql and service-manager"));
  // A refusal is rolled back like any failure: the database comes back from the safety export (the
  // server may have changed it before refusing), the volumes were never touched.
  EXPECT_THAT(outcome.stderr_text, HasSubstr("put back from the safety export"));
  EXPECT_EQ(live_state(), before);
  EXPECT_NE(started_at(Containers::service_manager_container), manager_started); // restarted by the rollback
}

TEST_F(RestoreFailure, ServerSideRestoreFailureIsRolledBack) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  set_faults({{"fail_restore", "1"}});

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  EXPECT_EQ(outcome.exit_code, 14) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("step 4 (database)"));
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  // The restore's own report says so, apart from the backup's.
  const auto report = nlohmann::json::parse(util::read_file(state_dir() / "restore-status.json").value_or("{}"));
  EXPECT_EQ(report.value("success", true), false) << report.dump();
  EXPECT_EQ(report.value("exit_code", 0), 14) << report.dump();
  EXPECT_EQ(report.value("snapshot_id", ""), snapshot) << report.dump();
  const auto metrics = util::read_file(metrics_file().parent_path() / "connectware_restore.prom").value_or("");
  EXPECT_THAT(metrics, HasSubstr("connectware_restore_success 0\n"));
  EXPECT_THAT(metrics, HasSubstr("connectware_restore_exit_code 14\n"));
  EXPECT_EQ(status().value("success", false), true) << "the backup's status changed: " << status().dump();
}

TEST_F(RestoreFailure, HealthNeverReachedIsRolledBack) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  // Connectware does not come back the first time: the restart leaves the service-manager stopped.
  // The rollback's restarts bring everything up.
  const auto marker = test_dir() / "restarted-once";
  const auto script = test_dir() / "restart-connectware";
  ASSERT_TRUE(util::write_file_atomic(script,
                                      "#!/bin/sh\nset -e\nif [ ! -e " + marker.string() + " ]; then\n  touch " +
                                          marker.string() + "\n  docker restart " + Containers::front_container +
                                          " >/dev/null\n  docker stop " + Containers::service_manager_container +
                                          " >/dev/null\nelse\n  docker restart " + Containers::front_container + " " +
                                          Containers::service_manager_container + " >/dev/null\nfi\n",
                                      0755));

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"}, {{"CONNECTWARE_RESTART_COMMAND", script.string()},
                                                                       {"CONNECTWARE_HEALTH_TIMEOUT", "15"}});
  EXPECT_EQ(outcome.exit_code, 14) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("not healthy"));
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
}

TEST_F(RestoreFailure, FullDiskWhileReplacingTheVolumeIsRolledBack) {
  // State A holds a file bigger than the small file system the volume lives on later.
  ASSERT_TRUE(util::write_file_atomic(volume_mountpoint() / "big.bin", std::string(512 * 1024, 'x'), 0644));
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  ASSERT_TRUE(util::remove_tree(volume_mountpoint() / "big.bin"));
  // The volume now lives on a 256 KiB tmpfs holding its current (small) contents.
  const auto holding = test_dir() / "volume-contents";
  ASSERT_EQ(std::system(("cp -a " + volume_mountpoint().string() + " " + holding.string() +
                         " && mount -t tmpfs -o "
                         "size=256k cwb-restore-full " +
                         volume_mountpoint().string() + " && cp -a " + holding.string() + "/. " +
                         volume_mountpoint().string())
                            .c_str()),
            0);
  struct Unmount {
    fs::path path;
    ~Unmount() { (void)std::system(("umount -l " + path.string()).c_str()); }
  } unmount{volume_mountpoint()};
  const auto before = live_state();

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"});
  EXPECT_EQ(outcome.exit_code, 14) << outcome.log();
  EXPECT_THAT(outcome.stderr_text, HasSubstr("step 5 (volume)"));
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
}

TEST_F(RestoreFailure, ContainerThatWillNotStopIsRolledBack) {
  const auto snapshot = back_up();
  change_everything(VolumeChange::edit);
  const auto before = live_state();
  // The restore talks to the engine through the proxy, which refuses every container stop.
  auto proxy = DockerApiProxy::start(test_dir() / "docker.sock", world().docker().socket_path());
  ASSERT_TRUE(proxy) << proxy.error().message;
  (*proxy)->arm_stop_fault();

  const auto outcome = run_restore({"--snapshot", snapshot, "--yes"}, {{"DOCKER_HOST", (*proxy)->docker_host()}});
  EXPECT_EQ(outcome.exit_code, 14) << outcome.log();
  EXPECT_GE((*proxy)->injected_stop_faults(), 1);
  const auto errors = outcome.error_lines("connectware-restore");
  ASSERT_EQ(errors.size(), 1U) << outcome.stderr_text;
  EXPECT_THAT(errors.front(), HasSubstr("step 5 (volume): stopping container"));
  EXPECT_THAT(errors.front(), HasSubstr(DockerApiProxy::injected_message));
  EXPECT_THAT(errors.front(), HasSubstr("the previous state was put back"));
  EXPECT_EQ(live_state(), before);
  EXPECT_EQ(world().container_state(Containers::service_manager_container), "running");
  EXPECT_EQ(world().container_state(Containers::front_container), "running");
}

} // namespace
} // namespace cwb::integration
