#include "database.hpp"

#include <libpq-fe.h>

namespace cwb::emulator {
namespace {

struct ResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

std::string trimmed_error(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

struct SeedUser {
  const char* name;
  const char* password;
  const char* role;
};

} // namespace

void Database::Closer::operator()(pg_conn* connection) const {
  PQfinish(connection);
}

Result<Database> Database::connect(const std::string& conninfo) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  Database database(connection);
  if (connection == nullptr) return fail(ErrorKind::unreachable, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(connection) != CONNECTION_OK)
    return fail(ErrorKind::unreachable, "cannot connect to PostgreSQL: " + trimmed_error(PQerrorMessage(connection)));
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr); // NOTICEs would clutter stderr
  return database;
}

Result<std::vector<Row>> Database::query(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& param : params)
    values.push_back(param.c_str());
  ResultPtr result(PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                nullptr, nullptr, 0));
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    return fail(ErrorKind::internal, "SQL failed: " + trimmed_error(PQerrorMessage(connection_.get())));
  std::vector<Row> rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    Row row;
    for (int c = 0; c < PQnfields(result.get()); ++c) {
      if (PQgetisnull(result.get(), r, c))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c)));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<> Database::execute(const std::string& sql) {
  ResultPtr result(PQexec(connection_.get(), sql.c_str()));
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY)
    return fail(ErrorKind::internal, "SQL failed: " + trimmed_error(PQerrorMessage(connection_.get())));
  return {};
}

Result<util::Environment> libpq_environment(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = trimmed_error(error);
    PQfreemem(error);
    return fail(ErrorKind::usage, "bad PostgreSQL conninfo: " + message);
  }
  util::Environment env;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr && option->envvar != nullptr && option->val[0] != '\0')
      env[option->envvar] = option->val;
  }
  PQconninfoFree(options);
  return env;
}

Result<> create_schema(Database& database) {
  return database.execute(R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(4242);
CREATE TABLE IF NOT EXISTS users (
  id serial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  salt text NOT NULL,
  password_hash text NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS permissions (
  id serial PRIMARY KEY,
  role_id integer NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  resource text NOT NULL,
  operation text NOT NULL CHECK (operation IN ('read', 'write', 'readWrite'))
);
CREATE TABLE IF NOT EXISTS user_roles (
  user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role_id integer NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
);
CREATE TABLE IF NOT EXISTS services (
  id text PRIMARY KEY,
  name text NOT NULL,
  file text NOT NULL,
  state text NOT NULL DEFAULT 'disabled',
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMIT;
)sql");
}

Result<> seed_users(Database& database) {
  CWB_TRY(database.execute("BEGIN; SELECT pg_advisory_xact_lock(4243);"));
  auto seeded = [&]() -> Result<> {
    auto count = database.query("SELECT count(*) FROM users");
    if (!count) return fail(count.error());
    if ((*count)[0][0] != "0") return {};
    const std::vector<std::pair<const char*, std::vector<std::pair<const char*, const char*>>>> roles = {
        {"admin", {{"#", "readWrite"}}},
        // Exactly the rights docs/configuration.md lists for the hooks, no more: the end-to-end suites run as
        // this user, so they prove the list complete.
        {"backup",
         {{"/api/maintenance/#", "readWrite"},
          {"/api/system/info", "read"},
          {"/api/system/health", "read"},
          {"/api/services/#", "read"}}},
        {"viewer", {{"/api/system/#", "read"}}},
        // The backup role without the version: a right the docs of old releases did not list.
        {"maintenance-only", {{"/api/maintenance/#", "readWrite"}}},
    };
    for (const auto& [role, permissions] : roles) {
      CWB_TRY(database.query("INSERT INTO roles (name) VALUES ($1)", {role}));
      for (const auto& [resource, operation] : permissions) {
        CWB_TRY(database.query("INSERT INTO permissions (role_id, resource, operation) "
                               "SELECT id, $2, $3 FROM roles WHERE name = $1",
                               {role, resource, operation}));
      }
    }
    const SeedUser users[] = {{"admin", "admin", "admin"},
                              {"backup", "backup-secret", "backup"},
                              {"viewer", "viewer", "viewer"},
                              {"maintainer", "maintainer-secret", "maintenance-only"}};
    for (const auto& user : users) {
      const std::string salt = random_hex(16);
      CWB_TRY(database.query("INSERT INTO users (username, salt, password_hash) VALUES ($1, $2, $3)",
                             {user.name, salt, hash_password(salt, user.password)}));
      CWB_TRY(database.query("INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r "
                             "WHERE u.username = $1 AND r.name = $2",
                             {user.name, user.role}));
    }
    return {};
  }();
  if (!seeded) {
    (void)database.execute("ROLLBACK");
    return fail(seeded.error().with_context("seeding users"));
  }
  return database.execute("COMMIT");
}

Result<std::optional<std::vector<Permission>>> permissions_of(Database& database, const std::string& username) {
  auto user = database.query("SELECT id FROM users WHERE username = $1", {username});
  if (!user) return fail(user.error());
  if (user->empty()) return std::optional<std::vector<Permission>>();
  auto rows = database.query("SELECT p.resource, p.operation FROM permissions p "
                             "JOIN user_roles ur ON ur.role_id = p.role_id WHERE ur.user_id = $1",
                             {*(*user)[0][0]});
  if (!rows) return fail(rows.error());
  std::vector<Permission> permissions;
  for (const auto& row : *rows)
    permissions.push_back(Permission{row[0].value_or(""), row[1].value_or("")});
  return std::optional(std::move(permissions));
}

Result<std::optional<std::vector<Permission>>> authenticate(Database& database, const std::string& username,
                                                            const std::string& password) {
  auto rows = database.query("SELECT salt, password_hash FROM users WHERE username = $1", {username});
  if (!rows) return fail(rows.error());
  if (rows->empty() || hash_password((*rows)[0][0].value_or(""), password) != (*rows)[0][1].value_or(""))
    return std::optional<std::vector<Permission>>();
  return permissions_of(database, username);
}

} // namespace cwb::emulator
