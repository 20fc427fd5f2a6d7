#include "connectware/client.hpp"
#include "connectware/database_operations.hpp"

#include "support/fake_connectware.hpp"

#include <gtest/gtest.h>

namespace cwb::connectware {
namespace {

using namespace std::chrono_literals;
using test::FakeConnectware;
using test::status_json;

struct ClientSetup {
  explicit ClientSetup(FakeConnectware& server, std::optional<ClientOptions> options = std::nullopt)
      : client(options ? *options : server.options(), transport, sleeper, clock) {}
  http::CurlTransport transport;
  test::FakeClock clock;
  test::FakeSleeper sleeper{&clock};
  ConnectwareClient client;
};

util::TemporaryDirectory temp_dir() {
  auto dir = util::TemporaryDirectory::create({}, "cwb-connectware-test-");
  EXPECT_TRUE(dir);
  return std::move(*dir);
}

TEST(ConnectwareClient, ReadsTheStatusWithBasicAuth) {
  FakeConnectware server;
  server.statuses = {status_json(false, "1.0.73_x", true)};
  ClientSetup setup(server);
  auto status = setup.client.status();
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->backup->id, "1.0.73_x");
  EXPECT_EQ(server.last_authorization, "Basic YWRtaW46YWRtaW4=");
}

TEST(ConnectwareClient, SendsATokenAsBearer) {
  FakeConnectware server;
  server.statuses = {status_json(false, "a", true)};
  auto options = server.options();
  options.credentials = TokenCredentials{Secret("jwt.abc")};
  ClientSetup setup(server, options);
  ASSERT_TRUE(setup.client.status());
  EXPECT_EQ(server.last_authorization, "Bearer jwt.abc");
}

TEST(ConnectwareClient, Tells401And403Apart) {
  FakeConnectware server;
  auto options = server.options();
  options.credentials = PasswordCredentials{"backup", Secret("very-secret-pw")};
  server.status_code = 401;
  ClientSetup setup(server, options);
  auto unauthorized = setup.client.status();
  ASSERT_FALSE(unauthorized);
  EXPECT_EQ(unauthorized.error().kind, ErrorKind::authentication);
  EXPECT_NE(unauthorized.error().message.find("rejected the credentials"), std::string::npos);
  EXPECT_EQ(unauthorized.error().message.find("very-secret-pw"), std::string::npos);

  server.status_code = 403;
  auto forbidden = setup.client.status();
  ASSERT_FALSE(forbidden);
  EXPECT_EQ(forbidden.error().kind, ErrorKind::authentication);
  EXPECT_NE(forbidden.error().message.find("HTTP 403 from GET /api/maintenance/db: the user has no read right on "
                                           "/api/maintenance/db: grant read on /api/maintenance/db"),
            std::string::npos)
      << forbidden.error().message;
  EXPECT_EQ(forbidden.error().message.find("very-secret-pw"), std::string::npos);
}

TEST(ConnectwareClient, FallsBackToTheOlderStatusPathOn404) {
  FakeConnectware server;
  server.statuses = {status_json(false, "old-path", true)};
  auto options = server.options();
  options.status_path = "/api/maintenance/database/status";
  options.fallback_status_paths = {"/api/maintenance/db"};
  ClientSetup setup(server, options);
  auto status = setup.client.status();
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->backup->id, "old-path");
  EXPECT_EQ(setup.client.options().status_path, "/api/maintenance/db");
}

TEST(ConnectwareClient, UnreachableServerNamesTheUrlButNotThePassword) {
  ClientOptions options;
  options.base_url = "https://127.0.0.1:" + std::to_string(test::unused_port());
  options.credentials = PasswordCredentials{"admin", Secret("pw-should-not-appear")};
  options.retry.max_attempts = 2;
  http::CurlTransport transport;
  test::FakeClock clock;
  test::FakeSleeper sleeper(&clock);
  ConnectwareClient client(options, transport, sleeper, clock);
  auto status = client.status();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, ErrorKind::unreachable);
  EXPECT_NE(status.error().message.find(options.base_url + "/api/maintenance/db"), std::string::npos);
  EXPECT_EQ(status.error().message.find("pw-should-not-appear"), std::string::npos);
  EXPECT_EQ(sleeper.sleeps.size(), 1u);
}

TEST(ConnectwareClient, StartBackupConflictIsExportFailed) {
  FakeConnectware server;
  server.backup_post_status = 409;
  ClientSetup setup(server);
  auto started = setup.client.start_backup();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().kind, ErrorKind::export_failed);
  EXPECT_NE(started.error().message.find("an operation is already running"), std::string::npos);
  EXPECT_EQ(server.backup_posts, 1);
}

TEST(ConnectwareClient, DownloadWithNothingToDownloadIsExportFailed) {
  FakeConnectware server;
  auto dir = temp_dir();
  ClientSetup setup(server);
  auto archive = setup.client.download_backup(dir.path() / "db.tgz");
  ASSERT_FALSE(archive);
  EXPECT_EQ(archive.error().kind, ErrorKind::export_failed);
}

TEST(ConnectwareClient, TruncatedDownloadIsExportInvalid) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/api/maintenance/db/backup", [](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(100'000, "application/gzip", [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
      if (offset > 0) return false;
      return sink.write("partial", 7);
    });
  });
  test::LoopbackServer loopback(std::move(server));
  ClientOptions options;
  options.base_url = loopback.base_url();
  options.retry.max_attempts = 2;
  http::CurlTransport transport;
  test::FakeClock clock;
  test::FakeSleeper sleeper(&clock);
  ConnectwareClient client(options, transport, sleeper, clock);
  auto dir = temp_dir();
  auto archive = client.download_backup(dir.path() / "db.tgz");
  ASSERT_FALSE(archive);
  EXPECT_EQ(archive.error().kind, ErrorKind::export_invalid) << archive.error().message;
  EXPECT_EQ(sleeper.sleeps.size(), 1u); // retried once
}

TEST(ConnectwareClient, ReadsVersionHealthAndServices) {
  FakeConnectware server;
  server.healths = {R"({"system":{"status":[{"name":"broker","status":"running","uptime":"3h"},
                                            {"name":"postgresql","status":"starting","uptime":12}]}})"};
  ClientSetup setup(server);
  auto info = setup.client.system_info();
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->version, "1.10.2");
  auto health = setup.client.health();
  ASSERT_TRUE(health) << health.error().message;
  ASSERT_EQ(health->size(), 2u);
  EXPECT_EQ((*health)[1].name, "postgresql");
  EXPECT_EQ((*health)[1].status, "starting");
  EXPECT_EQ((*health)[1].uptime, "12");
  auto services = setup.client.services();
  ASSERT_TRUE(services) << services.error().message;
  EXPECT_EQ(services->at(0).at("id"), "svc1");
}

TEST(ConnectwareClient, LoginReturnsTheTokenAndRejectsABadPassword) {
  FakeConnectware server;
  ClientSetup setup(server);
  auto token = setup.client.login("admin", Secret("admin"));
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->reveal(), "jwt.token.value");
  EXPECT_NE(server.last_login_body.find("\"username\":\"admin\""), std::string::npos);
  auto refused = setup.client.login("admin", Secret("Wr0ngPassw0rd"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::authentication);
  EXPECT_EQ(refused.error().message.find("Wr0ngPassw0rd"), std::string::npos);
}

TEST(ConnectwareClient, UploadsTheRestoreArchiveIntact) {
  FakeConnectware server;
  auto dir = temp_dir();
  const std::string content(300'000, 'r');
  ASSERT_TRUE(util::write_file_atomic(dir.path() / "db.tgz", content));
  ClientSetup setup(server);
  ASSERT_TRUE(setup.client.upload_restore(dir.path() / "db.tgz"));
  EXPECT_EQ(server.uploaded_sha256, util::sha256_hex(content));
}

} // namespace
} // namespace cwb::connectware
