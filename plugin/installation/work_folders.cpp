#include "installation/work_folders.hpp"

#include "util/file_system.hpp"

namespace cwb::installation {

Result<> check_work_folders_apart(const std::vector<WorkFolder>& folders, const std::vector<Volume>& volumes) {
  for (const auto& folder : folders) {
    for (const auto& volume : volumes) {
      const auto where = folder.key + " " + folder.path.string();
      const auto which = "volume " + volume.source + " (" + volume.path.string() + ")";
      if (util::is_same_or_inside(folder.path, volume.path)) {
        const bool same = util::is_same_or_inside(volume.path, folder.path);
        return fail(ErrorKind::usage, where + (same ? " is the folder of " : " lies inside ") + which +
                                          ", whose files it would overwrite or remove: give " + folder.key +
                                          " a folder outside every volume");
      }
      if (util::is_same_or_inside(volume.path, folder.path))
        return fail(ErrorKind::usage, where + " holds " + which + ", which would be removed with it: give " +
                                          folder.key + " a folder outside every volume");
    }
  }
  return {};
}

} // namespace cwb::installation
