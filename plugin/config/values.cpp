#include "config/values.hpp"

#include <array>
#include <utility>

namespace cwb::config {
namespace {

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E value) noexcept {
  for (const auto& [candidate, name] : names)
    if (candidate == value) return name;
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view text) noexcept {
  for (const auto& [candidate, name] : names)
    if (name == text) return candidate;
  return std::nullopt;
}

constexpr std::array quiesce_names{
    std::pair{Quiesce::optimistic, std::string_view{"optimistic"}},
    std::pair{Quiesce::pause, std::string_view{"pause"}}, std::pair{Quiesce::verify, std::string_view{"verify"}},
    std::pair{Quiesce::none, std::string_view{"none"}}, std::pair{Quiesce::automatic, std::string_view{"auto"}}};

constexpr std::array database_storage_names{std::pair{DatabaseStorage::unpacked, std::string_view{"unpacked"}},
                                            std::pair{DatabaseStorage::archive, std::string_view{"archive"}}};

constexpr std::array platform_names{std::pair{PlatformChoice::automatic, std::string_view{"auto"}},
                                    std::pair{PlatformChoice::compose, std::string_view{"compose"}},
                                    std::pair{PlatformChoice::host, std::string_view{"host"}}};

constexpr std::array progress_names{std::pair{Progress::automatic, std::string_view{"auto"}},
                                    std::pair{Progress::always, std::string_view{"always"}},
                                    std::pair{Progress::never, std::string_view{"never"}}};
constexpr std::array staging_cleanup_names{std::pair{StagingCleanup::automatic, std::string_view{"auto"}},
                                           std::pair{StagingCleanup::post, std::string_view{"post"}},
                                           std::pair{StagingCleanup::next_run, std::string_view{"next-run"}}};

constexpr std::array scope_names{std::pair{Scope::configuration, std::string_view{"configuration"}},
                                 std::pair{Scope::full, std::string_view{"full"}}};

constexpr std::array on_shrink_names{std::pair{OnShrink::warn, std::string_view{"warn"}},
                                     std::pair{OnShrink::fail, std::string_view{"fail"}}};

constexpr std::array log_level_names{
    std::pair{LogLevel::trace, std::string_view{"trace"}}, std::pair{LogLevel::debug, std::string_view{"debug"}},
    std::pair{LogLevel::info, std::string_view{"info"}},   std::pair{LogLevel::warn, std::string_view{"warn"}},
    std::pair{LogLevel::error, std::string_view{"error"}}, std::pair{LogLevel::off, std::string_view{"off"}}};

} // namespace

std::string_view to_string(Quiesce value) noexcept {
  return name_of(quiesce_names, value);
}
std::string_view to_string(DatabaseStorage value) noexcept {
  return name_of(database_storage_names, value);
}
std::string_view to_string(PlatformChoice value) noexcept {
  return name_of(platform_names, value);
}
std::string_view to_string(Progress value) noexcept {
  return name_of(progress_names, value);
}
std::string_view to_string(StagingCleanup value) noexcept {
  return name_of(staging_cleanup_names, value);
}
std::string_view to_string(Scope value) noexcept {
  return name_of(scope_names, value);
}
std::string_view to_string(OnShrink value) noexcept {
  return name_of(on_shrink_names, value);
}
std::string_view to_string(LogLevel value) noexcept {
  return name_of(log_level_names, value);
}

std::optional<Quiesce> parse_quiesce(std::string_view text) noexcept {
  return value_of(quiesce_names, text);
}
std::optional<DatabaseStorage> parse_database_storage(std::string_view text) noexcept {
  return value_of(database_storage_names, text);
}
std::optional<PlatformChoice> parse_platform(std::string_view text) noexcept {
  return value_of(platform_names, text);
}
std::optional<Progress> parse_progress(std::string_view text) noexcept {
  return value_of(progress_names, text);
}
std::optional<StagingCleanup> parse_staging_cleanup(std::string_view text) noexcept {
  return value_of(staging_cleanup_names, text);
}
std::optional<Scope> parse_scope(std::string_view text) noexcept {
  return value_of(scope_names, text);
}
std::optional<OnShrink> parse_on_shrink(std::string_view text) noexcept {
  return value_of(on_shrink_names, text);
}
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
  return value_of(log_level_names, text);
}

} // namespace cwb::config
