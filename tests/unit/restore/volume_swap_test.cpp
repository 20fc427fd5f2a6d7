#include "restore/volume_swap.hpp"

#include "staging/tree.hpp"
#include "support/tree_files.hpp"
#include "util/file_system.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

using test::tree;
using test::write;

struct RootState {
  mode_t mode = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const RootState&) const = default;
};

RootState root_state(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(lstat(path.c_str(), &info), 0) << path;
  return {info.st_mode & 07777, static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

void set_root(const fs::path& path, mode_t mode, std::int64_t seconds) {
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
  const timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

/// The real move, failing (with `error`) at call number `fail_at` (1-based); counts every call.
struct FailingMove {
  int fail_at = 0;
  int error = EIO;
  int calls = 0;
  std::function<void(int call)> after; // runs after each successful move
  MoveEntry function() {
    return [this](const fs::path& from, const fs::path& to) {
      ++calls;
      if (calls == fail_at) return error;
      const int moved = move_entry_no_replace(from, to);
      if (moved == 0 && after) after(calls);
      return moved;
    };
  }
};

class VolumeSwapTest : public testing::Test {
protected:
  void SetUp() override {
    auto created = util::TemporaryDirectory::create({}, "cwb-volume-swap-test-");
    ASSERT_TRUE(created) << created.error().message;
    dir_ = std::move(*created);
    live_ = dir_.path() / "live";
    fetched_ = dir_.path() / "restore" / "volumes" / "service-manager";
    safety_ = dir_.path() / "rollback" / "volumes" / "service-manager";
    // Old: three top-level entries (a folder, a file, a link); new: two others and one of the same name.
    write(live_ / "services" / "b.yml", "b: 2\n");
    write(live_ / "notes.txt", "changed\n", 0600);
    ASSERT_EQ(symlink("services/b.yml", (live_ / "current.yml").c_str()), 0);
    write(fetched_ / "services" / "a.yml", "a: 1\n");
    write(fetched_ / "extra" / "private.txt", "only the owner\n", 0640);
    ASSERT_EQ(symlink("services/a.yml", (fetched_ / "current.yml").c_str()), 0);
    set_root(live_, 0751, 1'600'000'000);
    set_root(fetched_, 0755, 1'700'000'000);
    live_before_ = tree(live_);
    live_root_before_ = root_state(live_);
    fetched_before_ = tree(fetched_);
    fetched_root_ = root_state(fetched_);
  }

  void expect_live_as_before() {
    EXPECT_EQ(tree(live_), live_before_);
    EXPECT_EQ(root_state(live_), live_root_before_);
  }

  util::TemporaryDirectory dir_;
  fs::path live_, fetched_, safety_;
  std::vector<staging::TreeEntry> live_before_, fetched_before_;
  RootState live_root_before_, fetched_root_;
};

TEST_F(VolumeSwapTest, MovesTheOldEntriesAsideAndTheNewOnesInWithTheFetchedRootsMetadata) {
  VolumeSwap swap(live_, fetched_, safety_);
  auto moved = swap.swap();
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, 3U);
  EXPECT_EQ(tree(live_), fetched_before_);
  EXPECT_EQ(root_state(live_), fetched_root_);
  // The safety folder is what the volume was, its own metadata included.
  EXPECT_EQ(tree(safety_), live_before_);
  EXPECT_EQ(root_state(safety_), live_root_before_);
  EXPECT_TRUE(tree(fetched_).empty());
  EXPECT_THAT(*util::read_file(swap.journal()), HasSubstr("done"));
}

TEST_F(VolumeSwapTest, UndoAfterACompleteSwapPutsTheOldEntriesBack) {
  VolumeSwap swap(live_, fetched_, safety_);
  ASSERT_TRUE(swap.swap());
  auto undone = swap.undo();
  ASSERT_TRUE(undone) << undone.error().message;
  expect_live_as_before();
  EXPECT_TRUE(tree(safety_).empty());
  EXPECT_THAT(*util::read_file(swap.journal()), HasSubstr("undone"));
}

TEST_F(VolumeSwapTest, UndoAfterMovingOutStoppedHalfWayKeepsTheEntriesNotMovedAndBringsBackTheOthers) {
  FailingMove move{.fail_at = 2, .error = EIO, .calls = 0, .after = {}};
  VolumeSwap swap(live_, fetched_, safety_, move.function());
  auto moved = swap.swap();
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().kind, ErrorKind::staging_io);
  EXPECT_THAT(moved.error().message, HasSubstr("cannot move"));
  EXPECT_TRUE(swap.started());
  // Half-way: one old entry aside, two still in place, nothing new in.
  EXPECT_EQ(tree(safety_).size(), 1U);
  ASSERT_TRUE(swap.undo());
  expect_live_as_before();
  EXPECT_TRUE(tree(safety_).empty());
}

TEST_F(VolumeSwapTest, UndoAfterMovingInStoppedHalfWayRemovesTheNewEntriesAndBringsBackTheOld) {
  // Calls 1-3 move the old entries out, 4 and 5 move new ones in: the 5th fails.
  FailingMove move{.fail_at = 5, .error = ENOSPC, .calls = 0, .after = {}};
  VolumeSwap swap(live_, fetched_, safety_, move.function());
  auto moved = swap.swap();
  ASSERT_FALSE(moved);
  EXPECT_THAT(moved.error().message, HasSubstr(fetched_.string()));
  EXPECT_EQ(tree(safety_), live_before_);
  EXPECT_THAT(*util::read_file(swap.journal()), HasSubstr("phase 2 of 2"));
  ASSERT_TRUE(swap.undo());
  expect_live_as_before();
}

// A process killed at any move (the swap object gone with it, its undo never run): a later process rebuilds
// the swap from its record and puts the live folder back, old names that are not UTF-8 included.
TEST_F(VolumeSwapTest, ASwapWhoseProcessDiedAtAnyMoveIsUndoneByTheNextProcessFromItsRecord) {
  write(live_ / "caf\xe9.txt", "latin-1 name\n"); // four old entries, three new ones
  live_before_ = tree(live_);
  live_root_before_ = root_state(live_);
  for (int died_at = 1; died_at <= 8; ++died_at) {
    SCOPED_TRACE("died at move " + std::to_string(died_at));
    {
      FailingMove move{.fail_at = died_at, .error = EINTR, .calls = 0, .after = {}};
      VolumeSwap killed(live_, fetched_, safety_, move.function());
      (void)killed.swap(); // at 8 it completes; the process then dies before any undo
    }
    auto recovered = VolumeSwap::recover(live_, fetched_, safety_);
    ASSERT_TRUE(recovered) << recovered.error().message;
    ASSERT_TRUE(recovered->has_value());
    auto undone = (*recovered)->undo();
    ASSERT_TRUE(undone) << undone.error().message;
    expect_live_as_before();
    EXPECT_TRUE(tree(safety_).empty());
    EXPECT_FALSE(fs::exists((*recovered)->record()));
    // The next round starts from the snapshot's entries again (they were removed by the undo).
    ASSERT_TRUE(util::remove_tree(fetched_));
    write(fetched_ / "services" / "a.yml", "a: 1\n");
    write(fetched_ / "extra" / "private.txt", "only the owner\n", 0640);
    ASSERT_EQ(symlink("services/a.yml", (fetched_ / "current.yml").c_str()), 0);
  }
}

TEST_F(VolumeSwapTest, NoRecordMeansNoSwapStartedAndAnUnreadableRecordIsAnError) {
  auto none = VolumeSwap::recover(live_, fetched_, safety_);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());

  VolumeSwap swap(live_, fetched_, safety_);
  ASSERT_TRUE(util::ensure_directories(swap.record().parent_path()));
  ASSERT_TRUE(util::write_file_atomic(swap.record(), "{\"old_entries\": [\"../escape\"], \"volume_folder\": \"x\", "
                                                     "\"mode\": 493, \"uid\": 0, \"gid\": 0, \"mtime_ns\": 0}"));
  auto bad = VolumeSwap::recover(live_, fetched_, safety_);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("holds a name that is not one"));
}

TEST_F(VolumeSwapTest, EntryAppearingBetweenThePhasesStopsTheSwapAndIsRemovedByUndo) {
  FailingMove move;
  move.after = [this](int call) {
    if (call == 3) write(live_ / "intruder.txt", "x\n"); // after the last old entry went out
  };
  VolumeSwap swap(live_, fetched_, safety_, move.function());
  auto moved = swap.swap();
  ASSERT_FALSE(moved);
  EXPECT_THAT(moved.error().message, HasSubstr("intruder.txt"));
  EXPECT_EQ(move.calls, 3); // nothing new moved into a folder that is not empty
  ASSERT_TRUE(swap.undo());
  expect_live_as_before();
}

TEST_F(VolumeSwapTest, UndoThatCannotMoveAnEntryBackSaysWhereTheOldEntriesAre) {
  FailingMove move{.fail_at = 7, .error = EIO, .calls = 0, .after = {}}; // 3 out, 3 in, then the first back
  VolumeSwap swap(live_, fetched_, safety_, move.function());
  ASSERT_TRUE(swap.swap());
  auto undone = swap.undo();
  ASSERT_FALSE(undone);
  EXPECT_EQ(undone.error().kind, ErrorKind::staging_io);
  EXPECT_THAT(undone.error().message, HasSubstr("old entries still in " + safety_.string()));
  // Everything else went back.
  EXPECT_EQ(tree(safety_).size(), 1U);
  EXPECT_THAT(*util::read_file(swap.journal()), HasSubstr("undo failed"));
}

TEST_F(VolumeSwapTest, AnEmptyVolumeInTheSnapshotEmptiesTheLiveFolder) {
  ASSERT_TRUE(util::remove_tree(fetched_));
  VolumeSwap swap(live_, fetched_, safety_);
  auto moved = swap.swap();
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, 0U);
  EXPECT_TRUE(tree(live_).empty());
  EXPECT_EQ(tree(safety_), live_before_);
}

TEST_F(VolumeSwapTest, MoveNeverReplacesAnExistingEntry) {
  write(dir_.path() / "a", "a\n");
  write(dir_.path() / "b", "b\n");
  EXPECT_EQ(move_entry_no_replace(dir_.path() / "a", dir_.path() / "b"), EEXIST);
  EXPECT_EQ(*util::read_file(dir_.path() / "b"), "b\n");
  EXPECT_EQ(move_entry_no_replace(dir_.path() / "a", dir_.path() / "c"), 0);
}

TEST_F(VolumeSwapTest, RenameIsChosenWithinOneMountAndCopyAcrossMounts) {
  std::string why;
  auto same = choose_volume_method(live_, fetched_, dir_.path() / "rollback-not-yet-made", &why);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(*same, VolumeMethod::rename) << why;

  // /dev/shm is a tmpfs of its own on Linux.
  auto other = util::TemporaryDirectory::create("/dev/shm", "cwb-volume-swap-test-");
  if (!other) GTEST_SKIP() << "no /dev/shm: " << other.error().message;
  auto across = choose_volume_method(live_, other->path() / "restore", dir_.path() / "rollback", &why);
  ASSERT_TRUE(across) << across.error().message;
  EXPECT_EQ(*across, VolumeMethod::copy);
  EXPECT_THAT(why, HasSubstr("restore-dir"));
  across = choose_volume_method(live_, fetched_, other->path() / "rollback", &why);
  ASSERT_TRUE(across);
  EXPECT_EQ(*across, VolumeMethod::copy);
  EXPECT_THAT(why, HasSubstr("rollback-dir"));
}

TEST_F(VolumeSwapTest, MissingVolumeFolderIsAnError) {
  auto method = choose_volume_method(dir_.path() / "nothing", fetched_, dir_.path());
  ASSERT_FALSE(method);
  EXPECT_EQ(method.error().kind, ErrorKind::staging_io);
}

} // namespace
} // namespace cwb::restore
