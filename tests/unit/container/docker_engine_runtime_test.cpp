#include "container/docker_engine_runtime.hpp"
#include "http/curl_transport.hpp"

#include "support/fake_container_runtime.hpp"
#include "support/loopback_server.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <mutex>

namespace cwb::container {
namespace {

using namespace std::chrono_literals;

// Shaped like the answers of a real Docker 20.10 engine (trimmed).
constexpr const char* recorded_list = R"([
  {"Id": "8dfafdbc3a40", "Names": ["/connectware-broker-1"], "Image": "registry.cybus.io/cybus/broker:1.10.2",
   "Labels": {"com.docker.compose.project": "connectware", "com.docker.compose.service": "broker",
              "io.cybus.connectware": "core"},
   "State": "running", "Status": "Up 3 hours",
   "Mounts": [{"Type": "volume", "Name": "connectware_brokerData", "Source": "/var/lib/docker/volumes/connectware_brokerData/_data",
               "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""},
              {"Type": "bind", "Source": "/opt/connectware/certs", "Destination": "/certs", "Mode": "", "RW": false,
               "Propagation": "rprivate"}]},
  {"Id": "9cbd0ae1f2e3", "Names": ["/connectware-service-manager-1"], "Labels": {"io.cybus.connectware": "core"},
   "State": "exited", "Status": "Exited (0) 2 minutes ago", "Mounts": []},
  {"Id": "gone00000000", "Names": ["/removed-meanwhile"], "Labels": null, "State": "running", "Mounts": null}
])";

constexpr const char* recorded_inspect_broker = R"({
  "Id": "8dfafdbc3a40", "Created": "2024-01-01T10:00:00.000000000Z", "Name": "/connectware-broker-1",
  "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "Pid": 4242,
            "ExitCode": 0, "StartedAt": "2024-01-01T10:00:01.123456789Z", "FinishedAt": "0001-01-01T00:00:00Z"},
  "Config": {"Hostname": "8dfafdbc3a40", "Labels": {"io.cybus.connectware": "core", "com.docker.compose.service": "broker"}},
  "Mounts": [{"Type": "volume", "Name": "connectware_brokerData", "Destination": "/data"}]
})";

constexpr const char* recorded_inspect_manager = R"({
  "Id": "9cbd0ae1f2e3", "Name": "/connectware-service-manager-1",
  "State": {"Status": "exited", "Running": false, "StartedAt": "2024-01-01T09:00:00Z"},
  "Config": {"Labels": {"io.cybus.connectware": "core"}}, "Mounts": []
})";

class FakeDockerEngine {
public:
  FakeDockerEngine() {
    auto server = std::make_unique<httplib::Server>();
    server->Get("/v1.41/containers/json", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      filters = req.get_param_value("filters");
      res.set_content(recorded_list, "application/json");
    });
    server->Get(R"(/v1\.41/containers/([^/]+)/json)", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      const auto id = req.matches[1].str();
      if (id == "8dfafdbc3a40") return res.set_content(recorded_inspect_broker, "application/json");
      if (id == "9cbd0ae1f2e3") return res.set_content(recorded_inspect_manager, "application/json");
      res.status = 404;
      res.set_content(R"({"message":"No such container: )" + id + "\"}", "application/json");
    });
    server->Post(R"(/v1\.41/containers/([^/]+)/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      const auto action = req.matches[2].str();
      std::lock_guard lock(mutex_);
      res.status = action_status.contains(action) ? action_status[action] : 204;
      if (res.status >= 400) {
        res.set_content(R"({"message":"Container 8dfafdbc3a40 is not running"})", "application/json");
      }
    });
    server->Get(R"(/v1\.41/volumes/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      if (req.matches[1].str() == "connectware_service-manager") {
        return res.set_content(R"({"CreatedAt":"2024-01-01T09:00:00Z","Driver":"local","Labels":null,
          "Mountpoint":"/var/lib/docker/volumes/connectware_service-manager/_data","Name":"connectware_service-manager",
          "Options":null,"Scope":"local"})",
                               "application/json");
      }
      res.status = 404;
      res.set_content(R"({"message":"get nope: no such volume"})", "application/json");
    });
    loopback_ = std::make_unique<test::LoopbackServer>(std::move(server));
  }

  std::unique_ptr<DockerEngineRuntime> runtime() {
    DockerEndpoint endpoint;
    endpoint.base_url = loopback_->base_url();
    endpoint.description = "test engine";
    return std::make_unique<DockerEngineRuntime>(std::make_unique<http::CurlTransport>(), endpoint);
  }

  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  std::map<std::string, int> action_status;
  std::string filters;

private:
  void record(const httplib::Request& req) {
    std::lock_guard lock(mutex_);
    requests_.push_back(req.method + " " + req.target);
  }
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::unique_ptr<test::LoopbackServer> loopback_;
};

TEST(DockerEngineRuntime, ListsContainersByLabelAndParsesTheRecordedJson) {
  FakeDockerEngine engine;
  auto runtime = engine.runtime();
  auto containers = runtime->list_containers(LabelFilter{{"io.cybus.connectware=core"}});
  ASSERT_TRUE(containers) << containers.error().message;
  EXPECT_EQ(nlohmann::json::parse(engine.filters), nlohmann::json::parse(R"({"label":["io.cybus.connectware=core"]})"));
  ASSERT_EQ(containers->size(), 2u); // the third vanished between list and inspect
  const auto& broker = (*containers)[0];
  EXPECT_EQ(broker.id, "8dfafdbc3a40");
  EXPECT_EQ(broker.name, "connectware-broker-1");
  EXPECT_EQ(broker.state, "running");
  EXPECT_EQ(broker.started_at, "2024-01-01T10:00:01.123456789Z");
  EXPECT_EQ(broker.labels.at("com.docker.compose.service"), "broker");
  EXPECT_EQ(broker.mounts, std::vector<std::string>{"connectware_brokerData"});
  EXPECT_EQ((*containers)[1].state, "exited");
  const auto requests = engine.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_TRUE(requests[0].starts_with("GET /v1.41/containers/json?all=1&filters=")) << requests[0];
  EXPECT_EQ(requests[1], "GET /v1.41/containers/8dfafdbc3a40/json");
}

TEST(DockerEngineRuntime, ActionsUseTheRightMethodsAndPaths) {
  FakeDockerEngine engine;
  auto runtime = engine.runtime();
  ASSERT_TRUE(runtime->pause("8dfafdbc3a40"));
  ASSERT_TRUE(runtime->unpause("8dfafdbc3a40"));
  ASSERT_TRUE(runtime->stop("8dfafdbc3a40", 15s));
  ASSERT_TRUE(runtime->start("8dfafdbc3a40"));
  ASSERT_TRUE(runtime->restart("8dfafdbc3a40", 20s));
  EXPECT_EQ(engine.requests(), (std::vector<std::string>{
                                   "POST /v1.41/containers/8dfafdbc3a40/pause",
                                   "POST /v1.41/containers/8dfafdbc3a40/unpause",
                                   "POST /v1.41/containers/8dfafdbc3a40/stop?t=15",
                                   "POST /v1.41/containers/8dfafdbc3a40/start",
                                   "POST /v1.41/containers/8dfafdbc3a40/restart?t=20",
                               }));
}

TEST(DockerEngineRuntime, NotModifiedOnStartAndStopIsSuccess) {
  FakeDockerEngine engine;
  engine.action_status = {{"start", 304}, {"stop", 304}};
  auto runtime = engine.runtime();
  EXPECT_TRUE(runtime->start("8dfafdbc3a40"));
  EXPECT_TRUE(runtime->stop("8dfafdbc3a40", 10s));
}

TEST(DockerEngineRuntime, EngineErrorsCarryTheEngineMessage) {
  FakeDockerEngine engine;
  engine.action_status = {{"pause", 409}, {"unpause", 404}};
  auto runtime = engine.runtime();
  auto paused = runtime->pause("8dfafdbc3a40");
  ASSERT_FALSE(paused);
  EXPECT_EQ(paused.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(paused.error().message.find("is not running"), std::string::npos) << paused.error().message;
  auto unpaused = runtime->unpause("8dfafdbc3a40");
  ASSERT_FALSE(unpaused);
  EXPECT_EQ(unpaused.error().kind, ErrorKind::not_found);
}

TEST(DockerEngineRuntime, InspectOfAMissingContainerIsNotFound) {
  FakeDockerEngine engine;
  auto info = engine.runtime()->inspect("nope");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::not_found);
  EXPECT_NE(info.error().message.find("No such container: nope"), std::string::npos);
}

TEST(DockerEngineRuntime, FindsAVolumeMountpointOrReportsNotFound) {
  FakeDockerEngine engine;
  auto runtime = engine.runtime();
  auto mountpoint = runtime->volume_mountpoint("connectware_service-manager");
  ASSERT_TRUE(mountpoint) << mountpoint.error().message;
  EXPECT_EQ(*mountpoint, "/var/lib/docker/volumes/connectware_service-manager/_data");
  auto missing = runtime->volume_mountpoint("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  EXPECT_EQ(engine.requests().back(), "GET /v1.41/volumes/nope");
}

TEST(DockerEngineRuntime, UnreachableEngineIsAContainerRuntimeError) {
  DockerEndpoint endpoint;
  endpoint.base_url = "http://127.0.0.1:" + std::to_string(test::unused_port());
  DockerEngineRuntime runtime(std::make_unique<http::CurlTransport>(), endpoint);
  auto containers = runtime.list_containers({});
  ASSERT_FALSE(containers);
  EXPECT_EQ(containers.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(containers.error().message.find("Docker engine"), std::string::npos);
}

TEST(DockerEngineRuntime, TalksOverAUnixSocket) {
  // httplib 0.11 cannot serve on a unix socket, so the socket path is only checked to be used: a missing
  // socket must fail as a connection problem naming the socket, not as a TCP connection to "localhost".
  auto runtime = DockerEngineRuntime::over_socket("/nonexistent/cwb/docker.sock");
  auto containers = runtime->list_containers({});
  ASSERT_FALSE(containers);
  EXPECT_EQ(containers.error().kind, ErrorKind::container_runtime);
  EXPECT_NE(containers.error().message.find("/nonexistent/cwb/docker.sock"), std::string::npos);
}

TEST(ParseContainerInspect, ToleratesNullLabelsAndMounts) {
  auto info = parse_container_inspect(R"({"Id":"x","Name":"/n","State":{"Status":"paused"},"Config":{"Labels":null},
                                           "Mounts":null,"Unknown":{"a":1}})");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->state, "paused");
  EXPECT_TRUE(info->labels.empty());
  EXPECT_TRUE(info->mounts.empty());
  EXPECT_FALSE(parse_container_inspect("<html>"));
  EXPECT_FALSE(parse_container_inspect(R"({"Name":"/no-id"})"));
}

TEST(LabelFilter, MatchesKeysAndKeyValuePairs) {
  const std::map<std::string, std::string> labels{{"io.cybus.connectware", "core"}, {"a", "b"}};
  EXPECT_TRUE(matches(LabelFilter{{"io.cybus.connectware=core", "a"}}, labels));
  EXPECT_FALSE(matches(LabelFilter{{"io.cybus.connectware=edge"}}, labels));
  EXPECT_FALSE(matches(LabelFilter{{"missing"}}, labels));
  EXPECT_TRUE(matches(LabelFilter{}, labels));
}

TEST(FakeContainerRuntime, FollowsDockerStateRulesAndRecordsCalls) {
  test::FakeContainerRuntime fake;
  fake.add("c1", {{"io.cybus.connectware", "core"}}, {"connectware_postgresql"}).add("c2", {{"other", "x"}});
  fake.volumes["connectware_postgresql"] = "/var/lib/docker/volumes/connectware_postgresql/_data";
  auto listed = fake.list_containers(LabelFilter{{"io.cybus.connectware=core"}});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE(fake.pause("c1"));
  EXPECT_EQ(fake.state_of("c1"), "paused");
  EXPECT_FALSE(fake.pause("c1"));
  fake.fail_next("unpause", "*", Error{ErrorKind::container_runtime, "boom"});
  EXPECT_FALSE(fake.unpause("c1"));
  EXPECT_TRUE(fake.unpause("c1"));
  const auto before = fake.inspect("c1")->started_at;
  ASSERT_TRUE(fake.restart("c1", 5s));
  EXPECT_NE(fake.inspect("c1")->started_at, before);
  EXPECT_EQ(fake.pause("nope").error().kind, ErrorKind::not_found);
  EXPECT_EQ(fake.volume_mountpoint("missing").error().kind, ErrorKind::not_found);
  EXPECT_EQ(fake.calls[0], "list io.cybus.connectware=core");
  EXPECT_EQ(fake.calls[1], "pause c1");
}

} // namespace
} // namespace cwb::container
