#include "harness/s3_server.hpp"

#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace cwb::test {
namespace {

namespace fs = std::filesystem;

class S3ServerTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto dir = util::TemporaryDirectory::create("", "harness-s3-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::move(*dir);
  }

  // restic against the server, the password from a file and the S3 keys always set.
  util::ProcessResult restic(const S3Server& server, std::vector<std::string> args) {
    util::ProcessOptions options;
    options.argv = {
        "restic", "--no-cache", "--cacert", server.cacert().string(), "-r", server.restic_repository("repo")};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = base_environment();
    for (const auto& [key, value] : S3Server::restic_environment())
      options.env[key] = value;
    options.env["RESTIC_PASSWORD_FILE"] = (dir_.path() / "password").string();
    options.env["HOME"] = dir_.path().string();
    options.timeout = std::chrono::seconds(60);
    auto result = util::run_process(options);
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : util::ProcessResult{};
  }

  util::TemporaryDirectory dir_;
};

TEST_F(S3ServerTest, ResticInitBackupAndVerifiedRestoreWorkOverHttps) {
  auto server = S3Server::start(dir_.path(), "backups");
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(server->restic_repository("repo"), "s3:" + server->endpoint() + "/backups/repo");
  ASSERT_TRUE(util::write_file_atomic(dir_.path() / "password", "correct horse"));
  const fs::path source = dir_.path() / "source";
  ASSERT_TRUE(util::ensure_directories(source / "sub"));
  std::string big(300000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7)
    big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(util::write_file_atomic(source / "sub" / "big.bin", big));
  ASSERT_TRUE(util::write_file_atomic(source / "small.txt", "hello\n"));

  const auto init = restic(*server, {"init"});
  ASSERT_TRUE(init.status.success()) << init.stderr_text;
  const auto backup = restic(*server, {"backup", "--json", source.string()});
  ASSERT_TRUE(backup.status.success()) << backup.stderr_text;
  const auto snapshots = restic(*server, {"snapshots", "--json"});
  ASSERT_TRUE(snapshots.status.success()) << snapshots.stderr_text;
  const auto listed = nlohmann::json::parse(snapshots.stdout_text);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].at("paths")[0].get<std::string>(), source.string());

  const fs::path target = dir_.path() / "target";
  const auto restore = restic(*server, {"restore", "latest", "--verify", "--target", target.string()});
  ASSERT_TRUE(restore.status.success()) << restore.stderr_text;
  auto restored = util::read_file(target / source.relative_path() / "sub" / "big.bin");
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(*restored, big);
}

TEST_F(S3ServerTest, StopLeavesNoProcessBehind) {
  auto server = S3Server::start(dir_.path(), "backups");
  ASSERT_TRUE(server) << server.error().message;
  const auto processes = server->processes();
  ASSERT_FALSE(processes.empty());
  server->stop();
  EXPECT_TRUE(still_running(processes).empty());
}

} // namespace
} // namespace cwb::test
