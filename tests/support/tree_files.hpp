#pragma once
// Files and tree listings for the restore tests: writing a file with its folders, and scanning a tree the
// way the restore compares volumes.

#include "staging/tree.hpp"
#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace cwb::test {

inline void write(const std::filesystem::path& path, const std::string& text, mode_t mode = 0644) {
  ASSERT_TRUE(util::ensure_directories(path.parent_path()));
  ASSERT_TRUE(util::write_file_atomic(path, text, mode));
}

inline std::vector<staging::TreeEntry> tree(const std::filesystem::path& root) {
  auto entries = staging::scan_tree(root);
  EXPECT_TRUE(entries) << entries.error().message;
  return entries ? *entries : std::vector<staging::TreeEntry>{};
}

} // namespace cwb::test
