// The resticprofile profiles in restic-profiles/ and the example settings next to them, checked against the
// real hooks: every hook command a profile runs must name one of our executables with flags it accepts
// (the built executable is run with them plus --show-config), the backup profile must keep, check and
// schedule, and the example files must name only settings the hooks know.
#include "config/config.hpp"
#include "snapshot/layout.hpp"
#include "snapshot/manifest.hpp"
#include "util/file_system.hpp"
#include "util/subprocess.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cwb {
namespace {

namespace fs = std::filesystem;

const fs::path profiles_dir = fs::path(CWB_SOURCE_DIR) / "restic-profiles";
const fs::path hooks_dir = fs::path(CWB_BINARY_DIR) / "hooks";
const std::set<std::string> our_executables = {"connectware-pre-backup", "connectware-post-backup",
                                               "connectware-backup", "connectware-restore"};
const std::set<std::string> hook_keys = {"run-before", "run-after", "run-after-fail", "run-finally"};

struct HookCommand {
  std::string file;    // "profiles.yaml"
  std::string where;   // "connectware.backup.run-after-fail"
  std::string command; // "connectware-post-backup --failed"
};

std::vector<fs::path> profile_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(profiles_dir)) {
    const auto extension = entry.path().extension();
    if (extension == ".yaml" || extension == ".yml") files.push_back(entry.path());
  }
  std::ranges::sort(files);
  return files;
}

YAML::Node load(const fs::path& file) {
  try {
    return YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    ADD_FAILURE() << file << " is not valid YAML: " << error.what();
    return YAML::Node{};
  }
}

// Hooks may sit at profile level or in any section (backup, check, retention, ...), as a string or a list.
void collect_hooks(const YAML::Node& node, const std::string& where, const std::string& file,
                   std::vector<HookCommand>& out) {
  if (!node.IsMap()) return;
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    const auto path = where.empty() ? key : where + "." + key;
    if (hook_keys.contains(key)) {
      if (item.second.IsScalar()) {
        out.push_back({file, path, item.second.as<std::string>()});
      } else if (item.second.IsSequence()) {
        for (const auto& command : item.second)
          out.push_back({file, path, command.as<std::string>()});
      } else {
        ADD_FAILURE() << file << ": " << path << " is neither a command nor a list of commands";
      }
      continue;
    }
    collect_hooks(item.second, path, file, out);
  }
}

std::vector<std::string> split_words(const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> words;
  for (std::string word; in >> word;)
    words.push_back(word);
  return words;
}

/// KEY=VALUE lines of an environment file (comments and blank lines skipped).
std::map<std::string, std::string> read_env_file(const fs::path& file) {
  auto text = util::read_file(file);
  EXPECT_TRUE(text) << file;
  std::map<std::string, std::string> values;
  std::istringstream in(text ? *text : std::string{});
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() == '#') continue;
    const auto equals = line.find('=');
    EXPECT_NE(equals, std::string::npos) << file << ": not KEY=VALUE: " << line;
    if (equals == std::string::npos) continue;
    values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

class Profiles : public ::testing::Test {
protected:
  void SetUp() override {
    auto temp = util::TemporaryDirectory::create(fs::temp_directory_path(), "cwb-profiles-test");
    ASSERT_TRUE(temp);
    temp_ = std::move(*temp);
    ASSERT_TRUE(util::write_file_atomic(temp_.path() / "connectware-password", "admin\n"));
    ASSERT_TRUE(util::write_file_atomic(temp_.path() / "restic-password", "repo-password\n"));
  }

  /// The environment a hook gets from resticprofile on a machine set up from our examples: the example
  /// environment file, the profile's env section, with the secret files (and the config file) pointing
  /// at files that exist here. Nothing is inherited from the test's own environment except PATH.
  /// The env section a profile runs its hooks with: its own, or the one it inherits (resticprofile's
  /// `inherit`), or none.
  YAML::Node profile_environment(const YAML::Node& root, std::string name) {
    for (int depth = 0; depth < 8 && !name.empty(); ++depth) {
      const YAML::Node profile = root[name];
      if (!profile || !profile.IsMap()) break;
      if (const YAML::Node env = profile["env"]) return env;
      const YAML::Node parent = profile["inherit"];
      name = parent ? parent.as<std::string>() : std::string{};
    }
    return YAML::Node{};
  }

  util::Environment hook_environment(const YAML::Node& profile_env) const {
    util::Environment env;
    for (const auto& [key, value] : read_env_file(profiles_dir / "connectware-backup.env.example"))
      env[key] = value;
    if (profile_env.IsMap()) {
      for (const auto& item : profile_env)
        env[item.first.as<std::string>()] = item.second.as<std::string>();
    }
    env["CONNECTWARE_CONFIG"] = (profiles_dir / "connectware-backup.conf.example").string();
    env["CONNECTWARE_PASSWORD_FILE"] = (temp_.path() / "connectware-password").string();
    env["RESTIC_PASSWORD_FILE"] = (temp_.path() / "restic-password").string();
    env.erase("CONNECTWARE_TOKEN_FILE");
    env["PATH"] = "/usr/bin:/bin";
    return env;
  }

  util::TemporaryDirectory temp_;
};

TEST_F(Profiles, EveryHookCommandIsOneOfOurExecutablesWithFlagsItAccepts) {
  int checked = 0;
  for (const auto& file : profile_files()) {
    const auto root = load(file);
    std::vector<HookCommand> hooks;
    collect_hooks(root, "", file.filename().string(), hooks);
    for (const auto& hook : hooks) {
      SCOPED_TRACE(hook.file + ": " + hook.where + ": " + hook.command);
      // We run the words ourselves, without a shell: a profile needing quoting or shell syntax would
      // make this check dishonest, so it must not use any.
      ASSERT_EQ(hook.command.find_first_of("'\"$;|&<>`\\*?"), std::string::npos) << "shell syntax in a hook";
      auto words = split_words(hook.command);
      ASSERT_FALSE(words.empty());
      const auto name = fs::path(words.front()).filename().string();
      ASSERT_TRUE(our_executables.contains(name)) << name << " is not one of our executables";
      const auto executable = hooks_dir / name;
      ASSERT_TRUE(fs::exists(executable)) << executable << " is not built";

      // The env section of the profile this hook belongs to (the first path component).
      const auto profile_name = hook.where.substr(0, hook.where.find('.'));
      const auto profile_env = profile_environment(root, profile_name);
      util::ProcessOptions run;
      run.argv = {executable.string()};
      run.argv.insert(run.argv.end(), words.begin() + 1, words.end());
      run.argv.push_back("--show-config");
      run.env = hook_environment(profile_env);
      run.timeout = std::chrono::seconds(30);
      auto result = util::run_process(run);
      ASSERT_TRUE(result) << result.error().message;
      EXPECT_TRUE(result->status.success())
          << result->status.describe() << "\nstdout: " << result->stdout_text << "\nstderr: " << result->stderr_text;
      // --show-config printed the configuration that the example files produce.
      EXPECT_NE(result->stdout_text.find("connectware-url = https://connectware.example.local"), std::string::npos)
          << result->stdout_text;
      ++checked;
    }
  }
  EXPECT_GE(checked, 3) << "profiles.yaml should run the pre hook, the post hook and the post hook --failed";
}

TEST_F(Profiles, TheHookCheckRejectsAFlagAHookDoesNotKnow) {
  // The check above is only worth something if an unknown flag makes the hook fail.
  util::ProcessOptions run;
  run.argv = {(hooks_dir / "connectware-pre-backup").string(), "--failed", "--show-config"};
  run.env = hook_environment(YAML::Node{});
  run.timeout = std::chrono::seconds(30);
  auto result = util::run_process(run);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(result->status.code.has_value());
  EXPECT_EQ(*result->status.code, 2) << result->stderr_text;
}

/// Returns the profiles (top-level maps) of profiles.yaml that have a backup section.
std::vector<std::pair<std::string, YAML::Node>> backup_profiles(const YAML::Node& root) {
  std::vector<std::pair<std::string, YAML::Node>> found;
  for (const auto& item : root) {
    if (item.second.IsMap() && item.second["backup"]) found.emplace_back(item.first.as<std::string>(), item.second);
  }
  return found;
}

std::vector<std::string> strings_of(const YAML::Node& node) {
  std::vector<std::string> values;
  if (node && node.IsScalar()) values.push_back(node.as<std::string>());
  if (node && node.IsSequence()) {
    for (const auto& item : node)
      values.push_back(item.as<std::string>());
  }
  return values;
}

TEST(BackupProfile, WiresTheHooksAroundTheStagingFolder) {
  const auto root = load(profiles_dir / "profiles.yaml");
  const auto profiles = backup_profiles(root);
  ASSERT_FALSE(profiles.empty()) << "profiles.yaml has no profile with a backup section";
  const snapshot::Layout layout{"/var/lib/connectware-backup/staging"}; // the staging-dir default
  for (const auto& [name, profile] : profiles) {
    SCOPED_TRACE(name);
    const auto backup = profile["backup"];
    EXPECT_EQ(strings_of(backup["source"]), std::vector<std::string>{layout.root.string()});
    EXPECT_EQ(strings_of(backup["exclude"]), std::vector<std::string>{layout.mirror_index("x").parent_path().string()});
    EXPECT_EQ(strings_of(backup["run-before"]), std::vector<std::string>{"connectware-pre-backup"});
    EXPECT_EQ(strings_of(backup["run-after"]), std::vector<std::string>{"connectware-post-backup"});
    EXPECT_EQ(strings_of(backup["run-after-fail"]), std::vector<std::string>{"connectware-post-backup --failed"});
    // The snapshots must carry the tag the post hook looks them up by (config key tags, default below).
    const auto tags = strings_of(backup["tag"]);
    EXPECT_NE(std::ranges::find(tags, "connectware"), tags.end());
  }
}

TEST(BackupProfile, HasARetentionPolicyACheckWithReadDataSubsetAndASchedule) {
  const auto root = load(profiles_dir / "profiles.yaml");
  const auto profiles = backup_profiles(root);
  ASSERT_FALSE(profiles.empty());
  const std::regex subset(R"(^(\d{1,3}(\.\d+)?%|\d+/\d+|\d+[KMGT]?)$)");
  for (const auto& [name, profile] : profiles) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(strings_of(profile["backup"]["schedule"]).empty()) << "no backup schedule";

    const auto retention = profile["retention"] ? profile["retention"] : profile["forget"];
    ASSERT_TRUE(retention && retention.IsMap()) << "no retention (or forget) section";
    int keeps = 0;
    for (const auto& item : retention) {
      const auto key = item.first.as<std::string>();
      if (key.starts_with("keep-") && key != "keep-tag" && item.second.IsScalar() && item.second.as<int>() > 0) ++keeps;
    }
    EXPECT_GT(keeps, 0) << "the retention policy keeps nothing by count";
    EXPECT_TRUE(retention["prune"] && retention["prune"].as<bool>()) << "retention never prunes";
    EXPECT_TRUE(retention["after-backup"] && retention["after-backup"].as<bool>()) << "retention never runs";
    // forget must only ever see our snapshots.
    EXPECT_FALSE(strings_of(retention["tag"]).empty());

    const auto check = profile["check"];
    ASSERT_TRUE(check && check.IsMap()) << "no check section";
    ASSERT_TRUE(check["read-data-subset"]) << "check does not read data back";
    EXPECT_TRUE(std::regex_match(check["read-data-subset"].as<std::string>(), subset))
        << check["read-data-subset"].as<std::string>();
    EXPECT_FALSE(strings_of(check["schedule"]).empty()) << "check is never scheduled";
  }
}

TEST(BackupProfile, RecordsTheHostThePostHookLooksTheSnapshotUpBy) {
  // connectware-post-backup finds the new snapshot by the `host` setting (default: this machine's name, what
  // resticprofile's `host: true` passes); a profile without host would rely on restic's default matching.
  auto conf = util::read_file(profiles_dir / "connectware-backup.conf.example");
  ASSERT_TRUE(conf);
  std::smatch configured;
  const bool host_set = std::regex_search(*conf, configured, std::regex(R"((^|\n)host = (\S+))"));
  for (const auto& [name, profile] : backup_profiles(load(profiles_dir / "profiles.yaml"))) {
    SCOPED_TRACE(name);
    const auto host = profile["backup"]["host"];
    ASSERT_TRUE(host && host.IsScalar()) << "the backup section sets no host";
    if (host_set) {
      EXPECT_EQ(host.as<std::string>(), configured[2].str());
    } else {
      EXPECT_EQ(host.as<std::string>(), "true");
    }
  }
}

TEST(BackupProfile, KeepsByTagOnlyTagsThatSomethingCreates) {
  const std::set<std::string> created = {"connectware", snapshot::full_scope_tag};
  for (const auto& [name, profile] : backup_profiles(load(profiles_dir / "profiles.yaml"))) {
    SCOPED_TRACE(name);
    for (const auto& tag : strings_of(profile["retention"]["keep-tag"]))
      EXPECT_TRUE(created.contains(tag)) << tag << " is kept, but no run ever creates it";
  }
}

/// The words of the first command of `section`'s hook `key`.
std::vector<std::string> hook_words(const YAML::Node& section, const std::string& key) {
  const auto commands = strings_of(section[key]);
  return commands.empty() ? std::vector<std::string>{} : split_words(commands.front());
}

/// The value after `flag` in `words`, or "".
std::string flag_value(const std::vector<std::string>& words, const std::string& flag) {
  const auto found = std::ranges::find(words, flag);
  return found == words.end() || found + 1 == words.end() ? std::string{} : *(found + 1);
}

TEST(RestoreProfile, ResticFetchesTheNamedSnapshotAndTheHookRestoresFromWhatItFetched) {
  // resticprofile hands `... .restore <snapshot>` to restic, never to a hook: restic's restore must be the
  // fetch, into the folder run-before prepares, and run-after must restore from the staging folder that
  // restic recreates below it; run-finally removes that same folder, whatever happened.
  const auto root = load(profiles_dir / "restore.yaml");
  const auto restore = root["connectware-restore"]["restore"];
  ASSERT_TRUE(restore && restore.IsMap());
  const auto target = restore["target"].as<std::string>("");
  ASSERT_FALSE(target.empty());
  EXPECT_EQ(flag_value(hook_words(restore, "run-before"), "--prepare-fetch"), target);
  EXPECT_EQ(flag_value(hook_words(restore, "run-finally"), "--remove-fetch"), target);
  const auto staged =
      strings_of(backup_profiles(load(profiles_dir / "profiles.yaml")).front().second["backup"]["source"]);
  ASSERT_EQ(staged.size(), 1U);
  const auto after = hook_words(restore, "run-after");
  EXPECT_EQ(flag_value(after, "--from"), (fs::path(target) / fs::path(staged.front()).relative_path()).string());
  EXPECT_NE(std::ranges::find(after, "--yes"), after.end()) << "no terminal under resticprofile";
  // Nothing restores a snapshot of its own choosing behind resticprofile's back.
  for (const auto& key : hook_keys) {
    for (const auto& command : strings_of(restore[key])) {
      const auto words = split_words(command);
      EXPECT_EQ(std::ranges::find(words, "--snapshot"), words.end()) << command;
      if (std::ranges::find(words, "--prepare-fetch") == words.end() &&
          std::ranges::find(words, "--remove-fetch") == words.end()) {
        EXPECT_NE(std::ranges::find(words, "--from"), words.end()) << command << " would pick its own snapshot";
      }
    }
  }
  // The snapshot `latest` names is one of ours of this host.
  const auto tags = strings_of(restore["tag"]);
  EXPECT_NE(std::ranges::find(tags, "connectware"), tags.end());
  EXPECT_TRUE(restore["host"]);
}

TEST(ExampleSettings, TheEnvironmentExampleNamesOnlyKnownVariablesAndEveryRequiredOne) {
  const auto env = read_env_file(profiles_dir / "connectware-backup.env.example");
  std::set<std::string> known = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CONNECTWARE_CONFIG"};
  for (const auto& key : config::Config::keys())
    known.insert(std::string(key.env_var));
  for (const auto& [key, value] : env) {
    EXPECT_TRUE(known.contains(key)) << key << " is not read by the hooks or restic";
    EXPECT_FALSE(value.empty()) << key;
  }
  for (const auto* required : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RESTIC_REPOSITORY",
                               "RESTIC_PASSWORD_FILE", "CONNECTWARE_URL", "CONNECTWARE_PASSWORD_FILE"}) {
    EXPECT_TRUE(env.contains(required)) << required;
  }
  // Secrets belong in files, not in an environment file that ends up in process listings.
  EXPECT_FALSE(env.contains("CONNECTWARE_PASSWORD"));
  EXPECT_FALSE(env.contains("RESTIC_PASSWORD"));
}

TEST(ExampleSettings, TheConfigExampleDocumentsEveryKeyAndSetsNoSecret) {
  auto text = util::read_file(profiles_dir / "connectware-backup.conf.example");
  ASSERT_TRUE(text);
  for (const auto& key : config::Config::keys()) {
    const std::regex line("(^|\\n)(# )?" + std::string(key.name) + " = ");
    const bool mentioned = std::regex_search(*text, line);
    if (key.exposure == config::Exposure::environment_only) {
      const std::regex set_line("(^|\\n)" + std::string(key.name) + " *=");
      EXPECT_FALSE(std::regex_search(*text, set_line)) << key.name << " is a secret: environment or file only";
      EXPECT_NE(text->find(std::string(key.name)), std::string::npos) << key.name << " is not explained";
    } else {
      EXPECT_TRUE(mentioned) << key.name << " is missing from the config example";
    }
  }
}

} // namespace
} // namespace cwb
