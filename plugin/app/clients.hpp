#pragma once
// The real parties a hook talks to, built from the configuration: Connectware over libcurl, the Docker
// engine over its socket, restic as a subprocess. Owned together, so that the references the pipelines
// keep stay valid for the whole run.

#include "backup/backup_context.hpp"
#include "config/config.hpp"
#include "connectware/client.hpp"
#include "container/container_runtime.hpp"
#include "http/clock.hpp"
#include "http/transport.hpp"
#include "installation/installation.hpp"
#include "restic/restic.hpp"
#include "util/subprocess.hpp"

#include <memory>

namespace cwb::app {

struct Clients {
  http::SystemClock clock;
  http::SystemSleeper sleeper;
  util::SystemProcessRunner process_runner;
  std::unique_ptr<http::Transport> connectware_transport;
  std::unique_ptr<connectware::ConnectwareClient> connectware;
  /// nullptr when docker-host is empty or platform = host (then nothing connects to a Docker socket).
  std::unique_ptr<container::ContainerRuntime> containers;
  std::unique_ptr<restic::Restic> restic;
  /// Set by select_installation().
  std::unique_ptr<installation::Installation> installation;
  std::string installation_reason; // why this platform, for the log
};

enum class NeedsRepository { yes, no };

/// Builds the clients. Errors: usage when Connectware credentials are missing, docker-host cannot be used,
/// or (with NeedsRepository::yes) no restic repository or password is configured.
Result<std::unique_ptr<Clients>> make_clients(const config::Config& config, const util::Environment& environment,
                                              NeedsRepository needs_repository);

/// restic alone, for what talks to nothing else (connectware-restore --drill).
struct ResticClient {
  util::SystemProcessRunner process_runner;
  std::unique_ptr<restic::Restic> restic;
};

/// Builds the restic client. Errors: usage when no restic repository or password is configured.
Result<std::unique_ptr<ResticClient>> make_restic_client(const config::Config& config,
                                                         const util::Environment& environment);

/// Picks the installation the configuration describes (installation/select.hpp) into
/// `clients.installation` and logs the choice. Errors: usage.
Result<> select_installation(Clients& clients, const config::Config& config, const util::Environment& environment);

/// Returns the --show-config line for the platform: "# platform: compose (auto: the Docker engine at ...
/// answers)", or why none could be chosen. Asks the Docker engine with platform = auto.
std::string describe_platform(const config::Config& config, const util::Environment& environment);

/// True when progress lines are shown: progress is `always`, or `auto` and stderr is a terminal.
bool progress_enabled(config::Progress progress);

/// Returns a progress printer for transfers labelled `label`: a single updating line on stderr when
/// progress_enabled(); an empty callback otherwise.
http::ProgressCallback make_progress(config::Progress progress, std::string label);

/// Returns a backup's progress display: the download's line and the line of the export's wait, the
/// volumes' mirror and restic's backup; showing nothing unless progress_enabled().
backup::ProgressDisplay make_backup_progress(config::Progress progress);

} // namespace cwb::app
