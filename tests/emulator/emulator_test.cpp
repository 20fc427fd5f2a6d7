// The emulator as a real process against a real PostgreSQL: every endpoint, authentication, the
// asynchronous maintenance states, a backup -> restore round trip, version refusals and each fault.

#include "db_archive.hpp"
#include "emulator_test_support.hpp"
#include "util/sha256.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

namespace cwb::emulator {
namespace {

/// admin, backup, viewer and maintainer (tests/emulator/database.cpp seeds them).
constexpr int seeded_users = 4;

using namespace std::chrono_literals;
using testing::EmulatorProcess;
using testing::PostgresServer;

class Emulator : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    postgres_ = new PostgresServer();
    postgres_->start();
    certificates_ = new util::TemporaryDirectory(util::TemporaryDirectory::create("", "emulator-cert-").value());
    testing::make_certificate(certificates_->path());
  }
  static void TearDownTestSuite() {
    delete postgres_;
    delete certificates_;
    postgres_ = nullptr;
    certificates_ = nullptr;
  }

  void SetUp() override {
    directory_ = util::TemporaryDirectory::create("", "emulator-test-").value();
    static int counter = 0;
    conninfo_ = postgres_->create_database("test_" + std::to_string(++counter));
  }

  static std::filesystem::path cert() { return certificates_->path() / "cert.pem"; }
  static std::filesystem::path key() { return certificates_->path() / "key.pem"; }
  std::filesystem::path data_dir() const { return directory_.path() / "data"; }

  std::vector<std::string> common_arguments(int port) const {
    return {"--port",     std::to_string(port),
            "--cert",     cert().string(),
            "--key",      key().string(),
            "--pg",       conninfo_,
            "--work-dir", (directory_.path() / "work").string(),
            "--seed"};
  }

  void start_emulator(const std::vector<std::string>& extra = {}) {
    port_ = testing::free_port();
    auto arguments = common_arguments(port_);
    arguments.insert(arguments.end(), {"--role", "all", "--data-dir", data_dir().string()});
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    emulator_.start(arguments, directory_.path() / "emulator.log", port_, true, cert(), "/api/system/info");
  }

  std::unique_ptr<httplib::SSLClient> client(const std::string& user = "admin", const std::string& password = "admin") {
    auto result = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    result->set_ca_cert_path(cert().c_str());
    result->enable_server_certificate_verification(true);
    result->set_read_timeout(20);
    if (!user.empty()) result->set_basic_auth(user.c_str(), password.c_str());
    return result;
  }

  nlohmann::json status() {
    const auto answer = client()->Get("/api/maintenance/db");
    EXPECT_TRUE(answer);
    if (!answer) return {};
    EXPECT_EQ(answer->status, 200) << answer->body;
    return nlohmann::json::parse(answer->body);
  }

  /// The state of every service /api/system/health lists, by name.
  std::map<std::string, std::string> health_states() {
    const auto answer = client()->Get("/api/system/health");
    EXPECT_TRUE(answer);
    if (!answer) return {};
    EXPECT_EQ(answer->status, 200) << answer->body;
    std::map<std::string, std::string> states;
    const auto health = nlohmann::json::parse(answer->body);
    for (const auto& entry : health.at("system").at("status"))
      states[entry.at("name").get<std::string>()] = entry.at("status").get<std::string>();
    return states;
  }

  /// Polls the status until `running` is false and returns it.
  nlohmann::json wait_idle() {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto current = status();
      if (current.is_null() || !current.at("running").get<bool>()) return current;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "the maintenance operation did not finish";
    return {};
  }

  void set_faults(const nlohmann::json& faults) {
    const auto answer =
        client()->Put("/emulator/faults", nlohmann::json{{"faults", faults}}.dump(), "application/json");
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
  }

  /// Starts a backup, waits for it and returns the final status.
  nlohmann::json backup() {
    const auto answer = client()->Post("/api/maintenance/db/backup");
    EXPECT_TRUE(answer);
    if (answer) {
      EXPECT_EQ(answer->status, 202) << answer->body;
    }
    return wait_idle();
  }

  std::string download() {
    const auto answer = client()->Get("/api/maintenance/db/backup");
    EXPECT_TRUE(answer);
    if (!answer) return {};
    EXPECT_EQ(answer->status, 200);
    return answer->body;
  }

  /// Uploads `archive` for restore and returns the HTTP status.
  int upload(const std::string& archive, const std::string& field = "file") {
    const httplib::MultipartFormDataItems items = {{field, archive, "backup.tgz", "application/gzip"}};
    const auto answer = client()->Post("/api/maintenance/db/restore", items);
    EXPECT_TRUE(answer);
    if (answer && answer->status == 202) {
      EXPECT_EQ(answer->body, "Accepted. The archive is uploaded, and the database restores process starts.");
    }
    return answer ? answer->status : 0;
  }

  /// Returns an archive in the emulator's format made by Connectware `version`.
  std::string archive_of_version(const std::string& version) {
    const auto dump = directory_.path() / "fake-dump.sql";
    EXPECT_TRUE(util::write_file_atomic(dump, "DELETE FROM users;\n"));
    const auto archive = directory_.path() / "fake.tgz";
    EXPECT_TRUE(write_db_archive(archive, ArchiveMetadata{version, version + "_2020-01-01T00:00:00.000Z", "x"}, dump));
    return testing::read_text(archive);
  }

  std::string scalar(const std::string& sql) {
    auto database = Database::connect(conninfo_);
    EXPECT_TRUE(database);
    if (!database) return {};
    auto rows = database->query(sql);
    EXPECT_TRUE(rows) << rows.error().message;
    if (!rows || rows->empty() || (*rows)[0].empty()) return {};
    return (*rows)[0][0].value_or("NULL");
  }

  /// Downloads with a receiver that counts bytes; returns {Content-Length, bytes received, complete}.
  std::tuple<std::size_t, std::size_t, bool> counted_download() {
    std::size_t announced = 0;
    std::size_t received = 0;
    const auto answer = client()->Get(
        "/api/maintenance/db/backup",
        [&](const httplib::Response& response) {
          announced = std::stoul(response.get_header_value("Content-Length"));
          return true;
        },
        [&](const char*, std::size_t length) {
          received += length;
          return true;
        });
    return {announced, received, static_cast<bool>(answer)};
  }

  static PostgresServer* postgres_;
  static util::TemporaryDirectory* certificates_;
  util::TemporaryDirectory directory_;
  std::string conninfo_;
  int port_ = 0;
  EmulatorProcess emulator_;
};

PostgresServer* Emulator::postgres_ = nullptr;
util::TemporaryDirectory* Emulator::certificates_ = nullptr;

// --- system ---------------------------------------------------------------------------------------------

TEST_F(Emulator, SystemInfoReportsTheConfiguredVersionAndAValidLicense) {
  start_emulator({"--connectware-version", "1.7.3"});
  const auto answer = client("viewer", "viewer")->Get("/api/system/info");
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  const auto info = nlohmann::json::parse(answer->body);
  EXPECT_EQ(info.at("version"), "1.7.3");
  EXPECT_TRUE(info.at("license").at("valid").get<bool>());
  EXPECT_TRUE(info.at("time").get<std::string>().ends_with("Z"));
}

TEST_F(Emulator, HealthReportsConnectwareServiceManagerAndPostgresqlRunning) {
  start_emulator();
  auto states = health_states();
  EXPECT_EQ(states["connectware"], "running");
  EXPECT_EQ(states["service-manager"], "running");
  EXPECT_EQ(states["postgresql"], "running");
}

TEST_F(Emulator, AStoppedServiceFaultListsThatServiceAsExitedBesideTheRunningOnes) {
  start_emulator({"--fault", "stopped_service=protocol-mapper"});
  auto states = health_states();
  EXPECT_EQ(states, (std::map<std::string, std::string>{{"connectware", "running"},
                                                        {"postgresql", "running"},
                                                        {"protocol-mapper", "exited"},
                                                        {"service-manager", "running"}}));
}

TEST_F(Emulator, FrontAloneReportsAnUnansweringServiceManagerAsNotRunningAndAnswers502ForServices) {
  port_ = testing::free_port();
  auto arguments = common_arguments(port_);
  arguments.insert(arguments.end(), {"--role", "front", "--service-manager-url",
                                     "http://127.0.0.1:" + std::to_string(testing::free_port())});
  emulator_.start(arguments, directory_.path() / "emulator.log", port_, true, cert(), "/api/system/info");
  const auto answer = client()->Get("/api/system/health");
  ASSERT_TRUE(answer);
  const auto health = nlohmann::json::parse(answer->body).at("system").at("status");
  ASSERT_EQ(health.size(), 3u);
  EXPECT_EQ(health[1].at("name"), "service-manager");
  EXPECT_NE(health[1].at("status"), "running");
  const auto services = client()->Get("/api/services/");
  ASSERT_TRUE(services);
  EXPECT_EQ(services->status, 502);
}

// --- authentication -------------------------------------------------------------------------------------

TEST_F(Emulator, MissingOrWrongCredentialsAre401) {
  start_emulator();
  const auto anonymous = client("")->Get("/api/maintenance/db");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  const auto wrong = client("admin", "wrong")->Get("/api/maintenance/db");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  const auto unknown = client("nobody", "admin")->Get("/api/system/info");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
}

TEST_F(Emulator, AUserWithoutMaintenanceRightsGets403ThereButMayReadSystemInfo) {
  start_emulator();
  EXPECT_EQ(client("viewer", "viewer")->Get("/api/maintenance/db")->status, 403);
  EXPECT_EQ(client("viewer", "viewer")->Post("/api/maintenance/db/backup", "", "text/plain")->status, 403);
  EXPECT_EQ(client("viewer", "viewer")->Get("/api/system/info")->status, 200);
  EXPECT_EQ(client("backup", "backup-secret")->Get("/api/maintenance/db")->status, 200);
}

TEST_F(Emulator, TheBackupRoleHasExactlyTheDocumentedRights) {
  start_emulator();
  auto backup = client("backup", "backup-secret");
  EXPECT_EQ(backup->Get("/api/system/info")->status, 200);
  EXPECT_EQ(backup->Get("/api/system/health")->status, 200);
  EXPECT_EQ(backup->Get("/api/services/")->status, 200);
  // Nothing beyond: no writing services.
  EXPECT_EQ(backup->Post("/api/services/", "{}", "application/json")->status, 403);
  auto maintainer = client("maintainer", "maintainer-secret");
  EXPECT_EQ(maintainer->Get("/api/maintenance/db")->status, 200);
  EXPECT_EQ(maintainer->Get("/api/system/info")->status, 403);
}

TEST_F(Emulator, LoginTokenWorksAsBearerHeaderAndAsApiTokenParameter) {
  start_emulator();
  const auto login = client("")->Post(
      "/api/login", R"({"username": "backup", "password": "backup-secret", "expireTimeInHours": 1, "label": "restic"})",
      "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string token = nlohmann::json::parse(login->body).at("token");

  auto bearer = client("");
  bearer->set_bearer_token_auth(token.c_str());
  EXPECT_EQ(bearer->Get("/api/maintenance/db")->status, 200);
  EXPECT_EQ(client("")->Get(("/api/maintenance/db?apiToken=" + token).c_str())->status, 200);
  // The token carries its user's rights, no more.
  EXPECT_EQ(bearer->Get("/emulator/faults")->status, 403);

  auto forged = client("");
  forged->set_bearer_token_auth((token + "x").c_str());
  EXPECT_EQ(forged->Get("/api/maintenance/db")->status, 401);
}

TEST_F(Emulator, LoginWithAWrongPasswordIs401) {
  start_emulator();
  const auto login = client("")->Post("/api/login", R"({"username": "admin", "password": "nope"})", "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 401);
}

// --- maintenance: backup -------------------------------------------------------------------------------

TEST_F(Emulator, StatusBeforeAnyOperationIsIdleOnTheCurrentAndTheOlderPath) {
  start_emulator();
  const auto current = status();
  EXPECT_FALSE(current.at("running").get<bool>());
  EXPECT_TRUE(current.at("backup").is_null());
  const auto older = client()->Get("/api/maintenance/database/status");
  ASSERT_TRUE(older);
  EXPECT_EQ(older->status, 200);
  EXPECT_EQ(nlohmann::json::parse(older->body), current);
}

TEST_F(Emulator, DownloadBeforeAnyBackupIs404) {
  start_emulator();
  const auto answer = client()->Get("/api/maintenance/db/backup");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
}

TEST_F(Emulator, BackupRunsAsynchronouslyAndEachBackupGetsANewId) {
  start_emulator({"--fault", "slow_export=1", "--connectware-version", "1.10.2"});
  const auto started = client()->Post("/api/maintenance/db/backup");
  ASSERT_TRUE(started);
  EXPECT_EQ(started->status, 202);
  EXPECT_EQ(started->body, "Accepted. Database backup started.");
  EXPECT_TRUE(status().at("running").get<bool>());
  const auto first = wait_idle();
  ASSERT_TRUE(first.at("backup").is_object()) << first;
  EXPECT_TRUE(first.at("backup").at("succeded").get<bool>()) << first;
  const std::string first_id = first.at("backup").at("id");
  EXPECT_TRUE(first_id.starts_with("1.10.2_")) << first_id;
  EXPECT_TRUE(first_id.ends_with("Z")) << first_id;

  set_faults(nlohmann::json::object());
  const auto second = backup();
  EXPECT_NE(second.at("backup").at("id"), first_id);
}

TEST_F(Emulator, StartingAnOperationWhileOneRunsIs409) {
  start_emulator();
  set_faults({{"stuck_running", ""}});
  ASSERT_EQ(client()->Post("/api/maintenance/db/backup")->status, 202);
  EXPECT_EQ(client()->Post("/api/maintenance/db/backup")->status, 409);
  EXPECT_EQ(upload("anything"), 409);
  EXPECT_TRUE(status().at("running").get<bool>());
  set_faults(nlohmann::json::object());
  EXPECT_TRUE(wait_idle().at("backup").at("succeded").get<bool>());
}

TEST_F(Emulator, DownloadStreamsAnArchiveWithMetadataAndTheDatabaseDump) {
  start_emulator({"--connectware-version", "1.9.0"});
  const auto finished = backup();
  const auto answer = client()->Get("/api/maintenance/db/backup");
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  EXPECT_EQ(answer->get_header_value("Content-Length"), std::to_string(answer->body.size()));
  const auto archive = directory_.path() / "download.tgz";
  ASSERT_TRUE(util::write_file_atomic(archive, answer->body));
  const auto metadata = read_db_archive(archive, directory_.path() / "dump.sql");
  ASSERT_TRUE(metadata) << metadata.error().message;
  EXPECT_EQ(metadata->version, "1.9.0");
  EXPECT_EQ(metadata->id, finished.at("backup").at("id"));
  const auto dump = testing::read_text(directory_.path() / "dump.sql");
  EXPECT_NE(dump.find("CREATE TABLE public.users"), std::string::npos);
  EXPECT_NE(dump.find("opcua-bridge"), std::string::npos);
}

// --- maintenance: restore ------------------------------------------------------------------------------

TEST_F(Emulator, BackupThenRestorePutsChangedRowsBack) {
  start_emulator();
  const auto backed_up = backup();
  const std::string archive = download();
  ASSERT_EQ(scalar("SELECT count(*) FROM services"), "3");
  ASSERT_EQ(scalar("SELECT count(*) FROM users"), std::to_string(seeded_users));
  scalar("DELETE FROM services WHERE id = 'historian' RETURNING id");
  scalar("INSERT INTO roles (name) VALUES ('added-after-backup') RETURNING id");
  ASSERT_EQ(scalar("SELECT count(*) FROM services"), "2");

  ASSERT_EQ(upload(archive), 202);
  const auto restored = wait_idle();
  ASSERT_TRUE(restored.at("restore").is_object()) << restored;
  EXPECT_TRUE(restored.at("restore").at("succeded").get<bool>()) << restored;
  EXPECT_EQ(restored.at("restore").at("id"), backed_up.at("backup").at("id"));
  EXPECT_EQ(scalar("SELECT count(*) FROM services"), "3");
  EXPECT_EQ(scalar("SELECT count(*) FROM roles WHERE name = 'added-after-backup'"), "0");
  // The restored users still log in.
  EXPECT_EQ(client("backup", "backup-secret")->Get("/api/maintenance/db")->status, 200);
}

TEST_F(Emulator, RestoreRefusesAnArchiveFromBeforeAStructureChangeNamingTheLastVersion) {
  start_emulator({"--compat", "<1.5.0=1.4.9"});
  ASSERT_EQ(upload(archive_of_version("1.4.0")), 202);
  const auto refused = wait_idle();
  EXPECT_FALSE(refused.at("restore").at("succeded").get<bool>());
  EXPECT_EQ(refused.at("restore").at("message"),
            "Restore refused: the database structure changed after version 1.4.0 of this backup file. The last "
            "Connectware version that can restore this backup file is 1.4.9.");
  EXPECT_EQ(scalar("SELECT count(*) FROM users"), std::to_string(seeded_users)); // untouched
}

TEST_F(Emulator, RestoreRefusesAnArchiveFromANewerVersion) {
  start_emulator({"--connectware-version", "1.10.2"});
  ASSERT_EQ(upload(archive_of_version("1.11.0")), 202);
  const auto refused = wait_idle();
  EXPECT_FALSE(refused.at("restore").at("succeded").get<bool>());
  EXPECT_NE(refused.at("restore").at("message").get<std::string>().find("1.11.0"), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM users"), std::to_string(seeded_users));
}

TEST_F(Emulator, RestoreOfACorruptArchiveFailsWithAMessage) {
  start_emulator();
  ASSERT_EQ(upload(std::string(5000, 'z')), 202);
  const auto failed = wait_idle();
  EXPECT_FALSE(failed.at("restore").at("succeded").get<bool>());
  EXPECT_NE(failed.at("restore").at("message").get<std::string>().find("not a valid database backup"),
            std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM users"), std::to_string(seeded_users));
}

TEST_F(Emulator, RestoreWithoutTheFileFieldIs400) {
  start_emulator();
  EXPECT_EQ(upload(archive_of_version("1.10.2"), "other"), 400);
}

// --- faults --------------------------------------------------------------------------------------------

TEST_F(Emulator, FailExportGivenAtStartEndsTheBackupUnsuccessfully) {
  start_emulator({"--fault", "fail_export"});
  const auto failed = backup();
  EXPECT_FALSE(failed.at("backup").at("succeded").get<bool>());
  EXPECT_FALSE(failed.at("backup").at("message").get<std::string>().empty());
  EXPECT_EQ(client()->Get("/api/maintenance/db/backup")->status, 404);
}

TEST_F(Emulator, TruncatedDownloadSendsFewerBytesThanContentLength) {
  start_emulator();
  backup();
  set_faults({{"truncate_download", ""}});
  const auto [announced, received, complete] = counted_download();
  EXPECT_FALSE(complete);
  EXPECT_GT(announced, 0u);
  EXPECT_LT(received, announced);
}

TEST_F(Emulator, DropConnectionClosesTheDownloadMidwayOnlyForTheCountedRequests) {
  start_emulator();
  backup();
  set_faults({{"drop_connection", "1"}});
  const auto [announced, received, complete] = counted_download();
  EXPECT_FALSE(complete);
  EXPECT_LT(received, announced);
  const auto [announced_again, received_again, complete_again] = counted_download();
  EXPECT_TRUE(complete_again);
  EXPECT_EQ(received_again, announced_again);
}

TEST_F(Emulator, CorruptDownloadKeepsTheLengthButFlipsBytesInTheMiddle) {
  start_emulator();
  backup();
  const std::string clean = download();
  set_faults({{"corrupt_download", ""}});
  const std::string corrupt = download();
  ASSERT_EQ(corrupt.size(), clean.size());
  EXPECT_NE(util::sha256_hex(corrupt), util::sha256_hex(clean));
  EXPECT_EQ(corrupt.substr(0, clean.size() / 2), clean.substr(0, clean.size() / 2));
}

TEST_F(Emulator, Http500AnswersTheNextCountMaintenanceRequests) {
  start_emulator();
  set_faults({{"http_500", "2"}});
  EXPECT_EQ(client()->Get("/api/maintenance/db")->status, 500);
  EXPECT_EQ(client()->Post("/api/maintenance/db/backup")->status, 500);
  EXPECT_EQ(client()->Get("/api/maintenance/db")->status, 200);
}

TEST_F(Emulator, FailRestoreEndsTheRestoreUnsuccessfullyAndLeavesTheDatabase) {
  start_emulator();
  backup();
  const std::string archive = download();
  set_faults({{"fail_restore", ""}});
  ASSERT_EQ(upload(archive), 202);
  EXPECT_FALSE(wait_idle().at("restore").at("succeded").get<bool>());
  EXPECT_EQ(scalar("SELECT count(*) FROM users"), std::to_string(seeded_users));
}

TEST_F(Emulator, RefuseRestoreNamesTheGivenLastVersion) {
  start_emulator();
  backup();
  const std::string archive = download();
  backup(); // the downloaded archive is no longer the server's newest export
  set_faults({{"refuse_restore", "1.8.4"}});
  ASSERT_EQ(upload(archive), 202);
  const auto refused = wait_idle();
  EXPECT_FALSE(refused.at("restore").at("succeded").get<bool>());
  EXPECT_NE(refused.at("restore").at("message").get<std::string>().find(
                "The last Connectware version that can restore this backup file is 1.8.4."),
            std::string::npos);
  // Its own newest export (what a restore's rollback puts back) is still taken.
  ASSERT_EQ(upload(download()), 202);
  EXPECT_TRUE(wait_idle().at("restore").at("succeded").get<bool>());
}

TEST_F(Emulator, SlowRestoreKeepsRunningTrueUntilItFinishes) {
  start_emulator();
  backup();
  const std::string archive = download();
  set_faults({{"slow_restore", "1"}});
  ASSERT_EQ(upload(archive), 202);
  EXPECT_TRUE(status().at("running").get<bool>());
  EXPECT_TRUE(wait_idle().at("restore").at("succeded").get<bool>());
}

TEST_F(Emulator, FaultEndpointNeedsAdminShowsTheSetAndRejectsUnknownFaults) {
  start_emulator();
  set_faults({{"slow_export", "5"}, {"truncate_download", ""}});
  const auto shown = client()->Get("/emulator/faults");
  ASSERT_TRUE(shown);
  EXPECT_EQ(nlohmann::json::parse(shown->body).at("faults").at("slow_export"), "5");
  EXPECT_EQ(client("backup", "backup-secret")->Put("/emulator/faults", R"({"faults": {}})", "application/json")->status,
            403);
  EXPECT_EQ(client()->Put("/emulator/faults", R"({"faults": {"meteor": ""}})", "application/json")->status, 400);
}

// --- services ------------------------------------------------------------------------------------------

TEST_F(Emulator, ServicesRedirectsToTheSlashPathWhichListsTheSeededServices) {
  start_emulator();
  const auto redirect = client()->Get("/api/services");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 301);
  EXPECT_EQ(redirect->get_header_value("Location"), "/api/services/");
  const auto list = client("backup", "backup-secret")->Get("/api/services/");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  const auto services = nlohmann::json::parse(list->body);
  ASSERT_EQ(services.size(), 3u);
  for (const auto& service : services) {
    EXPECT_TRUE(std::filesystem::exists(service.at("file").get<std::string>()));
    EXPECT_FALSE(service.at("state").get<std::string>().empty());
  }
  EXPECT_TRUE(std::filesystem::is_symlink(data_dir() / "current-service.yml"));
  EXPECT_TRUE(std::filesystem::is_directory(data_dir() / "resources" / "certs"));
  EXPECT_EQ(client("viewer", "viewer")->Get("/api/services/")->status, 403);
}

TEST_F(Emulator, InstallingAServiceWritesItsFileAndRowAndDeletingRemovesBoth) {
  start_emulator();
  const auto installed =
      client()->Post("/api/services/", R"({"id": "pump-monitor", "yaml": "description: pump\n"})", "application/json");
  ASSERT_TRUE(installed);
  ASSERT_EQ(installed->status, 201) << installed->body;
  const auto file = data_dir() / "services" / "pump-monitor.yml";
  EXPECT_EQ(testing::read_text(file), "description: pump\n");
  EXPECT_EQ(scalar("SELECT count(*) FROM services WHERE id = 'pump-monitor'"), "1");
  EXPECT_EQ(client()->Post("/api/services/", R"({"id": "pump-monitor", "yaml": "x"})", "application/json")->status,
            409);

  // Raw YAML with ?id= and the path without the slash.
  const auto raw = client()->Post("/api/services?id=valve", "description: valve\n", "application/x-yaml");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 201) << raw->body;
  EXPECT_TRUE(std::filesystem::exists(data_dir() / "services" / "valve.yml"));

  EXPECT_EQ(client()->Delete("/api/services/pump-monitor")->status, 204);
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_EQ(scalar("SELECT count(*) FROM services WHERE id = 'pump-monitor'"), "0");
}

TEST_F(Emulator, AForwardedRequestWaitsForAStoppedServiceManager) {
  const int manager_port = testing::free_port();
  EmulatorProcess manager;
  manager.start({"--role", "service-manager", "--port", std::to_string(manager_port), "--pg", conninfo_, "--data-dir",
                 data_dir().string(), "--seed"},
                directory_.path() / "manager.log", manager_port, false, {}, "/health");
  port_ = testing::free_port();
  auto arguments = common_arguments(port_);
  arguments.insert(arguments.end(),
                   {"--role", "front", "--service-manager-url", "http://127.0.0.1:" + std::to_string(manager_port)});
  emulator_.start(arguments, directory_.path() / "emulator.log", port_, true, cert(), "/api/system/info");

  ASSERT_EQ(::kill(manager.process().pid(), SIGSTOP), 0); // what `docker pause` does to the container
  std::atomic<int> answered_status = 0;
  const auto started = std::chrono::steady_clock::now();
  std::thread request([&] {
    const auto answer = client()->Get("/api/services/");
    answered_status = answer ? answer->status : -1;
  });
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(answered_status, 0); // still waiting
  ::kill(manager.process().pid(), SIGCONT);
  request.join();
  EXPECT_EQ(answered_status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1s);
}

// --- process life ---------------------------------------------------------------------------------------

TEST_F(Emulator, StopsWithExitCodeZeroOnSigterm) {
  start_emulator();
  const auto status = emulator_.process().stop(SIGTERM, 5s);
  ASSERT_TRUE(status.code) << status.describe();
  EXPECT_EQ(*status.code, 0);
}

class EmulatorStartup : public Emulator {
protected:
  /// Runs the emulator to completion and returns {exit status, stderr}.
  std::pair<util::ExitStatus, std::string> run(const std::vector<std::string>& arguments) {
    util::ProcessOptions options;
    options.argv = {CWB_EMULATOR_EXECUTABLE};
    options.argv.insert(options.argv.end(), arguments.begin(), arguments.end());
    options.env = util::current_environment();
    options.timeout = 10s;
    const auto result = util::run_process(options);
    EXPECT_TRUE(result);
    if (!result) return {};
    return {result->status, result->stderr_text};
  }
};

TEST_F(EmulatorStartup, FailsWithOneClearLineWhenTheCertificateIsMissing) {
  auto arguments = common_arguments(testing::free_port());
  arguments[3] = (directory_.path() / "missing.pem").string();
  const auto [status, error] = run(arguments);
  ASSERT_TRUE(status.code);
  EXPECT_NE(*status.code, 0);
  EXPECT_NE(error.find("missing.pem"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

TEST_F(EmulatorStartup, FailsWithOneClearLineWhenTheDatabaseIsUnreachable) {
  auto arguments = common_arguments(testing::free_port());
  arguments[7] =
      "host=127.0.0.1 port=" + std::to_string(testing::free_port()) + " user=postgres dbname=x connect_timeout=2";
  arguments.insert(arguments.end(), {"--data-dir", data_dir().string()});
  const auto [status, error] = run(arguments);
  ASSERT_TRUE(status.code);
  EXPECT_NE(*status.code, 0);
  EXPECT_NE(error.find("cannot connect to PostgreSQL"), std::string::npos) << error;
}

TEST_F(EmulatorStartup, FailsWhenThePortIsTaken) {
  start_emulator();
  auto arguments = common_arguments(port_);
  arguments.insert(arguments.end(), {"--data-dir", data_dir().string()});
  const auto [status, error] = run(arguments);
  ASSERT_TRUE(status.code);
  EXPECT_NE(*status.code, 0);
  EXPECT_NE(error.find("cannot listen"), std::string::npos) << error;
}

} // namespace
} // namespace cwb::emulator
