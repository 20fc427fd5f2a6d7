#include "archive/gzip_recipe.hpp"

#include "archive/archive.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <random>
#include <string>

namespace cwb::archive {
namespace {

namespace fs = std::filesystem;

/// A tar of a dump-like file: text that compresses, with enough of it (~600 KiB) for several deflate blocks.
std::string dump_text() {
  std::mt19937 random(42);
  std::string text;
  while (text.size() < 600 * 1024)
    text += "INSERT INTO users VALUES (" + std::to_string(random()) + ", 'user-" + std::to_string(random() % 977) +
            "', '" + std::string(random() % 40, 'x') + "');\n";
  return text;
}

class GzipRecipeTest : public testing::Test {
protected:
  void SetUp() override {
    auto created = util::TemporaryDirectory::create({}, "cwb-gzip-recipe-test-");
    ASSERT_TRUE(created) << created.error().message;
    dir_ = std::move(*created);
  }
  [[nodiscard]] fs::path path(const std::string& name) const { return dir_.path() / name; }

  /// The archive Connectware's export would be when written as the emulator writes it: libarchive's gzip
  /// filter (zlib underneath) over a pax tar; and the tar it inflates to.
  void write_with_libarchive(const fs::path& archive_path, const std::string& options = {}) {
    std::unique_ptr<struct archive, decltype([](struct archive* a) { archive_write_free(a); })> out(
        archive_write_new());
    ASSERT_EQ(archive_write_add_filter_gzip(out.get()), ARCHIVE_OK);
    ASSERT_EQ(archive_write_set_format_pax_restricted(out.get()), ARCHIVE_OK);
    if (!options.empty()) {
      ASSERT_EQ(archive_write_set_options(out.get(), options.c_str()), ARCHIVE_OK);
    }
    ASSERT_EQ(archive_write_open_filename(out.get(), archive_path.c_str()), ARCHIVE_OK);
    const auto text = dump_text();
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), "dump.sql");
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(text.size()));
    archive_entry_set_mtime(entry.get(), 1'700'000'000, 0);
    ASSERT_EQ(archive_write_header(out.get(), entry.get()), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(out.get(), text.data(), text.size()), static_cast<la_ssize_t>(text.size()));
    ASSERT_EQ(archive_write_close(out.get()), ARCHIVE_OK);
  }

  /// The tar inside `archive_path`, as the backup stores it (unpacked by validate_tar_gz).
  fs::path unpack(const fs::path& archive_path) {
    const auto tar = fs::path(archive_path.string() + ".tar");
    ValidateOptions options;
    options.unpack_to = tar;
    auto info = validate_tar_gz(archive_path, options);
    EXPECT_TRUE(info) << info.error().message;
    return tar;
  }

  /// `tar` gzipped by zlib's own gzip wrapper (as Node.js and Python write), with a file name in the header.
  void write_with_zlib(const fs::path& tar, const fs::path& target, int level, int mem_level) {
    const auto data = util::read_file(tar).value();
    z_stream stream{};
    ASSERT_EQ(deflateInit2(&stream, level, Z_DEFLATED, 16 + MAX_WBITS, mem_level, Z_DEFAULT_STRATEGY), Z_OK);
    gz_header header{};
    std::string name = "connectware-db.tar";
    header.name = reinterpret_cast<Bytef*>(name.data());
    header.time = 1'700'000'123;
    header.os = 3;
    ASSERT_EQ(deflateSetHeader(&stream, &header), Z_OK);
    std::string out(deflateBound(&stream, data.size()) + 64, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    ASSERT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    ASSERT_TRUE(util::write_file_atomic(target, out));
  }

  void expect_rebuilt_identically(const fs::path& archive_path, const fs::path& tar, const GzipRecipe& recipe) {
    const auto rebuilt = fs::path(archive_path.string() + ".rebuilt");
    ASSERT_TRUE(gzip_with_recipe(tar, rebuilt, recipe));
    EXPECT_EQ(util::sha256_file(rebuilt).value(), util::sha256_file(archive_path).value());
  }

  util::TemporaryDirectory dir_;
};

TEST_F(GzipRecipeTest, TheEmulatorsArchiveIsReproducedByteForByte) {
  write_with_libarchive(path("export.tgz"));
  const auto tar = unpack(path("export.tgz"));
  auto recipe = find_gzip_recipe(path("export.tgz"), tar);
  ASSERT_TRUE(recipe) << recipe.error().message;
  ASSERT_TRUE(recipe->has_value());
  EXPECT_EQ((*recipe)->level, 6);
  EXPECT_EQ((*recipe)->mem_level, 8);
  EXPECT_EQ((*recipe)->header.size(), 10U);
  expect_rebuilt_identically(path("export.tgz"), tar, **recipe);
}

TEST_F(GzipRecipeTest, OtherLevelsMemLevelsAndAHeaderWithAFileNameAreFound) {
  write_with_libarchive(path("fast.tgz"), "gzip:compression-level=1");
  const auto fast_tar = unpack(path("fast.tgz"));
  auto fast = find_gzip_recipe(path("fast.tgz"), fast_tar);
  ASSERT_TRUE(fast && fast->has_value());
  EXPECT_EQ((*fast)->level, 1);

  for (const auto& [level, mem_level] : {std::pair{9, 9}, std::pair{3, 8}}) {
    SCOPED_TRACE("level " + std::to_string(level) + ", memLevel " + std::to_string(mem_level));
    const auto archive_path = path("zlib-" + std::to_string(level) + ".tgz");
    write_with_zlib(fast_tar, archive_path, level, mem_level);
    auto recipe = find_gzip_recipe(archive_path, fast_tar);
    ASSERT_TRUE(recipe) << recipe.error().message;
    ASSERT_TRUE(recipe->has_value());
    EXPECT_EQ((*recipe)->level, level);
    EXPECT_EQ((*recipe)->mem_level, mem_level);
    EXPECT_NE((*recipe)->header.find("connectware-db.tar"), std::string::npos); // FNAME kept as it was
    expect_rebuilt_identically(archive_path, fast_tar, **recipe);
  }
}

TEST_F(GzipRecipeTest, WhatNoCandidateReproducesHasNoRecipe) {
  write_with_libarchive(path("export.tgz"));
  const auto tar = unpack(path("export.tgz"));
  const auto whole = util::read_file(path("export.tgz")).value();

  // Stored blocks (level 0): deflate, but no zlib level 1 to 9 writes it.
  write_with_zlib(tar, path("stored.tgz"), 0, 8);
  // Bytes after the member, and a second member: not one zlib stream of this tar.
  ASSERT_TRUE(util::write_file_atomic(path("trailing.tgz"), whole + "x"));
  // Another tar than the one inflated from it.
  ASSERT_TRUE(util::write_file_atomic(path("other.tar"), util::read_file(tar).value() + std::string(512, '\0')));
  for (const auto& [archive_path, tar_path] : {std::pair{path("stored.tgz"), tar}, std::pair{path("trailing.tgz"), tar},
                                               std::pair{path("export.tgz"), path("other.tar")}}) {
    SCOPED_TRACE(archive_path.filename().string() + " / " + tar_path.filename().string());
    auto recipe = find_gzip_recipe(archive_path, tar_path);
    ASSERT_TRUE(recipe) << recipe.error().message;
    EXPECT_FALSE(recipe->has_value());
  }
  ASSERT_TRUE(util::write_file_atomic(path("not-gzip.tgz"), "plain text, no gzip header"));
  auto not_gzip = find_gzip_recipe(path("not-gzip.tgz"), tar);
  ASSERT_TRUE(not_gzip);
  EXPECT_FALSE(not_gzip->has_value());
  auto missing = find_gzip_recipe(path("absent.tgz"), tar);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::staging_io);
}

} // namespace
} // namespace cwb::archive
