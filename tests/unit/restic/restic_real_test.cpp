// Restic against the real restic binary and a local repository in a temporary folder. One repository is
// shared by the suite: every restic call costs ~0.6 s of key derivation (init ~3 s).
#include "restic/restic.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <gtest/gtest.h>

namespace cwb::restic {
namespace {

namespace fs = std::filesystem;

class RealRestic : public testing::Test {
protected:
  static void SetUpTestSuite() {
    auto directory = util::TemporaryDirectory::create({}, "cwb-restic-real");
    ASSERT_TRUE(directory) << directory.error().message;
    workspace_ = new util::TemporaryDirectory(std::move(*directory));
    const fs::path root = workspace_->path();
    ASSERT_TRUE(util::write_file_atomic(root / "password", "correct horse battery staple\n"));
    ASSERT_TRUE(util::write_file_atomic(root / "wrong-password", "not the password\n"));
    ASSERT_TRUE(util::ensure_directories(root / "data/sub"));
    ASSERT_TRUE(util::write_file_atomic(root / "data/hello.txt", "hello restic\n", 0644));
    std::string big(300'000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
      big[i] = static_cast<char>((i * 7919) % 251);
    ASSERT_TRUE(util::write_file_atomic(root / "data/sub/big.bin", big, 0640));
    runner_ = new util::SystemProcessRunner();
    restic_ = new Restic(options_for(root / "repo", root / "password"), *runner_, base_environment());
    auto init = restic_->init();
    ASSERT_TRUE(init) << init.error().message;
  }

  static void TearDownTestSuite() {
    delete restic_;
    delete runner_;
    delete workspace_;
  }

  static util::Environment base_environment() {
    // AWS_* always: without them restic may ask a cloud metadata address for credentials.
    return {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
            {"HOME", "/nonexistent"},
            {"AWS_ACCESS_KEY_ID", "unused"},
            {"AWS_SECRET_ACCESS_KEY", "unused"}};
  }

  static ResticOptions options_for(const fs::path& repository, const fs::path& password_file) {
    ResticOptions options;
    options.repository = repository.string();
    options.password_file = password_file;
    options.extra_environment = {{"RESTIC_CACHE_DIR", (workspace_->path() / "cache").string()}};
    options.timeout = std::chrono::seconds(60);
    return options;
  }

  static util::TemporaryDirectory* workspace_;
  static util::SystemProcessRunner* runner_;
  static Restic* restic_;
};

util::TemporaryDirectory* RealRestic::workspace_ = nullptr;
util::SystemProcessRunner* RealRestic::runner_ = nullptr;
Restic* RealRestic::restic_ = nullptr;

TEST_F(RealRestic, ReportsTheInstalledVersion) {
  auto version = restic_->version();
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_GE(*version, (Version{0, 14, 0}));
  EXPECT_EQ(restic_->supports_retry_lock(), *version >= (Version{0, 16, 0}));
}

TEST_F(RealRestic, BacksUpListsRestoresWithVerifyAndReportsStats) {
  const fs::path data = workspace_->path() / "data";
  auto summary = restic_->backup({{data}, {"cwb-test", "full"}, "test-host", {"*.skip"}});
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->files_new, 2u);
  EXPECT_EQ(summary->total_bytes_processed, 300'000u + 13u);
  EXPECT_EQ(summary->snapshot_id.size(), 8u);

  auto snapshots = restic_->snapshots({"cwb-test"}, "test-host");
  ASSERT_TRUE(snapshots) << snapshots.error().message;
  ASSERT_EQ(snapshots->size(), 1u);
  const Snapshot& snapshot = snapshots->front();
  EXPECT_EQ(snapshot.short_id, summary->snapshot_id);
  EXPECT_EQ(snapshot.paths, std::vector<std::string>{data.string()});
  EXPECT_EQ(snapshot.tags, (std::vector<std::string>{"cwb-test", "full"}));

  auto found = restic_->find_snapshot(summary->snapshot_id);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->id, snapshot.id);

  const fs::path target = workspace_->path() / "restored";
  auto restored = restic_->restore(snapshot.id, target, {}, Verify::yes);
  ASSERT_TRUE(restored) << restored.error().message;
  auto original = util::sha256_file(data / "sub/big.bin");
  auto copy = util::sha256_file(target / data.relative_path() / "sub/big.bin");
  ASSERT_TRUE(original && copy);
  EXPECT_EQ(*copy, *original);

  auto stats = restic_->stats_raw_data();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GT(stats->total_size, 0u);
  EXPECT_EQ(stats->snapshots_count, 1u);
}

TEST_F(RealRestic, UnknownSnapshotIsNotFound) {
  auto found = restic_->find_snapshot("0123abcd");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().kind, ErrorKind::no_snapshot);
}

TEST_F(RealRestic, WrongPasswordIsClassifiedWithoutRevealingIt) {
  const fs::path root = workspace_->path();
  Restic wrong(options_for(root / "repo", root / "wrong-password"), *runner_, base_environment());
  auto snapshots = wrong.snapshots();
  ASSERT_FALSE(snapshots);
  EXPECT_EQ(failure_of(snapshots.error()), Failure::wrong_password) << snapshots.error().message;
  EXPECT_EQ(snapshots.error().kind, ErrorKind::restic);
  EXPECT_NE(snapshots.error().message.find("RESTIC_PASSWORD_FILE=" + (root / "wrong-password").string()),
            std::string::npos);
  EXPECT_EQ(snapshots.error().message.find("not the password"), std::string::npos);
}

TEST_F(RealRestic, MissingRepositoryIsClassified) {
  const fs::path root = workspace_->path();
  Restic missing(options_for(root / "no-repo-here", root / "password"), *runner_, base_environment());
  auto snapshots = missing.snapshots();
  ASSERT_FALSE(snapshots);
  EXPECT_EQ(failure_of(snapshots.error()), Failure::no_repository) << snapshots.error().message;
  EXPECT_NE(snapshots.error().message.find((root / "no-repo-here").string()), std::string::npos);
}

TEST_F(RealRestic, ForgetKeepsTheLastOfThisHostAndTagsOnlyAndPrunes) {
  const fs::path data = workspace_->path() / "data";
  for (int run = 0; run < 3; ++run) {
    ASSERT_TRUE(util::write_file_atomic(data / "run.txt", "run " + std::to_string(run) + "\n", 0644));
    auto summary = restic_->backup({{data}, {"forget-test"}, "forget-host", {}});
    ASSERT_TRUE(summary) << summary.error().message;
  }
  // Another host's snapshot and an untagged one of this host are not ours to forget.
  ASSERT_TRUE(restic_->backup({{data}, {"forget-test"}, "other-host", {}}));
  ASSERT_TRUE(restic_->backup({{data}, {"unrelated"}, "forget-host", {}}));

  auto forgotten = restic_->forget({{"forget-test"}, "forget-host", {{"last", 1}}, true});
  ASSERT_TRUE(forgotten) << forgotten.error().message;
  EXPECT_EQ(forgotten->kept, 1U);
  EXPECT_EQ(forgotten->removed, 2U);
  auto ours = restic_->snapshots({"forget-test"}, "forget-host");
  ASSERT_TRUE(ours);
  EXPECT_EQ(ours->size(), 1U);
  auto others = restic_->snapshots({}, "other-host");
  ASSERT_TRUE(others);
  EXPECT_EQ(others->size(), 1U);
  auto unrelated = restic_->snapshots({"unrelated"}, "forget-host");
  ASSERT_TRUE(unrelated);
  EXPECT_EQ(unrelated->size(), 1U);
  // Pruned: the repository is still whole.
  auto checked = restic_->check();
  EXPECT_TRUE(checked) << checked.error().message;

  auto nothing = restic_->forget({{"forget-test"}, "forget-host", {}, false});
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().kind, ErrorKind::usage);
}

TEST_F(RealRestic, CheckReadsPartOfTheData) {
  auto checked = restic_->check("50%");
  EXPECT_TRUE(checked) << checked.error().message;
}

} // namespace
} // namespace cwb::restic
