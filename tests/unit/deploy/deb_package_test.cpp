// The Debian package (cmake/packaging.cmake), built by cpack from this build: what it holds and with which
// modes, that dpkg installs it into a scratch root (not this machine) where the installed hook runs and
// that it removes and purges cleanly, and that lintian finds no error in it.
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace cwb {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

util::ProcessResult run(std::vector<std::string> argv) {
  util::ProcessOptions options;
  options.argv = std::move(argv);
  options.env = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"LC_ALL", "C.UTF-8"}, {"HOME", "/root"}};
  options.timeout = std::chrono::seconds(300);
  auto result = util::run_process(options);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : util::ProcessResult{};
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

class DebPackage : public testing::Test {
protected:
  static void SetUpTestSuite() {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-deb-test");
    ASSERT_TRUE(temp);
    dir_ = new util::TemporaryDirectory(std::move(*temp));
    const auto cpack = run({"cpack", "-G", "DEB", "--config", (fs::path(CWB_BINARY_DIR) / "CPackConfig.cmake").string(),
                            "-B", (dir_->path() / "out").string()});
    ASSERT_TRUE(cpack.status.success()) << cpack.stdout_text << cpack.stderr_text;
    const auto arch = trimmed(run({"dpkg", "--print-architecture"}).stdout_text);
    package_ = new fs::path(dir_->path() / "out" / ("connectware-backup_" CWB_VERSION "_" + arch + ".deb"));
    ASSERT_TRUE(fs::exists(*package_)) << *package_ << " not built:\n" << cpack.stdout_text;
  }
  static void TearDownTestSuite() {
    delete package_;
    delete dir_;
  }
  void SetUp() override {
    if (package_ == nullptr || !fs::exists(*package_)) GTEST_SKIP() << "the package was not built (see above)";
  }

  static inline util::TemporaryDirectory* dir_ = nullptr;
  static inline fs::path* package_ = nullptr;
};

TEST_F(DebPackage, HoldsTheHooksSettingsUnitsDocsAndStateFolderWithTheirModes) {
  const auto listing = run({"dpkg-deb", "--contents", package_->string()});
  ASSERT_TRUE(listing.status.success()) << listing.stderr_text;
  const auto& text = listing.stdout_text;
  for (const auto* hook :
       {"connectware-backup", "connectware-pre-backup", "connectware-post-backup", "connectware-restore"})
    EXPECT_THAT(text, testing::ContainsRegex(std::string("-rwxr-xr-x root/root .* \\./usr/bin/") + hook + "\n"));
  for (const auto* unit : {"connectware-backup.service", "connectware-backup.timer",
                           "connectware-restore-drill.service", "connectware-restore-drill.timer"})
    EXPECT_THAT(text, testing::ContainsRegex(std::string("-rw-r--r-- root/root .* \\./lib/systemd/system/") + unit));
  // Where secrets and the staged database go: owner-only.
  EXPECT_THAT(text,
              testing::ContainsRegex("-rw------- root/root .* \\./etc/connectware-backup/connectware-backup.conf"));
  EXPECT_THAT(text, testing::ContainsRegex("-rw------- root/root .* \\./etc/connectware-backup/env"));
  EXPECT_THAT(text, testing::ContainsRegex("drwx------ root/root .* \\./var/lib/connectware-backup/"));
  for (const auto* doc : {"operations.md", "restic-profiles/profiles.yaml", "restic-profiles/restore.yaml",
                          "prometheus/connectware-backup.rules.yml", "copyright", "changelog.gz"})
    EXPECT_THAT(text, HasSubstr(std::string("./usr/share/doc/connectware-backup/") + doc));
}

TEST_F(DebPackage, DeclaresItsSettingsAsConffilesAndDependsOnResticAndItsLibraries) {
  const auto conffiles = run({"dpkg-deb", "--info", package_->string(), "conffiles"});
  EXPECT_EQ(conffiles.stdout_text, "/etc/connectware-backup/connectware-backup.conf\n/etc/connectware-backup/env\n");
  const auto depends = run({"dpkg-deb", "--field", package_->string(), "Depends"});
  EXPECT_THAT(depends.stdout_text, HasSubstr("restic (>= 0.14)"));
  // From dpkg-shlibdeps, not written by hand.
  EXPECT_THAT(depends.stdout_text, HasSubstr("libcurl4"));
  EXPECT_THAT(depends.stdout_text, HasSubstr("libarchive13"));
}

TEST_F(DebPackage, InstallsIntoAScratchRootRunsFromThereAndRemovesAndPurgesCleanly) {
  // A dpkg database of its own: the machine running the tests keeps its packages. Its dependencies are
  // this machine's libraries, which the scratch root's database does not know of.
  const fs::path root = dir_->path() / "root";
  ASSERT_TRUE(util::ensure_directories(root / "var/lib/dpkg/info"));
  ASSERT_TRUE(util::ensure_directories(root / "var/lib/dpkg/updates"));
  ASSERT_TRUE(util::write_file_atomic(root / "var/lib/dpkg/status", "", 0644));
  const std::vector<std::string> dpkg = {"dpkg", "--root=" + root.string(), "--log=" + (root / "dpkg.log").string(),
                                         "--force-depends"};
  auto with = [&dpkg](std::vector<std::string> more) {
    auto argv = dpkg;
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  };
  const auto installed = run(with({"--install", package_->string()}));
  ASSERT_TRUE(installed.status.success()) << installed.stdout_text << installed.stderr_text;
  const auto version = run({(root / "usr/bin/connectware-backup").string(), "--version"});
  EXPECT_TRUE(version.status.success()) << version.stderr_text;
  EXPECT_EQ(version.stdout_text, "connectware-backup " CWB_VERSION "\n");
  const auto status = run(with({"--status", "connectware-backup"}));
  EXPECT_THAT(status.stdout_text, HasSubstr("Status: install ok installed"));

  const auto removed = run(with({"--remove", "connectware-backup"}));
  ASSERT_TRUE(removed.status.success()) << removed.stdout_text << removed.stderr_text;
  EXPECT_FALSE(fs::exists(root / "usr/bin/connectware-backup"));
  EXPECT_FALSE(fs::exists(root / "lib/systemd/system/connectware-backup.timer"));
  // An operator's edited settings survive a remove (conffiles) and go with a purge.
  EXPECT_TRUE(fs::exists(root / "etc/connectware-backup/env"));
  const auto purged = run(with({"--purge", "connectware-backup"}));
  ASSERT_TRUE(purged.status.success()) << purged.stdout_text << purged.stderr_text;
  EXPECT_FALSE(fs::exists(root / "etc/connectware-backup/env"));
}

TEST_F(DebPackage, LintianFindsNoError) {
  const auto lintian = run({"lintian", "--tag-display-limit", "0", package_->string()});
  EXPECT_THAT(lintian.stdout_text + lintian.stderr_text, Not(testing::ContainsRegex("(^|\n)E: ")))
      << lintian.stdout_text;
  EXPECT_TRUE(lintian.status.success()) << lintian.status.describe() << "\n"
                                        << lintian.stdout_text << lintian.stderr_text;
}

} // namespace
} // namespace cwb
