#include "restore/restore_journal.hpp"

#include "util/file_system.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <system_error>
#include <utility>

namespace cwb::restore {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::array phase_names{
    std::pair{JournalPhase::safety_copy, "safety_copy"}, std::pair{JournalPhase::database, "database"},
    std::pair{JournalPhase::volumes, "volumes"}, std::pair{JournalPhase::restart, "restart"},
    std::pair{JournalPhase::rolling_back, "rolling_back"}};

constexpr std::array part_names{std::pair{Parts::all, "all"}, std::pair{Parts::database_only, "database_only"},
                                std::pair{Parts::volumes_only, "volumes_only"}};

template <typename Enum, std::size_t Size>
std::optional<Enum> named(const std::array<std::pair<Enum, const char*>, Size>& names, const std::string& name) {
  for (const auto& [value, text] : names)
    if (name == text) return value;
  return std::nullopt;
}

template <typename Enum, std::size_t Size>
const char* name_of(const std::array<std::pair<Enum, const char*>, Size>& names, Enum value) {
  for (const auto& [known, text] : names)
    if (known == value) return text;
  return "unknown";
}

const char* step_of(JournalPhase phase) {
  switch (phase) {
  case JournalPhase::safety_copy: return "step 3 (safety copy)";
  case JournalPhase::database: return "step 4 (database)";
  case JournalPhase::volumes: return "step 5 (volumes)";
  case JournalPhase::restart: return "step 6 (restart)";
  case JournalPhase::rolling_back: return "step 7 (rolling back)";
  }
  return "an unknown step";
}

} // namespace

const char* to_string(JournalPhase phase) noexcept {
  return name_of(phase_names, phase);
}

Result<> write_journal(const fs::path& path, const RestoreJournal& journal) {
  json volumes = json::array();
  for (const auto& volume : journal.volumes)
    volumes.push_back({{"name", volume.name},
                       {"source", volume.source},
                       {"path", volume.path.string()},
                       {"method", to_string(volume.method)}});
  json stopped = json::array();
  for (const auto& workload : journal.stopped)
    stopped.push_back({{"id", workload.id}, {"name", workload.name}});
  const json document = {
      {"format", 1},
      {"snapshot_id", journal.snapshot_id},
      {"snapshot_short_id", journal.snapshot_short_id},
      {"from_dir", journal.from_dir},
      {"parts", name_of(part_names, journal.parts)},
      {"scope", journal.full_scope ? "full" : "configuration"},
      {"started", journal.started},
      {"phase", to_string(journal.phase)},
      // Read by the pre-backup hook too (installation::restore_unfinished), which knows nothing else of it.
      {"live_state_may_differ", journal.live_state_may_differ()},
      {"database_changed", journal.database_changed},
      {"volumes_changed", journal.volumes_changed},
      {"rollback_dir", journal.rollback_dir.string()},
      {"volumes", volumes},
      {"stopped", stopped},
      {"running_before", journal.running_before ? json(*journal.running_before) : json(nullptr)},
  };
  // Names not UTF-8 (none are expected in ids, paths or names) must not make the journal unwritable.
  return util::write_file_atomic(path, document.dump(2, ' ', false, json::error_handler_t::replace) + "\n", 0600);
}

Result<std::optional<RestoreJournal>> read_journal(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) return std::optional<RestoreJournal>{};
  auto text = util::read_file(path);
  if (!text) return fail(text.error());
  const auto invalid = [&path](const std::string& why) {
    return fail(ErrorKind::staging_io, "the restore journal " + path.string() + " " + why +
                                           ": look at it and at rollback-dir before removing it");
  };
  const auto document = json::parse(*text, nullptr, false);
  if (!document.is_object()) return invalid("is not JSON");
  RestoreJournal journal;
  try {
    journal.snapshot_id = document.at("snapshot_id").get<std::string>();
    journal.snapshot_short_id = document.at("snapshot_short_id").get<std::string>();
    journal.from_dir = document.at("from_dir").get<bool>();
    const auto parts = named(part_names, document.at("parts").get<std::string>());
    const auto phase = named(phase_names, document.at("phase").get<std::string>());
    if (!parts || !phase) return invalid("names an unknown step or part");
    journal.parts = *parts;
    journal.phase = *phase;
    // Absent in journals written before scope = full existed: those were configuration restores.
    journal.full_scope = document.value("scope", std::string("configuration")) == "full";
    journal.started = document.at("started").get<std::string>();
    journal.database_changed = document.at("database_changed").get<bool>();
    journal.volumes_changed = document.at("volumes_changed").get<bool>();
    journal.rollback_dir = document.at("rollback_dir").get<std::string>();
    for (const auto& item : document.at("volumes")) {
      JournalVolume volume;
      volume.name = item.at("name").get<std::string>();
      volume.source = item.at("source").get<std::string>();
      volume.path = item.at("path").get<std::string>();
      volume.method = item.at("method").get<std::string>() == "rename" ? VolumeMethod::rename : VolumeMethod::copy;
      journal.volumes.push_back(std::move(volume));
    }
    for (const auto& item : document.at("stopped"))
      journal.stopped.push_back({item.at("id").get<std::string>(), item.at("name").get<std::string>()});
    if (const auto& running = document.at("running_before"); !running.is_null())
      journal.running_before = running.get<std::vector<std::string>>();
  } catch (const json::exception& problem) {
    return invalid(std::string("is incomplete: ") + problem.what());
  }
  return std::optional<RestoreJournal>{std::move(journal)};
}

Result<> remove_journal(const fs::path& path) {
  std::error_code error;
  fs::remove(path, error);
  if (error) return fail(ErrorKind::staging_io, "cannot remove " + path.string() + ": " + error.message());
  return {};
}

std::string describe_interrupted(const RestoreJournal& journal) {
  std::string text = "a restore of " + std::string(journal.from_dir ? "the folder " : "snapshot ") +
                     journal.snapshot_short_id + " (started " + journal.started + ") was killed during " +
                     step_of(journal.phase);
  if (!journal.live_state_may_differ()) return text + ", before it changed anything";
  text += std::string(": the database ") + (journal.database_changed ? "may have changed" : "did not change") +
          ", the volumes " + (journal.volumes_changed ? "may be partly replaced" : "did not change");
  if (!journal.stopped.empty()) {
    std::string names;
    for (const auto& workload : journal.stopped)
      names += (names.empty() ? "" : ", ") + workload.name;
    text += ", stopped: " + names;
  }
  return text + "; the safety copy of the state before it is kept in " + journal.rollback_dir.string();
}

} // namespace cwb::restore
