#pragma once
// A throwaway PostgreSQL 15 cluster: initdb as user postgres (trust authentication, no fsync), then the
// postmaster itself as our child (not through pg_ctl) so that it dies with us (SIGQUIT on parent death)
// and is stopped by PID.

#include "core/error.hpp"
#include "support/support.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cwb::test {

class PostgresCluster {
public:
  /// Creates a fresh folder under `parent` (made traversable for the postgres user), runs initdb and starts
  /// the server on a free 127.0.0.1 port, waiting (at most 15 s) until it accepts connections.
  /// Errors: one line naming postgres and the reason, the server log kept (see keep_log).
  static Result<PostgresCluster> start(const std::filesystem::path& parent);

  PostgresCluster(PostgresCluster&&) noexcept;
  PostgresCluster& operator=(PostgresCluster&&) noexcept;
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  /// Stops the server (fast shutdown) and removes its folder.
  ~PostgresCluster();

  [[nodiscard]] std::uint16_t port() const;
  /// Returns the libpq conninfo for `database`: "host=127.0.0.1 port=P user=postgres dbname=D".
  [[nodiscard]] std::string conninfo(const std::string& database) const;
  /// Folder of pg_dump, psql and friends.
  [[nodiscard]] static std::filesystem::path bin_dir();

  /// Creates a database. Errors: internal with psql's message (e.g. it exists already).
  Result<> create_database(const std::string& name) const;
  /// Runs `sql` in `database` with psql -At (ON_ERROR_STOP) and returns its stdout.
  /// Errors: internal with psql's stderr.
  Result<std::string> psql(const std::string& database, const std::string& sql) const;

  /// Returns the postmaster and its backends as they run now.
  [[nodiscard]] std::vector<ProcessIdentity> processes() const;
  /// Stops the server (SIGINT = fast shutdown, SIGKILL after 15 s). Safe to call twice.
  void stop();

private:
  struct State;
  explicit PostgresCluster(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace cwb::test
