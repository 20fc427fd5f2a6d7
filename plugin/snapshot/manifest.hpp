#pragma once
// manifest.json: what a backup holds and how to check it. Written by the pre-backup hook into the
// staging folder (so restic stores it with the data), read and enforced by the restore.

#include "core/error.hpp"
#include "util/file_system.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cwb::snapshot {

/// 2: the database may be stored unpacked (DatabaseRecord::format "tar"); a plugin that knows only 1 must
/// refuse such a snapshot instead of uploading a tar as if it were the archive.
/// 3: volume entries may be FIFOs and device nodes, hard links, carry extended attributes, and have paths
/// or link targets that are not UTF-8 (written as base64); a plugin that knows only 2 would drop them.
/// Every manifest is written with the lowest format that describes it (to_json_text).
/// 4: a full-installation snapshot (scope "full"): every volume of the project, the database in its own
/// volume; a plugin that knows only 3 would restore it as a configuration backup, while Connectware runs.
inline constexpr int manifest_format_version = 4;
inline constexpr int manifest_format_full_scope = 4;
inline constexpr const char* scope_configuration = "configuration";
inline constexpr const char* scope_full = "full";
/// The tag a full-installation snapshot carries besides the configured ones (--list shows it; the restore's
/// default pick with scope = full takes the latest snapshot with it).
inline constexpr const char* full_scope_tag = "scope-full";
inline constexpr int manifest_format_unpacked_database = 2;

enum class EntryType { file, directory, symlink, fifo, char_device, block_device };

struct ExtendedAttribute {
  std::string name;
  std::string value; // any bytes
  bool operator==(const ExtendedAttribute&) const = default;
};

struct VolumeEntry {
  std::string path; // relative to the volume root, '/'-separated, never absolute, never with ".."; any bytes
  EntryType type = EntryType::file;
  std::uint64_t size = 0;
  std::uint32_t mode = 0; // permission bits (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;              // regular files only
  std::string link_target;         // symlinks only: content, any bytes; the restore never follows it
  std::uint64_t device_number = 0; // device nodes only (st_rdev)
  /// Regular files only: a further name of a hard-link group, whose data is that of the entry at this
  /// path (the group's first path in byte order, listed before it).
  std::string hard_link_to;
  std::vector<ExtendedAttribute> xattrs; // sorted by name; POSIX ACLs as system.posix_acl_*
};

/// A volume's entries kept in a file instead of memory while the pre-backup hook stages it (EntrySpool):
/// write_manifest_file copies them into manifest.json. Never part of manifest.json itself.
struct SpooledEntries {
  std::filesystem::path file;  // one entry per line, as manifest.json has it
  std::uint64_t count = 0;     // lines in `file`
  std::uint64_t files = 0;     // of them regular files
  bool needs_format_3 = false; // an entry that takes manifest format 3 is among them
};

struct VolumeRecord {
  std::string name;        // e.g. "service-manager"
  std::string source;      // the volume name or path it was mirrored from
  std::string staged_path; // relative to the staging folder, e.g. "volumes/service-manager"
  /// Empty when they are spooled. A deque: 100,000 entries grow in blocks, never copied into a buffer twice
  /// the size as a vector's growth does (that copy was a hook's peak).
  std::deque<VolumeEntry> entries;
  /// The volume's labels on its platform (Compose's com.docker.compose.project and .volume among them), so
  /// that a full restore onto a new host creates it as Compose would; empty when there are none.
  std::map<std::string, std::string> labels;
  /// Only while the pre-backup hook writes the manifest: the entries are in this file, not in `entries`.
  std::optional<SpooledEntries> spooled = {};
};

/// Writes volume entries to a file one line each as they come, so that a volume of 100,000 files is never
/// in memory as VolumeEntry objects (~300 bytes each); finish() gives what write_manifest_file needs.
class EntrySpool {
public:
  /// Starts `file` afresh (it appears, complete, at finish()). Errors: staging_io.
  static Result<EntrySpool> create(const std::filesystem::path& file);
  /// Errors: staging_io (a full disk among them).
  Result<> append(const VolumeEntry& entry);
  /// Errors: staging_io.
  Result<SpooledEntries> finish();

private:
  explicit EntrySpool(util::AtomicFileWriter writer, std::filesystem::path file);
  util::AtomicFileWriter writer_;
  SpooledEntries spooled_;
};

inline constexpr const char* database_format_archive = "tar.gz";
inline constexpr const char* database_format_tar = "tar";

struct DatabaseRecord {
  std::string file; // relative to the staging folder
  std::string backup_id;
  std::uint64_t bytes = 0; // of `file`
  std::string sha256;      // of `file`
  /// "tar.gz": `file` is the archive as Connectware exported it. "tar": `file` is that archive gunzipped;
  /// the restore gzips it again and checks the result's entries against entries_sha256 before uploading.
  std::string format = database_format_archive;
  std::string entries_sha256;      // archive::ArchiveInfo::entries_sha256 of the archive as exported
  std::uint64_t archive_bytes = 0; // the archive as downloaded
  std::string archive_sha256;      // the archive as downloaded
  std::uint64_t entry_count = 0;   // tar entries in the archive; 0 in manifests older than this field
  /// Format "tar": how gzipping the tar again gives the downloaded archive byte for byte (archive::GzipRecipe,
  /// proven at backup time), so that the restore uploads the very bytes Connectware exported. An empty header:
  /// no recipe (a manifest from before it; the restore then gzips at level 1 and checks the entries).
  std::string gzip_header;
  int gzip_level = 0;
  int gzip_mem_level = 0;
};

struct QuiesceRecord {
  std::string mode;          // optimistic, pause, verify, none
  std::string outcome;       // optimistic: "unchanged" or "paused_retry" (backup/quiesce.hpp); else empty
  double window_seconds = 0; // how long the configuration writers were held (0 when nothing was)
  int attempts = 1;
  std::vector<std::string> paused_containers;
};

/// The installation the snapshot came from (installation::Description), for the restore and the operator.
struct InstallationRecord {
  std::string platform;                // "compose", "host"; empty in manifests older than this field
  std::string project;                 // the Compose project; empty on a plain host
  std::vector<std::string> volumes;    // each volume's source (Docker volume name or folder)
  std::vector<std::string> containers; // the installation's containers by name
  /// Scope full: the containers the backup stopped, in the order it stopped them (started in reverse).
  std::vector<std::string> stopped_containers;
  /// Scope full: from the first stop until Connectware answered healthy again.
  double downtime_seconds = 0;
};

struct Manifest {
  int format = 1; // at least: 2 when the database is stored unpacked; to_json_text raises it to 3 as needed
  std::string plugin_version;
  std::string connectware_url; // without credentials
  std::string connectware_version;
  std::string host;
  std::string started;                     // ISO 8601 UTC
  std::string finished;                    // ISO 8601 UTC
  std::string scope = scope_configuration; // "configuration" or "full" (config::Scope)
  QuiesceRecord quiesce;
  InstallationRecord installation;
  std::optional<DatabaseRecord> database;
  std::vector<VolumeRecord> volumes;
  std::vector<std::string> tags; // the tags restic should give the snapshot
};

/// Returns the manifest as pretty-printed JSON, its format the lowest that describes it (at least
/// `manifest.format`). Text that is not valid UTF-8 (paths, link targets, attribute names) is written as
/// base64 in a field named with "_base64"; attribute values always are. Spooled entries are read from their
/// file; throws std::runtime_error when it cannot be read (write_manifest_file returns that as an error).
std::string to_json_text(const Manifest& manifest);

/// Writes to_json_text's text to `path` atomically, piece by piece (never whole in memory). Errors: staging_io.
Result<> write_manifest_file(const Manifest& manifest, const std::filesystem::path& path);

/// Parses manifest.json. Errors: snapshot_invalid when it is not JSON, lacks a required field, has a newer
/// format than this plugin knows, names a path that is absolute or contains "..", or a hard link to a
/// path that is not an earlier regular file of its volume.
Result<Manifest> parse_manifest(const std::string& text);

/// parse_manifest of the file at `path`, read as a stream: memory holds the entries, never the text or a
/// whole JSON document. Errors: those of parse_manifest; staging_io when it cannot be opened.
Result<Manifest> read_manifest_file(const std::filesystem::path& path);

/// True when `relative` is a safe relative path: not empty, not absolute, no "." or ".." components.
bool is_safe_relative_path(const std::string& relative);

/// Returns the ISO 8601 UTC text ("2026-11-25T15:37:19.242Z") of a system-clock time.
std::string iso8601_utc(std::chrono::system_clock::time_point time);

/// Parses an RFC 3339 time ("2026-11-25T15:40:00.123456789+01:00", "...Z") as restic and the manifest
/// write it. Returns milliseconds since the epoch, or nullopt when the text is not such a time.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

} // namespace cwb::snapshot
