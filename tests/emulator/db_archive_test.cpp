#include "db_archive.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace cwb::emulator {
namespace {

class DbArchive : public ::testing::Test {
protected:
  void SetUp() override { directory_ = util::TemporaryDirectory::create("", "db-archive-test-").value(); }
  std::filesystem::path path(const char* name) const { return directory_.path() / name; }
  util::TemporaryDirectory directory_;
};

TEST_F(DbArchive, RoundTripsMetadataAndDump) {
  const std::string dump(300'000, 'x');
  ASSERT_TRUE(util::write_file_atomic(path("dump.sql"), dump));
  const ArchiveMetadata metadata{"1.10.2", "1.10.2_2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.678Z"};
  ASSERT_TRUE(write_db_archive(path("a.tgz"), metadata, path("dump.sql")));
  const auto read = read_db_archive(path("a.tgz"), path("out.sql"));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->version, "1.10.2");
  EXPECT_EQ(read->id, metadata.id);
  EXPECT_EQ(util::read_file(path("out.sql")).value(), dump);
}

TEST_F(DbArchive, RejectsAFileThatIsNotAnArchive) {
  ASSERT_TRUE(util::write_file_atomic(path("a.tgz"), "this is not gzip"));
  const auto read = read_db_archive(path("a.tgz"), path("out.sql"));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, ErrorKind::export_invalid);
}

TEST_F(DbArchive, RejectsATruncatedArchive) {
  std::string dump;
  for (int i = 0; i < 20000; ++i)
    dump += "INSERT INTO t VALUES (" + std::to_string(i * 7919) + ");\n";
  ASSERT_TRUE(util::write_file_atomic(path("dump.sql"), dump));
  ASSERT_TRUE(write_db_archive(path("a.tgz"), ArchiveMetadata{"1.10.2", "id", "t"}, path("dump.sql")));
  const auto whole = util::read_file(path("a.tgz")).value();
  ASSERT_TRUE(util::write_file_atomic(path("cut.tgz"), whole.substr(0, whole.size() / 2)));
  const auto read = read_db_archive(path("cut.tgz"), path("out.sql"));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind, ErrorKind::export_invalid);
}

} // namespace
} // namespace cwb::emulator
