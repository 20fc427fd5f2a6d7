#pragma once
// A whole Connectware installation as Docker Compose lays it out, on a private Docker engine, for the
// full-installation tests (scope = full): project "connectware" with four services and four labelled
// volumes, every container and volume carrying Compose's labels (com.docker.compose.project, .service,
// .volume, .depends_on):
//
//   service          container                       volume (mounted at)
//   postgresql       connectware-postgresql-1        connectware_postgresql (its data folder, PostgreSQL 15)
//   service-manager  connectware-service-manager-1   connectware_service-manager (/data, the emulator's)
//   connectware      connectware-connectware-1       connectware_certs (/connectware_certs)
//   broker           connectware-broker-1            connectware_brokerData (/data)
//
// PostgreSQL is the host's own binary run inside a container on the volume, so its files are a real
// cluster's. The broker is a shell that, when stopped (SIGTERM), first runs control/on-stop.sh from the
// project's folder when a test put one there (sleep: a slow stop; write into /data: files that appear while
// the project is stopped), as real brokers flush their state on shutdown. Nothing else is shared with the
// host: --network host on loopback ports only.

#include "core/error.hpp"
#include "harness/docker_engine.hpp"
#include "harness/emulator.hpp"
#include "support/support.hpp"
#include "util/file_system.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cwb::test {

class ComposeProject {
public:
  static constexpr const char* project = "connectware";
  static constexpr const char* postgres_container = "connectware-postgresql-1";
  static constexpr const char* service_manager_container = "connectware-service-manager-1";
  static constexpr const char* front_container = "connectware-connectware-1";
  static constexpr const char* broker_container = "connectware-broker-1";
  /// The volumes by their Compose name (the com.docker.compose.volume label).
  static const std::vector<std::string>& volume_names();
  /// The containers in the order `docker compose up` starts them (database first).
  static const std::vector<std::string>& container_names();
  /// "connectware_" + name.
  static std::string volume(const std::string& name) { return std::string(project) + "_" + name; }

  /// Creates the project's folder under `parent` (certificate, control folder), then up().
  /// Errors: as up(). `docker` must outlive the project.
  static Result<ComposeProject> start(const std::filesystem::path& parent, DockerEngine& docker,
                                      const EmulatorOptions& options = {});

  ComposeProject(ComposeProject&&) noexcept;
  ComposeProject& operator=(ComposeProject&&) noexcept;
  ComposeProject(const ComposeProject&) = delete;
  ComposeProject& operator=(const ComposeProject&) = delete;
  /// Removes the containers and the volumes.
  ~ComposeProject();

  /// What `docker compose up -d` does here: creates the volumes that are missing (with their labels),
  /// initialises PostgreSQL's when it holds no cluster, creates the containers that are missing and starts
  /// every one, then waits until PostgreSQL accepts connections and the front door answers.
  /// Errors: one line naming the container and the reason, its `docker logs` kept.
  Result<> up();
  /// `docker compose down`: removes the containers, keeps the volumes.
  Result<> down();
  /// Removes the volumes (after down()).
  Result<> remove_volumes();

  [[nodiscard]] std::string base_url() const;
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::uint16_t postgres_port() const;
  [[nodiscard]] const std::filesystem::path& ca_file() const;
  /// The folder the broker reads on-stop.sh from.
  [[nodiscard]] std::filesystem::path control_dir() const;
  /// Where the engine keeps a volume's files (docker volume inspect .Mountpoint). Errors: not_found.
  [[nodiscard]] Result<std::filesystem::path> mountpoint(const std::string& name) const;
  /// Returns `docker inspect -f {{.State.Status}}` of each container that exists, by name.
  [[nodiscard]] std::map<std::string, std::string> container_states() const;
  /// True when every container of the project is running.
  [[nodiscard]] bool all_running() const;

  /// Runs `sql` in database `connectware` with psql -At. Errors: internal with psql's stderr.
  Result<std::string> psql(const std::string& sql) const;
  /// Returns `pg_dump --data-only` of database `connectware`: every row, for comparing two states.
  /// Errors: internal with pg_dump's stderr.
  Result<std::string> dump_rows() const;

private:
  struct State;
  explicit ComposeProject(std::unique_ptr<State> state);
  Result<std::string> psql_in(const std::string& database, const std::string& sql) const;
  std::unique_ptr<State> state_;
};

} // namespace cwb::test
