#include "harness/emulator.hpp"
#include "support/postgres_cluster.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <memory>

namespace cwb::test {
namespace {

using namespace std::chrono_literals;

class EmulatorProcessTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto dir = util::TemporaryDirectory::create("", "harness-emulator-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
    auto postgres = PostgresCluster::start(dir_.path());
    ASSERT_TRUE(postgres) << postgres.error().message;
    postgres_ = std::make_unique<PostgresCluster>(std::move(*postgres));
    auto emulator = EmulatorProcess::start(dir_.path(), *postgres_);
    ASSERT_TRUE(emulator) << emulator.error().message;
    emulator_ = std::make_unique<EmulatorProcess>(std::move(*emulator));
  }

  void TearDown() override {
    emulator_.reset();
    postgres_.reset();
  }

  std::unique_ptr<httplib::SSLClient> client(const Credentials& user) const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", emulator_->port());
    client->set_ca_cert_path(emulator_->ca_file().c_str());
    client->enable_server_certificate_verification(true);
    client->set_read_timeout(10s);
    client->set_basic_auth(user.username.c_str(), user.password.c_str());
    return client;
  }

  util::TemporaryDirectory dir_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::unique_ptr<EmulatorProcess> emulator_;
};

TEST_F(EmulatorProcessTest, AnswersSystemInfoOverHttpsVerifiedWithItsCa) {
  EXPECT_EQ(emulator_->base_url(), "https://127.0.0.1:" + std::to_string(emulator_->port()));
  auto https = client(admin_credentials());
  const auto response = https->Get("/api/system/info");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200) << response->body;
}

TEST_F(EmulatorProcessTest, SeededUsersExistInTheRealDatabase) {
  auto users = postgres_->psql("connectware", "SELECT string_agg(username, ',' ORDER BY username) FROM users");
  ASSERT_TRUE(users) << users.error().message;
  EXPECT_EQ(*users, "admin,backup,maintainer,viewer\n");
}

TEST_F(EmulatorProcessTest, SetFaultsReplacesTheEmulatorsFaultSet) {
  ASSERT_TRUE(emulator_->set_faults({{"slow_export", "5"}, {"truncate_download", ""}}));
  auto https = client(admin_credentials());
  const auto response = https->Get("/emulator/faults");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  ASSERT_EQ(response->status, 200) << response->body;
  const auto faults = nlohmann::json::parse(response->body).at("faults");
  EXPECT_EQ(faults.at("slow_export").get<std::string>(), "5");
  EXPECT_TRUE(faults.contains("truncate_download"));
  ASSERT_TRUE(emulator_->set_faults({}));
  const auto cleared = https->Get("/emulator/faults");
  ASSERT_TRUE(cleared);
  EXPECT_TRUE(nlohmann::json::parse(cleared->body).at("faults").empty()) << cleared->body;
}

TEST_F(EmulatorProcessTest, UnknownFaultIsRefused) {
  auto refused = emulator_->set_faults({{"no_such_fault", ""}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::http) << refused.error().message;
}

TEST_F(EmulatorProcessTest, StopLeavesNoProcessBehind) {
  const auto processes = emulator_->processes();
  ASSERT_FALSE(processes.empty());
  emulator_->stop();
  EXPECT_TRUE(still_running(processes).empty());
}

} // namespace
} // namespace cwb::test
