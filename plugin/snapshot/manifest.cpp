#include "snapshot/manifest.hpp"

#include "util/byte_text.hpp"
#include "util/file_system.hpp"
#include "util/url_credentials.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>

namespace cwb::snapshot {
namespace {

using nlohmann::json;

const char* to_string(EntryType type) {
  switch (type) {
  case EntryType::file: return "file";
  case EntryType::directory: return "dir";
  case EntryType::symlink: return "symlink";
  case EntryType::fifo: return "fifo";
  case EntryType::char_device: return "chardev";
  case EntryType::block_device: return "blockdev";
  }
  return "file";
}

std::optional<EntryType> entry_type_from(const std::string& text) {
  if (text == "file") return EntryType::file;
  if (text == "dir") return EntryType::directory;
  if (text == "symlink") return EntryType::symlink;
  if (text == "fifo") return EntryType::fifo;
  if (text == "chardev") return EntryType::char_device;
  if (text == "blockdev") return EntryType::block_device;
  return std::nullopt;
}

bool is_device(EntryType type) {
  return type == EntryType::char_device || type == EntryType::block_device;
}

/// Bytes as a JSON field: `name` when they are UTF-8, `name`_base64 otherwise.
void put_bytes(json& out, const std::string& name, const std::string& bytes) {
  if (util::is_valid_utf8(bytes))
    out[name] = bytes;
  else
    out[name + "_base64"] = util::base64_encode(bytes);
}

/// The bytes put_bytes wrote, or nullopt when neither field is there. Throws json::exception (caught by
/// parse_manifest) when the field is not text or not base64.
std::optional<std::string> get_bytes(const json& in, const std::string& name) {
  if (const auto plain = in.find(name); plain != in.end()) return plain->get<std::string>();
  if (const auto encoded = in.find(name + "_base64"); encoded != in.end()) {
    auto bytes = util::base64_decode(encoded->get<std::string>());
    if (!bytes) throw json::other_error::create(501, "field " + name + "_base64 is not base64", nullptr);
    return bytes;
  }
  return std::nullopt;
}

std::string get_required_bytes(const json& in, const std::string& name) {
  auto bytes = get_bytes(in, name);
  if (!bytes) throw json::out_of_range::create(403, "key '" + name + "' not found", nullptr);
  return *bytes;
}

json entry_to_json(const VolumeEntry& entry) {
  json out = {{"type", to_string(entry.type)},
              {"mode", entry.mode},
              {"uid", entry.uid},
              {"gid", entry.gid},
              {"mtime_ns", entry.mtime_ns}};
  put_bytes(out, "path", entry.path);
  if (entry.type == EntryType::file) {
    out["size"] = entry.size;
    out["sha256"] = entry.sha256;
    if (!entry.hard_link_to.empty()) put_bytes(out, "hard_link_to", entry.hard_link_to);
  }
  if (entry.type == EntryType::symlink) put_bytes(out, "link_target", entry.link_target);
  if (is_device(entry.type)) out["rdev"] = entry.device_number;
  if (!entry.xattrs.empty()) {
    json xattrs = json::array();
    for (const auto& attribute : entry.xattrs) {
      json item = {{"value_base64", util::base64_encode(attribute.value)}};
      put_bytes(item, "name", attribute.name);
      xattrs.push_back(std::move(item));
    }
    out["xattrs"] = std::move(xattrs);
  }
  return out;
}

/// True when describing `entry` takes manifest format 3.
bool needs_format_3(const VolumeEntry& entry) {
  return entry.type == EntryType::fifo || is_device(entry.type) || !entry.hard_link_to.empty() ||
         !entry.xattrs.empty() || !util::is_valid_utf8(entry.path) || !util::is_valid_utf8(entry.link_target);
}

} // namespace

bool is_safe_relative_path(const std::string& relative) {
  if (relative.empty() || relative.front() == '/') return false;
  std::size_t start = 0;
  while (start <= relative.size()) {
    auto end = relative.find('/', start);
    if (end == std::string::npos) end = relative.size();
    const auto part = std::string_view(relative).substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string iso8601_utc(std::chrono::system_clock::time_point time) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(since_epoch / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(since_epoch % 1000));
  return text;
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &consumed) !=
      6) {
    return std::nullopt;
  }
  std::size_t position = static_cast<std::size_t>(consumed);
  std::int64_t millis = 0;
  if (position < copy.size() && copy[position] == '.') {
    ++position;
    int digits = 0;
    while (position < copy.size() && std::isdigit(static_cast<unsigned char>(copy[position]))) {
      if (digits < 3) millis = millis * 10 + (copy[position] - '0');
      ++digits;
      ++position;
    }
    for (; digits < 3; ++digits)
      millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (position < copy.size() && (copy[position] == '+' || copy[position] == '-')) {
    int offset_hours = 0, offset_mins = 0;
    if (std::sscanf(copy.c_str() + position + 1, "%2d:%2d", &offset_hours, &offset_mins) != 2) return std::nullopt;
    offset_minutes = (copy[position] == '-' ? -1 : 1) * (offset_hours * 60 + offset_mins);
  } else if (position >= copy.size() || (copy[position] != 'Z' && copy[position] != 'z')) {
    return std::nullopt;
  }
  const auto date =
      std::chrono::year_month_day{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

namespace {

/// Everything but the volumes, as one small JSON object (the volumes are written entry by entry).
json header_of(const Manifest& manifest, int format) {
  json out = {
      {"format", format},
      {"plugin_version", manifest.plugin_version},
      {"connectware",
       {{"url", util::mask_url_credentials(manifest.connectware_url)}, {"version", manifest.connectware_version}}},
      {"host", manifest.host},
      {"started", manifest.started},
      {"finished", manifest.finished},
      {"scope", manifest.scope},
      {"quiesce",
       {{"mode", manifest.quiesce.mode},
        {"outcome", manifest.quiesce.outcome},
        {"window_seconds", manifest.quiesce.window_seconds},
        {"attempts", manifest.quiesce.attempts},
        {"paused_containers", manifest.quiesce.paused_containers}}},
      {"installation",
       {{"platform", manifest.installation.platform},
        {"project", manifest.installation.project},
        {"volumes", manifest.installation.volumes},
        {"containers", manifest.installation.containers},
        {"stopped_containers", manifest.installation.stopped_containers},
        {"downtime_seconds", manifest.installation.downtime_seconds}}},
      {"database", nullptr},
      {"volumes", nullptr}, // its place; written by write_manifest_text
      {"tags", manifest.tags},
  };
  if (manifest.database) {
    out["database"] = {{"file", manifest.database->file},
                       {"backup_id", manifest.database->backup_id},
                       {"bytes", manifest.database->bytes},
                       {"sha256", manifest.database->sha256},
                       {"format", manifest.database->format},
                       {"entries_sha256", manifest.database->entries_sha256},
                       {"archive_bytes", manifest.database->archive_bytes},
                       {"archive_sha256", manifest.database->archive_sha256},
                       {"entry_count", manifest.database->entry_count}};
    if (!manifest.database->gzip_header.empty())
      out["database"]["gzip_recipe"] = {{"header_base64", util::base64_encode(manifest.database->gzip_header)},
                                        {"level", manifest.database->gzip_level},
                                        {"mem_level", manifest.database->gzip_mem_level}};
  }
  return out;
}

/// Writes the manifest's JSON piece by piece to `sink`: the fields pretty-printed, each volume entry on a
/// line of its own, so that no whole document of 100,000 entries is ever built (a DOM costs ~1 KiB an
/// entry). Stops at the first error of `sink`.
Result<> write_manifest_text(const Manifest& manifest, const std::function<Result<>(std::string_view)>& sink) {
  int format = manifest.format;
  for (const auto& volume : manifest.volumes) {
    if (volume.spooled && volume.spooled->needs_format_3) format = std::max(format, 3);
    for (const auto& entry : volume.entries)
      if (needs_format_3(entry)) format = std::max(format, 3);
  }
  if (manifest.scope == scope_full) format = std::max(format, manifest_format_full_scope);
  const json header = header_of(manifest, format);
  CWB_TRY(sink("{"));
  bool first_field = true;
  for (const auto& [key, value] : header.items()) { // sorted by key, as a whole dump would be
    CWB_TRY(sink(std::string(first_field ? "\n  " : ",\n  ") + json(key).dump() + ": "));
    first_field = false;
    if (key != "volumes") {
      std::string text = value.dump(2);
      // Indent the nested lines by the field's own two spaces.
      for (std::size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 3))
        text.insert(at + 1, "  ");
      CWB_TRY(sink(text));
      continue;
    }
    CWB_TRY(sink("["));
    for (std::size_t v = 0; v < manifest.volumes.size(); ++v) {
      const auto& volume = manifest.volumes[v];
      json record = {{"name", volume.name}, {"source", volume.source}, {"staged_path", volume.staged_path}};
      if (!volume.labels.empty()) record["labels"] = volume.labels;
      std::string opening = record.dump();
      opening.pop_back(); // the closing brace: the entries follow
      CWB_TRY(sink(std::string(v == 0 ? "\n    " : ",\n    ") + opening + ", \"entries\": ["));
      std::uint64_t written = 0;
      for (const auto& entry : volume.entries)
        CWB_TRY(sink(std::string(written++ == 0 ? "\n      " : ",\n      ") + entry_to_json(entry).dump()));
      if (volume.spooled) {
        std::ifstream spool(volume.spooled->file, std::ios::binary);
        if (!spool) return fail(ErrorKind::staging_io, "cannot open " + volume.spooled->file.string());
        std::uint64_t lines = 0;
        for (std::string line; std::getline(spool, line); ++lines)
          CWB_TRY(sink(std::string(written++ == 0 ? "\n      " : ",\n      ") + line));
        if (spool.bad() || lines != volume.spooled->count)
          return fail(ErrorKind::staging_io, "the entries of volume " + volume.name + " in " +
                                                 volume.spooled->file.string() + " are not the " +
                                                 std::to_string(volume.spooled->count) + " that were written");
      }
      CWB_TRY(sink(written == 0 ? "]}" : "\n    ]}"));
    }
    CWB_TRY(sink(manifest.volumes.empty() ? "]" : "\n  ]"));
  }
  return sink("\n}\n");
}

} // namespace

EntrySpool::EntrySpool(util::AtomicFileWriter writer, std::filesystem::path file)
    : writer_(std::move(writer)), spooled_{std::move(file)} {}

Result<EntrySpool> EntrySpool::create(const std::filesystem::path& file) {
  auto writer = util::AtomicFileWriter::create(file, 0600);
  if (!writer) return fail(writer.error());
  return EntrySpool(std::move(*writer), file);
}

Result<> EntrySpool::append(const VolumeEntry& entry) {
  CWB_TRY(writer_.append(entry_to_json(entry).dump() + "\n"));
  ++spooled_.count;
  if (entry.type == EntryType::file) ++spooled_.files;
  spooled_.needs_format_3 = spooled_.needs_format_3 || needs_format_3(entry);
  return {};
}

Result<SpooledEntries> EntrySpool::finish() {
  CWB_TRY(writer_.commit());
  return spooled_;
}

std::string to_json_text(const Manifest& manifest) {
  std::string text;
  auto written = write_manifest_text(manifest, [&](std::string_view piece) -> Result<> {
    text.append(piece);
    return {};
  });
  if (!written) throw std::runtime_error("to_json_text: " + written.error().message); // never a cut-short text
  return text;
}

Result<> write_manifest_file(const Manifest& manifest, const std::filesystem::path& path) {
  auto file = util::AtomicFileWriter::create(path, 0600);
  if (!file) return fail(file.error());
  CWB_TRY(write_manifest_text(manifest, [&](std::string_view piece) { return file->append(piece); }));
  return file->commit();
}

namespace {

/// One volume entry from its JSON. Throws json::exception (caught by parse_manifest_from) on a field of the
/// wrong type.
Result<VolumeEntry> entry_from_json(const json& entry_json) {
  VolumeEntry entry;
  entry.path = get_required_bytes(entry_json, "path");
  if (!is_safe_relative_path(entry.path)) {
    return fail(ErrorKind::snapshot_invalid, "manifest entry escapes its volume: \"" + entry.path + "\"");
  }
  const auto type = entry_type_from(entry_json.at("type").get<std::string>());
  if (!type) return fail(ErrorKind::snapshot_invalid, "manifest entry has an unknown type: " + entry.path);
  entry.type = *type;
  entry.mode = entry_json.value("mode", 0u);
  entry.uid = entry_json.value("uid", 0u);
  entry.gid = entry_json.value("gid", 0u);
  entry.mtime_ns = entry_json.value("mtime_ns", std::int64_t{0});
  if (entry.type == EntryType::file) {
    entry.size = entry_json.at("size").get<std::uint64_t>();
    entry.sha256 = entry_json.at("sha256").get<std::string>();
    entry.hard_link_to = get_bytes(entry_json, "hard_link_to").value_or("");
  }
  if (entry.type == EntryType::symlink) entry.link_target = get_required_bytes(entry_json, "link_target");
  if (is_device(entry.type)) entry.device_number = entry_json.at("rdev").get<std::uint64_t>();
  if (const auto xattrs = entry_json.find("xattrs"); xattrs != entry_json.end()) {
    for (const auto& item : *xattrs) {
      auto value = util::base64_decode(item.at("value_base64").get<std::string>());
      if (!value)
        return fail(ErrorKind::snapshot_invalid,
                    "manifest entry " + entry.path + " has an extended attribute whose value is not base64");
      entry.xattrs.push_back({get_required_bytes(item, "name"), std::move(*value)});
    }
    std::ranges::sort(entry.xattrs, {}, &ExtendedAttribute::name);
  }
  return entry;
}

/// A hard link must name an earlier regular file of its volume (the restore links to it; a later one or a
/// folder would make it link to nothing or outside what it wrote). One sorted index, not a map of paths.
Result<> check_hard_links(const VolumeRecord& volume) {
  const auto& entries = volume.entries;
  if (std::ranges::none_of(entries, [](const VolumeEntry& entry) { return !entry.hard_link_to.empty(); })) return {};
  std::vector<std::uint32_t> by_path(entries.size());
  std::iota(by_path.begin(), by_path.end(), 0u);
  std::ranges::stable_sort(by_path, {}, [&](std::uint32_t i) -> const std::string& { return entries[i].path; });
  for (std::uint32_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    if (entry.hard_link_to.empty()) continue;
    const auto first = std::ranges::lower_bound(by_path, entry.hard_link_to, {},
                                                [&](std::uint32_t j) -> const std::string& { return entries[j].path; });
    // The first entry with that path (stable sort: the earliest), which must come before this one.
    if (first == by_path.end() || entries[*first].path != entry.hard_link_to || *first >= i ||
        entries[*first].type != EntryType::file)
      return fail(ErrorKind::snapshot_invalid, "manifest entry " + entry.path + " is a hard link to \"" +
                                                   entry.hard_link_to +
                                                   "\", which is not an earlier file of its volume");
  }
  return {};
}

/// The parser callback that takes each volume entry out of the document as soon as it is parsed (turned
/// into a VolumeEntry, its JSON dropped), so that the document in memory holds no entries: a DOM of
/// 100,000 entries would cost ~1 KiB each. Depths as nlohmann::json counts them: the root's fields at 1,
/// a volume's fields at 3, an entry object at 4.
class EntryReader {
public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    using Event = json::parse_event_t;
    if (event == Event::key && depth == 1) root_key_ = parsed.get<std::string>();
    if (root_key_ != "volumes") return true;
    if (event == Event::object_start && depth == 2) volumes_.emplace_back();
    if (event == Event::key && depth == 3) volume_key_ = parsed.get<std::string>();
    if (event == Event::array_start && depth == 3) in_entries_ = volume_key_ == "entries";
    if (event == Event::array_end && depth == 3) in_entries_ = false;
    if (in_entries_ && depth == 4 && event == Event::array_start && !error_)
      error_ = fail(ErrorKind::snapshot_invalid, "manifest.json is not valid: a volume entry is not an object").error();
    if (in_entries_ && depth == 4 &&
        (event == Event::object_end || event == Event::value || event == Event::array_end)) {
      if (error_) return false;
      if (!parsed.is_object()) {
        error_ =
            fail(ErrorKind::snapshot_invalid, "manifest.json is not valid: a volume entry is not an object").error();
        return false;
      }
      try {
        auto entry = entry_from_json(parsed);
        if (!entry)
          error_ = entry.error();
        else
          volumes_.back().push_back(std::move(*entry));
      } catch (const json::exception& problem) { // kept for after the format check, as an error would be
        error_ =
            fail(ErrorKind::snapshot_invalid, std::string("manifest.json is not valid: ") + problem.what()).error();
      }
      return false; // dropped from the document: it lives on as a VolumeEntry
    }
    return true;
  }

  std::vector<std::deque<VolumeEntry>>& volumes() { return volumes_; }
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }

private:
  std::string root_key_;
  std::string volume_key_;
  bool in_entries_ = false;
  std::vector<std::deque<VolumeEntry>> volumes_; // by volume, in document order
  std::optional<Error> error_;                   // the first entry that could not be read
};

std::unexpected<Error> not_valid(const json::exception& error) {
  return fail(ErrorKind::snapshot_invalid, std::string("manifest.json is not valid: ") + error.what());
}

/// The manifest of a parsed document whose entries `reader` took out while it was parsed.
Result<Manifest> manifest_from(const json& in, EntryReader& reader) {
  try {
    Manifest manifest;
    manifest.format = in.at("format").get<int>();
    if (manifest.format > manifest_format_version) {
      return fail(ErrorKind::snapshot_invalid, "manifest format " + std::to_string(manifest.format) +
                                                   " is newer than this plugin understands (" +
                                                   std::to_string(manifest_format_version) + ")");
    }
    if (reader.error()) return fail(*reader.error()); // after the format: a newer one may describe entries otherwise
    manifest.plugin_version = in.value("plugin_version", "");
    const auto& connectware = in.at("connectware");
    manifest.connectware_url = connectware.value("url", "");
    manifest.connectware_version = connectware.at("version").get<std::string>();
    manifest.host = in.value("host", "");
    manifest.started = in.value("started", "");
    manifest.finished = in.value("finished", "");
    manifest.scope = in.value("scope", std::string(scope_configuration));
    if (manifest.scope != scope_configuration && manifest.scope != scope_full)
      return fail(ErrorKind::snapshot_invalid, "manifest names an unknown scope \"" + manifest.scope + "\"");
    if (manifest.scope == scope_full && manifest.format < manifest_format_full_scope)
      return fail(ErrorKind::snapshot_invalid, "manifest of a full-installation snapshot has format " +
                                                   std::to_string(manifest.format) + " (at least " +
                                                   std::to_string(manifest_format_full_scope) + " expected)");
    if (const auto quiesce = in.find("quiesce"); quiesce != in.end() && quiesce->is_object()) {
      manifest.quiesce.mode = quiesce->value("mode", "");
      // Absent before optimistic mode; null or any other type reads as "not recorded".
      if (const auto outcome = quiesce->find("outcome"); outcome != quiesce->end() && outcome->is_string())
        manifest.quiesce.outcome = outcome->get<std::string>();
      manifest.quiesce.window_seconds = quiesce->value("window_seconds", 0.0);
      manifest.quiesce.attempts = quiesce->value("attempts", 1);
      manifest.quiesce.paused_containers = quiesce->value("paused_containers", std::vector<std::string>{});
    }
    if (const auto installation = in.find("installation"); installation != in.end() && installation->is_object()) {
      manifest.installation.platform = installation->value("platform", "");
      manifest.installation.project = installation->value("project", "");
      manifest.installation.volumes = installation->value("volumes", std::vector<std::string>{});
      manifest.installation.containers = installation->value("containers", std::vector<std::string>{});
      manifest.installation.stopped_containers = installation->value("stopped_containers", std::vector<std::string>{});
      manifest.installation.downtime_seconds = installation->value("downtime_seconds", 0.0);
    }
    if (const auto database = in.find("database"); database != in.end() && database->is_object()) {
      DatabaseRecord record;
      record.file = database->at("file").get<std::string>();
      record.backup_id = database->value("backup_id", "");
      record.bytes = database->at("bytes").get<std::uint64_t>();
      record.sha256 = database->at("sha256").get<std::string>();
      record.format = database->value("format", std::string(database_format_archive));
      record.entries_sha256 = database->value("entries_sha256", "");
      record.archive_bytes = database->value("archive_bytes", std::uint64_t{0});
      record.archive_sha256 = database->value("archive_sha256", "");
      record.entry_count = database->value("entry_count", std::uint64_t{0});
      if (const auto recipe = database->find("gzip_recipe"); recipe != database->end() && recipe->is_object()) {
        auto header = util::base64_decode(recipe->at("header_base64").get<std::string>());
        record.gzip_level = recipe->at("level").get<int>();
        record.gzip_mem_level = recipe->at("mem_level").get<int>();
        if (!header || header->size() < 10 || record.gzip_level < 1 || record.gzip_level > 9 ||
            record.gzip_mem_level < 1 || record.gzip_mem_level > 9)
          return fail(ErrorKind::snapshot_invalid, "manifest holds a database gzip recipe that is not one");
        record.gzip_header = std::move(*header);
      }
      if (record.format != database_format_archive && record.format != database_format_tar) {
        return fail(ErrorKind::snapshot_invalid, "manifest names an unknown database format \"" + record.format + "\"");
      }
      if (record.format == database_format_tar && record.entries_sha256.empty()) {
        return fail(ErrorKind::snapshot_invalid, "manifest stores the database unpacked without its entries digest");
      }
      if (!is_safe_relative_path(record.file)) {
        return fail(ErrorKind::snapshot_invalid, "manifest names an unsafe database path \"" + record.file + "\"");
      }
      manifest.database = std::move(record);
    }
    const auto& volumes = in.at("volumes");
    // null reads as none, as it always has; anything else that is not a list is not a manifest.
    if ((!volumes.is_array() && !volumes.is_null()) || volumes.size() != reader.volumes().size())
      return fail(ErrorKind::snapshot_invalid, "manifest.json is not valid: its volumes are not a list");
    for (std::size_t v = 0; v < volumes.size(); ++v) {
      const auto& volume_json = volumes[v];
      VolumeRecord volume;
      volume.name = volume_json.at("name").get<std::string>();
      volume.source = volume_json.value("source", "");
      volume.staged_path = volume_json.at("staged_path").get<std::string>();
      if (const auto labels = volume_json.find("labels"); labels != volume_json.end() && labels->is_object())
        for (const auto& [key, value] : labels->items())
          if (value.is_string()) volume.labels[key] = value.get<std::string>();
      if (!is_safe_relative_path(volume.name) || volume.name.find('/') != std::string::npos ||
          !is_safe_relative_path(volume.staged_path)) {
        return fail(ErrorKind::snapshot_invalid,
                    "manifest names an unsafe volume \"" + volume.name + "\" at \"" + volume.staged_path + "\"");
      }
      if (const auto entries = volume_json.find("entries"); entries == volume_json.end())
        throw json::out_of_range::create(403, "key 'entries' not found", nullptr);
      else if (!entries->is_array() && !entries->is_null())
        return fail(ErrorKind::snapshot_invalid, "manifest volume " + volume.name + " has entries that are not a list");
      volume.entries = std::move(reader.volumes()[v]);
      CWB_TRY(check_hard_links(volume));
      manifest.volumes.push_back(std::move(volume));
    }
    manifest.tags = in.value("tags", std::vector<std::string>{});
    return manifest;
  } catch (const json::exception& error) {
    return not_valid(error);
  }
}

/// Parses text or a stream, the entries taken out as they come (EntryReader).
template <typename Input> Result<Manifest> parse_streamed(Input& input) {
  try {
    EntryReader reader;
    const json document = json::parse(input, std::ref(reader));
    return manifest_from(document, reader);
  } catch (const json::exception& error) {
    return not_valid(error);
  }
}

} // namespace

Result<Manifest> parse_manifest(const std::string& text) {
  return parse_streamed(text);
}

Result<Manifest> read_manifest_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorKind::staging_io, "cannot open " + path.string() + ": " + std::strerror(errno));
  return parse_streamed(in);
}

} // namespace cwb::snapshot
