#include "harness/docker_engine.hpp"
#include "harness/emulator.hpp"
#include "support/postgres_cluster.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

namespace cwb::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One engine (and one PostgreSQL) for the whole suite: dockerd takes seconds to start.
class DockerEngineTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    auto dir = util::TemporaryDirectory::create("", "harness-docker-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    suite_dir_ = std::make_unique<util::TemporaryDirectory>(std::move(*dir));
    auto engine = DockerEngine::start(suite_dir_->path());
    ASSERT_TRUE(engine) << engine.error().message;
    engine_ = std::make_unique<DockerEngine>(std::move(*engine));
    auto imported = engine_->import_busybox();
    ASSERT_TRUE(imported) << imported.error().message;
  }

  static void TearDownTestSuite() {
    engine_.reset();
    suite_dir_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(engine_) << "the suite's engine did not start";
    auto dir = util::TemporaryDirectory::create("", "harness-docker-case-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
  }

  static std::string run_checked(const std::vector<std::string>& args) {
    auto out = engine_->docker_checked(args);
    EXPECT_TRUE(out) << out.error().message;
    return out.value_or("");
  }

  static inline std::unique_ptr<util::TemporaryDirectory> suite_dir_;
  static inline std::unique_ptr<DockerEngine> engine_;
  util::TemporaryDirectory dir_;
};

TEST_F(DockerEngineTest, BusyboxContainerWritesIntoANamedVolumeVisibleAtItsMountpoint) {
  run_checked({"volume", "create", "harness-test-volume"});
  const fs::path mountpoint = run_checked({"volume", "inspect", "-f", "{{.Mountpoint}}", "harness-test-volume"});
  run_checked({"run", "--rm", "--network", "none", "-v", "harness-test-volume:/data", DockerEngine::busybox_image,
               "/bin/busybox", "sh", "-c", "echo written-in-container > /data/proof.txt"});
  auto content = util::read_file(mountpoint / "proof.txt");
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(*content, "written-in-container\n");
  run_checked({"volume", "rm", "harness-test-volume"});
}

TEST_F(DockerEngineTest, AFailingCommandIsAContainerRuntimeErrorWithTheCliMessage) {
  auto result = engine_->docker_checked({"inspect", "no-such-container"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(result.error().message.find("no-such-container"), std::string::npos) << result.error().message;
}

TEST_F(DockerEngineTest, StoppingAnEngineLeavesNoDaemonShimOrContainerBehind) {
  // A second engine of its own, with a container that ignores SIGTERM (a PID 1 without a handler).
  auto engine = DockerEngine::start(dir_.path());
  ASSERT_TRUE(engine) << engine.error().message;
  ASSERT_TRUE(engine->import_busybox());
  auto started = engine->docker_checked(
      {"run", "-d", "--network", "none", DockerEngine::busybox_image, "/bin/busybox", "sleep", "600"});
  ASSERT_TRUE(started) << started.error().message;
  const auto processes = engine->processes();
  // dockerd, containerd, the shim and the container's sleep.
  EXPECT_GE(processes.size(), 4U);
  const auto before = std::chrono::steady_clock::now();
  engine->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 15s);
  EXPECT_TRUE(still_running(processes).empty());
}

// The emulator as Connectware's two containers on the suite's engine.
class EmulatorContainersTest : public DockerEngineTest {
protected:
  void SetUp() override {
    DockerEngineTest::SetUp();
    if (HasFatalFailure()) return;
    auto postgres = PostgresCluster::start(dir_.path());
    ASSERT_TRUE(postgres) << postgres.error().message;
    postgres_ = std::make_unique<PostgresCluster>(std::move(*postgres));
    auto containers = EmulatorContainers::start(dir_.path(), *engine_, *postgres_);
    ASSERT_TRUE(containers) << containers.error().message;
    containers_ = std::make_unique<EmulatorContainers>(std::move(*containers));
  }

  void TearDown() override {
    containers_.reset();
    postgres_.reset();
  }

  std::unique_ptr<httplib::SSLClient> client(std::chrono::seconds read_timeout = 10s) const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", containers_->port());
    client->set_ca_cert_path(containers_->ca_file().c_str());
    client->enable_server_certificate_verification(true);
    client->set_read_timeout(read_timeout);
    const auto admin = admin_credentials();
    client->set_basic_auth(admin.username.c_str(), admin.password.c_str());
    return client;
  }

  std::unique_ptr<PostgresCluster> postgres_;
  std::unique_ptr<EmulatorContainers> containers_;
};

TEST_F(EmulatorContainersTest, FrontDoorAnswersSystemInfoOverVerifiedHttps) {
  auto https = client();
  const auto response = https->Get("/api/system/info");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_NE(response->body.find("1.10.2"), std::string::npos) << response->body;
}

TEST_F(EmulatorContainersTest, ContainersCarryComposeLabelsAndTheServiceManagerUsesTheNamedVolume) {
  EXPECT_EQ(run_checked({"inspect", "-f", "{{index .Config.Labels \"com.docker.compose.service\"}}",
                         EmulatorContainers::service_manager_container}),
            "service-manager");
  EXPECT_EQ(run_checked({"inspect", "-f", "{{index .Config.Labels \"com.docker.compose.project\"}}",
                         EmulatorContainers::front_container}),
            "connectware");
  EXPECT_EQ(run_checked({"inspect", "-f", "{{index .Config.Labels \"io.cybus.connectware\"}}",
                         EmulatorContainers::front_container}),
            "core");
  const auto mounts = run_checked({"inspect", "-f", "{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}",
                                   EmulatorContainers::service_manager_container});
  EXPECT_NE(mounts.find(std::string(EmulatorContainers::volume) + "=/data"), std::string::npos) << mounts;
  EXPECT_TRUE(fs::is_directory(containers_->volume_mountpoint())) << containers_->volume_mountpoint();
}

TEST_F(EmulatorContainersTest, PausingTheServiceManagerHoldsServiceRequestsUntilUnpaused) {
  run_checked({"pause", EmulatorContainers::service_manager_container});
  auto pending = std::async(std::launch::async, [this] {
    auto https = client(30s);
    const auto response = https->Get("/api/services/");
    return response ? response->status : -1;
  });
  EXPECT_EQ(pending.wait_for(2s), std::future_status::timeout) << "answered while the service-manager was frozen";
  run_checked({"unpause", EmulatorContainers::service_manager_container});
  ASSERT_EQ(pending.wait_for(15s), std::future_status::ready);
  EXPECT_EQ(pending.get(), 200);
}

TEST_F(EmulatorContainersTest, StopRemovesBothContainersAndLeavesNoProcessBehind) {
  const auto processes = containers_->processes();
  EXPECT_GE(processes.size(), 2U);
  containers_->stop();
  EXPECT_TRUE(still_running(processes).empty());
  const auto left = run_checked({"ps", "-aq", "--filter", "label=com.docker.compose.project=connectware"});
  EXPECT_EQ(left, "");
  EXPECT_FALSE(engine_->docker_checked({"volume", "inspect", EmulatorContainers::volume}));
}

} // namespace
} // namespace cwb::test
