#pragma once
// The Connectware emulator (tests/emulator) run for tests, either as one plain process (--role all) or as
// Connectware's two containers (front door and service-manager) on a private Docker engine, both against
// a real PostgreSQL database named `connectware`. See /work/contract-emulator-harness.md.

#include "core/error.hpp"
#include "harness/docker_engine.hpp"
#include "support/postgres_cluster.hpp"
#include "support/support.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cwb::test {

struct EmulatorOptions {
  std::string connectware_version = "1.10.2";
  std::vector<std::string> compat; // --compat rules, e.g. "<1.5.0=1.4.9"
  std::vector<std::string> faults; // --fault NAME[=VALUE] set from the start
  std::string database = "connectware";
  std::chrono::milliseconds start_limit{20000};
};

struct Credentials {
  std::string username;
  std::string password;
};

/// The users the emulator seeds: admin (all rights), backup (maintenance, system, services), viewer
/// (system read only).
Credentials admin_credentials();
Credentials backup_credentials();
Credentials viewer_credentials();

/// Returns where the build put connectware-emulator (it may not exist yet).
std::filesystem::path emulator_binary();
/// Errors: internal when connectware-emulator is not built.
Result<> require_emulator_binary();
/// The emulator's arguments shared by every way of running it (version, --seed, --compat rules).
std::vector<std::string> emulator_arguments(const EmulatorOptions& options);
/// Appends `options.faults` as --fault arguments.
void add_faults(std::vector<std::string>& args, const EmulatorOptions& options);

class EmulatorProcess {
public:
  /// Creates database `options.database` in `postgres`, a certificate, and starts
  /// `connectware-emulator --role all --seed` on free ports in a fresh folder under `parent`; waits until
  /// GET /api/system/info answers over HTTPS. Errors: one line naming the emulator and the reason, its
  /// log kept. `postgres` must outlive the emulator.
  static Result<EmulatorProcess> start(const std::filesystem::path& parent, PostgresCluster& postgres,
                                       const EmulatorOptions& options = {});

  EmulatorProcess(EmulatorProcess&&) noexcept;
  EmulatorProcess& operator=(EmulatorProcess&&) noexcept;
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;
  ~EmulatorProcess();

  /// Returns "https://127.0.0.1:PORT".
  [[nodiscard]] std::string base_url() const;
  [[nodiscard]] std::uint16_t port() const;
  /// The front door's certificate, which is its own CA.
  [[nodiscard]] const std::filesystem::path& ca_file() const;
  /// The service-manager's folder of service commissioning files.
  [[nodiscard]] std::filesystem::path data_dir() const;
  [[nodiscard]] static Credentials admin() { return admin_credentials(); }

  /// Replaces the emulator's fault set (PUT /emulator/faults as admin); an empty map clears it.
  /// Errors: unreachable, http (non-2xx, with the body).
  Result<> set_faults(const std::map<std::string, std::string>& faults) const;

  [[nodiscard]] std::vector<ProcessIdentity> processes() const;
  /// Stops the emulator (SIGTERM, SIGKILL after 10 s). Safe to call twice.
  void stop();

private:
  struct State;
  explicit EmulatorProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class EmulatorContainers {
public:
  static constexpr const char* front_container = "connectware-connectware-1";
  static constexpr const char* service_manager_container = "connectware-service-manager-1";
  static constexpr const char* volume = "connectware_service-manager";

  /// Imports local/busybox:1 when missing, creates the volume connectware_service-manager, database
  /// `options.database` and a certificate (in a fresh folder under `parent`), then starts the front door
  /// and the service-manager as containers with Compose's labels, --network host, the host's /usr, /lib,
  /// /lib64 and /etc and the emulator's folder bound read-only, and waits for both to answer.
  /// Errors: one line naming the container and the reason, its `docker logs` kept. `docker` and `postgres`
  /// must outlive the containers.
  static Result<EmulatorContainers> start(const std::filesystem::path& parent, DockerEngine& docker,
                                          PostgresCluster& postgres, const EmulatorOptions& options = {});

  EmulatorContainers(EmulatorContainers&&) noexcept;
  EmulatorContainers& operator=(EmulatorContainers&&) noexcept;
  EmulatorContainers(const EmulatorContainers&) = delete;
  EmulatorContainers& operator=(const EmulatorContainers&) = delete;
  /// Removes both containers and the volume.
  ~EmulatorContainers();

  [[nodiscard]] std::string base_url() const;
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::uint16_t service_manager_port() const;
  [[nodiscard]] const std::filesystem::path& ca_file() const;
  [[nodiscard]] const std::string& front_id() const;
  [[nodiscard]] const std::string& service_manager_id() const;
  /// Where the engine keeps the volume's files on this machine (docker volume inspect .Mountpoint).
  [[nodiscard]] const std::filesystem::path& volume_mountpoint() const;
  [[nodiscard]] static Credentials admin() { return admin_credentials(); }

  /// Same as EmulatorProcess::set_faults, on the front door.
  Result<> set_faults(const std::map<std::string, std::string>& faults) const;

  /// Returns the containers' processes as they run now (their init processes and descendants).
  [[nodiscard]] std::vector<ProcessIdentity> processes() const;
  /// Removes both containers (docker rm -f) and the volume. Safe to call twice.
  void stop();

private:
  struct State;
  explicit EmulatorContainers(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace cwb::test
