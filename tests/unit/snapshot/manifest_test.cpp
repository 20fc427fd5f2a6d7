#include "snapshot/manifest.hpp"

#include "util/file_system.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace cwb::snapshot {
namespace {

Manifest sample() {
  Manifest manifest;
  manifest.plugin_version = "0.1.0";
  manifest.connectware_url = "https://connectware.local";
  manifest.connectware_version = "1.10.2";
  manifest.host = "edge-1";
  manifest.started = "2026-11-25T15:00:00.000Z";
  manifest.finished = "2026-11-25T15:00:05.000Z";
  manifest.quiesce = {"optimistic", "paused_retry", 1.5, 2, {"abc123"}};
  DatabaseRecord database;
  database.file = "db/connectware-db.tgz";
  database.backup_id = "1.10.2_2026-11-25T15:00:01.000Z";
  database.bytes = 1234;
  database.sha256 = "ff00";
  manifest.database = database;
  VolumeRecord volume{"service-manager", "connectware_service-manager", "volumes/service-manager", {}, {}};
  volume.entries.push_back({"services", EntryType::directory, 0, 0755, 0, 0, 10, "", "", 0, "", {}});
  volume.entries.push_back({"services/a.yml", EntryType::file, 42, 0644, 1000, 1000, 20, "abcd", "", 0, "", {}});
  volume.entries.push_back({"current", EntryType::symlink, 0, 0777, 0, 0, 30, "", "services/a.yml", 0, "", {}});
  manifest.volumes.push_back(volume);
  manifest.tags = {"connectware", "connectware-1.10.2"};
  return manifest;
}

TEST(Manifest, RoundTripsThroughJson) {
  const auto original = sample();
  auto parsed = parse_manifest(to_json_text(original));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->connectware_version, "1.10.2");
  ASSERT_TRUE(parsed->database);
  EXPECT_EQ(parsed->database->sha256, "ff00");
  EXPECT_EQ(parsed->database->bytes, 1234u);
  ASSERT_EQ(parsed->volumes.size(), 1u);
  const auto& entries = parsed->volumes[0].entries;
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].sha256, "abcd");
  EXPECT_EQ(entries[1].uid, 1000u);
  EXPECT_EQ(entries[1].mtime_ns, 20);
  EXPECT_EQ(entries[2].type, EntryType::symlink);
  EXPECT_EQ(entries[2].link_target, "services/a.yml");
  EXPECT_EQ(parsed->quiesce.mode, "optimistic");
  EXPECT_EQ(parsed->quiesce.outcome, "paused_retry");
  EXPECT_EQ(parsed->quiesce.window_seconds, 1.5);
  EXPECT_EQ(parsed->quiesce.attempts, 2);
  EXPECT_EQ(parsed->quiesce.paused_containers, std::vector<std::string>{"abc123"});
  EXPECT_EQ(parsed->tags, original.tags);
}

TEST(Manifest, AQuiesceOutcomeThatIsMissingOrNullReadsAsNotRecorded) {
  // Manifests from before optimistic quiesce have no outcome; a null one is not an error either.
  for (const char* quiesce : {R"({"mode":"pause","window_seconds":1.0,"attempts":1})",
                              R"({"mode":"pause","outcome":null,"window_seconds":1.0,"attempts":1})"}) {
    auto document = nlohmann::json::parse(to_json_text(sample()));
    document["quiesce"] = nlohmann::json::parse(quiesce);
    auto parsed = parse_manifest(document.dump());
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->quiesce.mode, "pause");
    EXPECT_EQ(parsed->quiesce.outcome, "");
  }
}

TEST(Manifest, AFullSnapshotKeepsItsScopeVolumeLabelsStopOrderAndDowntimeAndNeedsFormat4) {
  auto original = sample();
  EXPECT_EQ(parse_manifest(to_json_text(original))->scope, scope_configuration);
  original.scope = scope_full;
  original.volumes[0].labels = {{"com.docker.compose.project", "connectware"},
                                {"com.docker.compose.volume", "service-manager"}};
  original.installation.stopped_containers = {"connectware-connectware-1", "connectware-postgresql-1"};
  original.installation.downtime_seconds = 4.25;
  const auto text = to_json_text(original);
  auto parsed = parse_manifest(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->format, manifest_format_full_scope);
  EXPECT_EQ(parsed->scope, scope_full);
  EXPECT_EQ(parsed->volumes[0].labels, original.volumes[0].labels);
  EXPECT_EQ(parsed->installation.stopped_containers, original.installation.stopped_containers);
  EXPECT_DOUBLE_EQ(parsed->installation.downtime_seconds, 4.25);

  // A plugin that knows format 3 must refuse it (it would restore it as a configuration backup); and a
  // full manifest claiming an older format is not one this plugin wrote.
  auto downgraded = nlohmann::json::parse(text);
  downgraded["format"] = 3;
  auto refused = parse_manifest(downgraded.dump());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::snapshot_invalid);
  downgraded["format"] = 4;
  downgraded["scope"] = "everything";
  EXPECT_FALSE(parse_manifest(downgraded.dump()));
}

TEST(Manifest, AConnectwareUrlWithAPasswordIsWrittenMasked) {
  auto manifest = sample();
  manifest.connectware_url = "https://admin:cw-pass@connectware.local";
  const auto text = to_json_text(manifest);
  EXPECT_EQ(text.find("cw-pass"), std::string::npos) << text;
  EXPECT_NE(text.find("https://admin:***@connectware.local"), std::string::npos) << text;
}

TEST(Manifest, RejectsAnEntryThatEscapesItsVolume) {
  auto manifest = sample();
  manifest.volumes[0].entries[1].path = "../../etc/passwd";
  auto parsed = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_NE(parsed.error().message.find("../../etc/passwd"), std::string::npos);
}

TEST(Manifest, RejectsAnAbsoluteDatabasePath) {
  auto manifest = sample();
  manifest.database->file = "/etc/shadow";
  auto parsed = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().kind, ErrorKind::snapshot_invalid);
}

TEST(Manifest, AnOlderManifestsDatabaseIsTheArchiveAsDownloaded) {
  auto text = to_json_text(sample());
  auto document = nlohmann::json::parse(text);
  for (const char* key : {"format", "entries_sha256", "archive_bytes", "archive_sha256"})
    document["database"].erase(key);
  auto parsed = parse_manifest(document.dump());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->database->format, database_format_archive);
}

TEST(Manifest, AnUnpackedDatabaseRoundTripsWithItsDigestAndNeedsOne) {
  auto manifest = sample();
  manifest.format = 2;
  manifest.database->file = "db/connectware-db.tar";
  manifest.database->format = database_format_tar;
  manifest.database->entries_sha256 = "e1";
  manifest.database->archive_bytes = 99;
  manifest.database->archive_sha256 = "a1";
  auto parsed = parse_manifest(to_json_text(manifest));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->format, 2);
  EXPECT_EQ(parsed->database->format, database_format_tar);
  EXPECT_EQ(parsed->database->entries_sha256, "e1");
  EXPECT_EQ(parsed->database->archive_bytes, 99u);
  EXPECT_EQ(parsed->database->archive_sha256, "a1");
  EXPECT_TRUE(parsed->database->gzip_header.empty()); // no recipe: none written, none read

  // The gzip recipe: its header is bytes (FNAME may hold anything), carried as base64.
  manifest.database->gzip_header = std::string("\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03n\xe9\x00", 13);
  manifest.database->gzip_level = 9;
  manifest.database->gzip_mem_level = 8;
  auto with_recipe = parse_manifest(to_json_text(manifest));
  ASSERT_TRUE(with_recipe) << with_recipe.error().message;
  EXPECT_EQ(with_recipe->database->gzip_header, manifest.database->gzip_header);
  EXPECT_EQ(with_recipe->database->gzip_level, 9);
  EXPECT_EQ(with_recipe->database->gzip_mem_level, 8);
  manifest.database->gzip_level = 12;
  auto bad_recipe = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(bad_recipe);
  EXPECT_EQ(bad_recipe.error().kind, ErrorKind::snapshot_invalid);
  manifest.database->gzip_header.clear();

  manifest.database->entries_sha256.clear();
  auto without_digest = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(without_digest);
  EXPECT_EQ(without_digest.error().kind, ErrorKind::snapshot_invalid);
  manifest.database->format = "zip";
  auto unknown = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown database format"), std::string::npos);
}

TEST(Manifest, RejectsANewerFormat) {
  auto manifest = sample();
  manifest.format = manifest_format_version + 1;
  auto parsed = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("newer"), std::string::npos);
}

TEST(Manifest, MalformedJsonIsAnErrorNotAnException) {
  auto parsed = parse_manifest("{\"format\": 1, ");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().kind, ErrorKind::snapshot_invalid);
}

// The file is written piece by piece and read as a stream (memory flat in the number of entries): it is
// the same text, each entry on a line of its own, and reads back as parse_manifest reads the text.
TEST(Manifest, TheFileIsWrittenAndReadEntryByEntry) {
  auto manifest = sample();
  VolumeRecord second{"extra", "extra-volume", "volumes/extra", {}, {{"com.docker.compose.volume", "extra"}}};
  second.entries.push_back({"only.txt", EntryType::file, 3, 0600, 0, 0, 40, "beef", "", 0, "", {}});
  manifest.volumes.push_back(second);
  manifest.volumes.push_back({"empty", "empty-volume", "volumes/empty", {}, {}});
  auto dir = util::TemporaryDirectory::create({}, "cwb-manifest-test");
  ASSERT_TRUE(dir) << dir.error().message;
  const auto path = dir->path() / "manifest.json";
  ASSERT_TRUE(write_manifest_file(manifest, path));
  auto text = util::read_file(path);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, to_json_text(manifest));
  EXPECT_TRUE(nlohmann::json::accept(*text));
  std::size_t entry_lines = 0;
  for (std::size_t at = text->find("\n      {\"gid\""); at != std::string::npos;
       at = text->find("\n      {\"gid\"", at + 1))
    ++entry_lines;
  EXPECT_EQ(entry_lines, 4u);

  auto read = read_manifest_file(path);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->volumes.size(), 3u);
  ASSERT_EQ(read->volumes[0].entries.size(), 3u);
  EXPECT_EQ(read->volumes[0].entries[2].link_target, "services/a.yml");
  ASSERT_EQ(read->volumes[1].entries.size(), 1u);
  EXPECT_EQ(read->volumes[1].entries[0].path, "only.txt");
  EXPECT_EQ(read->volumes[1].labels.at("com.docker.compose.volume"), "extra");
  EXPECT_TRUE(read->volumes[2].entries.empty());
  EXPECT_EQ(read->tags, manifest.tags);

  auto missing = read_manifest_file(dir->path() / "absent.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::staging_io);
}

// The pre-backup hook spools a volume's entries to a file as the mirror makes them: the manifest written
// from the spool is the one written from memory, and a spool that lost lines is an error, never a manifest
// with entries missing.
TEST(Manifest, SpooledEntriesAreWrittenAsEntriesInMemoryAreAndASpoolCutShortIsAnError) {
  const auto in_memory = sample();
  auto dir = util::TemporaryDirectory::create({}, "cwb-manifest-test");
  ASSERT_TRUE(dir) << dir.error().message;
  auto spool = EntrySpool::create(dir->path() / "entries.jsonl");
  ASSERT_TRUE(spool) << spool.error().message;
  for (const auto& entry : in_memory.volumes[0].entries)
    ASSERT_TRUE(spool->append(entry));
  auto spooled = spool->finish();
  ASSERT_TRUE(spooled) << spooled.error().message;
  EXPECT_EQ(spooled->count, 3u);
  EXPECT_EQ(spooled->files, 1u);
  EXPECT_FALSE(spooled->needs_format_3);
  auto from_spool = in_memory;
  from_spool.volumes[0].entries.clear();
  from_spool.volumes[0].spooled = *spooled;
  const auto path = dir->path() / "manifest.json";
  ASSERT_TRUE(write_manifest_file(from_spool, path));
  EXPECT_EQ(*util::read_file(path), to_json_text(in_memory));

  auto text = util::read_file(spooled->file);
  ASSERT_TRUE(text);
  ASSERT_TRUE(util::write_file_atomic(spooled->file, text->substr(0, text->find('\n') + 1)));
  auto cut = write_manifest_file(from_spool, path);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().kind, ErrorKind::staging_io);
  EXPECT_EQ(*util::read_file(path), to_json_text(in_memory)); // the manifest written before is left as it was
}

TEST(Manifest, EntriesThatAreNullAreNoneAndEntriesThatAreNotObjectsAreRefused) {
  auto document = nlohmann::json::parse(to_json_text(sample()));
  document["volumes"][0]["entries"] = nullptr;
  auto none = parse_manifest(document.dump());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->volumes.at(0).entries.empty());

  document["volumes"][0]["entries"] = {{{"path", "a"}, {"type", "dir"}}, 42};
  auto scalar = parse_manifest(document.dump());
  ASSERT_FALSE(scalar);
  EXPECT_EQ(scalar.error().kind, ErrorKind::snapshot_invalid);
  EXPECT_NE(scalar.error().message.find("not an object"), std::string::npos) << scalar.error().message;

  document["volumes"][0]["entries"] = nlohmann::json::array({nlohmann::json::array({1, 2})});
  auto nested = parse_manifest(document.dump());
  ASSERT_FALSE(nested);
  EXPECT_NE(nested.error().message.find("not an object"), std::string::npos) << nested.error().message;

  document["volumes"][0]["entries"] = {{"a", {{"path", "a"}, {"type", "dir"}}}};
  auto keyed = parse_manifest(document.dump());
  ASSERT_FALSE(keyed);
  EXPECT_EQ(keyed.error().kind, ErrorKind::snapshot_invalid);

  document["volumes"][0].erase("entries");
  EXPECT_FALSE(parse_manifest(document.dump()));

  document["volumes"] = nullptr;
  auto no_volumes = parse_manifest(document.dump());
  ASSERT_TRUE(no_volumes) << no_volumes.error().message;
  EXPECT_TRUE(no_volumes->volumes.empty());
  document["volumes"] = "service-manager";
  EXPECT_FALSE(parse_manifest(document.dump()));
}

TEST(Manifest, AHardLinkMustNameAnEarlierFile) {
  auto manifest = sample();
  auto& entries = manifest.volumes[0].entries;
  entries.push_back({"services/b.yml", EntryType::file, 42, 0644, 1000, 1000, 20, "abcd", "", 0, "services/a.yml", {}});
  EXPECT_TRUE(parse_manifest(to_json_text(manifest)));
  entries.back().hard_link_to = "services";
  EXPECT_FALSE(parse_manifest(to_json_text(manifest))); // a folder
  entries.back().hard_link_to = "services/z.yml";
  entries.push_back({"services/z.yml", EntryType::file, 42, 0644, 1000, 1000, 20, "abcd", "", 0, "", {}});
  auto later = parse_manifest(to_json_text(manifest));
  ASSERT_FALSE(later);
  EXPECT_NE(later.error().message.find("not an earlier file"), std::string::npos) << later.error().message;
}

TEST(Manifest, ANewerFormatIsNamedEvenWhenItsEntriesAreUnreadable) {
  auto document = nlohmann::json::parse(to_json_text(sample()));
  document["format"] = manifest_format_version + 1;
  document["volumes"][0]["entries"][0]["type"] = "something-new";
  auto parsed = parse_manifest(document.dump());
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("newer"), std::string::npos) << parsed.error().message;
}

TEST(Manifest, UnknownFieldsAreIgnored) {
  auto text = to_json_text(sample());
  text.insert(1, "\"added_by_a_newer_plugin\": {\"x\": 1},");
  EXPECT_TRUE(parse_manifest(text));
}

TEST(SafeRelativePath, AcceptsNestedAndRejectsTraversal) {
  EXPECT_TRUE(is_safe_relative_path("a/b/c.yml"));
  EXPECT_TRUE(is_safe_relative_path("..hidden"));
  EXPECT_FALSE(is_safe_relative_path(""));
  EXPECT_FALSE(is_safe_relative_path("/abs"));
  EXPECT_FALSE(is_safe_relative_path("a/../b"));
  EXPECT_FALSE(is_safe_relative_path("a//b"));
  EXPECT_FALSE(is_safe_relative_path("./a"));
  EXPECT_FALSE(is_safe_relative_path(".."));
}

TEST(Iso8601, FormatsMillisecondsAndZ) {
  const auto time = std::chrono::sys_days{std::chrono::year{2022} / 2 / 16} + std::chrono::hours{15} +
                    std::chrono::minutes{37} + std::chrono::seconds{19} + std::chrono::milliseconds{242};
  EXPECT_EQ(iso8601_utc(time), "2022-02-16T15:37:19.242Z");
}

TEST(Rfc3339, ParsesResticTimesWithNanosecondsAndOffsets) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(parse_rfc3339_ms("2022-02-16T15:37:19.242Z"), 1645025839242);
  EXPECT_EQ(parse_rfc3339_ms("2022-02-16T16:37:19.242999999+01:00"), 1645025839242);
  EXPECT_EQ(parse_rfc3339_ms("2022-02-16T10:37:19.2-05:00"), 1645025839200);
}

TEST(Rfc3339, RejectsTextThatIsNotATime) {
  EXPECT_FALSE(parse_rfc3339_ms("yesterday"));
  EXPECT_FALSE(parse_rfc3339_ms("2022-02-16T15:37:19"));
  EXPECT_FALSE(parse_rfc3339_ms("2022-13-45T15:37:19Z"));
}

TEST(Rfc3339, ReadsBackWhatIso8601UtcWrites) {
  const auto now = std::chrono::system_clock::now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  EXPECT_EQ(parse_rfc3339_ms(iso8601_utc(now)), millis);
}

} // namespace
} // namespace cwb::snapshot
