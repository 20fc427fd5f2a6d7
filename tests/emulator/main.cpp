// connectware-emulator: a stand-in for Cybus Connectware in tests (see emulator.hpp and
// /work/contract-emulator-harness.md for the command line).

#include "emulator.hpp"

#include <CLI/CLI.hpp>

#include <map>

int main(int argc, char** argv) {
  using cwb::emulator::Role;
  cwb::emulator::EmulatorOptions options;
  CLI::App app{"Connectware emulator for tests: HTTPS front door and service-manager backed by PostgreSQL"};
  const std::map<std::string, Role> roles = {
      {"front", Role::front}, {"service-manager", Role::service_manager}, {"all", Role::all}};
  app.add_option("--role", options.role, "front, service-manager or all")
      ->transform(CLI::CheckedTransformer(roles, CLI::ignore_case))
      ->default_str("all");
  app.add_option("--listen", options.listen, "address to bind")->capture_default_str();
  app.add_option("--port", options.port, "front: HTTPS port; service-manager: HTTP port (0: any free port)");
  app.add_option("--service-manager-port", options.service_manager_port,
                 "with --role all: internal service-manager port (0: any free port)");
  app.add_option("--cert", options.cert, "front door TLS certificate (PEM)");
  app.add_option("--key", options.key, "front door TLS key (PEM)");
  app.add_option("--pg", options.pg_conninfo, "libpq conninfo of the PostgreSQL database");
  app.add_option("--pg-wait", options.pg_wait_seconds,
                 "seconds to keep retrying the first connection to PostgreSQL (a database starting beside us)");
  app.add_option("--pg-bin-dir", options.pg_bin_dir, "where pg_dump and psql live")->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "service-manager: folder of the service commissioning files");
  app.add_option("--service-manager-url", options.service_manager_url, "front: where /api/services is forwarded");
  app.add_option("--connectware-version", options.connectware_version, "reported and stamped version")
      ->capture_default_str();
  app.add_option("--compat", options.compat, "\"<1.5.0=1.4.9\": refuse archives below 1.5.0, naming 1.4.9");
  app.add_flag("--seed", options.seed, "create the schema and seed users, roles and services when empty");
  app.add_option("--fault", options.faults, "NAME[=VALUE] fault to inject from the start");
  app.add_option("--work-dir", options.work_dir, "where exports and uploads are kept (default: a temp dir)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  return cwb::emulator::run_emulator(options);
}
