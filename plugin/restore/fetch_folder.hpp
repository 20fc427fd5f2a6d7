#pragma once
// A fetch folder: where resticprofile's own `restic restore` puts a snapshot for `connectware-restore --from`
// (restic-profiles/restore.yaml). The snapshot holds the database export (users, password hashes), so the
// folder is owner-only and must go away after every run, a failed one included (resticprofile's
// run-finally). Because that cleanup is a recursive removal named on a command line, it removes only a
// folder that prepare_fetch_folder() made: one carrying our marker file.

#include "core/error.hpp"

#include <filesystem>

namespace cwb::restore {

/// The marker file prepare_fetch_folder() leaves in the folder it makes.
inline constexpr const char* fetch_folder_marker = ".connectware-restore-fetch";

/// Makes `folder` empty, owner-only (0700) and marked, for restic to restore into: a leftover of an earlier
/// fetch (a marked folder) is emptied first, so no file of another snapshot can mix in. Errors: usage
/// (`folder` exists, is not empty and is not a fetch folder: nothing is touched), staging_io.
Result<> prepare_fetch_folder(const std::filesystem::path& folder);

/// Removes a fetch folder with everything restic put into it; succeeds when it does not exist. Errors:
/// usage (`folder` is not a fetch folder: nothing is removed), staging_io.
Result<> remove_fetch_folder(const std::filesystem::path& folder);

} // namespace cwb::restore
