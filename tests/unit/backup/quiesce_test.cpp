// The run and pause markers (installation/run_state) and the PauseGuard that holds a Compose installation's
// configuration still (installation/compose), over the backup's test rig.
#include "installation/compose.hpp"
#include "installation/run_state.hpp"

#include "backup_fakes.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace cwb::backup {
namespace {

using installation::PauseGuard;
using installation::release_leftover_pause;
using installation::RunMarker;
using installation::StatePaths;
using test::BackupRig;
using test::exists_at;

std::vector<std::string> calls_starting_with(const std::vector<std::string>& calls, const std::string& prefix) {
  std::vector<std::string> matching;
  std::ranges::copy_if(calls, std::back_inserter(matching), [&](const auto& call) { return call.starts_with(prefix); });
  return matching;
}

// --- run_state ---------------------------------------------------------------------------------------------

TEST(RunState, RunMarkerRoundTripsEveryField) {
  BackupRig rig;
  RunMarker marker;
  marker.run_id = "2024-01-01T00:00:00Z-42";
  marker.started = "2024-01-01T00:00:00Z";
  marker.started_unix_ms = 1'704'067'200'123;
  marker.owner = util::ProcessIdentity{4242, 987654321};
  marker.connectware_version = "1.10.2";
  marker.quiesce_mode = "optimistic";
  marker.quiesce_outcome = "unchanged";
  marker.quiesce_window_seconds = 1.5;
  marker.database_bytes = 5'000'000'000ULL;
  marker.database_archive_bytes = 3'000'000'000ULL;
  marker.volume_bytes = 77;
  marker.tags = {"connectware", "connectware-1.10.2"};
  marker.stage_seconds = {{"export", 2.5}, {"download", 0.25}};
  marker.staged = true;
  ASSERT_TRUE(installation::write_run_marker(rig.state(), marker));

  auto read = installation::read_run_marker(rig.state());
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_TRUE(read->has_value());
  const auto& back = **read;
  EXPECT_EQ(back.run_id, marker.run_id);
  EXPECT_EQ(back.started, marker.started);
  EXPECT_EQ(back.started_unix_ms, marker.started_unix_ms);
  EXPECT_EQ(back.owner, marker.owner);
  EXPECT_EQ(back.connectware_version, "1.10.2");
  EXPECT_EQ(back.quiesce_mode, "optimistic");
  EXPECT_EQ(back.quiesce_outcome, "unchanged");
  EXPECT_DOUBLE_EQ(back.quiesce_window_seconds, 1.5);
  EXPECT_EQ(back.database_bytes, 5'000'000'000ULL);
  EXPECT_EQ(back.database_archive_bytes, 3'000'000'000ULL);
  EXPECT_EQ(back.volume_bytes, 77u);
  EXPECT_EQ(back.tags, marker.tags);
  EXPECT_EQ(back.stage_seconds, marker.stage_seconds);
  EXPECT_TRUE(back.staged);
}

TEST(RunState, MissingRunMarkerIsAbsentAndRemovingItSucceeds) {
  BackupRig rig;
  auto read = installation::read_run_marker(rig.state());
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->has_value());
  EXPECT_TRUE(installation::remove_run_marker(rig.state()));
}

TEST(RunState, GarbageRunMarkerIsTreatedAsAbsent) {
  BackupRig rig;
  ASSERT_TRUE(util::ensure_directories(rig.state().state_dir));
  for (const std::string garbage : {"{\"run_id\": \"trunc", "[1,2,3]", "", "\x01\x02 not json"}) {
    ASSERT_TRUE(util::write_file_atomic(rig.state().run_marker(), garbage));
    auto read = installation::read_run_marker(rig.state());
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_FALSE(read->has_value()) << garbage;
  }
}

TEST(RunState, RemovedRunMarkerIsGone) {
  BackupRig rig;
  ASSERT_TRUE(installation::write_run_marker(rig.state(), RunMarker{}));
  ASSERT_TRUE(exists_at(rig.state().run_marker()));
  ASSERT_TRUE(installation::remove_run_marker(rig.state()));
  EXPECT_FALSE(exists_at(rig.state().run_marker()));
}

TEST(RunState, PauseMarkerRoundTripsAndGarbageReadsAsEmpty) {
  BackupRig rig;
  ASSERT_TRUE(installation::write_pause_marker(rig.state(), {"abc", "def"}));
  auto read = installation::read_pause_marker(rig.state());
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, (std::vector<std::string>{"abc", "def"}));

  ASSERT_TRUE(util::write_file_atomic(rig.state().pause_marker(), "{{{"));
  read = installation::read_pause_marker(rig.state());
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->empty());

  ASSERT_TRUE(installation::remove_pause_marker(rig.state()));
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  read = installation::read_pause_marker(rig.state());
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->empty());
}

// --- PauseGuard ----------------------------------------------------------------------------------------------

TEST(PauseGuard, PausesOnlyTheLabelledServiceOfTheProject) {
  BackupRig rig;
  auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
  ASSERT_TRUE(guard) << guard.error().message;
  EXPECT_EQ((*guard)->held(), (std::vector<std::string>{"sm1"}));
  EXPECT_EQ(rig.containers.state_of("sm1"), "paused");
  EXPECT_EQ(rig.containers.state_of("other1"), "running");
  EXPECT_EQ(rig.containers.state_of("sm-elsewhere"), "running");
  EXPECT_EQ(calls_starting_with(rig.containers.calls, "list").front(),
            "list com.docker.compose.project=connectware,com.docker.compose.service=service-manager");
}

TEST(PauseGuard, AFailedFirstPauseLeavesNoMarkerBehind) {
  BackupRig rig;
  rig.containers.fail_next("pause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto failed = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::quiesce_failed);
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

// A runtime that reports the pause marker's content at the moment of each pause call.
class MarkerWatchingRuntime final : public container::ContainerRuntime {
public:
  MarkerWatchingRuntime(test::FakeContainerRuntime& inner, StatePaths paths)
      : inner_(inner), paths_(std::move(paths)) {}
  std::vector<std::vector<std::string>> marker_at_pause;

  Result<std::vector<container::ContainerInfo>> list_containers(const container::LabelFilter& filter) override {
    return inner_.list_containers(filter);
  }
  Result<> pause(const std::string& id) override {
    marker_at_pause.push_back(
        installation::read_pause_marker(paths_).value_or(std::vector<std::string>{"<unreadable>"}));
    return inner_.pause(id);
  }
  Result<> unpause(const std::string& id) override { return inner_.unpause(id); }
  Result<> stop(const std::string& id, std::chrono::seconds timeout) override { return inner_.stop(id, timeout); }
  Result<> start(const std::string& id) override { return inner_.start(id); }
  Result<> restart(const std::string& id, std::chrono::seconds timeout) override { return inner_.restart(id, timeout); }
  Result<container::ContainerInfo> inspect(const std::string& id) override { return inner_.inspect(id); }
  Result<std::filesystem::path> volume_mountpoint(const std::string& name) override {
    return inner_.volume_mountpoint(name);
  }
  Result<std::vector<container::VolumeInfo>> list_volumes(const container::LabelFilter& filter) override {
    return inner_.list_volumes(filter);
  }
  Result<container::VolumeInfo> create_volume(const std::string& name,
                                              const std::map<std::string, std::string>& labels) override {
    return inner_.create_volume(name, labels);
  }

private:
  test::FakeContainerRuntime& inner_;
  StatePaths paths_;
};

TEST(PauseGuard, TheMarkerNamesEveryTargetBeforeTheFirstPause) {
  BackupRig rig;
  rig.containers.add(
      "sm2", {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "service-manager"}});
  MarkerWatchingRuntime watching(rig.containers, rig.state());
  auto guard = PauseGuard::pause(watching, rig.state(), "connectware", {"service-manager"});
  ASSERT_TRUE(guard);
  ASSERT_EQ(watching.marker_at_pause.size(), 2u);
  EXPECT_EQ(watching.marker_at_pause[0], (std::vector<std::string>{"sm1", "sm2"}));
}

TEST(PauseGuard, UnpausesInItsDestructorAndRemovesTheMarker) {
  BackupRig rig;
  {
    auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
    ASSERT_TRUE(guard);
    ASSERT_EQ(rig.containers.state_of("sm1"), "paused");
  }
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

TEST(PauseGuard, ReleaseUnpausesOnceAndTheDestructorDoesNothingMore) {
  BackupRig rig;
  {
    auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
    ASSERT_TRUE(guard);
    ASSERT_TRUE((*guard)->release());
    EXPECT_EQ(rig.containers.state_of("sm1"), "running");
    EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  }
  EXPECT_EQ(calls_starting_with(rig.containers.calls, "unpause").size(), 1u);
}

TEST(PauseGuard, AFailingPauseUnpausesTheOnesAlreadyPaused) {
  BackupRig rig;
  rig.containers.add(
      "sm2", {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "service-manager"}});
  rig.containers.fail_next("pause", "sm2", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
  ASSERT_FALSE(guard);
  EXPECT_EQ(guard.error().kind, ErrorKind::quiesce_failed);
  EXPECT_NE(guard.error().message.find("engine hiccup"), std::string::npos);
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_EQ(rig.containers.state_of("sm2"), "running");
  EXPECT_EQ(calls_starting_with(rig.containers.calls, "unpause"), (std::vector<std::string>{"unpause sm1"}));
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

TEST(PauseGuard, LeavesAlreadyPausedContainersAlone) {
  BackupRig rig;
  rig.containers.add("sm-paused",
                     {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "service-manager"}},
                     {}, "paused");
  {
    auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
    ASSERT_TRUE(guard);
    EXPECT_EQ((*guard)->held(), (std::vector<std::string>{"sm1"}));
  }
  EXPECT_EQ(rig.containers.state_of("sm-paused"), "paused");
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_TRUE(calls_starting_with(rig.containers.calls, "pause sm-paused").empty());
  EXPECT_TRUE(calls_starting_with(rig.containers.calls, "unpause sm-paused").empty());
}

TEST(PauseGuard, NoRunningContainerOfTheServiceIsQuiesceFailed) {
  BackupRig rig;
  auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"no-such-service"});
  ASSERT_FALSE(guard);
  EXPECT_EQ(guard.error().kind, ErrorKind::quiesce_failed);
  EXPECT_NE(guard.error().message.find("no-such-service"), std::string::npos);
}

TEST(PauseGuard, AnUnreachableRuntimeIsAContainerRuntimeError) {
  BackupRig rig;
  rig.containers.fail_always("list", "*", Error{ErrorKind::container_runtime, "cannot connect to the Docker daemon"});
  auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
  ASSERT_FALSE(guard);
  EXPECT_EQ(guard.error().kind, ErrorKind::container_runtime);
}

TEST(PauseGuard, AFailingUnpauseKeepsTheMarkerForTheNextRun) {
  BackupRig rig;
  auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
  ASSERT_TRUE(guard);
  rig.containers.fail_always("unpause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto released = (*guard)->release();
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().kind, ErrorKind::quiesce_failed);
  EXPECT_NE(released.error().message.find("sm1"), std::string::npos);
  EXPECT_EQ(rig.containers.state_of("sm1"), "paused");
  auto marker = installation::read_pause_marker(rig.state());
  ASSERT_TRUE(marker);
  EXPECT_EQ(*marker, (std::vector<std::string>{"sm1"}));

  // A later release (the destructor, the post hook) succeeds once the engine answers again.
  rig.containers.clear_failures();
  ASSERT_TRUE((*guard)->release());
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

TEST(PauseGuard, MovingTheGuardTransfersTheDutyToUnpause) {
  BackupRig rig;
  std::unique_ptr<PauseGuard> outer;
  {
    auto guard = PauseGuard::pause(rig.containers, rig.state(), "connectware", {"service-manager"});
    ASSERT_TRUE(guard);
    outer = std::move(*guard);
  }
  EXPECT_EQ(rig.containers.state_of("sm1"), "paused");
  ASSERT_TRUE(outer->release());
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
}

// --- release_leftover_pause ----------------------------------------------------------------------------------

TEST(ReleaseLeftoverPause, UnpausesWhatAKilledRunRecordedAndRemovesTheMarker) {
  BackupRig rig;
  ASSERT_TRUE(rig.containers.pause("sm1"));
  ASSERT_TRUE(installation::write_pause_marker(rig.state(), {"sm1"}));
  auto released = release_leftover_pause(rig.containers, rig.state());
  ASSERT_TRUE(released) << released.error().message;
  EXPECT_EQ(*released, (std::vector<std::string>{"sm1"}));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
}

TEST(ReleaseLeftoverPause, ContainersGoneOrAlreadyRunningCountAsReleased) {
  BackupRig rig;
  // sm1 runs (the killed run died before pausing it); "vanished" was removed meanwhile.
  ASSERT_TRUE(installation::write_pause_marker(rig.state(), {"sm1", "vanished"}));
  auto released = release_leftover_pause(rig.containers, rig.state());
  ASSERT_TRUE(released) << released.error().message;
  EXPECT_FALSE(exists_at(rig.state().pause_marker()));
  EXPECT_EQ(rig.containers.state_of("sm1"), "running");
}

TEST(ReleaseLeftoverPause, WithoutAMarkerThereIsNothingToDo) {
  BackupRig rig;
  auto released = release_leftover_pause(rig.containers, rig.state());
  ASSERT_TRUE(released);
  EXPECT_TRUE(released->empty());
  EXPECT_TRUE(calls_starting_with(rig.containers.calls, "unpause").empty());
}

TEST(ReleaseLeftoverPause, KeepsTheMarkerWhenAContainerStaysPaused) {
  BackupRig rig;
  ASSERT_TRUE(rig.containers.pause("sm1"));
  ASSERT_TRUE(installation::write_pause_marker(rig.state(), {"sm1"}));
  rig.containers.fail_always("unpause", "sm1", Error{ErrorKind::container_runtime, "engine hiccup"});
  auto released = release_leftover_pause(rig.containers, rig.state());
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().kind, ErrorKind::quiesce_failed);
  EXPECT_TRUE(exists_at(rig.state().pause_marker()));
}

} // namespace
} // namespace cwb::backup
