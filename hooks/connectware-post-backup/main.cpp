// connectware-post-backup: run after `restic backup` (resticprofile run-after), or with --failed on the
// failure path (run-after-fail; resticprofile's ERROR* variables are understood too). See
// backup/post_backup.hpp.

#include "app/clients.hpp"
#include "app/failure_report.hpp"
#include "app/hook_runner.hpp"
#include "backup/post_backup.hpp"
#include "installation/host.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace {

std::string value_of(const cwb::util::Environment& environment, const std::string& key) {
  const auto found = environment.find(key);
  return found == environment.end() ? std::string{} : found->second;
}

} // namespace

int main(int argc, char** argv) {
  using namespace cwb;
  bool failed = false;
  std::string snapshot_id;
  return app::run_hook(
      {"connectware-post-backup",
       "Release Connectware after a backup, confirm the restic snapshot, record status and metrics, clean up", true,
       // The end of the run connectware-pre-backup's start ping began; --failed exits 0 for a failed run.
       [] {
         return app::PingPlan{false, true, app::PingCheck::backup, true};
       }},
      argc, argv,
      [&](CLI::App& cli) {
        cli.add_flag("--failed", failed, "the backup failed: release, record the failure and clean up");
        cli.add_option("--snapshot", snapshot_id, "the snapshot restic reported (default: found by tag, host, time)");
      },
      [&](const app::HookInput& input) -> Result<> {
        backup::PostBackupRequest request;
        request.snapshot_id = snapshot_id;
        // resticprofile tells its run-after-fail hooks what failed through the environment.
        const auto error_message = value_of(input.environment, "ERROR_MESSAGE");
        const auto error_code = value_of(input.environment, "ERROR_EXIT_CODE");
        if (failed || !value_of(input.environment, "ERROR").empty() || !error_message.empty()) {
          request.outcome = backup::RunOutcome::failed;
          std::string message = error_message.empty() ? "the backup failed" : error_message;
          const auto stderr_text = value_of(input.environment, "ERROR_STDERR");
          if (!stderr_text.empty()) message += " (" + stderr_text.substr(0, stderr_text.find('\n')) + ")";
          request.failure = Error{ErrorKind::restic, message};
          try {
            request.failure_exit_code = error_code.empty() ? 0 : std::stoi(error_code);
          } catch (const std::exception&) {
            request.failure_exit_code = 0;
          }
        }
        // restic is optional here: without a repository a backup agent stores the staging folder itself, and
        // the post stage checks that folder against its manifest instead of confirming a snapshot.
        auto clients = app::make_clients(input.config, input.environment, app::NeedsRepository::no);
        if (!clients) {
          app::record_failure_before_run(input.config, clients.error());
          return fail(clients.error());
        }
        // Without the installation nothing can be released, but the run must still be recorded and its
        // staged archive removed: a plain host (which holds nothing) stands in, and the failure is reported.
        if (auto selected = app::select_installation(**clients, input.config, input.environment); !selected) {
          request.installation_problem = selected.error();
          (*clients)->installation = std::make_unique<installation::HostInstallation>(
              installation::HostSettings{}, (*clients)->process_runner, input.environment);
        }
        backup::BackupContext context{input.config,
                                      *(*clients)->connectware,
                                      *(*clients)->installation,
                                      *(*clients)->restic,
                                      (*clients)->clock,
                                      // The run's owner as the pre hook recorded it: both hooks belong to the
                                      // same job (process group), e.g. resticprofile.
                                      util::identify_process(getpgrp()).value_or(util::ProcessIdentity{}),
                                      {},
                                      {}};
        auto done = backup::run_post_backup(context, request);
        if (!done) return fail(done.error());
        if (request.outcome == backup::RunOutcome::failed) {
          spdlog::info("released and recorded the failed run in {}", input.config.status_file().string());
        } else {
          spdlog::info("backup complete: snapshot {}", done->snapshot_id.substr(0, 8));
        }
        return {};
      });
}
