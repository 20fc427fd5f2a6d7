#pragma once
// A small libpq wrapper (one RAII connection, parameterised queries) and the emulated Connectware schema:
// users, roles, permissions, user_roles (read by the front door) and services (the service-manager).

#include "auth.hpp"
#include "core/error.hpp"
#include "util/subprocess.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;

namespace cwb::emulator {

using Row = std::vector<std::optional<std::string>>;

class Database {
public:
  /// Returns an open connection. Errors: unreachable with libpq's message when it cannot connect.
  static Result<Database> connect(const std::string& conninfo);

  /// Returns the rows of one statement with $1.. parameters. Errors: internal with the server's message.
  Result<std::vector<Row>> query(const std::string& sql, const std::vector<std::string>& params = {});
  /// Runs one or more statements without parameters. Errors: internal with the server's message.
  Result<> execute(const std::string& sql);

private:
  struct Closer {
    void operator()(pg_conn* connection) const;
  };
  explicit Database(pg_conn* connection) : connection_(connection) {}
  std::unique_ptr<pg_conn, Closer> connection_;
};

/// Returns the PG* environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...) equivalent
/// to `conninfo`, so that pg_dump and psql connect without the password in their argv.
/// Errors: usage when libpq cannot parse the conninfo.
Result<util::Environment> libpq_environment(const std::string& conninfo);

/// Creates the tables when missing (idempotent, serialised by an advisory lock so that two roles starting
/// at once do not race).
Result<> create_schema(Database& database);

/// Seeds admin/admin (everything), backup/backup-secret (maintenance, system, services) and viewer/viewer
/// (read /api/system/#) with their roles and permissions, when the users table is empty.
Result<> seed_users(Database& database);

/// Returns the user's permissions when `password` is theirs, nullopt when the user or password is wrong.
/// Errors: internal when the tables cannot be read.
Result<std::optional<std::vector<Permission>>> authenticate(Database& database, const std::string& username,
                                                            const std::string& password);

/// Returns the permissions of an existing user (nullopt when there is no such user).
Result<std::optional<std::vector<Permission>>> permissions_of(Database& database, const std::string& username);

} // namespace cwb::emulator
