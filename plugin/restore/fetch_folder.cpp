#include "restore/fetch_folder.hpp"

#include "util/file_system.hpp"

#include <spdlog/spdlog.h>

#include <system_error>

namespace cwb::restore {

namespace fs = std::filesystem;

namespace {

bool is_marked(const fs::path& folder) {
  std::error_code error;
  return fs::is_regular_file(fs::symlink_status(folder / fetch_folder_marker, error));
}

Result<> refuse_unmarked(const fs::path& folder) {
  return fail(ErrorKind::usage, folder.string() +
                                    " is not a fetch folder made by connectware-restore --prepare-fetch (no " +
                                    fetch_folder_marker + " in it); leaving it as it is");
}

} // namespace

Result<> prepare_fetch_folder(const fs::path& folder) {
  std::error_code error;
  const auto status = fs::symlink_status(folder, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) return refuse_unmarked(folder);
    const bool empty = fs::is_empty(folder, error);
    if (error) return fail(ErrorKind::staging_io, "reading " + folder.string() + ": " + error.message());
    if (!empty && !is_marked(folder)) return refuse_unmarked(folder);
    if (!empty) {
      spdlog::info("emptying the fetch folder {} left by an earlier run", folder.string());
      CWB_TRY(util::remove_tree(folder));
    }
  }
  CWB_TRY(util::create_private_directory(folder));
  return util::write_file_atomic(folder / fetch_folder_marker,
                                 "made by connectware-restore --prepare-fetch; removed by --remove-fetch\n");
}

Result<> remove_fetch_folder(const fs::path& folder) {
  std::error_code error;
  const auto status = fs::symlink_status(folder, error);
  if (!fs::exists(status)) return {};
  // A link to a fetch folder is not one: nothing is removed through a link.
  if (!fs::is_directory(status) || !is_marked(folder)) return refuse_unmarked(folder);
  CWB_TRY(util::remove_tree(folder));
  spdlog::info("removed the fetch folder {}", folder.string());
  return {};
}

} // namespace cwb::restore
