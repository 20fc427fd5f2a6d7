#pragma once
// The folders the hooks empty or remove as a whole (staging-dir, restore-dir, rollback-dir) must stay
// apart from the installation's volumes: a restore-dir inside a volume would be removed with the volume's
// files, a staging-dir holding one would stage the volume into itself. Config::check_work_folders keeps
// them apart from each other; this keeps them apart from the volumes, once those are located.

#include "core/error.hpp"
#include "installation/installation.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace cwb::installation {

/// A folder a hook empties or removes as a whole, named by its setting.
struct WorkFolder {
  std::string key; // "restore-dir"
  std::filesystem::path path;
};

/// Checks that no folder of `folders` is the folder of one of `volumes`, lies inside one, or holds one
/// (symbolic links resolved). Errors: usage naming the setting, the folder and the volume.
Result<> check_work_folders_apart(const std::vector<WorkFolder>& folders, const std::vector<Volume>& volumes);

} // namespace cwb::installation
