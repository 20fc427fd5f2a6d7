// connectware-backup: a whole backup in one command, for cron and backup routines without resticprofile:
// pre-backup stage, restic backup, post-backup stage. Exits with the first failure's code. See
// backup/backup_job.hpp.

#include "app/clients.hpp"
#include "app/failure_report.hpp"
#include "app/hold_watchdog.hpp"
#include "app/hook_runner.hpp"
#include "backup/backup_job.hpp"
#include "installation/host.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

int main(int argc, char** argv) {
  using namespace cwb;
  return app::run_hook(
      {"connectware-backup",
       "Back up Connectware (database and service-manager volume) into a restic repository, consistently", true,
       [] {
         return app::PingPlan{true, true, app::PingCheck::backup, false};
       }},
      argc, argv, {}, [](const app::HookInput& input) -> Result<> {
        auto clients = app::make_clients(input.config, input.environment, app::NeedsRepository::yes);
        if (!clients) {
          app::record_failure_before_run(input.config, clients.error());
          return fail(clients.error());
        }
        auto selected = app::select_installation(**clients, input.config, input.environment);
        if (!selected) {
          // Recorded like any failed run (status, metrics), on a stand-in that holds nothing: what a killed
          // run left held stays recorded for the next run that reaches the installation.
          (*clients)->installation = std::make_unique<installation::HostInstallation>(
              installation::HostSettings{}, (*clients)->process_runner, input.environment);
        }
        const auto self = util::identify_process(getpid());
        backup::BackupContext context{input.config,
                                      *(*clients)->connectware,
                                      *(*clients)->installation,
                                      *(*clients)->restic,
                                      (*clients)->clock,
                                      self.value_or(util::ProcessIdentity{}),
                                      app::make_backup_progress(input.config.progress()),
                                      app::hold_watchdog_starter(input)};
        if (!selected) {
          backup::record_failed_run(context, selected.error());
          return fail(selected.error());
        }
        auto done = backup::run_backup_job(context);
        if (!done) return fail(done.error());
        spdlog::info("backup complete: snapshot {}", done->snapshot_id.substr(0, 8));
        return {};
      });
}
