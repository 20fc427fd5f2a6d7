#include "integration/support/backup_fixture.hpp"

#include "http/curl_transport.hpp"
#include "support/support.hpp"
#include "util/sha256.hpp"

#include <csignal>
#include <future>
#include <sstream>

namespace cwb::integration {
namespace {

using namespace std::chrono_literals;

/// One request to Connectware's front door as admin, over the plugin's own libcurl transport.
Result<http::Response> admin_request(const std::string& base_url, const fs::path& ca_file, const std::string& method,
                                     const std::string& path, const std::string& body,
                                     std::chrono::milliseconds total) {
  http::CurlTransportOptions options;
  options.tls.ca_file = ca_file;
  http::CurlTransport transport(options);
  http::Request request;
  request.method = method;
  request.url = base_url + path;
  request.body = body;
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  const auto admin = test::admin_credentials();
  request.auth = http::BasicAuth{admin.username, admin.password};
  request.timeouts.total = total;
  request.redirects = http::Redirects::follow;
  return transport.perform(request);
}

std::string read_or_empty(const fs::path& path) {
  auto text = util::read_file(path);
  return text ? *text : std::string{};
}

} // namespace

std::vector<std::string> HookOutcome::error_lines(const std::string& hook) const {
  std::vector<std::string> lines;
  std::istringstream in(stderr_text);
  const std::string prefix = hook + ": error:";
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) lines.push_back(line);
  }
  return lines;
}

fs::path hook_binary(const std::string& hook) {
  return fs::path(CWB_BINARY_DIR) / "hooks" / hook;
}

// ---------------------------------------------------------------------------------------------------------
// BackupWorld

Result<std::unique_ptr<BackupWorld>> BackupWorld::start() {
  std::unique_ptr<BackupWorld> world(new BackupWorld());
  auto folder = util::TemporaryDirectory::create("", "cwb-integration-backup-");
  if (!folder) return fail(folder.error());
  world->folder_ = std::move(*folder);
  const fs::path root = world->folder_.path();
  world->restic_password_file_ = root / "restic-password";
  CWB_TRY(util::write_file_atomic(world->restic_password_file_, std::string(restic_password) + "\n", 0600));
  CWB_TRY(util::create_private_directory(root / "home"));

  // Daemons start on this thread: their parent-death signal fires when the thread that forked them ends.
  // Only `restic init` (3 s of key derivation) runs beside them.
  auto s3 = test::S3Server::start(root, "cwb-backups");
  if (!s3) return fail(s3.error());
  world->s3_ = std::make_unique<test::S3Server>(std::move(*s3));
  auto initialised = std::async(std::launch::async, [&world] { return world->restic({"init"}); });
  auto postgres = test::PostgresCluster::start(root);
  auto docker = test::DockerEngine::start(root);
  auto stored = initialised.get();
  if (!postgres) return fail(postgres.error());
  world->postgres_ = std::make_unique<test::PostgresCluster>(std::move(*postgres));
  if (!docker) return fail(docker.error());
  world->docker_ = std::make_unique<test::DockerEngine>(std::move(*docker));
  if (!stored) return fail(stored.error().with_context("restic init"));
  CWB_TRY(world->restart_connectware());
  return world;
}

BackupWorld::~BackupWorld() {
  connectware_.reset();
  docker_.reset();
  s3_.reset();
  postgres_.reset();
}

Result<> BackupWorld::restart_connectware(const std::vector<std::string>& faults) {
  if (connectware_) {
    connectware_->stop();
    connectware_.reset();
  }
  test::EmulatorOptions options;
  options.connectware_version = connectware_version;
  options.database = "connectware_" + std::to_string(++databases_);
  options.faults = faults;
  auto started = test::EmulatorContainers::start(folder(), *docker_, *postgres_, options);
  if (!started) return fail(started.error());
  connectware_ = std::make_unique<test::EmulatorContainers>(std::move(*started));
  return {};
}

std::string BackupWorld::repository() const {
  return s3_->restic_repository("backups");
}

util::Environment BackupWorld::restic_environment() const {
  auto env = test::base_environment();
  for (const auto& [name, value] : test::S3Server::restic_environment())
    env[name] = value;
  env["RESTIC_REPOSITORY"] = repository();
  env["RESTIC_PASSWORD_FILE"] = restic_password_file_.string();
  env["HOME"] = (folder_.path() / "home").string();
  return env;
}

Result<std::string> BackupWorld::restic(const std::vector<std::string>& args) const {
  util::ProcessOptions options;
  options.argv = {"restic", "--cacert", s3_->cacert().string()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = restic_environment();
  options.timeout = 120s;
  auto result = util::run_process(options);
  if (!result) return fail(result.error());
  if (!result->status.success()) {
    return fail(ErrorKind::internal,
                "restic " + args.front() + " failed (" + result->status.describe() + "): " + result->stderr_text);
  }
  return std::move(result->stdout_text);
}

Result<std::vector<SnapshotInfo>> BackupWorld::snapshots() const {
  auto text = restic({"snapshots", "--json"});
  if (!text) return fail(text.error());
  const auto list = nlohmann::json::parse(*text, nullptr, false);
  if (!list.is_array()) return fail(ErrorKind::internal, "restic snapshots --json printed no list: " + *text);
  std::vector<SnapshotInfo> snapshots;
  for (const auto& item : list) {
    SnapshotInfo info;
    info.id = item.value("id", "");
    info.short_id = item.value("short_id", "");
    info.host = item.value("hostname", "");
    info.tags = item.value("tags", std::vector<std::string>{});
    info.paths = item.value("paths", std::vector<std::string>{});
    snapshots.push_back(std::move(info));
  }
  return snapshots;
}

std::string BackupWorld::container_state(const std::string& name) const {
  return docker_->docker_checked({"inspect", "-f", "{{.State.Status}}", name}).value_or("unknown");
}

Result<std::string> BackupWorld::create_scratch_database() {
  const std::string name = "scratch_" + std::to_string(++databases_);
  CWB_TRY(postgres_->create_database(name));
  return name;
}

// ---------------------------------------------------------------------------------------------------------
// ServiceWriter, ContainerStateWatcher

ServiceWriter::ServiceWriter(std::string base_url, fs::path ca_file, std::string prefix)
    : base_url_(std::move(base_url)), ca_file_(std::move(ca_file)), prefix_(std::move(prefix)) {
  thread_ = std::thread([this] { run(); });
}

ServiceWriter::~ServiceWriter() {
  (void)stop();
}

void ServiceWriter::run() {
  for (int index = 0; !stopping_.load(); ++index) {
    const std::string id = prefix_ + "-" + std::to_string(index);
    // Generous: a request waits for as long as the service-manager stays paused.
    const std::string body = nlohmann::json{{"id", id}, {"yaml", "description: " + id + "\n"}}.dump();
    auto answer = admin_request(base_url_, ca_file_, "POST", "/api/services/", body, 120s);
    const std::lock_guard lock(mutex_);
    if (answer && answer->status == 201) {
      installed_.push_back(id);
      installed_count_.fetch_add(1);
    } else {
      failures_.push_back(id + ": " +
                          (answer ? std::to_string(answer->status) + " " + answer->body : answer.error().message));
    }
  }
}

std::vector<std::string> ServiceWriter::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  const std::lock_guard lock(mutex_);
  return installed_;
}

std::vector<std::string> ServiceWriter::failures() const {
  const std::lock_guard lock(mutex_);
  return failures_;
}

ContainerStateWatcher::ContainerStateWatcher(const test::DockerEngine& docker, std::string container)
    : docker_(docker), container_(std::move(container)) {
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      auto state = docker_.docker_checked({"inspect", "-f", "{{.State.Status}}", container_});
      seen_.insert(state.value_or("unknown"));
      std::this_thread::sleep_for(100ms);
    }
  });
}

ContainerStateWatcher::~ContainerStateWatcher() {
  (void)stop();
}

std::set<std::string> ContainerStateWatcher::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  return seen_;
}

Result<> install_service(const std::string& base_url, const fs::path& ca_file, const std::string& id) {
  const std::string body = nlohmann::json{{"id", id}, {"yaml", "description: " + id + "\n"}}.dump();
  auto answer = admin_request(base_url, ca_file, "POST", "/api/services/", body, 120s);
  if (!answer) return fail(answer.error());
  if (answer->status != 201) {
    return fail(ErrorKind::http, "installing " + id + ": " + std::to_string(answer->status) + " " + answer->body);
  }
  return {};
}

Result<nlohmann::json> maintenance_status(const std::string& base_url, const fs::path& ca_file) {
  return admin_get_json(base_url, ca_file, "/api/maintenance/db");
}

Result<nlohmann::json> admin_get_json(const std::string& base_url, const fs::path& ca_file, const std::string& path) {
  auto answer = admin_request(base_url, ca_file, "GET", path, "", 10s);
  if (!answer) return fail(answer.error());
  if (answer->status != 200) return fail(ErrorKind::http, "status " + std::to_string(answer->status));
  auto parsed = nlohmann::json::parse(answer->body, nullptr, false);
  if (parsed.is_discarded()) return fail(ErrorKind::http, "not JSON: " + answer->body);
  return parsed;
}

std::vector<staging::TreeEntry> scan_with_hashes(const fs::path& root, std::map<std::string, std::string>& hashes) {
  auto entries = staging::scan_tree(root);
  EXPECT_TRUE(entries) << entries.error().message;
  if (!entries) return {};
  for (const auto& entry : *entries) {
    if (entry.type != staging::EntryType::file) continue;
    auto hash = util::sha256_file(root / entry.path);
    EXPECT_TRUE(hash) << hash.error().message;
    hashes[entry.path] = hash.value_or("");
  }
  return *entries;
}

// ---------------------------------------------------------------------------------------------------------
// BackupTest

void BackupTest::SetUpTestSuite() {
  auto world = BackupWorld::start();
  ASSERT_TRUE(world) << world.error().message;
  world_ = std::move(*world);
}

void BackupTest::TearDownTestSuite() {
  world_.reset();
}

void BackupTest::SetUp() {
  ASSERT_TRUE(world_) << "the suite's components did not start";
  auto dir = util::TemporaryDirectory::create("", "cwb-backup-case-");
  ASSERT_TRUE(dir) << dir.error().message;
  dir_ = std::move(*dir);
  // Whatever a previous test left set must not leak into this one.
  set_faults({});
  ASSERT_EQ(world_->container_state(test::EmulatorContainers::front_container), "running");
  ASSERT_EQ(world_->container_state(test::EmulatorContainers::service_manager_container), "running");

  const auto password_file = dir_.path() / "connectware-password";
  ASSERT_TRUE(util::write_file_atomic(password_file, test::backup_credentials().password + "\n", 0600));
  auto& connectware = world_->connectware();
  hook_env_ = world_->restic_environment();
  hook_env_["CONNECTWARE_URL"] = connectware.base_url();
  hook_env_["CONNECTWARE_CA_FILE"] = connectware.ca_file().string();
  hook_env_["CONNECTWARE_USERNAME"] = test::backup_credentials().username;
  hook_env_["CONNECTWARE_PASSWORD_FILE"] = password_file.string();
  hook_env_["DOCKER_HOST"] = world_->docker().docker_host();
  hook_env_["CONNECTWARE_STAGING_DIR"] = staging_dir().string();
  hook_env_["CONNECTWARE_STATE_DIR"] = state_dir().string();
  hook_env_["CONNECTWARE_METRICS_FILE"] = metrics_file().string();
  hook_env_["RESTIC_CACERT"] = world_->s3().cacert().string();
  hook_env_["CONNECTWARE_POLL_INTERVAL"] = "1";
  // The export's polls back off (1, 2, 4 s); capped here so that a slow export does not stretch the tests.
  hook_env_["CONNECTWARE_POLL_MAX_INTERVAL"] = "1";
  hook_env_["CONNECTWARE_HOST"] = "cwb-integration";
}

util::ProcessOptions hook_process(const util::Environment& base, const std::string& hook,
                                  const std::vector<std::string>& args, const util::Environment& overrides) {
  util::ProcessOptions options;
  options.argv = {hook_binary(hook).string()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = base;
  for (const auto& [name, value] : overrides) {
    if (value.empty())
      options.env.erase(name);
    else
      options.env[name] = value;
  }
  for (auto it = options.env.begin(); it != options.env.end();) {
    it = it->second.empty() ? options.env.erase(it) : std::next(it);
  }
  return options;
}

HookOutcome BackupTest::run_hook(const std::string& hook, const std::vector<std::string>& args,
                                 const util::Environment& overrides) {
  auto options = hook_process(hook_env_, hook, args, overrides);
  options.timeout = 180s;
  auto result = util::run_process(options);
  EXPECT_TRUE(result) << result.error().message;
  if (!result) return {};
  EXPECT_FALSE(result->status.timed_out) << hook << " timed out:\n" << result->stderr_text;
  return HookOutcome{result->status.code, result->status.signal, std::move(result->stdout_text),
                     std::move(result->stderr_text)};
}

HookOutcome BackupTest::run_hook_in_terminal(const std::string& hook, const std::vector<std::string>& args,
                                             const util::Environment& overrides) {
  auto options = hook_process(hook_env_, hook, args, overrides);
  // script runs its command through a shell: quote every word.
  std::string command;
  for (const auto& word : options.argv) {
    std::string quoted = "'";
    for (const char c : word)
      quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += (command.empty() ? "" : " ") + quoted + "'";
  }
  // -e: script exits with the command's code; -q: no "Script started" lines; /dev/null: no typescript file.
  options.argv = {"script", "-qec", command, "/dev/null"};
  options.timeout = 180s;
  auto result = util::run_process(options);
  EXPECT_TRUE(result) << result.error().message;
  if (!result) return {};
  EXPECT_FALSE(result->status.timed_out) << hook << " timed out:\n" << result->stdout_text;
  return HookOutcome{result->status.code, result->status.signal, std::move(result->stdout_text),
                     std::move(result->stderr_text)};
}

BackupTest::RunningHook BackupTest::start_hook(const std::string& hook, const std::vector<std::string>& args,
                                               const util::Environment& overrides) {
  auto options = hook_process(hook_env_, hook, args, overrides);
  const int number = ++outputs_;
  RunningHook running;
  running.stdout_file = dir_.path() / (hook + "-" + std::to_string(number) + ".out");
  running.stderr_file = dir_.path() / (hook + "-" + std::to_string(number) + ".err");
  options.stdout_file = running.stdout_file;
  options.stderr_file = running.stderr_file;
  // Nothing outlives a crashed test.
  options.parent_death_signal = SIGKILL;
  auto child = util::ChildProcess::start(options);
  EXPECT_TRUE(child) << child.error().message;
  if (child) running.process = std::move(*child);
  return running;
}

HookOutcome BackupTest::finish_hook(RunningHook& hook, std::chrono::seconds limit) {
  HookOutcome outcome;
  if (hook.process.pid() <= 0) return outcome;
  auto status = hook.process.wait_for(limit);
  EXPECT_TRUE(status) << "the hook did not end within " << limit.count() << " s";
  if (!status) status = hook.process.stop(SIGKILL, 1s);
  outcome.exit_code = status->code;
  outcome.signal = status->signal;
  outcome.stdout_text = read_or_empty(hook.stdout_file);
  outcome.stderr_text = read_or_empty(hook.stderr_file);
  return outcome;
}

void BackupTest::set_faults(const std::map<std::string, std::string>& faults) {
  auto set = world_->connectware().set_faults(faults);
  ASSERT_TRUE(set) << set.error().message;
}

nlohmann::json BackupTest::status() const {
  auto text = util::read_file(status_file());
  if (!text) return nlohmann::json{};
  auto parsed = nlohmann::json::parse(*text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json{} : parsed;
}

std::size_t BackupTest::snapshot_count() {
  auto snapshots = world_->snapshots();
  EXPECT_TRUE(snapshots) << snapshots.error().message;
  return snapshots ? snapshots->size() : 0;
}

fs::path BackupTest::restore_snapshot(const std::string& snapshot) {
  auto target = util::TemporaryDirectory::create(dir_.path(), "restored-");
  EXPECT_TRUE(target) << target.error().message;
  if (!target) return {};
  const fs::path root = target->release();
  auto restored = world_->restic({"restore", snapshot, "--target", root.string(), "--verify"});
  EXPECT_TRUE(restored) << restored.error().message;
  return root / staging_dir().relative_path();
}

std::set<std::string> BackupTest::service_rows_in_archive(const fs::path& archive) {
  std::set<std::string> ids;
  auto extracted = util::TemporaryDirectory::create(dir_.path(), "db-archive-");
  EXPECT_TRUE(extracted) << extracted.error().message;
  if (!extracted) return ids;
  const fs::path folder = extracted->release();
  util::ProcessOptions tar;
  // -x without -z: GNU tar reads the stored tar (database-storage = unpacked) and a tar.gz alike.
  tar.argv = {"tar", "-xf", archive.string(), "-C", folder.string()};
  tar.env = test::base_environment();
  auto untarred = util::run_process(tar);
  EXPECT_TRUE(untarred && untarred->status.success()) << (untarred ? untarred->stderr_text : untarred.error().message);
  EXPECT_TRUE(fs::exists(folder / "metadata.json"));
  EXPECT_TRUE(fs::exists(folder / "dump.sql"));

  auto database = world_->create_scratch_database();
  EXPECT_TRUE(database) << database.error().message;
  if (!database) return ids;
  util::ProcessOptions psql;
  psql.argv = {(test::PostgresCluster::bin_dir() / "psql").string(),
               "-X",
               "-q",
               "-v",
               "ON_ERROR_STOP=1",
               "-h",
               "127.0.0.1",
               "-p",
               std::to_string(world_->postgres().port()),
               "-U",
               "postgres",
               "-d",
               *database,
               "-f",
               (folder / "dump.sql").string()};
  psql.env = test::base_environment();
  psql.timeout = 60s;
  auto loaded = util::run_process(psql);
  EXPECT_TRUE(loaded && loaded->status.success())
      << "loading dump.sql: " << (loaded ? loaded->stderr_text : loaded.error().message);
  auto rows = world_->postgres().psql(*database, "SELECT id FROM services ORDER BY id");
  EXPECT_TRUE(rows) << rows.error().message;
  std::istringstream in(rows.value_or(""));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ids.insert(line);
  }
  return ids;
}

std::set<std::string> BackupTest::service_files_in(const fs::path& volume) {
  std::set<std::string> ids;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(volume / "services", error)) {
    if (entry.path().extension() == ".yml") ids.insert(entry.path().stem().string());
  }
  EXPECT_FALSE(error) << "listing " << (volume / "services") << ": " << error.message();
  return ids;
}

bool BackupTest::wait_for_export_running(std::chrono::milliseconds limit) {
  auto& connectware = world_->connectware();
  return test::poll_until(
      [&] {
        auto status = maintenance_status(connectware.base_url(), connectware.ca_file());
        return status && status->value("running", false);
      },
      limit, [] { return false; });
}

bool BackupTest::wait_for_container_state(const std::string& container, const std::string& state,
                                          std::chrono::milliseconds limit) {
  return test::poll_until([&] { return world_->container_state(container) == state; }, limit, [] { return false; });
}

HookOutcome BackupTest::expect_successful_backup(const util::Environment& overrides) {
  auto outcome = run_hook("connectware-backup", {}, overrides);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.log();
  return outcome;
}

} // namespace cwb::integration
