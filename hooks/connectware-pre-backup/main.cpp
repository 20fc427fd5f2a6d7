// connectware-pre-backup: run before `restic backup` of the staging folder (resticprofile run-before, or an
// enterprise routine's pre script). See backup/pre_backup.hpp.

#include "app/clients.hpp"
#include "app/failure_report.hpp"
#include "app/hold_watchdog.hpp"
#include "app/hook_runner.hpp"
#include "backup/pre_backup.hpp"
#include "core/exit_codes.hpp"
#include "installation/run_state.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

int main(int argc, char** argv) {
  using namespace cwb;
  return app::run_hook(
      {"connectware-pre-backup",
       "Hold Connectware's configuration still, export its database and stage it with the "
       "service-manager volume for restic",
       true,
       // The start of the run; connectware-post-backup (or post --failed) pings its end.
       [] {
         return app::PingPlan{true, false, app::PingCheck::backup, false};
       }},
      argc, argv, {}, [](const app::HookInput& input) -> Result<> {
        auto clients = app::make_clients(input.config, input.environment, app::NeedsRepository::no);
        if (!clients) {
          app::record_failure_before_run(input.config, clients.error());
          return fail(clients.error());
        }
        CWB_TRY(app::select_installation(**clients, input.config, input.environment));
        // The run lasts until the post hook: its owner is the job that runs both, i.e. our process group
        // (resticprofile, which starts its hooks through `sh -c`; a cron job's shell; a backup agent).
        const auto owner = util::identify_process(getpgrp());
        backup::BackupContext context{input.config,
                                      *(*clients)->connectware,
                                      *(*clients)->installation,
                                      *(*clients)->restic,
                                      (*clients)->clock,
                                      owner.value_or(util::ProcessIdentity{}),
                                      app::make_backup_progress(input.config.progress()),
                                      app::hold_watchdog_starter(input)};
        auto staged = backup::run_pre_backup(context);
        if (!staged) {
          // For the post hook of the failure path: it learns only our exit code, and must report the cause.
          // A refused run (locked) leaves the running one's state alone.
          if (staged.error().kind != ErrorKind::locked) {
            const installation::StatePaths paths{input.config.state_dir()};
            const auto code = to_int(exit_code_for(staged.error().kind));
            if (auto recorded = installation::write_pre_backup_failure(paths, staged.error(), code); !recorded)
              spdlog::warn("cannot record the failure for the post hook: {}", recorded.error().message);
          }
          return fail(staged.error());
        }
        spdlog::info("ready for restic: {} (tags: {})", input.config.staging_dir().string(),
                     fmt::join(staged->restic_tags, ","));
        return {};
      });
}
