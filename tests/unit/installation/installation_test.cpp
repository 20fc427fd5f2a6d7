// The installation seam: Compose through a (fake) Docker engine, a plain host through folders and commands,
// and the choice between them (platform = auto | compose | host).
#include "installation/compose.hpp"
#include "installation/host.hpp"
#include "installation/select.hpp"
#include "installation/work_folders.hpp"

#include "config/command_line.hpp"
#include "support/fake_container_runtime.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace cwb::installation {
namespace {

namespace fs = std::filesystem;

class InstallationTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-installation-test");
    ASSERT_TRUE(temp);
    dir_ = std::move(*temp);
    ASSERT_TRUE(util::ensure_directories(dir_.path() / "sm"));
    ASSERT_TRUE(util::ensure_directories(dir_.path() / "certs"));
    ASSERT_TRUE(util::ensure_directories(dir_.path() / "docker-sm"));
  }

  config::Config config(std::map<std::string, std::string, std::less<>> values) {
    config::CommandLine command_line;
    command_line.values = std::move(values);
    auto resolved = config::Config::resolve(command_line, {});
    EXPECT_TRUE(resolved) << (resolved ? std::string() : resolved.error().message);
    return std::move(*resolved);
  }

  fs::path path(const std::string& name) const { return dir_.path() / name; }

  util::TemporaryDirectory dir_;
  test::FakeContainerRuntime runtime_;
  util::SystemProcessRunner runner_;
  util::Environment environment_{{"PATH", "/usr/bin:/bin"}};
};

TEST(WorkFolders, MustStayApartFromEveryVolume) {
  const std::vector<Volume> volumes{
      {"service-manager",
       "connectware_service-manager",
       "/var/lib/docker/volumes/connectware_service-manager/_data",
       {}},
      {"certs", "connectware_certs", "/var/lib/docker/volumes/connectware_certs/_data", {}}};
  const auto error_of = [&](const WorkFolder& folder) {
    auto checked = check_work_folders_apart({folder}, volumes);
    EXPECT_FALSE(checked);
    if (checked) return std::string();
    EXPECT_EQ(checked.error().kind, ErrorKind::usage);
    return checked.error().message;
  };
  using testing::HasSubstr;
  EXPECT_EQ(error_of({"restore-dir", "/var/lib/docker/volumes/connectware_certs/_data/restore"}),
            "restore-dir /var/lib/docker/volumes/connectware_certs/_data/restore lies inside volume connectware_certs "
            "(/var/lib/docker/volumes/connectware_certs/_data), whose files it would overwrite or remove: give "
            "restore-dir a folder outside every volume");
  EXPECT_THAT(error_of({"rollback-dir", "/var/lib/docker/volumes/connectware_service-manager/_data/"}),
              HasSubstr("rollback-dir /var/lib/docker/volumes/connectware_service-manager/_data/ is the folder of "
                        "volume connectware_service-manager"));
  EXPECT_THAT(error_of({"staging-dir", "/var/lib/docker"}),
              HasSubstr("staging-dir /var/lib/docker holds volume connectware_service-manager"));
  EXPECT_TRUE(check_work_folders_apart({{"staging-dir", "/var/lib/connectware-backup/staging"},
                                        {"restore-dir", "/var/lib/docker/volumes/connectware_service-manager/_data2"}},
                                       volumes));
}

TEST(ComposeVolumeName, IsTheProjectThenTheVolume) {
  EXPECT_EQ(compose_volume_name("connectware", "service-manager"), "connectware_service-manager");
  EXPECT_EQ(compose_volume_name("edge-2", "certs"), "edge-2_certs");
}

TEST_F(InstallationTest, ComposeLocatesVolumesThroughTheEngineUnlessAFolderIsGiven) {
  runtime_.volumes["connectware_service-manager"] = path("docker-sm");
  ComposeSettings settings;
  settings.volume_paths = {{"certs", path("certs")}};
  ComposeInstallation compose(settings, runtime_, runner_, environment_);
  auto volumes = compose.locate_volumes({"service-manager", "certs"});
  ASSERT_TRUE(volumes) << volumes.error().message;
  ASSERT_EQ(volumes->size(), 2u);
  EXPECT_EQ((*volumes)[0].source, "connectware_service-manager");
  EXPECT_EQ((*volumes)[0].path, path("docker-sm"));
  EXPECT_EQ((*volumes)[1].source, path("certs").string());
  EXPECT_EQ((*volumes)[1].path, path("certs"));
}

TEST_F(InstallationTest, AVolumeTheEngineDoesNotKnowIsVolumeMissingNamingIt) {
  ComposeInstallation compose({}, runtime_, runner_, environment_);
  auto volumes = compose.locate_volumes({"service-manager"});
  ASSERT_FALSE(volumes);
  EXPECT_EQ(volumes.error().kind, ErrorKind::volume_missing);
  EXPECT_NE(volumes.error().message.find("connectware_service-manager"), std::string::npos) << volumes.error().message;
}

TEST_F(InstallationTest, ComposeVolumeUsersAreTheContainersMountingThem) {
  runtime_.volumes["connectware_service-manager"] = path("docker-sm");
  runtime_.add("sm1", {{"com.docker.compose.project", "connectware"}}, {"connectware_service-manager"});
  runtime_.add("broker1", {{"com.docker.compose.project", "connectware"}}, {"connectware_brokerData"});
  ComposeInstallation compose({}, runtime_, runner_, environment_);
  auto volumes = compose.locate_volumes({"service-manager"});
  ASSERT_TRUE(volumes);
  auto users = compose.volume_users(*volumes);
  ASSERT_TRUE(users) << users.error().message;
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->front().id, "sm1");
  ASSERT_TRUE(compose.stop(users->front()));
  EXPECT_EQ(runtime_.state_of("sm1"), "exited");
  ASSERT_TRUE(compose.start(users->front()));
  EXPECT_EQ(runtime_.state_of("sm1"), "running");
}

TEST_F(InstallationTest, AVolumeUserItsOperatorStoppedIsMarkedNotRunning) {
  runtime_.volumes["connectware_service-manager"] = path("docker-sm");
  runtime_.add("sm1", {{"com.docker.compose.project", "connectware"}}, {"connectware_service-manager"});
  runtime_.add("mapper1", {{"com.docker.compose.project", "connectware"}}, {"connectware_service-manager"}, "exited");
  runtime_.add("never1", {{"com.docker.compose.project", "connectware"}}, {"connectware_service-manager"}, "created");
  ComposeInstallation compose({}, runtime_, runner_, environment_);
  auto volumes = compose.locate_volumes({"service-manager"});
  ASSERT_TRUE(volumes);
  auto users = compose.volume_users(*volumes);
  ASSERT_TRUE(users) << users.error().message;
  std::map<std::string, bool> running;
  for (const auto& user : *users)
    running[user.id] = user.running;
  EXPECT_EQ(running, (std::map<std::string, bool>{{"mapper1", false}, {"never1", false}, {"sm1", true}}));
}

TEST_F(InstallationTest, ComposeHoldsThePauseServicesAndDescribesTheProject) {
  runtime_.add("sm1",
               {{"com.docker.compose.project", "connectware"}, {"com.docker.compose.service", "service-manager"}});
  runtime_.add("core1", {{"io.cybus.connectware", "core"}});
  ComposeInstallation compose({}, runtime_, runner_, environment_);
  EXPECT_TRUE(compose.can_hold_configuration());
  const StatePaths paths{path("state")};
  {
    auto hold = compose.hold_configuration(paths);
    ASSERT_TRUE(hold) << hold.error().message;
    EXPECT_EQ((*hold)->held(), std::vector<std::string>{"sm1"});
    EXPECT_EQ(runtime_.state_of("sm1"), "paused");
  }
  EXPECT_EQ(runtime_.state_of("sm1"), "running");
  auto description = compose.describe({Volume{"service-manager", "connectware_service-manager", path("sm"), {}}});
  ASSERT_TRUE(description);
  EXPECT_EQ(description->platform, "compose");
  EXPECT_EQ(description->project, "connectware");
  EXPECT_EQ(description->volumes, std::vector<std::string>{"connectware_service-manager"});
  EXPECT_EQ(description->containers, (std::vector<std::string>{"core1", "sm1"}));
}

TEST_F(InstallationTest, ComposeRestartsItsContainersOrRunsTheRestartCommand) {
  runtime_.add("core1", {{"io.cybus.connectware", "core"}});
  ComposeInstallation by_engine({}, runtime_, runner_, environment_);
  auto restarted = by_engine.restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(*restarted, "restarted 1 container(s)");
  EXPECT_TRUE(std::ranges::any_of(runtime_.calls, [](const auto& call) { return call.starts_with("restart core1"); }));

  ComposeSettings settings;
  settings.restart_command = {"/bin/sh", "-c", "touch " + path("restarted").string()};
  ComposeInstallation by_command(settings, runtime_, runner_, environment_);
  ASSERT_TRUE(by_command.restart());
  EXPECT_TRUE(fs::exists(path("restarted")));
}

TEST_F(InstallationTest, ComposeRestartLeavesTheContainersItsOperatorStoppedStoppedAndSaysSo) {
  runtime_.add("core1", {{"io.cybus.connectware", "core"}});
  runtime_.add("mapper1", {{"com.docker.compose.project", "connectware"}}, {}, "exited");
  runtime_.add("never1", {{"io.cybus.connectware", "core"}}, {}, "created");
  ComposeInstallation compose({}, runtime_, runner_, environment_);
  auto restarted = compose.restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(*restarted, "restarted 1 container(s); left stopped as before: never1 (created), mapper1 (exited)");
  EXPECT_EQ(runtime_.state_of("core1"), "running");
  EXPECT_EQ(runtime_.state_of("mapper1"), "exited");
  EXPECT_EQ(runtime_.state_of("never1"), "created");
  EXPECT_THAT(compose.describe_restart(), testing::HasSubstr("every running container"));
}

TEST_F(InstallationTest, HostLocatesOnlyTheFoldersItIsGiven) {
  HostInstallation host(HostSettings{{{"service-manager", path("sm")}}, {}, {}}, runner_, environment_);
  auto volumes = host.locate_volumes({"service-manager"});
  ASSERT_TRUE(volumes) << volumes.error().message;
  EXPECT_EQ(volumes->front().path, path("sm"));
  EXPECT_EQ(volumes->front().source, path("sm").string());

  auto unknown = host.locate_volumes({"certs"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::volume_missing);
  EXPECT_NE(unknown.error().message.find("volume-paths = certs=/path"), std::string::npos) << unknown.error().message;

  HostInstallation missing_folder(HostSettings{{{"service-manager", path("nowhere")}}, {}, {}}, runner_, environment_);
  auto gone = missing_folder.locate_volumes({"service-manager"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::volume_missing);
}

TEST_F(InstallationTest, HostCannotPauseAndHoldsNothingAfterACrash) {
  HostInstallation host({}, runner_, environment_);
  EXPECT_FALSE(host.can_hold_configuration());
  auto hold = host.hold_configuration(StatePaths{path("state")});
  ASSERT_FALSE(hold);
  EXPECT_EQ(hold.error().kind, ErrorKind::usage);
  auto released = host.release_leftover_hold(StatePaths{path("state")});
  ASSERT_TRUE(released);
  EXPECT_TRUE(released->empty());
}

TEST_F(InstallationTest, HostStopsWithTheStopCommandAndRestartsWithTheRestartCommand) {
  HostSettings settings;
  settings.stop_command = {"/bin/sh", "-c", "echo stopped >> " + path("log").string()};
  settings.restart_command = {"/bin/sh", "-c", "echo restarted >> " + path("log").string()};
  HostInstallation host(settings, runner_, environment_);
  ASSERT_TRUE(host.check_restart_possible());
  auto users = host.volume_users({});
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 1u);
  ASSERT_TRUE(host.stop(users->front()));
  ASSERT_TRUE(host.start(users->front()));
  auto restarted = host.restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  auto log = util::read_file(path("log"));
  ASSERT_TRUE(log);
  EXPECT_EQ(*log, "stopped\nrestarted\n");
}

TEST_F(InstallationTest, HostWithoutARestartCommandCannotRestoreAndAFailingCommandSaysSo) {
  HostInstallation without({}, runner_, environment_);
  auto possible = without.check_restart_possible();
  ASSERT_FALSE(possible);
  EXPECT_EQ(possible.error().kind, ErrorKind::usage);
  EXPECT_NE(possible.error().message.find("restart-command"), std::string::npos);

  HostSettings settings;
  settings.restart_command = {"/bin/sh", "-c", "echo 'unit not found' >&2; exit 5"};
  HostInstallation failing(settings, runner_, environment_);
  auto restarted = failing.restart();
  ASSERT_FALSE(restarted);
  EXPECT_EQ(restarted.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(restarted.error().message.find("unit not found"), std::string::npos) << restarted.error().message;
}

TEST_F(InstallationTest, AutoChoosesComposeWhenTheEngineAnswers) {
  const auto settings = config({{"platform", "auto"}});
  auto selected = select_installation(settings, &runtime_, runner_, environment_);
  ASSERT_TRUE(selected) << selected.error().message;
  EXPECT_EQ(selected->installation->platform(), Platform::compose);
  EXPECT_NE(selected->reason.find("answers"), std::string::npos) << selected->reason;
}

TEST_F(InstallationTest, AutoChoosesHostWhenNoEngineAnswersAndEveryFolderIsGiven) {
  runtime_.fail_always("list", "*", Error{ErrorKind::container_runtime, "cannot connect to the Docker engine"});
  const auto settings = config({{"volume-path", path("sm").string()}});
  auto selected = select_installation(settings, &runtime_, runner_, environment_);
  ASSERT_TRUE(selected) << selected.error().message;
  EXPECT_EQ(selected->installation->platform(), Platform::host);
  EXPECT_NE(selected->reason.find("cannot connect"), std::string::npos) << selected->reason;

  auto without_engine = select_installation(settings, nullptr, runner_, environment_);
  ASSERT_TRUE(without_engine);
  EXPECT_EQ(without_engine->installation->platform(), Platform::host);
}

TEST_F(InstallationTest, AutoWithAConfiguredEngineDownAndNoFoldersIsAnEngineOutage) {
  runtime_.fail_always("list", "*", Error{ErrorKind::container_runtime, "cannot connect to the Docker engine"});
  auto selected = select_installation(config({}), &runtime_, runner_, environment_);
  ASSERT_FALSE(selected);
  EXPECT_EQ(selected.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(selected.error().message.find("cannot connect"), std::string::npos) << selected.error().message;
  EXPECT_NE(selected.error().message.find("volume-paths"), std::string::npos) << selected.error().message;
}

TEST_F(InstallationTest, AutoWithNeitherWayIsAUsageErrorNamingBoth) {
  const auto settings = config({});
  auto selected = select_installation(settings, nullptr, runner_, environment_);
  ASSERT_FALSE(selected);
  EXPECT_EQ(selected.error().kind, ErrorKind::usage);
  EXPECT_NE(selected.error().message.find("docker-host"), std::string::npos) << selected.error().message;
  EXPECT_NE(selected.error().message.find("volume-paths"), std::string::npos) << selected.error().message;
  EXPECT_NE(selected.error().message.find("service-manager"), std::string::npos) << selected.error().message;
}

TEST_F(InstallationTest, AnExplicitPlatformIsTakenWithoutAskingTheEngine) {
  auto host = select_installation(config({{"platform", "host"}}), &runtime_, runner_, environment_);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->installation->platform(), Platform::host);
  EXPECT_TRUE(runtime_.calls.empty());

  auto compose = select_installation(config({{"platform", "compose"}}), &runtime_, runner_, environment_);
  ASSERT_TRUE(compose);
  EXPECT_EQ(compose->installation->platform(), Platform::compose);
  EXPECT_TRUE(runtime_.calls.empty());

  auto no_engine = select_installation(config({{"platform", "compose"}}), nullptr, runner_, environment_);
  ASSERT_FALSE(no_engine);
  EXPECT_EQ(no_engine.error().kind, ErrorKind::usage);
}

TEST_F(InstallationTest, OnlyOneRunLockIsGrantedAtATime) {
  const StatePaths paths{path("state")};
  auto first = acquire_run_lock(paths, LockWait::no);
  ASSERT_TRUE(first) << first.error().message;
  auto second = acquire_run_lock(paths, LockWait::no);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::locked);
  first->release();
  EXPECT_TRUE(acquire_run_lock(paths, LockWait::no));
}

} // namespace
} // namespace cwb::installation
