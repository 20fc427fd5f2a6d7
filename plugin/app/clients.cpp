#include "app/clients.hpp"

#include "container/docker_engine_runtime.hpp"
#include "http/curl_transport.hpp"
#include "installation/select.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace cwb::app {
namespace {

Result<std::unique_ptr<container::ContainerRuntime>> make_container_runtime(const std::string& docker_host) {
  if (docker_host.empty()) return std::unique_ptr<container::ContainerRuntime>{};
  constexpr std::string_view unix_scheme = "unix://";
  if (docker_host.starts_with(unix_scheme)) {
    const std::filesystem::path socket = docker_host.substr(unix_scheme.size());
    return std::unique_ptr<container::ContainerRuntime>(container::DockerEngineRuntime::over_socket(socket));
  }
  std::string base = docker_host;
  if (base.starts_with("tcp://")) base = "http://" + base.substr(6);
  container::DockerEndpoint endpoint;
  endpoint.base_url = base;
  endpoint.description = docker_host;
  return std::unique_ptr<container::ContainerRuntime>(
      std::make_unique<container::DockerEngineRuntime>(std::make_unique<http::CurlTransport>(), endpoint));
}

Result<> require_repository(const config::Config& config) {
  if (config.repository().empty())
    return fail(ErrorKind::usage, "no restic repository: set repository (RESTIC_REPOSITORY)");
  if (config.restic_password().empty())
    return fail(ErrorKind::usage,
                "no restic password: set restic-password-file (RESTIC_PASSWORD_FILE) or RESTIC_PASSWORD");
  return {};
}

restic::ResticOptions restic_options(const config::Config& config) {
  restic::ResticOptions options;
  options.binary = config.restic_binary();
  options.repository = config.repository();
  if (config.restic_password_file()) {
    options.password_file = *config.restic_password_file();
  } else {
    options.password = config.restic_password().reveal();
  }
  if (config.restic_cacert()) options.cacert = *config.restic_cacert();
  return options;
}

} // namespace

Result<std::unique_ptr<Clients>> make_clients(const config::Config& config, const util::Environment& environment,
                                              NeedsRepository needs_repository) {
  CWB_TRY(config.require_connectware_credentials());
  if (needs_repository == NeedsRepository::yes) CWB_TRY(require_repository(config));
  auto clients = std::make_unique<Clients>();

  connectware::ClientOptions options;
  options.base_url = config.connectware_url();
  if (config.authentication() == config::Authentication::token) {
    options.credentials = connectware::TokenCredentials{config.connectware_token()};
  } else {
    options.credentials =
        connectware::PasswordCredentials{config.connectware_username(), config.connectware_password()};
  }
  options.tls.ca_file = config.ca_file();
  options.tls.verification = config.insecure() ? http::TlsVerification::insecure : http::TlsVerification::verify;
  options.status_path = config.status_path();
  options.backup_path = config.backup_path();
  options.restore_path = config.restore_path();
  options.timeouts.api.connect = config.connect_timeout();
  options.timeouts.api.total = config.request_timeout();
  options.timeouts.transfer.connect = config.connect_timeout();
  options.retry.max_attempts = config.retries() + 1;
  clients->connectware_transport = connectware::make_transport(options);
  clients->connectware = std::make_unique<connectware::ConnectwareClient>(
      std::move(options), *clients->connectware_transport, clients->sleeper, clients->clock);

  // A plain host needs no container runtime: none is made, so nothing connects to a Docker socket.
  if (config.platform() != config::PlatformChoice::host) {
    auto runtime = make_container_runtime(config.docker_host());
    if (!runtime) return fail(runtime.error());
    clients->containers = std::move(*runtime);
  }

  clients->restic = std::make_unique<restic::Restic>(restic_options(config), clients->process_runner, environment);
  return clients;
}

Result<std::unique_ptr<ResticClient>> make_restic_client(const config::Config& config,
                                                         const util::Environment& environment) {
  CWB_TRY(require_repository(config));
  auto client = std::make_unique<ResticClient>();
  client->restic = std::make_unique<restic::Restic>(restic_options(config), client->process_runner, environment);
  return client;
}

Result<> select_installation(Clients& clients, const config::Config& config, const util::Environment& environment) {
  auto selected =
      installation::select_installation(config, clients.containers.get(), clients.process_runner, environment);
  if (!selected) return fail(selected.error());
  clients.installation = std::move(selected->installation);
  clients.installation_reason = std::move(selected->reason);
  spdlog::info("platform {} ({})", installation::to_string(clients.installation->platform()),
               clients.installation_reason);
  return {};
}

std::string describe_platform(const config::Config& config, const util::Environment& environment) {
  std::unique_ptr<container::ContainerRuntime> runtime;
  if (config.platform() != config::PlatformChoice::host) {
    auto made = make_container_runtime(config.docker_host());
    if (!made) return "# platform: none (" + made.error().message + ")\n";
    runtime = std::move(*made);
  }
  util::SystemProcessRunner runner;
  auto selected = installation::select_installation(config, runtime.get(), runner, environment);
  if (!selected) return "# platform: none: " + selected.error().message + "\n";
  return std::string("# platform: ") + installation::to_string(selected->installation->platform()) + " (" +
         selected->reason + ")\n";
}

bool progress_enabled(config::Progress progress) {
  return progress == config::Progress::always || (progress == config::Progress::automatic && isatty(2) != 0);
}

backup::ProgressDisplay make_backup_progress(config::Progress progress) {
  const bool show = progress_enabled(progress);
  return {make_progress(progress, "downloading database archive"), std::make_shared<util::ProgressLine>(show)};
}

http::ProgressCallback make_progress(config::Progress progress, std::string label) {
  if (!progress_enabled(progress)) return {};
  struct State {
    util::ProgressLine line{true};
    bool finished = false;
  };
  auto state = std::make_shared<State>();
  return [state, label = std::move(label)](std::uint64_t done, std::uint64_t total) {
    if (state->finished) return;
    if (total == 0) {
      state->line.show(label, util::human_bytes(done));
      return;
    }
    const auto percent = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
    const auto text =
        util::human_bytes(done) + " / " + util::human_bytes(total) + " (" + std::to_string(percent) + "%)";
    if (done < total) {
      state->line.show(label, text);
      return;
    }
    state->line.finish(label, text);
    state->finished = true;
  };
}

} // namespace cwb::app
