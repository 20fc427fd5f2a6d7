// scope = full on Compose, through a fake Docker engine: the project's volumes found by Compose's labels,
// the stop order (dependents first, the database last), the stop marker written before the first stop,
// every path that starts the containers again, and the volumes a restore creates on a new host.
#include "installation/compose.hpp"
#include "installation/host.hpp"

#include "container/docker_engine_runtime.hpp"
#include "support/fake_container_runtime.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cwb::installation {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Labels = std::map<std::string, std::string>;

Labels service(const std::string& name, const std::string& depends_on = "") {
  Labels labels{{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", name}};
  if (!depends_on.empty()) labels["com.docker.compose.depends_on"] = depends_on;
  return labels;
}

container::ContainerInfo container_of(const std::string& name, Labels labels) {
  container::ContainerInfo info;
  info.id = name;
  info.name = name;
  info.labels = std::move(labels);
  info.state = "running";
  return info;
}

std::vector<std::string> names_of(const std::vector<container::ContainerInfo>& containers) {
  std::vector<std::string> names;
  for (const auto& container : containers)
    names.push_back(container.name);
  return names;
}

TEST(StopOrder, DependentsStopBeforeWhatTheyDependOn) {
  const auto ordered = stop_order({
      container_of("a-db", service("postgresql")),
      container_of("b-front", service("connectware", "service-manager:service_started:false,postgresql::")),
      container_of("c-manager", service("service-manager", "postgresql:service_healthy:true")),
  });
  EXPECT_THAT(names_of(ordered), ElementsAre("b-front", "c-manager", "a-db"));
}

TEST(StopOrder, WithoutDependenciesTheDatabaseStopsLastAndTheRestByName) {
  const auto ordered = stop_order({
      container_of("connectware-postgresql-1", service("postgresql")),
      container_of("connectware-z-1", service("z")),
      container_of("connectware-a-1", service("a")),
  });
  EXPECT_THAT(names_of(ordered), ElementsAre("connectware-a-1", "connectware-z-1", "connectware-postgresql-1"));
}

TEST(StopOrder, ACycleFallsBackToTheNameOrderAndLosesNoContainer) {
  const auto ordered = stop_order({
      container_of("x", service("x", "y")),
      container_of("y", service("y", "x")),
  });
  EXPECT_THAT(names_of(ordered), ElementsAre("x", "y"));
}

class FullScopeTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-full-scope-test");
    ASSERT_TRUE(temp);
    dir_ = std::move(*temp);
    for (const auto& name : {"pg", "sm", "other"})
      ASSERT_TRUE(util::ensure_directories(dir_.path() / name));
    runtime_.volumes["connectware_postgresql"] = dir_.path() / "pg";
    runtime_.volume_labels["connectware_postgresql"] = {{"com.docker.compose.project", "connectware"},
                                                        {"com.docker.compose.volume", "postgresql"}};
    runtime_.volumes["connectware_service-manager"] = dir_.path() / "sm";
    runtime_.volume_labels["connectware_service-manager"] = {{"com.docker.compose.project", "connectware"},
                                                             {"com.docker.compose.volume", "service-manager"}};
    runtime_.volumes["other_data"] = dir_.path() / "other";
    runtime_.volume_labels["other_data"] = {{"com.docker.compose.project", "other"},
                                            {"com.docker.compose.volume", "data"}};
    runtime_.volume_root = dir_.path() / "engine";
    runtime_.add("db", service("postgresql"), {"connectware_postgresql"});
    runtime_.add("manager", service("service-manager", "postgresql:service_started:false"),
                 {"connectware_service-manager"});
    runtime_.add("front", service("connectware", "service-manager:service_started:false"));
    runtime_.add("stranger", {{"com.docker.compose.project", "other"}});
  }

  ComposeInstallation compose() { return ComposeInstallation(ComposeSettings{}, runtime_, runner_, environment_); }
  [[nodiscard]] StatePaths state() const { return StatePaths{dir_.path() / "state"}; }

  std::vector<std::string> calls_starting_with(const std::string& prefix) const {
    std::vector<std::string> found;
    for (const auto& call : runtime_.calls)
      if (call.starts_with(prefix)) found.push_back(call);
    return found;
  }

  util::TemporaryDirectory dir_;
  test::FakeContainerRuntime runtime_;
  util::SystemProcessRunner runner_;
  util::Environment environment_{{"PATH", "/usr/bin:/bin"}};
};

TEST_F(FullScopeTest, EveryVolumeOfTheProjectIsFoundByItsLabelsWithItsLabels) {
  auto installation = compose();
  auto volumes = installation.locate_all_volumes();
  ASSERT_TRUE(volumes) << volumes.error().message;
  ASSERT_EQ(volumes->size(), 2u);
  EXPECT_EQ((*volumes)[0].name, "postgresql");
  EXPECT_EQ((*volumes)[0].source, "connectware_postgresql");
  EXPECT_EQ((*volumes)[0].path, dir_.path() / "pg");
  EXPECT_EQ((*volumes)[0].labels.at("com.docker.compose.volume"), "postgresql");
  EXPECT_EQ((*volumes)[1].name, "service-manager");
}

TEST_F(FullScopeTest, AVolumeWithoutComposesVolumeLabelIsLeftOutAndNoVolumeAtAllIsAnEmptyList) {
  runtime_.volume_labels["connectware_postgresql"].erase("com.docker.compose.volume");
  auto installation = compose();
  auto volumes = installation.locate_all_volumes();
  ASSERT_TRUE(volumes);
  EXPECT_EQ(volumes->size(), 1u);

  ComposeSettings settings;
  settings.project = "nothing-here";
  ComposeInstallation empty(settings, runtime_, runner_, environment_);
  auto none = empty.locate_all_volumes();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty()) << "a new host: the full restore creates them";
}

TEST_F(FullScopeTest, StopsTheProjectInOrderAfterRecordingItAndStartsItInReverse) {
  auto installation = compose();
  {
    auto held = installation.stop_installation(state());
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_THAT(read_stop_marker(state()).value(), ElementsAre("front", "manager", "db"));
    EXPECT_EQ(runtime_.state_of("db"), "exited");
    EXPECT_EQ(runtime_.state_of("stranger"), "running") << "another project's container is not ours";
    EXPECT_THAT(calls_starting_with("stop"), ElementsAre("stop front t=30", "stop manager t=30", "stop db t=30"));
    ASSERT_TRUE((*held)->release());
  }
  EXPECT_THAT(calls_starting_with("start"), ElementsAre("start db", "start manager", "start front"));
  EXPECT_FALSE(fs::exists(state().stop_marker()));
}

TEST_F(FullScopeTest, AFailedStopStartsAgainWhatWasStopped) {
  runtime_.fail_next("stop", "db", Error{ErrorKind::container_runtime, "engine trouble"});
  auto installation = compose();
  auto held = installation.stop_installation(state());
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error().kind, ErrorKind::quiesce_failed);
  EXPECT_THAT(held.error().message, HasSubstr("engine trouble"));
  for (const auto& id : {"front", "manager", "db"})
    EXPECT_EQ(runtime_.state_of(id), "running") << id;
  EXPECT_FALSE(fs::exists(state().stop_marker()));
}

TEST_F(FullScopeTest, TheHoldsDestructorStartsEverythingOnAnErrorPath) {
  auto installation = compose();
  {
    auto held = installation.stop_installation(state());
    ASSERT_TRUE(held);
  }
  for (const auto& id : {"front", "manager", "db"})
    EXPECT_EQ(runtime_.state_of(id), "running") << id;
}

TEST_F(FullScopeTest, AKilledRunsStoppedContainersAreStartedByTheNextRunInReverseOrder) {
  // What a run killed with SIGKILL after stopping two of three leaves.
  ASSERT_TRUE(write_stop_marker(state(), {"front", "manager", "db"}));
  ASSERT_TRUE(runtime_.stop("front", std::chrono::seconds(1)));
  ASSERT_TRUE(runtime_.stop("manager", std::chrono::seconds(1)));
  runtime_.calls.clear();
  auto installation = compose();
  auto released = installation.release_leftover_hold(state());
  ASSERT_TRUE(released) << released.error().message;
  EXPECT_THAT(*released, ElementsAre("front", "manager", "db"));
  for (const auto& id : {"front", "manager", "db"})
    EXPECT_EQ(runtime_.state_of(id), "running") << id;
  // Stopped first (a stop still in flight ends before the start), then started database first.
  EXPECT_THAT(calls_starting_with("st"), ElementsAre("stop front t=30", "stop manager t=30", "stop db t=30", "start db",
                                                     "start manager", "start front"));
  EXPECT_FALSE(fs::exists(state().stop_marker()));
}

TEST_F(FullScopeTest, TheWorkloadsAreEveryContainerOfTheInstallationInStopOrder) {
  ASSERT_TRUE(runtime_.stop("manager", std::chrono::seconds(1)));
  auto installation = compose();
  auto workloads = installation.installation_workloads();
  ASSERT_TRUE(workloads);
  ASSERT_EQ(workloads->size(), 3u);
  EXPECT_EQ((*workloads)[0].name, "front");
  EXPECT_EQ((*workloads)[1].name, "manager");
  EXPECT_FALSE((*workloads)[1].running);
  EXPECT_EQ((*workloads)[2].name, "db");
}

TEST_F(FullScopeTest, AMissingVolumeIsCreatedWithItsLabelsUnderThisHostsProjectName) {
  ComposeSettings settings;
  settings.project = "cw-new";
  ComposeInstallation installation(settings, runtime_, runner_, environment_);
  auto planned = installation.plan_volume("certs", "connectware_certs",
                                          {{"com.docker.compose.project", "connectware"},
                                           {"com.docker.compose.volume", "certs"},
                                           {"com.example.owner", "ops"}});
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->source, "cw-new_certs");
  EXPECT_EQ(planned->labels.at("com.docker.compose.project"), "cw-new");
  EXPECT_EQ(planned->labels.at("com.example.owner"), "ops");
  auto created = installation.create_volume(*planned);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->name, "certs");
  EXPECT_TRUE(fs::is_directory(created->path));
  EXPECT_EQ(runtime_.volume_labels.at("cw-new_certs").at("com.docker.compose.volume"), "certs");
  EXPECT_THAT(installation.start_hint(), HasSubstr("docker compose -p cw-new up -d"));

  // A volume its compose file named itself (`name:`) keeps that name.
  auto named = installation.plan_volume("data", "plant-data", {});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->source, "plant-data");
}

TEST_F(FullScopeTest, AContainerOfAnotherProjectIsNotStoppedEvenWithConnectwaresCoreLabel) {
  runtime_.add("elsewhere", {{"com.docker.compose.project", "other"}, {"io.cybus.connectware", "core"}});
  auto installation = compose();
  auto held = installation.stop_installation(state());
  ASSERT_TRUE(held);
  EXPECT_EQ(runtime_.state_of("elsewhere"), "running");
  EXPECT_THAT(read_stop_marker(state()).value(), ElementsAre("front", "manager", "db"));
}

TEST_F(FullScopeTest, APartlyFailedReleaseLeavesOnlyWhatStaysStoppedInTheMarker) {
  auto installation = compose();
  auto held = installation.stop_installation(state());
  ASSERT_TRUE(held);
  runtime_.fail_next("start", "manager", Error{ErrorKind::container_runtime, "no"});
  auto released = (*held)->release();
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().kind, ErrorKind::quiesce_failed);
  EXPECT_THAT(released.error().message, HasSubstr("docker start manager"));
  EXPECT_THAT(read_stop_marker(state()).value(), ElementsAre("manager"));
  EXPECT_EQ(runtime_.state_of("db"), "running");
  EXPECT_EQ(runtime_.state_of("front"), "running");
}

TEST_F(FullScopeTest, APlainHostRefusesScopeFullAsAUsageError) {
  HostInstallation host(HostSettings{}, runner_, environment_);
  auto volumes = host.locate_all_volumes();
  ASSERT_FALSE(volumes);
  EXPECT_EQ(volumes.error().kind, ErrorKind::usage);
  EXPECT_THAT(volumes.error().message, HasSubstr("platform = compose"));
  EXPECT_FALSE(host.stop_installation(state()));
}

TEST(DockerVolumeList, NullVolumesIsAnEmptyListAndLabelsAndMountpointsAreRead) {
  auto none = container::parse_volume_list(R"({"Volumes": null, "Warnings": null})");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto listed = container::parse_volume_list(
      R"({"Volumes": [{"Name": "b", "Labels": null, "Mountpoint": "/v/b"},
                      {"Name": "a", "Labels": {"com.docker.compose.volume": "x"}, "Mountpoint": "/v/a"}]})");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "a");
  EXPECT_EQ((*listed)[0].labels.at("com.docker.compose.volume"), "x");
  EXPECT_EQ((*listed)[1].mountpoint, fs::path("/v/b"));
  EXPECT_TRUE((*listed)[1].labels.empty());
  auto broken = container::parse_volume_list(R"({"Volumes": [{"Labels": {}}]})");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().kind, ErrorKind::container_runtime);
}

} // namespace
} // namespace cwb::installation
