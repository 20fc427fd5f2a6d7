// connectware-restore: put a connectware-backup snapshot back into Connectware (database and volumes),
// checked first, with a safety copy and a rollback. See restore/restore.hpp and docs/restore.md.

#include "app/clients.hpp"
#include "app/hook_runner.hpp"
#include "restore/drill.hpp"
#include "restore/fetch_folder.hpp"
#include "restore/restore.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>

namespace {

struct RestoreFlags {
  std::string snapshot;
  std::string from_dir;
  bool list = false;
  bool db_only = false;
  bool volume_only = false;
  bool dry_run = false;
  bool drill = false;
  bool yes = false;
  bool resume = false;
  bool roll_back = false;
  std::string prepare_fetch;
  std::string remove_fetch;
};

// Asks on the terminal; anything but "yes" keeps everything as it is.
cwb::Result<> ask_operator(const std::string& plan) {
  std::cout << plan << "This replaces the live state of Connectware. Type \"yes\" to continue: " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer) || answer != "yes")
    return cwb::fail(cwb::ErrorKind::usage, "restore not confirmed; nothing was changed");
  return {};
}

} // namespace

int main(int argc, char** argv) {
  using namespace cwb;
  RestoreFlags flags;
  return app::run_hook(
      {"connectware-restore", "Restore Connectware (database and service-manager volume) from a restic snapshot", false,
       // Only a drill pings: it is scheduled and unattended; a restore has its operator watching.
       [&flags] {
         return flags.drill ? app::PingPlan{true, true, app::PingCheck::drill, false} : app::PingPlan{};
       }},
      argc, argv,
      [&flags](CLI::App& cli) {
        cli.add_option("--snapshot", flags.snapshot,
                       "Snapshot to restore (id or unique prefix); default: the latest with our tags of this host "
                       "(--host: of another)")
            ->type_name("ID");
        auto* from = cli.add_option("--from", flags.from_dir,
                                    "Restore from this folder instead of restic: a staging folder that a backup "
                                    "agent brought back, checked exactly like a snapshot")
                         ->type_name("DIR");
        auto* list =
            cli.add_flag("--list", flags.list,
                         "List the snapshots of every host that can be restored (this host's marked) and exit");
        from->excludes(list);
        from->excludes("--snapshot");
        auto* db_only = cli.add_flag("--db-only", flags.db_only, "Restore only the database");
        auto* volume_only = cli.add_flag("--volume-only", flags.volume_only, "Restore only the volumes");
        db_only->excludes(volume_only);
        cli.add_flag("--dry-run", flags.dry_run,
                     "Fetch and check the snapshot, then print what a restore would do; change nothing");
        auto* drill = cli.add_flag("--drill", flags.drill,
                                   "Prove that a snapshot comes back (default: the latest): fetch it into a "
                                   "scratch folder, run every check a restore runs, restic check "
                                   "--read-data-subset; change nothing, need no Docker and no Connectware");
        // A drill takes --snapshot; it restores nothing, so no parts, no folder, no confirmation.
        drill->excludes("--dry-run");
        drill->excludes(list);
        drill->excludes(from);
        drill->excludes(db_only);
        drill->excludes(volume_only);
        cli.add_flag("--yes", flags.yes, "Do not ask for confirmation (required without a terminal)");
        // After a restore that was killed (exit 20 says so): its snapshot and parts, its safety copy.
        auto* resume = cli.add_flag("--resume", flags.resume,
                                    "Finish a restore that was killed: restore its snapshot again, keeping its "
                                    "safety copy");
        auto* roll_back = cli.add_flag("--roll-back", flags.roll_back,
                                       "Put back the state before a restore that was killed, from its safety copy");
        resume->excludes(roll_back);
        // resticprofile's restore.yaml: its own `restic restore` fetches into this folder, --from restores
        // from it, and run-finally removes it (restore/fetch_folder.hpp).
        auto* prepare_fetch = cli.add_option("--prepare-fetch", flags.prepare_fetch,
                                             "Make DIR an empty owner-only folder for `restic restore` to fetch a "
                                             "snapshot into, then exit")
                                  ->type_name("DIR");
        auto* remove_fetch = cli.add_option("--remove-fetch", flags.remove_fetch,
                                            "Remove a folder made by --prepare-fetch, with what was fetched into "
                                            "it, then exit")
                                 ->type_name("DIR");
        prepare_fetch->excludes(remove_fetch);
        for (auto* flag : {resume, roll_back, prepare_fetch, remove_fetch}) {
          flag->excludes(drill);
          flag->excludes(list);
          flag->excludes(from);
          flag->excludes("--snapshot");
          flag->excludes(db_only);
          flag->excludes(volume_only);
        }
        for (auto* flag : {prepare_fetch, remove_fetch}) {
          flag->excludes(resume);
          flag->excludes(roll_back);
          flag->excludes("--dry-run");
        }
      },
      [&flags](const app::HookInput& input) -> Result<> {
        if (!flags.prepare_fetch.empty()) return restore::prepare_fetch_folder(flags.prepare_fetch);
        if (!flags.remove_fetch.empty()) return restore::remove_fetch_folder(flags.remove_fetch);
        if (flags.drill) {
          auto client = app::make_restic_client(input.config, input.environment);
          if (!client) return fail(client.error());
          restore::DrillContext context{input.config, *(*client)->restic, std::cout};
          restore::DrillRequest request{flags.snapshot};
          auto done = restore::run_drill(context, request);
          if (!done) return fail(done.error());
          return {};
        }
        const bool changes_things = !flags.list && !flags.dry_run;
        if (changes_things && !flags.yes && isatty(STDIN_FILENO) == 0)
          return fail(ErrorKind::usage, "refusing to restore without a terminal to confirm on: pass --yes");
        // --from needs no restic at all: the folder is already here.
        const auto needs_repository = flags.from_dir.empty() ? app::NeedsRepository::yes : app::NeedsRepository::no;
        auto clients = app::make_clients(input.config, input.environment, needs_repository);
        if (!clients) return fail(clients.error());
        if (flags.list) {
          auto snapshots = restore::list_snapshots(*(*clients)->restic, input.config);
          if (!snapshots) return fail(snapshots.error());
          std::cout << restore::snapshot_listing(*snapshots, input.config.host());
          return {};
        }
        CWB_TRY(app::select_installation(**clients, input.config, input.environment));
        restore::RestoreContext context{input.config,
                                        *(*clients)->connectware,
                                        *(*clients)->installation,
                                        *(*clients)->restic,
                                        std::cout,
                                        app::make_progress(input.config.progress(), "database archive")};
        restore::RestoreRequest request;
        request.snapshot = flags.snapshot;
        if (!flags.from_dir.empty()) request.from_dir = std::filesystem::absolute(flags.from_dir);
        request.parts = flags.db_only       ? restore::Parts::database_only
                        : flags.volume_only ? restore::Parts::volumes_only
                                            : restore::Parts::all;
        request.mode = flags.dry_run ? restore::Mode::dry_run : restore::Mode::apply;
        request.continuation = flags.resume      ? restore::Continuation::resume
                               : flags.roll_back ? restore::Continuation::roll_back
                                                 : restore::Continuation::none;
        if (!flags.yes) request.confirm = ask_operator;
        auto done = restore::run_restore(context, request);
        if (!done) return fail(done.error());
        return {};
      });
}
