#pragma once
// Step 5 of a restore without copying: when the live volume, the fetched copy and rollback-dir share one
// file system, the volume's top-level entries are moved (rename(2)) into the safety copy's folder, then
// the fetched entries into the live folder. Nothing is read or written but directory entries, and the
// safety copy costs no room. Otherwise the restore copies (staging::mirror_tree) as before.
//
// Where the data is while a swap runs (docs/restore.md, "What is where after a failure"): the live folder
// never holds old and new entries at once. Phase 1 moves old entries out (the live folder holds the old
// entries not moved yet, the safety folder the others); the live folder is then empty; phase 2 moves new
// entries in (the live folder holds new entries only, the fetched folder the rest). A one-line journal
// beside the safety folder (<rollback-dir>/volumes/<name>.swap) says which phase ran last, for the operator.
// A record written before anything moves (<name>.swap.json: the old top-level names, the folder's own
// metadata) lets a later process undo a swap whose process was killed (VolumeSwap::recover): an old name
// still in the safety folder was moved out; every other entry of the live folder that is not an old name
// left in place is new.

#include "core/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cwb::restore {

/// How step 5 replaces one volume's contents, and so how its safety copy is made.
enum class VolumeMethod {
  rename, // moved aside and moved in (step 5); no safety copy in step 3
  copy,   // copied into rollback-dir (step 3), then mirrored over (step 5)
};

/// Returns "rename" or "copy".
const char* to_string(VolumeMethod method) noexcept;

/// Returns rename when `live`, `fetched` and `rollback_dir` (each, when missing, its nearest existing
/// ancestor) lie on one file system (st_dev) and no top-level entry of `live` is a mount point; copy
/// otherwise, with the reason in `why` when given. Changes nothing. Errors: staging_io when `live` cannot
/// be read.
Result<VolumeMethod> choose_volume_method(const std::filesystem::path& live, const std::filesystem::path& fetched,
                                          const std::filesystem::path& rollback_dir, std::string* why = nullptr);

/// Moves the directory entry `from` to `to` without ever replacing an existing `to`. Returns 0, or the
/// errno (EEXIST when `to` exists, EXDEV across file systems, ...). Tests substitute one that fails.
using MoveEntry = std::function<int(const std::filesystem::path& from, const std::filesystem::path& to)>;

/// The real MoveEntry: renameat2(RENAME_NOREPLACE); where the file system lacks it, lstat() then rename().
int move_entry_no_replace(const std::filesystem::path& from, const std::filesystem::path& to);

/// The swap of one volume's contents, remembering how far it got so that undo() can put the live folder
/// back from any point. Movable, not copyable: one record of what was moved.
class VolumeSwap {
public:
  VolumeSwap(const VolumeSwap&) = delete;
  VolumeSwap& operator=(const VolumeSwap&) = delete;
  VolumeSwap(VolumeSwap&&) = default;
  VolumeSwap& operator=(VolumeSwap&&) = default;

  /// `live`: the volume's folder; `fetched`: the checked copy of the snapshot's volume (created empty when
  /// missing: an empty volume); `safety`: the safety copy's folder (created, must be empty).
  VolumeSwap(std::filesystem::path live, std::filesystem::path fetched, std::filesystem::path safety,
             MoveEntry move = move_entry_no_replace);

  /// Phase 1: every top-level entry of the live folder into the safety folder, which then gets the live
  /// folder's own mode, owner and mtime. Phase 2 (only when the live folder is then empty): every
  /// top-level entry of the fetched folder into the live folder, which then gets the fetched folder's own
  /// mode, owner and mtime (what staging::mirror_tree does with a root). Returns the number of entries
  /// moved in. Errors: staging_io naming the entry or folder (the swap stops there; undo() puts back).
  Result<std::size_t> swap();

  /// Puts the live folder back as it was before swap(): removes every entry in it that is not an old
  /// entry still in place (what phase 2 moved in, or anything else that appeared), moves the old entries
  /// back from the safety folder, and resets the folder's own mode, owner and mtime. Runs to the end
  /// whatever fails. Errors: staging_io listing every entry that could not be put back and where the old
  /// entries are.
  Result<> undo();

  /// The swap of `live` that a killed process started, rebuilt from its record beside `safety`, so that
  /// undo() puts the live folder back; nullopt when no swap started (no record: nothing moved). Errors:
  /// staging_io when the record cannot be read.
  static Result<std::optional<VolumeSwap>> recover(std::filesystem::path live, std::filesystem::path fetched,
                                                   std::filesystem::path safety,
                                                   MoveEntry move = move_entry_no_replace);

  /// True once swap() changed anything (an undo() is then needed to go back).
  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] const std::filesystem::path& journal() const { return journal_; }
  /// The record recover() reads: written before the first entry moves, removed by a complete undo().
  [[nodiscard]] std::filesystem::path record() const;

private:
  struct RootMetadata {
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::int64_t mtime_ns = 0;
  };
  void note(const std::string& phase) const;
  [[nodiscard]] Result<> write_record() const;

  std::filesystem::path live_;
  std::filesystem::path fetched_;
  std::filesystem::path safety_;
  std::filesystem::path journal_;
  MoveEntry move_;
  bool started_ = false;
  std::optional<RootMetadata> live_root_; // the live folder's own metadata before the swap
  std::vector<std::string> original_;     // the live folder's top-level names before the swap
  std::vector<std::string> moved_out_;    // old entries now in the safety folder
  std::vector<std::string> moved_in_;     // new entries now in the live folder
};

} // namespace cwb::restore
