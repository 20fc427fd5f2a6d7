#include "snapshot/manifest.hpp"

#include "util/byte_text.hpp"
#include "util/url_credentials.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

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

std::string to_json_text(const Manifest& manifest) {
  json volumes = json::array();
  for (const auto& volume : manifest.volumes) {
    json entries = json::array();
    for (const auto& entry : volume.entries)
      entries.push_back(entry_to_json(entry));
    json record = {{"name", volume.name},
                   {"source", volume.source},
                   {"staged_path", volume.staged_path},
                   {"entries", std::move(entries)}};
    if (!volume.labels.empty()) record["labels"] = volume.labels;
    volumes.push_back(std::move(record));
  }
  int format = manifest.format;
  for (const auto& volume : manifest.volumes)
    for (const auto& entry : volume.entries)
      if (needs_format_3(entry)) format = std::max(format, 3);
  if (manifest.scope == scope_full) format = std::max(format, manifest_format_full_scope);
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
      {"volumes", std::move(volumes)},
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
  return out.dump(2) + "\n";
}

Result<Manifest> parse_manifest(const std::string& text) {
  try {
    const json in = json::parse(text);
    Manifest manifest;
    manifest.format = in.at("format").get<int>();
    if (manifest.format > manifest_format_version) {
      return fail(ErrorKind::snapshot_invalid, "manifest format " + std::to_string(manifest.format) +
                                                   " is newer than this plugin understands (" +
                                                   std::to_string(manifest_format_version) + ")");
    }
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
    for (const auto& volume_json : in.at("volumes")) {
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
      std::map<std::string, EntryType> seen; // earlier entries of this volume, for hard links
      for (const auto& entry_json : volume_json.at("entries")) {
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
          if (!entry.hard_link_to.empty()) {
            const auto leader = seen.find(entry.hard_link_to);
            if (leader == seen.end() || leader->second != EntryType::file)
              return fail(ErrorKind::snapshot_invalid, "manifest entry " + entry.path + " is a hard link to \"" +
                                                           entry.hard_link_to +
                                                           "\", which is not an earlier file of its volume");
          }
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
        seen.emplace(entry.path, entry.type);
        volume.entries.push_back(std::move(entry));
      }
      manifest.volumes.push_back(std::move(volume));
    }
    manifest.tags = in.value("tags", std::vector<std::string>{});
    return manifest;
  } catch (const json::exception& error) {
    return fail(ErrorKind::snapshot_invalid, std::string("manifest.json is not valid: ") + error.what());
  }
}

} // namespace cwb::snapshot
