#include "backup/volume_staging.hpp"

#include "staging/mirror.hpp"
#include "staging/tree.hpp"
#include "util/file_system.hpp"
#include "util/sha256.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <system_error>

namespace cwb::backup {
namespace {

std::optional<snapshot::EntryType> manifest_type(staging::EntryType type) {
  switch (type) {
  case staging::EntryType::file: return snapshot::EntryType::file;
  case staging::EntryType::directory: return snapshot::EntryType::directory;
  case staging::EntryType::symlink: return snapshot::EntryType::symlink;
  case staging::EntryType::fifo: return snapshot::EntryType::fifo;
  case staging::EntryType::char_device: return snapshot::EntryType::char_device;
  case staging::EntryType::block_device: return snapshot::EntryType::block_device;
  case staging::EntryType::socket: return std::nullopt;
  }
  return std::nullopt;
}

} // namespace

Result<StagedVolumes> stage_volumes(const std::vector<Volume>& sources, const snapshot::Layout& layout,
                                    unsigned full_check_every, util::ProgressLine* progress) {
  StagedVolumes staged;
  CWB_TRY(util::create_private_directory(layout.volumes_dir()));
  CWB_TRY(util::create_private_directory(layout.mirror_index("x").parent_path()));
  // A run killed while it wrote the index or a spool left its temporary file behind.
  CWB_TRY(util::remove_atomic_leftovers(layout.mirror_index("x").parent_path()));
  std::set<std::string> configured;
  for (const auto& source : sources) {
    configured.insert(source.name);
    staging::MirrorOptions options{layout.mirror_index(source.name), full_check_every, false, {}};
    const std::string label = "mirroring volume " + source.name;
    if (progress != nullptr && progress->enabled()) {
      options.on_progress = [progress, &label](std::uint64_t done, std::uint64_t total, std::uint64_t copied) {
        progress->show(label, std::to_string(done) + "/" + std::to_string(total) + " entries, " +
                                  util::human_bytes(copied) + " copied");
      };
    }
    snapshot::VolumeRecord record;
    record.name = source.name;
    record.source = source.source;
    record.labels = source.labels;
    record.staged_path = std::filesystem::relative(layout.volume(source.name), layout.root).generic_string();
    // The entries go to a file as the mirror makes them, not into memory (100,000 files, ~300 bytes each).
    auto spool = snapshot::EntrySpool::create(layout.entries_spool(source.name));
    if (!spool) return fail(spool.error().with_context("staging volume " + source.source));
    options.on_entry = [&](const staging::MirrorEntry& entry) -> Result<> {
      if (!entry.warning.empty()) spdlog::warn("volume {}: {}: {}", source.source, entry.path, entry.warning);
      const auto type = manifest_type(entry.type);
      if (!type || entry.action == staging::MirrorAction::skipped) return {};
      const auto& meta = entry.metadata;
      snapshot::VolumeEntry described{entry.path,
                                      *type,
                                      entry.size,
                                      static_cast<std::uint32_t>(meta.mode),
                                      static_cast<std::uint32_t>(meta.uid),
                                      static_cast<std::uint32_t>(meta.gid),
                                      meta.mtime_ns,
                                      entry.sha256,
                                      meta.link_target,
                                      meta.device_number,
                                      entry.hard_link_to,
                                      {}};
      for (const auto& attribute : meta.xattrs)
        described.xattrs.push_back({attribute.name, attribute.value});
      if (*type == snapshot::EntryType::file && entry.hard_link_to.empty()) staged.bytes += entry.size;
      return spool->append(described);
    };
    auto report = staging::mirror_tree(source.path, layout.volume(source.name), options);
    if (report && progress != nullptr) {
      progress->finish(label, std::to_string(report->entries) + " entries, " + util::human_bytes(report->bytes_copied) +
                                  " copied");
    }
    if (!report) return fail(report.error().with_context("staging volume " + source.source));
    auto spooled = spool->finish();
    if (!spooled) return fail(spooled.error().with_context("staging volume " + source.source));
    record.spooled = std::move(*spooled);
    staged.bytes_copied += report->bytes_copied;
    staged.files_copied += report->files_copied;
    spdlog::info("volume {}: {} file(s) copied ({} bytes), {} unchanged ({} re-read{}), {} removed", source.source,
                 report->files_copied, report->bytes_copied, report->files_unchanged, report->files_verified,
                 report->full_check ? ": full check" : "", report->files_removed);
    staged.records.push_back(std::move(record));
  }
  // A volume dropped from the configuration must not linger in later snapshots.
  std::error_code error;
  for (const auto& dir : std::filesystem::directory_iterator(layout.volumes_dir(), error)) {
    const auto name = dir.path().filename().string();
    if (!configured.contains(name)) {
      CWB_TRY(util::remove_tree(dir.path()));
      CWB_TRY(util::remove_tree(layout.mirror_index(name)));
      CWB_TRY(util::remove_tree(layout.entries_spool(name)));
    }
  }
  if (error)
    return fail(ErrorKind::staging_io, "cannot list " + layout.volumes_dir().string() + ": " + error.message());
  return staged;
}

Result<VolumesFingerprint> fingerprint_volumes(const std::vector<Volume>& sources, std::int64_t ignore_after_ns) {
  util::Sha256 combined;
  VolumesFingerprint fingerprint;
  for (const auto& source : sources) {
    auto entries = staging::scan_tree(source.path);
    if (!entries) return fail(entries.error().with_context("scanning volume " + source.source));
    combined.update(source.name + "=" + staging::change_fingerprint(*entries) + "\n");
    for (const auto& entry : *entries)
      if (entry.identity.ctime_ns <= ignore_after_ns)
        fingerprint.newest_ctime_ns = std::max(fingerprint.newest_ctime_ns, entry.identity.ctime_ns);
  }
  fingerprint.digest = combined.finish_hex();
  return fingerprint;
}

} // namespace cwb::backup
