#include "config/config.hpp"
#include "config/config_file.hpp"
#include "config/logging.hpp"
#include "util/file_system.hpp"

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <array>
#include <set>
#include <sstream>

namespace cwb::config {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HasSubstr;
using testing::Not;

class ConfigTest : public testing::Test {
protected:
  void SetUp() override {
    auto created = util::TemporaryDirectory::create({}, "cwb-config-test-");
    ASSERT_TRUE(created) << created.error().message;
    dir_ = std::move(*created);
  }

  fs::path write(const std::string& name, std::string_view content) {
    const auto path = dir_.path() / name;
    EXPECT_TRUE(util::write_file_atomic(path, content));
    return path;
  }

  // Parses `args` the way a hook's main() does and resolves the configuration.
  static Result<Config> resolve(std::vector<std::string> args, const util::Environment& environment = {}) {
    CLI::App app{"test hook"};
    CommandLine command_line;
    add_options(app, command_line);
    args.insert(args.begin(), "hook");
    std::vector<const char*> argv;
    for (const auto& arg : args)
      argv.push_back(arg.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return Config::resolve(command_line, environment);
  }

  static std::string error_of(const Result<Config>& config) {
    EXPECT_FALSE(config.has_value());
    if (config) return {};
    EXPECT_EQ(config.error().kind, ErrorKind::usage);
    return config.error().message;
  }

  util::TemporaryDirectory dir_;
};

// --- defaults and precedence -----------------------------------------------------------------------------

TEST_F(ConfigTest, DefaultsApplyWhenNothingIsSet) {
  auto config = resolve({});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->connectware_url(), "https://localhost");
  EXPECT_EQ(config->connectware_username(), "admin");
  EXPECT_EQ(config->connect_timeout(), seconds{10});
  EXPECT_EQ(config->request_timeout(), seconds{300});
  EXPECT_EQ(config->export_timeout(), seconds{3600});
  EXPECT_EQ(config->retries(), 4);
  EXPECT_EQ(config->quiesce(), Quiesce::automatic);
  EXPECT_EQ(config->docker_host(), "unix:///var/run/docker.sock");
  EXPECT_EQ(config->volumes(), std::vector<std::string>{"service-manager"});
  EXPECT_EQ(config->platform(), PlatformChoice::automatic);
  EXPECT_TRUE(config->volume_paths().empty());
  EXPECT_EQ(config->tags(), std::vector<std::string>{"connectware"});
  EXPECT_EQ(config->status_file(), fs::path{"/var/lib/connectware-backup/status.json"});
  EXPECT_FALSE(config->insecure());
  EXPECT_FALSE(config->config_file());
  EXPECT_EQ(config->authentication(), Authentication::none);
  EXPECT_EQ(config->origin("connectware-url").describe(), "default");

  std::array<char, 256> hostname{};
  ASSERT_EQ(gethostname(hostname.data(), hostname.size() - 1), 0);
  EXPECT_EQ(config->host(), std::string{hostname.data()});
}

TEST_F(ConfigTest, FlagsBeatEnvironmentWhichBeatsConfigFileWhichBeatsDefaults) {
  const auto file = write("backup.conf", "connectware-url = https://file.example\n"
                                         "quiesce = none\n"
                                         "retries = 7\n"
                                         "tags = from-file\n");
  const util::Environment environment{{"CONNECTWARE_QUIESCE", "verify"}, {"CONNECTWARE_RETRIES", "8"}};
  auto config = resolve({"--config", file.string(), "--retries", "9"}, environment);
  ASSERT_TRUE(config) << config.error().message;

  EXPECT_EQ(config->connectware_url(), "https://file.example");
  EXPECT_EQ(config->origin("connectware-url").describe(), "config file " + file.string() + ":1");
  EXPECT_EQ(config->quiesce(), Quiesce::verify);
  EXPECT_EQ(config->origin("quiesce").describe(), "environment CONNECTWARE_QUIESCE");
  EXPECT_EQ(config->retries(), 9);
  EXPECT_EQ(config->origin("retries").describe(), "command line --retries");
  EXPECT_EQ(config->tags(), std::vector<std::string>{"from-file"});
  EXPECT_EQ(config->origin("tags").describe(), "config file " + file.string() + ":4");
  EXPECT_EQ(config->verify_attempts(), 3);
  EXPECT_EQ(config->origin("verify-attempts").describe(), "default");
}

TEST_F(ConfigTest, ConfigFileComesFromEnvironmentUnlessGivenAsFlag) {
  const auto from_env = write("env.conf", "compose-project = fromenv\n");
  const auto from_flag = write("flag.conf", "compose-project = fromflag\n");
  const util::Environment environment{{"CONNECTWARE_CONFIG", from_env.string()}};

  auto config = resolve({}, environment);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->compose_project(), "fromenv");
  EXPECT_EQ(config->config_file_origin().describe(), "environment CONNECTWARE_CONFIG");

  config = resolve({"--config", from_flag.string()}, environment);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->compose_project(), "fromflag");
  EXPECT_EQ(config->config_file_origin().describe(), "command line --config");
}

TEST_F(ConfigTest, MissingConfigFileIsAUsageErrorNamingIt) {
  const auto missing = dir_.path() / "nope.conf";
  const auto message = error_of(resolve({"--config", missing.string()}));
  EXPECT_THAT(message, HasSubstr(missing.string()));
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  auto config = resolve({}, {{"CONNECTWARE_URL", ""}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->connectware_url(), "https://localhost");
  EXPECT_EQ(config->origin("connectware-url").describe(), "default");
}

TEST_F(ConfigTest, EmptyFlagUnsetsAnOptionalPath) {
  auto config = resolve({"--ca-file", ""}, {{"CONNECTWARE_CA_FILE", "/etc/ca.pem"}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->ca_file());
  EXPECT_EQ(config->origin("ca-file").describe(), "command line --ca-file");
}

TEST_F(ConfigTest, ResticUsesItsOwnEnvironmentVariables) {
  auto config = resolve({}, {{"RESTIC_REPOSITORY", "s3:https://127.0.0.1:9000/bucket"},
                             {"RESTIC_CACERT", "/etc/s3-ca.pem"},
                             {"RESTIC_PASSWORD", "repo-secret"},
                             {"DOCKER_HOST", "tcp://127.0.0.1:2375"}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->repository(), "s3:https://127.0.0.1:9000/bucket");
  EXPECT_EQ(config->origin("repository").describe(), "environment RESTIC_REPOSITORY");
  EXPECT_EQ(config->restic_cacert(), fs::path{"/etc/s3-ca.pem"});
  EXPECT_EQ(config->restic_password().reveal(), "repo-secret");
  EXPECT_EQ(config->docker_host(), "tcp://127.0.0.1:2375");
}

// --- validation of each type -----------------------------------------------------------------------------

TEST_F(ConfigTest, InvalidEnumNamesKeyOriginValueAndChoices) {
  const auto message = error_of(resolve({}, {{"CONNECTWARE_QUIESCE", "fast"}}));
  EXPECT_EQ(message, "invalid value \"fast\" for quiesce (from environment CONNECTWARE_QUIESCE): "
                     "expected optimistic, pause, verify, none or auto");
}

struct InvalidValue {
  std::string key;
  std::string value;
  std::string expectation;
};

void PrintTo(const InvalidValue& value, std::ostream* out) {
  *out << value.key << "=" << value.value;
}

class InvalidFlagValue : public ConfigTest, public testing::WithParamInterface<InvalidValue> {};

TEST_P(InvalidFlagValue, IsRejectedWithKeyOriginAndQuotedValue) {
  const auto& param = GetParam();
  const auto message = error_of(resolve({"--" + param.key + "=" + param.value}));
  EXPECT_EQ(message, "invalid value \"" + param.value + "\" for " + param.key + " (from command line --" + param.key +
                         "): " + param.expectation);
}

INSTANTIATE_TEST_SUITE_P(
    EveryType, InvalidFlagValue,
    testing::Values(
        InvalidValue{"insecure", "maybe", "expected true or false"},
        InvalidValue{"retries", "-1", "expected a whole number from 0 to 100"},
        InvalidValue{"verify-attempts", "0", "expected a whole number from 1 to 100"},
        InvalidValue{"retries", "4x", "expected a whole number from 0 to 100"},
        InvalidValue{
            "connect-timeout", "0",
            "expected a positive duration of at least 1ms and up to a year, like 30, 30s, 0.5s, 250ms, 5m or 2h"},
        InvalidValue{
            "export-timeout", "ten",
            "expected a positive duration of at least 1ms and up to a year, like 30, 30s, 0.5s, 250ms, 5m or 2h"},
        InvalidValue{
            "health-timeout", "0",
            "expected a positive duration of at least 1ms and up to a year, like 30, 30s, 0.5s, 250ms, 5m or 2h"},
        InvalidValue{"connectware-url", "ftp://host",
                     "expected an http:// or https:// URL with a host, like https://connectware.local"},
        InvalidValue{"connectware-url", "https://",
                     "expected an http:// or https:// URL with a host, like https://connectware.local"},
        InvalidValue{"status-path", "api/maintenance", "expected an HTTP path starting with \"/\""},
        InvalidValue{"progress", "sometimes", "expected auto, always or never"},
        InvalidValue{"log-level", "loud", "expected trace, debug, info, warn, error or off"},
        InvalidValue{"volumes", "service-manager,Bad Name",
                     "expected a comma-separated list of names of lower-case letters, digits, \"-\", "
                     "\"_\" and \".\""},
        InvalidValue{"tags", "a,b c", "expected a comma-separated list of tags without blanks"},
        InvalidValue{"docker-host", "/var/run/docker.sock",
                     "expected unix:///path/to/docker.sock or tcp://HOST:PORT (or empty: no Docker engine)"},
        InvalidValue{"drill-read-data-subset", "5 %", "expected a percentage (5%), a part (1/5), a size (500M) or 0"},
        InvalidValue{"drill-read-data-subset", "101%", "expected a percentage (5%), a part (1/5), a size (500M) or 0"},
        InvalidValue{"drill-read-data-subset", "0/5", "expected a percentage (5%), a part (1/5), a size (500M) or 0"},
        InvalidValue{"compose-project", "Connectware",
                     "expected lower-case letters, digits, \"-\" and \"_\", starting with a letter or "
                     "digit"}));

TEST_F(ConfigTest, DrillReadDataSubsetTakesWhatResticCheckTakes) {
  EXPECT_EQ(resolve({}).value().drill_read_data_subset(), "5%");
  for (const std::string subset : {"2.5%", "100%", "1/5", "500M", "2G", "0"})
    EXPECT_EQ(resolve({"--drill-read-data-subset=" + subset}).value().drill_read_data_subset(), subset);
}

TEST_F(ConfigTest, InvalidValueInConfigFileNamesFileAndLine) {
  const auto file = write("bad.conf", "# comment\n\nconnect-timeout = -5\n");
  const auto message = error_of(resolve({"--config", file.string()}));
  EXPECT_EQ(
      message,
      "invalid value \"-5\" for connect-timeout (from config file " + file.string() +
          ":3): expected a positive duration of at least 1ms and up to a year, like 30, 30s, 0.5s, 250ms, 5m or 2h");
}

TEST_F(ConfigTest, EmptyRequiredValueInConfigFileIsRejected) {
  const auto file = write("empty.conf", "connectware-username = \"\"\n");
  EXPECT_EQ(error_of(resolve({"--config", file.string()})),
            "invalid value \"\" for connectware-username (from config file " + file.string() +
                ":1): expected a non-empty value");
}

TEST_F(ConfigTest, DurationsAcceptSecondsMinutesAndHours) {
  auto config = resolve(
      {"--connect-timeout", "30s", "--request-timeout", "5m", "--export-timeout", "2h", "--poll-interval", "2"});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->connect_timeout(), seconds{30});
  EXPECT_EQ(config->request_timeout(), seconds{300});
  EXPECT_EQ(config->export_timeout(), seconds{7200});
  EXPECT_EQ(config->poll_interval(), seconds{2});
}

TEST_F(ConfigTest, DurationsAcceptFractionsAndMilliseconds) {
  auto config = resolve({"--poll-interval", "0.5s", "--poll-max-interval", "250ms", "--connect-timeout", "1.25",
                         "--health-timeout", "1.5m"});
  // poll-interval above poll-max-interval is refused, so this checks the parse first and the order next.
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("poll-interval"), std::string::npos) << config.error().message;

  auto ordered = resolve({"--poll-interval", "250ms", "--poll-max-interval", "0.5s", "--connect-timeout", "1.25",
                          "--health-timeout", "1.5m"});
  ASSERT_TRUE(ordered) << ordered.error().message;
  EXPECT_EQ(ordered->poll_interval(), milliseconds{250});
  EXPECT_EQ(ordered->poll_max_interval(), milliseconds{500});
  EXPECT_EQ(ordered->connect_timeout(), milliseconds{1250});
  EXPECT_EQ(ordered->health_timeout(), seconds{90});
  const auto shown = show_config(*ordered);
  EXPECT_NE(shown.find("poll-interval = 250ms"), std::string::npos) << shown;
  EXPECT_NE(shown.find("poll-max-interval = 500ms"), std::string::npos) << shown;
  EXPECT_NE(shown.find("health-timeout = 90s"), std::string::npos) << shown;
}

TEST_F(ConfigTest, DurationsBelowAMillisecondOrWithoutANumberAreRejected) {
  for (const char* bad : {"0", "0.0001s", "-1s", "s", "ms", "1e3", "1.2.3s", "5d", "1 s", ".s"}) {
    const auto message = error_of(resolve({"--request-timeout", bad}));
    EXPECT_NE(message.find("expected a positive duration"), std::string::npos) << bad << ": " << message;
  }
}

TEST_F(ConfigTest, BooleanFlagWorksBareOrWithValueAndFromEnvironment) {
  auto bare = resolve({"--insecure"});
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_TRUE(bare->insecure());

  auto off = resolve({"--insecure=false"}, {{"CONNECTWARE_INSECURE", "yes"}});
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->insecure());

  auto from_env = resolve({}, {{"CONNECTWARE_INSECURE", "TRUE"}});
  ASSERT_TRUE(from_env) << from_env.error().message;
  EXPECT_TRUE(from_env->insecure());
}

TEST_F(ConfigTest, ListsSplitOnCommasAndRepeatedFlagsAccumulate) {
  auto config = resolve({"--tags", "a", "--tags", "b, c"}, {{"CONNECTWARE_PAUSE_SERVICES", "service-manager, broker"}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->tags(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(config->pause_services(), (std::vector<std::string>{"service-manager", "broker"}));
}

TEST_F(ConfigTest, EmptyListInConfigFileMeansNothing) {
  const auto file = write("c.conf", "pause-services =\n");
  auto config = resolve({"--config", file.string()});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->pause_services().empty());
}

TEST_F(ConfigTest, RestoreFoldersDefaultBelowStateDirUnlessSet) {
  auto derived = resolve({"--state-dir", "/srv/cwb"});
  ASSERT_TRUE(derived) << derived.error().message;
  EXPECT_EQ(derived->restore_dir(), fs::path{"/srv/cwb/restore"});
  EXPECT_EQ(derived->rollback_dir(), fs::path{"/srv/cwb/rollback"});
  EXPECT_EQ(derived->health_timeout(), seconds{300});
  EXPECT_TRUE(derived->restart_command().empty());

  const util::Environment environment{{"CONNECTWARE_ROLLBACK_DIR", "/mnt/safety"}};
  auto explicit_dirs = resolve({"--restore-dir", "/tmp/fetch", "--health-timeout", "2m"}, environment);
  ASSERT_TRUE(explicit_dirs) << explicit_dirs.error().message;
  EXPECT_EQ(explicit_dirs->restore_dir(), fs::path{"/tmp/fetch"});
  EXPECT_EQ(explicit_dirs->rollback_dir(), fs::path{"/mnt/safety"});
  EXPECT_EQ(explicit_dirs->origin("rollback-dir").describe(), "environment CONNECTWARE_ROLLBACK_DIR");
  EXPECT_EQ(explicit_dirs->health_timeout(), seconds{120});
}

TEST_F(ConfigTest, WorkFolderThatIsTheRootFolderIsRejected) {
  EXPECT_EQ(error_of(resolve({"--restore-dir", "/"})),
            "restore-dir (from command line --restore-dir) / is the root folder; it is emptied as a whole: give it "
            "a folder of its own");
  EXPECT_THAT(error_of(resolve({}, {{"CONNECTWARE_STAGING_DIR", "/srv/.."}})),
              HasSubstr("staging-dir (from environment CONNECTWARE_STAGING_DIR) /srv/.. is the root folder"));
}

TEST_F(ConfigTest, WorkFoldersInsideEachOtherAreRejectedNamingBoth) {
  EXPECT_EQ(error_of(resolve({"--staging-dir", "/srv/cwb/staging", "--rollback-dir", "/srv/cwb/staging/rollback",
                              "--state-dir", "/srv/state"})),
            "rollback-dir (from command line --rollback-dir) /srv/cwb/staging/rollback lies inside staging-dir "
            "(from command line --staging-dir) /srv/cwb/staging: give each a folder of its own");
  EXPECT_THAT(error_of(resolve(
                  {"--restore-dir", "/srv/fetch/", "--rollback-dir", "/srv/./fetch", "--state-dir", "/srv/state"})),
              HasSubstr("/srv/fetch/ is the same folder as rollback-dir (from command line --rollback-dir) "
                        "/srv/./fetch"));
  // A name that only starts like another folder is not inside it.
  auto apart = resolve({"--staging-dir", "/srv/cwb", "--restore-dir", "/srv/cwb-restore", "--state-dir", "/srv/s"});
  EXPECT_TRUE(apart) << apart.error().message;
}

TEST_F(ConfigTest, StateFolderInsideAWorkFolderIsRejected) {
  // The lock and the markers would be removed with the folder.
  EXPECT_EQ(error_of(resolve({"--staging-dir", "/srv/cwb", "--state-dir", "/srv/cwb/state"})),
            "state-dir (from command line --state-dir) /srv/cwb/state lies inside staging-dir (from command line "
            "--staging-dir) /srv/cwb, which is emptied as a whole: keep the state folder out of it");
  // The defaults keep restore-dir and rollback-dir inside the state folder, which is the other way round.
  auto defaults = resolve({"--state-dir", "/srv/state"});
  EXPECT_TRUE(defaults) << defaults.error().message;
}

TEST_F(ConfigTest, WorkFoldersAreComparedWithLinksResolved) {
  const auto real = dir_.path() / "real";
  ASSERT_TRUE(util::create_private_directory(real));
  fs::create_directory_symlink(real, dir_.path() / "alias");
  EXPECT_THAT(error_of(resolve({"--staging-dir", real.string(), "--restore-dir", (dir_.path() / "alias/r").string(),
                                "--state-dir", (dir_.path() / "state").string()})),
              HasSubstr("alias/r lies inside staging-dir"));
}

TEST_F(ConfigTest, RestartCommandIsSplitOnSpacesWithoutAShell) {
  const auto file = write("restore.conf", "restart-command = \"systemctl  restart connectware; rm -rf /\"\n");
  auto config = resolve({"--config", file.string()});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->restart_command(),
            (std::vector<std::string>{"systemctl", "restart", "connectware;", "rm", "-rf", "/"}));
}

TEST_F(ConfigTest, UrlLosesTrailingSlash) {
  auto config = resolve({"--connectware-url", "HTTPS://cw.example:4443/"});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->connectware_url(), "HTTPS://cw.example:4443");
}

TEST_F(ConfigTest, PollIntervalLongerThanItsMaximumIsRejected) {
  const auto message = error_of(resolve({"--poll-interval", "20"}, {{"CONNECTWARE_POLL_MAX_INTERVAL", "10"}}));
  EXPECT_EQ(message, "poll-interval (from command line --poll-interval) is 20s, longer than poll-max-interval "
                     "(from environment CONNECTWARE_POLL_MAX_INTERVAL) 10s");
}

TEST_F(ConfigTest, InsecureWithCaFileWarnsButSucceeds) {
  auto config = resolve({"--insecure", "--ca-file", "/etc/ca.pem"});
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->warnings().size(), 1u);
  EXPECT_THAT(config->warnings()[0], HasSubstr("ca-file (from command line --ca-file)"));
}

// --- secrets ---------------------------------------------------------------------------------------------

TEST_F(ConfigTest, EnvironmentOnlySecretsHaveNoFlag) {
  CLI::App app{"test hook"};
  CommandLine command_line;
  add_options(app, command_line);
  std::set<std::string> environment_only;
  for (const auto& key : Config::keys()) {
    const auto flag = "--" + std::string{key.name};
    if (key.exposure == Exposure::environment_only) {
      environment_only.insert(std::string{key.name});
      EXPECT_EQ(app.get_option_no_throw(flag), nullptr) << flag;
      EXPECT_EQ(key.sensitivity, Sensitivity::secret) << flag;
    } else {
      EXPECT_NE(app.get_option_no_throw(flag), nullptr) << flag;
    }
  }
  EXPECT_EQ(environment_only, (std::set<std::string>{"connectware-password", "connectware-token", "restic-password",
                                                     "ping-url", "drill-ping-url"}));
  EXPECT_THROW(resolve({"--connectware-password", "x"}), CLI::ParseError);
}

TEST_F(ConfigTest, SecretInConfigFileIsRejectedNamingTheWayToSetIt) {
  const auto file = write("c.conf", "connectware-username = backup\nconnectware-password = hunter2\n");
  const auto message = error_of(resolve({"--config", file.string()}));
  EXPECT_EQ(message, file.string() + ":2: connectware-password cannot be set in a config file: set "
                                     "CONNECTWARE_PASSWORD or connectware-password-file");
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
}

TEST_F(ConfigTest, PasswordFileIsReadWithoutTrailingNewline) {
  const auto secret_file = write("password", "s3cret\n");
  auto config = resolve({"--connectware-password-file", secret_file.string()});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->connectware_password().reveal(), "s3cret");
  EXPECT_EQ(config->authentication(), Authentication::password);
  EXPECT_EQ(config->origin("connectware-password").describe(), "file " + secret_file.string());
  EXPECT_TRUE(config->require_connectware_credentials());
}

TEST_F(ConfigTest, ResticPasswordFileIsReadToo) {
  const auto secret_file = write("restic-password", "repo pass\r\n");
  auto config = resolve({}, {{"RESTIC_PASSWORD_FILE", secret_file.string()}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->restic_password().reveal(), "repo pass");
}

TEST_F(ConfigTest, MissingPasswordFileIsAUsageErrorNamingTheFile) {
  const auto missing = dir_.path() / "no-such-password";
  const auto message = error_of(resolve({}, {{"CONNECTWARE_PASSWORD_FILE", missing.string()}}));
  EXPECT_THAT(message, HasSubstr("connectware-password-file (from environment CONNECTWARE_PASSWORD_FILE)"));
  EXPECT_THAT(message, HasSubstr(missing.string()));
}

TEST_F(ConfigTest, EmptyPasswordFileIsRejected) {
  const auto secret_file = write("password", "\n");
  const auto message = error_of(resolve({"--connectware-password-file", secret_file.string()}));
  EXPECT_THAT(message, HasSubstr(secret_file.string() + " is empty"));
}

TEST_F(ConfigTest, PasswordAndPasswordFileTogetherAreRejected) {
  const auto secret_file = write("password", "one\n");
  const auto message =
      error_of(resolve({"--connectware-password-file", secret_file.string()}, {{"CONNECTWARE_PASSWORD", "two"}}));
  EXPECT_EQ(message, "both connectware-password (from environment CONNECTWARE_PASSWORD) and connectware-password-file "
                     "(from command line --connectware-password-file) are set: keep only one");
}

TEST_F(ConfigTest, TokenWinsOverPasswordWithAWarning) {
  const auto missing_password_file = dir_.path() / "not-read";
  auto config =
      resolve({"--connectware-password-file", missing_password_file.string()}, {{"CONNECTWARE_TOKEN", "jwt-token"}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->authentication(), Authentication::token);
  EXPECT_EQ(config->connectware_token().reveal(), "jwt-token");
  EXPECT_TRUE(config->connectware_password().empty());
  ASSERT_EQ(config->warnings().size(), 1u);
  EXPECT_THAT(config->warnings()[0], HasSubstr("is ignored"));
}

TEST_F(ConfigTest, NoCredentialsIsReportedOnlyWhenRequired) {
  auto config = resolve({});
  ASSERT_TRUE(config) << config.error().message;
  auto required = config->require_connectware_credentials();
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().kind, ErrorKind::usage);
  EXPECT_THAT(required.error().message, HasSubstr("CONNECTWARE_PASSWORD"));
}

TEST_F(ConfigTest, SecretsListsOnlyTheSetOnes) {
  auto config = resolve({}, {{"CONNECTWARE_PASSWORD", "pw"}, {"RESTIC_PASSWORD", "rp"}});
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->secrets().size(), 2u);
  EXPECT_EQ(redact("pw and rp", config->secrets()), "******** and ********");
}

// --- config file syntax ----------------------------------------------------------------------------------

TEST_F(ConfigTest, ConfigFileSyntaxErrorNamesFileAndLine) {
  const auto file = write("c.conf", "# header\nretries = 3\nquiesce pause\n");
  EXPECT_EQ(error_of(resolve({"--config", file.string()})),
            file.string() + ":3: expected \"key = value\", got \"quiesce pause\"");
}

TEST_F(ConfigTest, UnknownKeyInConfigFileIsAnErrorNamingIt) {
  const auto file = write("c.conf", "retries = 3\ncolour = blue\n");
  EXPECT_EQ(error_of(resolve({"--config", file.string()})),
            file.string() + ":2: unknown key \"colour\" (--help lists the keys)");
}

TEST(ConfigFile, QuotesAreOptionalAndCommentsIgnored) {
  auto entries = parse_config_text("# comment\n"
                                   "  connectware-url = \"https://cw.example/#x\"  # quoted\n"
                                   "host = box   # trailing comment\n"
                                   "tags='a, b'\r\n"
                                   "staging-dir = /srv/a#b\n"
                                   "\n",
                                   "test.conf");
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].key, "connectware-url");
  EXPECT_EQ((*entries)[0].value, "https://cw.example/#x");
  EXPECT_EQ((*entries)[0].line, 2);
  EXPECT_EQ((*entries)[1].value, "box");
  EXPECT_EQ((*entries)[2].value, "a, b");
  EXPECT_EQ((*entries)[3].value, "/srv/a#b");
}

TEST(ConfigFile, UnterminatedQuoteNamesLine) {
  auto entries = parse_config_text("retries = 1\nhost = \"box\n", "test.conf");
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().kind, ErrorKind::usage);
  EXPECT_EQ(entries.error().message, "test.conf:2: unterminated double quote in the value of host");
}

TEST(ConfigFile, TextAfterClosingQuoteIsAnError) {
  auto entries = parse_config_text("host = \"box\" extra\n", "test.conf");
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().message, "test.conf:1: unexpected text after the closing quote of host");
}

TEST(ConfigFile, MalformedKeyIsAnError) {
  auto entries = parse_config_text("Connectware_URL = x\n", "test.conf");
  ASSERT_FALSE(entries);
  EXPECT_THAT(entries.error().message, HasSubstr("test.conf:1: invalid key \"Connectware_URL\""));
}

// --- --show-config and --help ----------------------------------------------------------------------------

TEST_F(ConfigTest, ShowConfigRedactsSecretsAndShowsOrigins) {
  const auto file = write("c.conf", "quiesce = pause\n");
  auto config = resolve({"--config", file.string(), "--show-config", "--retries", "2"},
                        {{"CONNECTWARE_PASSWORD", "hunter2"}, {"RESTIC_PASSWORD", "repo-secret"}});
  ASSERT_TRUE(config) << config.error().message;
  const auto text = show_config(*config);
  EXPECT_THAT(text, testing::StartsWith("# config file: " + file.string() + "  (command line --config)\n"));
  EXPECT_THAT(text, HasSubstr("\nconnectware-password = ********  (environment CONNECTWARE_PASSWORD)\n"));
  EXPECT_THAT(text, HasSubstr("\nrestic-password = ********  (environment RESTIC_PASSWORD)\n"));
  EXPECT_THAT(text, HasSubstr("\nquiesce = pause  (config file " + file.string() + ":1)\n"));
  EXPECT_THAT(text, HasSubstr("\nretries = 2  (command line --retries)\n"));
  EXPECT_THAT(text, HasSubstr("\nconnectware-url = https://localhost  (default)\n"));
  EXPECT_THAT(text, HasSubstr("\nconnect-timeout = 10s  (default)\n"));
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));
  EXPECT_THAT(text, Not(HasSubstr("repo-secret")));
  // One line per key plus the config-file line.
  EXPECT_EQ(static_cast<std::size_t>(std::ranges::count(text, '\n')), Config::keys().size() + 1);
}

TEST_F(ConfigTest, ShowConfigMasksPasswordsInsideUrls) {
  auto config = resolve({"--connectware-url", "https://admin:cw-pass@cw.example"},
                        {{"RESTIC_REPOSITORY", "rest:https://backup:rest-pass@rest.example/repo"},
                         {"DOCKER_HOST", "tcp://ops:engine-pass@10.0.0.5:2376"}});
  ASSERT_TRUE(config) << config.error().message;
  const auto text = show_config(*config);
  EXPECT_THAT(text, HasSubstr("\nconnectware-url = https://admin:***@cw.example  (command line --connectware-url)\n"));
  EXPECT_THAT(text, HasSubstr("\nrepository = rest:https://backup:***@rest.example/repo  (environment"));
  EXPECT_THAT(text, HasSubstr("\ndocker-host = tcp://ops:***@10.0.0.5:2376  (environment DOCKER_HOST)\n"));
  for (const char* secret : {"cw-pass", "rest-pass", "engine-pass"})
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  // The configuration itself keeps the real value: the client needs it.
  EXPECT_EQ(config->connectware_url(), "https://admin:cw-pass@cw.example");
}

TEST_F(ConfigTest, ShowConfigFlagIsRecorded) {
  CLI::App app{"test hook"};
  CommandLine command_line;
  add_options(app, command_line);
  app.parse("--show-config", false);
  EXPECT_TRUE(command_line.show_config);
}

TEST_F(ConfigTest, HelpListsEveryFlagWithEnvironmentVariableAndDefault) {
  CLI::App app{"test hook"};
  CommandLine command_line;
  add_options(app, command_line);
  const auto help = app.help();
  for (const auto& key : Config::keys()) {
    EXPECT_THAT(help, HasSubstr(std::string{key.env_var})) << key.name;
    if (key.exposure == Exposure::everywhere) {
      EXPECT_THAT(help, HasSubstr("--" + std::string{key.name})) << key.name;
    }
  }
  EXPECT_THAT(help, HasSubstr("--config"));
  EXPECT_THAT(help, HasSubstr("--show-config"));
  EXPECT_THAT(help, HasSubstr("[env CONNECTWARE_URL, default https://localhost]"));
  EXPECT_THAT(help, HasSubstr("default the machine's hostname"));
}

TEST(KeyTable, EveryKeyHasAUniqueNameEnvironmentVariableAndHelp) {
  std::set<std::string_view> names;
  std::set<std::string_view> variables;
  for (const auto& key : Config::keys()) {
    EXPECT_TRUE(names.insert(key.name).second) << key.name;
    EXPECT_TRUE(variables.insert(key.env_var).second) << key.env_var;
    EXPECT_FALSE(key.help.empty()) << key.name;
    EXPECT_EQ(Config::find_key(key.name), &key);
  }
  EXPECT_EQ(Config::find_key("no-such-key"), nullptr);
}

// --- Secret and logging ----------------------------------------------------------------------------------

TEST(Secret, PrintsMaskedThroughStreamsAndFmt) {
  const Secret secret{"hunter2"};
  std::ostringstream stream;
  stream << secret;
  EXPECT_EQ(stream.str(), "********");
  EXPECT_EQ(fmt::format("password={}", secret), "password=********");
  EXPECT_EQ(secret.reveal(), "hunter2");
  EXPECT_EQ(Secret{}.redacted(), "");
}

TEST(Redact, ReplacesEveryOccurrenceOfEverySecret) {
  const Secret a{"abc"};
  const Secret b{"abcdef"};
  const Secret empty;
  EXPECT_EQ(redact("x abc y abcdef z abc", {&a, &b, &empty}), "x ******** y ******** z ********");
  EXPECT_EQ(redact("nothing here", {&a}), "nothing here");
}

TEST(Logging, LinesCarryTheHookNameAndRespectTheLevel) {
  std::ostringstream output;
  setup_logging(LogLevel::info, "connectware-pre-backup", std::make_shared<spdlog::sinks::ostream_sink_mt>(output));
  spdlog::debug("hidden");
  spdlog::info("exporting {}", Secret{"pw"});
  const auto text = output.str();
  EXPECT_THAT(text, testing::StartsWith("connectware-pre-backup: "));
  EXPECT_THAT(text, HasSubstr(" info: exporting ********"));
  EXPECT_THAT(text, Not(HasSubstr("hidden")));
  spdlog::set_default_logger(spdlog::stderr_logger_mt("cwb-config-test-reset"));
}

TEST(Logging, PasswordsInsideUrlsAreMaskedInEveryLine) {
  std::ostringstream output;
  setup_logging(LogLevel::info, "connectware-backup", std::make_shared<spdlog::sinks::ostream_sink_mt>(output));
  spdlog::warn("cannot reach {}", "https://admin:hunter2@cw.example:443/api");
  spdlog::info("repository rest:https://backup:s3cr3t@rest.example/repo ready");
  const auto text = output.str();
  EXPECT_THAT(text, HasSubstr("cannot reach https://admin:***@cw.example:443/api"));
  EXPECT_THAT(text, HasSubstr("repository rest:https://backup:***@rest.example/repo ready"));
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));
  EXPECT_THAT(text, Not(HasSubstr("s3cr3t")));
  spdlog::set_default_logger(spdlog::stderr_logger_mt("cwb-config-test-reset-urls"));
}

TEST(Redact, AlsoMasksPasswordsInsideUrls) {
  const Secret token{"tok"};
  EXPECT_EQ(redact("GET https://u:pw@h/ with tok", {&token}), "GET https://u:***@h/ with ********");
}

TEST(Config, VolumePathsGiveEachVolumesFolderAndVolumePathStandsForServiceManager) {
  CommandLine command_line;
  command_line.values = {{"volume-paths", "certs=/srv/cw/certs, postgresql=/srv/cw/pg"}, {"volume-path", "/srv/cw/sm"}};
  auto config = Config::resolve(command_line, {});
  ASSERT_TRUE(config) << config.error().message;
  const std::map<std::string, fs::path> expected{
      {"certs", "/srv/cw/certs"}, {"postgresql", "/srv/cw/pg"}, {"service-manager", "/srv/cw/sm"}};
  EXPECT_EQ(config->volume_paths(), expected);
}

TEST(Config, VolumePathsRejectItemsWithoutAnAbsoluteFolder) {
  for (const char* raw : {"service-manager", "service-manager=relative/dir", "=/srv", "Bad_Name=/srv"}) {
    CommandLine command_line;
    command_line.values = {{"volume-paths", raw}};
    auto config = Config::resolve(command_line, {});
    ASSERT_FALSE(config) << raw;
    EXPECT_EQ(config.error().kind, ErrorKind::usage);
    EXPECT_NE(config.error().message.find("volume-paths"), std::string::npos) << config.error().message;
  }
}

TEST(Config, ServiceManagersFolderGivenTwiceIsAUsageError) {
  CommandLine command_line;
  command_line.values = {{"volume-paths", "service-manager=/a"}, {"volume-path", "/b"}};
  auto config = Config::resolve(command_line, {});
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("keep only one"), std::string::npos) << config.error().message;
  CommandLine twice;
  twice.values = {{"volume-paths", "certs=/a,certs=/b"}};
  EXPECT_FALSE(Config::resolve(twice, {}));
}

TEST(Config, PlatformIsAutoComposeOrHost) {
  for (const auto& [raw, expected] : std::vector<std::pair<std::string, PlatformChoice>>{
           {"auto", PlatformChoice::automatic}, {"compose", PlatformChoice::compose}, {"host", PlatformChoice::host}}) {
    CommandLine command_line;
    command_line.values = {{"platform", raw}};
    auto config = Config::resolve(command_line, {});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->platform(), expected);
  }
  CommandLine wrong;
  wrong.values = {{"platform", "kubernetes-maybe"}};
  auto config = Config::resolve(wrong, {});
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("auto, compose or host"), std::string::npos) << config.error().message;
}

TEST(Config, EmptyDockerHostMeansNoEngine) {
  CommandLine command_line;
  command_line.values = {{"docker-host", ""}};
  auto config = Config::resolve(command_line, {});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->docker_host(), "");
}

TEST(Config, StopCommandIsSplitOnSpaces) {
  CommandLine command_line;
  command_line.values = {{"stop-command", "systemctl  stop connectware"}};
  auto config = Config::resolve(command_line, {});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->stop_command(), (std::vector<std::string>{"systemctl", "stop", "connectware"}));
}

TEST_F(ConfigTest, ScopeDefaultsToConfigurationAndTakesFullFromTheEnvironmentAndRejectsOthers) {
  auto defaults = resolve({}, {});
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->scope(), Scope::configuration);
  EXPECT_EQ(defaults->stop_timeout(), std::chrono::seconds(30));
  auto full = resolve({}, {{"CONNECTWARE_SCOPE", "full"}, {"CONNECTWARE_STOP_TIMEOUT", "45"}});
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->scope(), Scope::full);
  EXPECT_EQ(full->stop_timeout(), std::chrono::seconds(45));
  // The engine takes whole seconds: a fraction rounds up, never down to an instant kill.
  auto short_stop = resolve({"--stop-timeout", "500ms"}, {});
  ASSERT_TRUE(short_stop) << short_stop.error().message;
  EXPECT_EQ(short_stop->stop_timeout(), std::chrono::seconds(1));
  auto wrong = resolve({"--scope", "everything"}, {});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, ErrorKind::usage);
  EXPECT_NE(wrong.error().message.find("configuration or full"), std::string::npos) << wrong.error().message;
}

} // namespace
} // namespace cwb::config
