#include "archive/archive.hpp"
#include "util/file_system.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>

namespace cwb::archive {
namespace {

namespace fs = std::filesystem;

struct Member {
  std::string name;
  std::string content;
  EntryType type = EntryType::file;
  std::string link; // symlink or hard link target
};

// Writes a tar (gzip-compressed unless told otherwise) with libarchive.
enum class Compression { gzip, none };

void write_archive(const fs::path& path, const std::vector<Member>& members,
                   Compression compression = Compression::gzip) {
  std::unique_ptr<struct archive, decltype(&archive_write_free)> writer(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  if (compression == Compression::gzip) archive_write_add_filter_gzip(writer.get());
  ASSERT_EQ(archive_write_open_filename(writer.get(), path.c_str()), ARCHIVE_OK);
  for (const auto& member : members) {
    std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), member.name.c_str());
    archive_entry_set_perm(entry.get(), 0644);
    switch (member.type) {
    case EntryType::directory:
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
      break;
    case EntryType::symlink:
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), member.link.c_str());
      break;
    case EntryType::hardlink:
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_hardlink(entry.get(), member.link.c_str());
      break;
    default:
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(member.content.size()));
    }
    ASSERT_EQ(archive_write_header(writer.get(), entry.get()), ARCHIVE_OK);
    if (!member.content.empty()) {
      ASSERT_EQ(archive_write_data(writer.get(), member.content.data(), member.content.size()),
                static_cast<la_ssize_t>(member.content.size()));
    }
  }
  ASSERT_EQ(archive_write_close(writer.get()), ARCHIVE_OK);
}

// Content that gzip cannot squeeze to nothing, so cuts and flips land in compressed data.
std::string noise(std::size_t size) {
  std::string text(size, '\0');
  std::uint32_t state = 12345;
  for (auto& c : text) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  return text;
}

class Archives : public testing::Test {
protected:
  void SetUp() override {
    auto directory = util::TemporaryDirectory::create({}, "cwb-archive-test");
    ASSERT_TRUE(directory) << directory.error().message;
    dir_ = std::move(*directory);
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  std::vector<Member> good_members() const {
    return {{"db", "", EntryType::directory, ""},
            {"db/dump.sql", noise(200'000), EntryType::file, ""},
            {"db/empty.txt", "", EntryType::file, ""},
            {"db/link", "", EntryType::symlink, "dump.sql"}};
  }

  util::TemporaryDirectory dir_;
};

TEST_F(Archives, AGoodArchiveIsReadToTheEndAndDescribed) {
  write_archive(path("good.tar.gz"), good_members());
  auto info = validate_tar_gz(path("good.tar.gz"));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->entry_count, 4u);
  EXPECT_EQ(info->uncompressed_bytes, 200'000u);
  ASSERT_EQ(info->entries.size(), 4u);
  EXPECT_EQ(info->entries[1].name, "db/dump.sql");
  EXPECT_EQ(info->entries[1].size, 200'000u);
  EXPECT_EQ(info->entries[1].type, EntryType::file);
  EXPECT_EQ(info->entries[0].type, EntryType::directory);
  EXPECT_EQ(info->entries[3].type, EntryType::symlink);
}

TEST_F(Archives, AnEmptyArchiveIsInvalid) {
  write_archive(path("empty.tar.gz"), {});
  auto info = validate_tar_gz(path("empty.tar.gz"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
  EXPECT_NE(info.error().message.find("empty"), std::string::npos);
  EXPECT_NE(info.error().message.find(path("empty.tar.gz").string()), std::string::npos);
}

TEST_F(Archives, ATruncatedArchiveIsInvalid) {
  write_archive(path("good.tar.gz"), good_members());
  auto bytes = util::read_file(path("good.tar.gz"));
  ASSERT_TRUE(bytes);
  ASSERT_TRUE(util::write_file_atomic(path("cut.tar.gz"), std::string_view(*bytes).substr(0, bytes->size() / 2)));
  auto info = validate_tar_gz(path("cut.tar.gz"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
  EXPECT_NE(info.error().message.find("cut.tar.gz"), std::string::npos);
}

TEST_F(Archives, CuttingOnlyTheLastBytesIsNoticed) {
  write_archive(path("good.tar.gz"), good_members());
  auto bytes = util::read_file(path("good.tar.gz"));
  ASSERT_TRUE(bytes);
  // The gzip trailer (CRC32 + size) is the last 8 bytes: a reader that stops at the tar end misses this.
  ASSERT_TRUE(util::write_file_atomic(path("cut.tar.gz"), std::string_view(*bytes).substr(0, bytes->size() - 4)));
  auto info = validate_tar_gz(path("cut.tar.gz"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
}

TEST_F(Archives, AFlippedByteInTheMiddleIsInvalid) {
  write_archive(path("good.tar.gz"), good_members());
  auto bytes = util::read_file(path("good.tar.gz"));
  ASSERT_TRUE(bytes);
  std::string corrupt = *bytes;
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x5a);
  ASSERT_TRUE(util::write_file_atomic(path("flipped.tar.gz"), corrupt));
  auto info = validate_tar_gz(path("flipped.tar.gz"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
}

TEST_F(Archives, PlainTextAndAnUncompressedTarAreNotGzipTar) {
  ASSERT_TRUE(util::write_file_atomic(path("text.tar.gz"), "this is not an archive\n"));
  auto text = validate_tar_gz(path("text.tar.gz"));
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().kind, ErrorKind::export_invalid);

  write_archive(path("plain.tar"), good_members(), Compression::none);
  auto plain = validate_tar_gz(path("plain.tar"));
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("not gzip"), std::string::npos) << plain.error().message;
}

TEST_F(Archives, AMissingFileIsInvalidAndNamed) {
  auto info = validate_tar_gz(path("absent.tar.gz"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
  EXPECT_NE(info.error().message.find("absent.tar.gz"), std::string::npos);
}

TEST_F(Archives, ExtractsAGoodArchiveInsideTheTarget) {
  write_archive(path("good.tar.gz"), good_members());
  auto info = extract_safely(path("good.tar.gz"), path("out"));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->entry_count, 4u);
  auto dump = util::read_file(path("out/db/dump.sql"));
  ASSERT_TRUE(dump);
  EXPECT_EQ(*dump, noise(200'000));
  EXPECT_TRUE(fs::is_symlink(path("out/db/link")));
  EXPECT_EQ(fs::read_symlink(path("out/db/link")), "dump.sql");
  EXPECT_TRUE(fs::exists(path("out/db/empty.txt")));
}

struct EscapeCase {
  const char* label;
  std::vector<Member> members;
};

class EscapingArchive : public Archives, public testing::WithParamInterface<EscapeCase> {};

TEST_P(EscapingArchive, IsRefusedBeforeAnythingIsWritten) {
  write_archive(path("evil.tar.gz"), GetParam().members);
  auto info = extract_safely(path("evil.tar.gz"), path("out"));
  ASSERT_FALSE(info) << GetParam().label;
  EXPECT_EQ(info.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_NE(info.error().message.find("escape"), std::string::npos) << info.error().message;
  EXPECT_FALSE(fs::exists(path("out/first.txt")));
  EXPECT_FALSE(fs::exists(dir_.path() / "escaped.txt"));
  EXPECT_FALSE(fs::exists("/tmp/cwb-archive-escaped.txt"));
}

INSTANTIATE_TEST_SUITE_P(
    Entries, EscapingArchive,
    testing::Values(
        EscapeCase{
            "absolute",
            {{"first.txt", "x", EntryType::file, ""}, {"/tmp/cwb-archive-escaped.txt", "x", EntryType::file, ""}}},
        EscapeCase{"dotdot", {{"first.txt", "x", EntryType::file, ""}, {"../escaped.txt", "x", EntryType::file, ""}}},
        EscapeCase{"inner dotdot",
                   {{"first.txt", "x", EntryType::file, ""}, {"a/../../escaped.txt", "x", EntryType::file, ""}}},
        EscapeCase{"absolute symlink",
                   {{"first.txt", "x", EntryType::file, ""}, {"link", "", EntryType::symlink, "/etc"}}},
        EscapeCase{"relative symlink out",
                   {{"first.txt", "x", EntryType::file, ""}, {"d/link", "", EntryType::symlink, "../../.."}}},
        EscapeCase{"symlink then write through it",
                   {{"first.txt", "x", EntryType::file, ""},
                    {"link", "", EntryType::symlink, ".."},
                    {"link/escaped.txt", "x", EntryType::file, ""}}},
        EscapeCase{"hardlink out",
                   {{"first.txt", "x", EntryType::file, ""}, {"hard", "", EntryType::hardlink, "../escaped.txt"}}},
        EscapeCase{"absolute hardlink",
                   {{"first.txt", "x", EntryType::file, ""}, {"hard", "", EntryType::hardlink, "/etc/passwd"}}}));

TEST_F(Archives, ExtractionOfACorruptArchiveIsSnapshotInvalid) {
  ASSERT_TRUE(util::write_file_atomic(path("text.tar.gz"), "garbage"));
  auto info = extract_safely(path("text.tar.gz"), path("out"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::snapshot_invalid);
}

TEST_F(Archives, HardLinksInsideTheArchiveAreExtracted) {
  write_archive(path("links.tar.gz"),
                {{"a.txt", "same", EntryType::file, ""}, {"b.txt", "", EntryType::hardlink, "a.txt"}});
  auto info = extract_safely(path("links.tar.gz"), path("out"));
  ASSERT_TRUE(info) << info.error().message;
  struct stat a {
  }, b{};
  ASSERT_EQ(stat(path("out/a.txt").c_str(), &a), 0);
  ASSERT_EQ(stat(path("out/b.txt").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

} // namespace
} // namespace cwb::archive
