#include "archive/archive.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
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

// Called for every entry before its header is written, to change its metadata.
using EntryTweak = std::function<void(struct archive_entry*, std::size_t index)>;

void write_archive(const fs::path& path, const std::vector<Member>& members,
                   Compression compression = Compression::gzip, const EntryTweak& tweak = {}) {
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
    if (tweak) tweak(entry.get(), static_cast<std::size_t>(&member - members.data()));
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

// The bytes of a gzip file inflated by libarchive's own gzip reader (zlib as well, but not our code).
std::string gunzip(const fs::path& path) {
  std::unique_ptr<struct archive, decltype(&archive_read_free)> reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_format_raw(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), 65536) != ARCHIVE_OK) return "<cannot open>";
  struct archive_entry* entry = nullptr;
  if (archive_read_next_header(reader.get(), &entry) != ARCHIVE_OK) return "<no data>";
  std::string out;
  std::vector<char> buffer(65536);
  for (;;) {
    const la_ssize_t count = archive_read_data(reader.get(), buffer.data(), buffer.size());
    if (count < 0) return "<read error>";
    if (count == 0) break;
    out.append(buffer.data(), static_cast<std::size_t>(count));
  }
  return out;
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

TEST_F(Archives, UnpackToWritesExactlyTheInflatedTar) {
  write_archive(path("good.tar.gz"), good_members());
  ValidateOptions options;
  options.unpack_to = path("good.tar");
  auto info = validate_tar_gz(path("good.tar.gz"), options);
  ASSERT_TRUE(info) << info.error().message;
  auto unpacked = util::read_file(path("good.tar"));
  ASSERT_TRUE(unpacked);
  EXPECT_EQ(*unpacked, gunzip(path("good.tar.gz")));
  EXPECT_GT(unpacked->size(), 200'000u);
  EXPECT_EQ(fs::status(path("good.tar")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // The hash and size of what was written, taken as it was written.
  EXPECT_EQ(info->unpacked_sha256, util::sha256_hex(*unpacked));
  EXPECT_EQ(info->unpacked_bytes, unpacked->size());
  EXPECT_TRUE(validate_tar_gz(path("good.tar.gz"))->unpacked_sha256.empty()); // nothing unpacked, no hash

  // The tar written on its own holds the same bytes.
  write_archive(path("plain.tar"), good_members(), Compression::none);
  auto plain = util::read_file(path("plain.tar"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(*unpacked, *plain);
}

TEST_F(Archives, TheFileHashIsTheSha256OfTheFileBytes) {
  write_archive(path("good.tar.gz"), good_members());
  write_archive(path("good.tar"), good_members(), Compression::none);
  auto gz = validate_tar_gz(path("good.tar.gz"));
  auto tar = read_tar(path("good.tar"), ErrorKind::snapshot_invalid);
  ASSERT_TRUE(gz) << gz.error().message;
  ASSERT_TRUE(tar) << tar.error().message;
  EXPECT_EQ(gz->sha256, *util::sha256_file(path("good.tar.gz")));
  EXPECT_EQ(tar->sha256, *util::sha256_file(path("good.tar")));
  EXPECT_EQ(gz->sha256.size(), 64u);
  EXPECT_NE(gz->sha256, tar->sha256);
}

TEST_F(Archives, EntriesHashIsTheSameForATarAndAnyGzipOfIt) {
  write_archive(path("good.tar.gz"), good_members());
  write_archive(path("good.tar"), good_members(), Compression::none);
  auto original = validate_tar_gz(path("good.tar.gz"));
  ASSERT_TRUE(original) << original.error().message;
  EXPECT_EQ(original->entries_sha256.size(), 64u);

  auto tar = read_tar(path("good.tar"), ErrorKind::export_invalid);
  ASSERT_TRUE(tar) << tar.error().message;
  EXPECT_EQ(tar->entries_sha256, original->entries_sha256);
  EXPECT_EQ(tar->entry_count, 4u);
  EXPECT_EQ(tar->uncompressed_bytes, 200'000u);
  ASSERT_EQ(tar->entries.size(), 4u);
  EXPECT_EQ(tar->entries[1].name, "db/dump.sql");
  EXPECT_EQ(tar->entries[3].type, EntryType::symlink);

  for (const int level : {1, 6}) {
    const auto rezipped = path("level" + std::to_string(level) + ".tar.gz");
    ASSERT_TRUE(gzip_file(path("good.tar"), rezipped, level));
    EXPECT_EQ(fs::status(rezipped).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(gunzip(rezipped), *util::read_file(path("good.tar")));
    auto info = validate_tar_gz(rezipped);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->entries_sha256, original->entries_sha256) << "level " << level;
    EXPECT_NE(info->sha256, original->sha256) << "level " << level;
  }
}

TEST_F(Archives, EntriesHashChangesWithAnyByteOfDataOrMetadata) {
  auto members = good_members();
  write_archive(path("base.tar.gz"), members);
  auto base = validate_tar_gz(path("base.tar.gz"));
  ASSERT_TRUE(base) << base.error().message;

  auto changed = members;
  changed[1].content[123'456] = static_cast<char>(changed[1].content[123'456] ^ 1);
  write_archive(path("data.tar.gz"), changed);
  auto data = validate_tar_gz(path("data.tar.gz"));
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_NE(data->entries_sha256, base->entries_sha256);

  write_archive(path("mode.tar.gz"), members, Compression::gzip, [](struct archive_entry* entry, std::size_t index) {
    if (index == 1) archive_entry_set_perm(entry, 0600);
  });
  auto mode = validate_tar_gz(path("mode.tar.gz"));
  ASSERT_TRUE(mode) << mode.error().message;
  EXPECT_NE(mode->entries_sha256, base->entries_sha256);

  write_archive(path("mtime.tar.gz"), members, Compression::gzip, [](struct archive_entry* entry, std::size_t index) {
    if (index == 2) archive_entry_set_mtime(entry, 1'700'000'000, 0);
  });
  auto mtime = validate_tar_gz(path("mtime.tar.gz"));
  ASSERT_TRUE(mtime) << mtime.error().message;
  EXPECT_NE(mtime->entries_sha256, base->entries_sha256);

  // The same archive written again hashes the same.
  write_archive(path("again.tar.gz"), members);
  auto again = validate_tar_gz(path("again.tar.gz"));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->entries_sha256, base->entries_sha256);
}

TEST_F(Archives, SeveralConcatenatedGzipMembersAreOneArchive) {
  write_archive(path("good.tar"), good_members(), Compression::none);
  auto tar = util::read_file(path("good.tar"));
  ASSERT_TRUE(tar);
  const std::size_t half = tar->size() / 2 + 77;
  ASSERT_TRUE(util::write_file_atomic(path("first"), std::string_view(*tar).substr(0, half)));
  ASSERT_TRUE(util::write_file_atomic(path("second"), std::string_view(*tar).substr(half)));
  ASSERT_TRUE(gzip_file(path("first"), path("first.gz"), 6));
  ASSERT_TRUE(gzip_file(path("second"), path("second.gz"), 1));
  ASSERT_TRUE(util::write_file_atomic(path("multi.tar.gz"),
                                      *util::read_file(path("first.gz")) + *util::read_file(path("second.gz"))));

  ValidateOptions options;
  options.unpack_to = path("multi.tar");
  auto info = validate_tar_gz(path("multi.tar.gz"), options);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->entry_count, 4u);
  EXPECT_EQ(*util::read_file(path("multi.tar")), *tar);
  auto plain = read_tar(path("good.tar"), ErrorKind::export_invalid);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(info->entries_sha256, plain->entries_sha256);

  // Garbage after the last member is not another member.
  ASSERT_TRUE(util::write_file_atomic(path("trailing.tar.gz"), *util::read_file(path("multi.tar.gz")) + "junk"));
  auto trailing = validate_tar_gz(path("trailing.tar.gz"));
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().kind, ErrorKind::export_invalid);
}

TEST_F(Archives, ACorruptByteInTheDeflateDataFailsAndLeavesNoUnpackedFile) {
  write_archive(path("good.tar"), good_members(), Compression::none);
  ASSERT_TRUE(gzip_file(path("good.tar"), path("good.tar.gz"), 6));
  auto bytes = util::read_file(path("good.tar.gz"));
  ASSERT_TRUE(bytes);
  for (const std::size_t at : {std::size_t{40}, bytes->size() / 3, bytes->size() - 20}) {
    std::string corrupt = *bytes;
    corrupt[at] = static_cast<char>(corrupt[at] ^ 0x10);
    ASSERT_TRUE(util::write_file_atomic(path("corrupt.tar.gz"), corrupt));
    ValidateOptions options;
    options.unpack_to = path("corrupt.tar");
    auto info = validate_tar_gz(path("corrupt.tar.gz"), options);
    ASSERT_FALSE(info) << "byte " << at;
    EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
    EXPECT_NE(info.error().message.find("corrupt.tar.gz"), std::string::npos) << info.error().message;
    EXPECT_FALSE(fs::exists(path("corrupt.tar"))) << "byte " << at;
  }
}

TEST_F(Archives, ATruncatedArchiveLeavesNoUnpackedFile) {
  write_archive(path("good.tar.gz"), good_members());
  auto bytes = util::read_file(path("good.tar.gz"));
  ASSERT_TRUE(bytes);
  for (const std::size_t keep : {std::size_t{1}, std::size_t{5}, bytes->size() / 2, bytes->size() - 1}) {
    ASSERT_TRUE(util::write_file_atomic(path("cut.tar.gz"), std::string_view(*bytes).substr(0, keep)));
    ValidateOptions options;
    options.unpack_to = path("cut.tar");
    auto info = validate_tar_gz(path("cut.tar.gz"), options);
    ASSERT_FALSE(info) << keep;
    EXPECT_EQ(info.error().kind, ErrorKind::export_invalid);
    EXPECT_FALSE(fs::exists(path("cut.tar"))) << keep;
  }
  // Not gzip at all: nothing is left either.
  write_archive(path("plain.tar"), good_members(), Compression::none);
  ValidateOptions options;
  options.unpack_to = path("plain.unpacked");
  auto plain = validate_tar_gz(path("plain.tar"), options);
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("not gzip-compressed"), std::string::npos) << plain.error().message;
  EXPECT_FALSE(fs::exists(path("plain.unpacked")));
}

TEST_F(Archives, AnUnwritableUnpackTargetIsAStagingError) {
  write_archive(path("good.tar.gz"), good_members());
  ValidateOptions options;
  options.unpack_to = path("missing-folder/good.tar");
  auto info = validate_tar_gz(path("good.tar.gz"), options);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::staging_io);
  EXPECT_NE(info.error().message.find("missing-folder"), std::string::npos) << info.error().message;
}

TEST_F(Archives, ReadTarReportsProblemsWithTheGivenKind) {
  write_archive(path("good.tar"), good_members(), Compression::none);
  auto bytes = util::read_file(path("good.tar"));
  ASSERT_TRUE(bytes);
  ASSERT_TRUE(util::write_file_atomic(path("cut.tar"), std::string_view(*bytes).substr(0, bytes->size() / 2 - 100)));
  auto cut = read_tar(path("cut.tar"), ErrorKind::snapshot_invalid);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_NE(cut.error().message.find("cut.tar"), std::string::npos) << cut.error().message;

  auto missing = read_tar(path("absent.tar"), ErrorKind::export_invalid);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::export_invalid);
  EXPECT_NE(missing.error().message.find("absent.tar"), std::string::npos);

  write_archive(path("empty.tar"), {}, Compression::none);
  auto empty = read_tar(path("empty.tar"), ErrorKind::snapshot_invalid);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);

  // A gzip is no tar.
  write_archive(path("good.tar.gz"), good_members());
  auto gz = read_tar(path("good.tar.gz"), ErrorKind::snapshot_invalid);
  ASSERT_FALSE(gz);
  EXPECT_EQ(gz.error().kind, ErrorKind::snapshot_invalid);
}

TEST_F(Archives, GzipFileFailsCleanlyOnAMissingSource) {
  auto result = gzip_file(path("absent.tar"), path("absent.tar.gz"), 1);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::staging_io);
  EXPECT_NE(result.error().message.find("absent.tar"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("absent.tar.gz")));

  ASSERT_TRUE(util::write_file_atomic(path("source"), "x"));
  auto unwritable = gzip_file(path("source"), path("missing-folder/source.gz"), 1);
  ASSERT_FALSE(unwritable);
  EXPECT_EQ(unwritable.error().kind, ErrorKind::staging_io);
}

TEST_F(Archives, GzipFileRoundTripsEmptyAndLargeFiles) {
  ASSERT_TRUE(util::write_file_atomic(path("empty"), ""));
  ASSERT_TRUE(gzip_file(path("empty"), path("empty.gz"), 6));
  auto empty = util::read_file(path("empty.gz"));
  ASSERT_TRUE(empty);
  ASSERT_GE(empty->size(), 18u); // header, an empty deflate block, CRC-32 and length
  EXPECT_EQ(empty->substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(empty->substr(empty->size() - 8), std::string(8, '\0')); // CRC-32 of nothing is 0, length 0
  const std::string large = noise(3'000'000) + std::string(2'000'000, 'a');
  ASSERT_TRUE(util::write_file_atomic(path("large"), large));
  ASSERT_TRUE(gzip_file(path("large"), path("large.gz"), 1));
  EXPECT_EQ(gunzip(path("large.gz")), large);
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
