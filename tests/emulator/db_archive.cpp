#include "db_archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

namespace cwb::emulator {
namespace {

struct WriteCloser {
  void operator()(archive* handle) const { archive_write_free(handle); }
};
struct ReadCloser {
  void operator()(archive* handle) const { archive_read_free(handle); }
};
struct EntryCloser {
  void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};

std::string archive_message(archive* handle) {
  const char* message = archive_error_string(handle);
  return message == nullptr ? "unknown libarchive error" : message;
}

Result<> write_header(archive* handle, const std::string& name, std::int64_t size) {
  std::unique_ptr<archive_entry, EntryCloser> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_size(entry.get(), size);
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_mtime(entry.get(), time(nullptr), 0);
  if (archive_write_header(handle, entry.get()) != ARCHIVE_OK)
    return fail(ErrorKind::staging_io, "writing archive entry " + name + ": " + archive_message(handle));
  return {};
}

Result<> write_data(archive* handle, const char* data, std::size_t size) {
  if (archive_write_data(handle, data, size) < 0)
    return fail(ErrorKind::staging_io, "writing archive data: " + archive_message(handle));
  return {};
}

} // namespace

Result<> write_db_archive(const std::filesystem::path& path, const ArchiveMetadata& metadata,
                          const std::filesystem::path& dump_sql) {
  std::error_code error;
  const auto dump_size = std::filesystem::file_size(dump_sql, error);
  if (error) return fail(ErrorKind::staging_io, "reading " + dump_sql.string() + ": " + error.message());
  std::ifstream dump(dump_sql, std::ios::binary);
  if (!dump) return fail(ErrorKind::staging_io, "cannot open " + dump_sql.string());

  std::unique_ptr<archive, WriteCloser> handle(archive_write_new());
  archive_write_add_filter_gzip(handle.get());
  archive_write_set_format_pax_restricted(handle.get());
  if (archive_write_open_filename(handle.get(), path.c_str()) != ARCHIVE_OK)
    return fail(ErrorKind::staging_io, "creating " + path.string() + ": " + archive_message(handle.get()));

  const std::string metadata_json =
      nlohmann::json{{"version", metadata.version}, {"id", metadata.id}, {"created", metadata.created}}.dump(2) + "\n";
  CWB_TRY(write_header(handle.get(), "metadata.json", static_cast<std::int64_t>(metadata_json.size())));
  CWB_TRY(write_data(handle.get(), metadata_json.data(), metadata_json.size()));
  CWB_TRY(write_header(handle.get(), "dump.sql", static_cast<std::int64_t>(dump_size)));
  std::vector<char> buffer(64 * 1024);
  while (dump) {
    dump.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    CWB_TRY(write_data(handle.get(), buffer.data(), static_cast<std::size_t>(dump.gcount())));
  }
  if (archive_write_close(handle.get()) != ARCHIVE_OK)
    return fail(ErrorKind::staging_io, "finishing " + path.string() + ": " + archive_message(handle.get()));
  return {};
}

Result<ArchiveMetadata> read_db_archive(const std::filesystem::path& path, const std::filesystem::path& dump_out) {
  std::unique_ptr<archive, ReadCloser> handle(archive_read_new());
  archive_read_support_filter_gzip(handle.get());
  archive_read_support_format_tar(handle.get());
  if (archive_read_open_filename(handle.get(), path.c_str(), 64 * 1024) != ARCHIVE_OK)
    return fail(ErrorKind::export_invalid, "not a gzip-compressed tar archive: " + archive_message(handle.get()));

  std::optional<ArchiveMetadata> metadata;
  bool have_dump = false;
  archive_entry* entry = nullptr;
  while (true) {
    const int status = archive_read_next_header(handle.get(), &entry);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
      return fail(ErrorKind::export_invalid, "damaged archive: " + archive_message(handle.get()));
    const std::string name = archive_entry_pathname(entry);
    if (name == "metadata.json") {
      std::string text;
      std::vector<char> buffer(16 * 1024);
      la_ssize_t read = 0;
      while ((read = archive_read_data(handle.get(), buffer.data(), buffer.size())) > 0)
        text.append(buffer.data(), static_cast<std::size_t>(read));
      if (read < 0) return fail(ErrorKind::export_invalid, "damaged metadata.json: " + archive_message(handle.get()));
      const auto json = nlohmann::json::parse(text, nullptr, false);
      if (json.is_discarded() || !json.is_object() || !json.contains("version") || !json["version"].is_string())
        return fail(ErrorKind::export_invalid, "metadata.json has no version");
      metadata = ArchiveMetadata{json["version"].get<std::string>(), json.value("id", std::string()),
                                 json.value("created", std::string())};
    } else if (name == "dump.sql") {
      std::ofstream out(dump_out, std::ios::binary | std::ios::trunc);
      if (!out) return fail(ErrorKind::staging_io, "cannot write " + dump_out.string());
      std::vector<char> buffer(64 * 1024);
      la_ssize_t read = 0;
      while ((read = archive_read_data(handle.get(), buffer.data(), buffer.size())) > 0)
        out.write(buffer.data(), read);
      if (read < 0) return fail(ErrorKind::export_invalid, "damaged dump.sql: " + archive_message(handle.get()));
      if (!out.flush()) return fail(ErrorKind::staging_io, "cannot write " + dump_out.string());
      have_dump = true;
    } else {
      archive_read_data_skip(handle.get());
    }
  }
  if (!metadata) return fail(ErrorKind::export_invalid, "the archive holds no metadata.json");
  if (!have_dump) return fail(ErrorKind::export_invalid, "the archive holds no dump.sql");
  return *metadata;
}

} // namespace cwb::emulator
