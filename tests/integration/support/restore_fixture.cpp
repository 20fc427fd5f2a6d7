#include "integration/support/restore_fixture.hpp"

#include "http/curl_transport.hpp"
#include "snapshot/layout.hpp"

#include <gmock/gmock.h>

#include <csignal>
#include <sstream>
#include <thread>

namespace cwb::integration {

void PrintTo(const LiveState& state, std::ostream* out) {
  *out << "\ndatabase:\n" << state.database << "volume:\n";
  for (const auto& entry : state.volume) {
    const auto hash = state.hashes.find(entry.path);
    *out << "  " << entry.path << " " << staging::to_string(entry.type) << " mode=" << std::oct << entry.mode
         << std::dec << " uid=" << entry.uid << " size=" << entry.size << " mtime_ns=" << entry.mtime_ns
         << (entry.link_target.empty() ? "" : " -> " + entry.link_target)
         << (hash == state.hashes.end() ? "" : " sha256=" + hash->second.substr(0, 12)) << "\n";
  }
}

void RestoreTest::SetUp() {
  BackupTest::SetUp();
  // The restore's restart and rollback polls must not take minutes when something is wrong.
  hook_env_["CONNECTWARE_HEALTH_TIMEOUT"] = "60";
  hook_env_["CONNECTWARE_EXPORT_TIMEOUT"] = "120";
  hook_env_["CONNECTWARE_PROGRESS"] = "never";
}

std::string RestoreTest::connectware_database() {
  auto name = world().postgres().psql(
      "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'connectware%' ORDER BY oid DESC LIMIT 1");
  EXPECT_TRUE(name) << name.error().message;
  std::string text = name ? *name : std::string();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

std::string RestoreTest::sql(const std::string& statement) {
  auto result = world().postgres().psql(connectware_database(), statement);
  EXPECT_TRUE(result) << statement << ": " << result.error().message;
  return result ? *result : std::string();
}

LiveState RestoreTest::live_state() {
  LiveState state;
  state.database = sql("SELECT 'user', id, username, salt, password_hash FROM users ORDER BY id;"
                       "SELECT 'role', id, name FROM roles ORDER BY id;"
                       "SELECT 'permission', id, role_id, resource, operation FROM permissions ORDER BY id;"
                       "SELECT 'user_role', user_id, role_id FROM user_roles ORDER BY user_id, role_id;"
                       "SELECT 'service', id, name, file, state, created_at FROM services ORDER BY id;");
  state.volume = scan_with_hashes(volume_mountpoint(), state.hashes);
  return state;
}

std::string RestoreTest::started_at(const std::string& container) {
  auto started = world().docker().docker_checked({"inspect", "-f", "{{.State.StartedAt}}", container});
  EXPECT_TRUE(started) << started.error().message;
  return started ? *started : std::string();
}

std::string RestoreTest::back_up(const util::Environment& overrides) {
  const auto before = snapshot_count();
  expect_successful_backup(overrides);
  auto snapshots = world().snapshots();
  EXPECT_TRUE(snapshots) << snapshots.error().message;
  if (!snapshots || snapshots->size() != before + 1) {
    ADD_FAILURE() << "the backup stored no new snapshot";
    return {};
  }
  return snapshots->back().id;
}

HookOutcome RestoreTest::run_restore(const std::vector<std::string>& args, const util::Environment& overrides) {
  return run_hook("connectware-restore", args, overrides);
}

HookOutcome RestoreTest::kill_restore_when_logged(const std::vector<std::string>& args, const std::string& marker,
                                                  const util::Environment& overrides) {
  auto running = start_hook("connectware-restore", args, overrides);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline && running.process.running()) {
    seen = util::read_file(running.stderr_file).value_or("").find(marker) != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The whole process group: restic or curl children die with it, as on a power loss.
  const auto status = running.process.stop(SIGKILL, std::chrono::milliseconds(0));
  HookOutcome outcome{status.code, status.signal, util::read_file(running.stdout_file).value_or(""),
                      util::read_file(running.stderr_file).value_or("")};
  EXPECT_TRUE(seen) << "the restore never logged \"" << marker << "\":\n" << outcome.log();
  EXPECT_EQ(outcome.signal, SIGKILL) << "the restore ended before it was killed:\n" << outcome.log();
  return outcome;
}

Result<> RestoreTest::remove_service(const std::string& id) {
  http::CurlTransportOptions options;
  options.tls.ca_file = world().connectware().ca_file();
  http::CurlTransport transport(options);
  http::Request request;
  request.method = "DELETE";
  request.url = world().connectware().base_url() + "/api/services/" + id;
  const auto admin = test::admin_credentials();
  request.auth = http::BasicAuth{admin.username, admin.password};
  auto response = transport.perform(request);
  if (!response) return fail(response.error());
  if (response->status != 204)
    return fail(ErrorKind::http, "DELETE /api/services/" + id + ": HTTP " + std::to_string(response->status));
  return {};
}

void RestoreTest::change_everything(VolumeChange volume) {
  const auto suffix = std::to_string(++changes_) + "_" + std::to_string(getpid());
  sql("INSERT INTO users (username, salt, password_hash) VALUES ('intruder_" + suffix +
      "', 's', 'h');"
      "DELETE FROM users WHERE username = 'viewer';"
      "INSERT INTO roles (name) VALUES ('changed_" +
      suffix +
      "');"
      "UPDATE permissions SET resource = resource || '/changed' "
      "WHERE role_id = (SELECT id FROM roles WHERE name = 'viewer');");
  auto installed = install_service(world().connectware().base_url(), world().connectware().ca_file(), "added" + suffix);
  EXPECT_TRUE(installed) << installed.error().message;
  auto services = sql("SELECT id FROM services ORDER BY id LIMIT 1");
  if (!services.empty()) {
    services.pop_back();
    auto removed = remove_service(services);
    EXPECT_TRUE(removed) << removed.error().message;
  }
  EXPECT_TRUE(util::write_file_atomic(volume_mountpoint() / ("edited-" + suffix + ".txt"), "changed\n"));
  if (volume == VolumeChange::edit) return;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(volume_mountpoint(), error))
    fs::remove_all(entry.path(), error);
  EXPECT_FALSE(error) << error.message();
}

std::string RestoreTest::tampered_snapshot(const std::string& snapshot,
                                           const std::function<void(const fs::path&)>& tamper) {
  const auto copy = restore_snapshot(snapshot);
  tamper(copy);
  auto stored =
      world().restic({"backup", "--json", "--host", "cwb-integration", "--tag", "connectware", copy.string()});
  EXPECT_TRUE(stored) << stored.error().message;
  auto snapshots = world().snapshots();
  EXPECT_TRUE(snapshots && !snapshots->empty());
  return snapshots && !snapshots->empty() ? snapshots->back().id : std::string();
}

} // namespace cwb::integration
