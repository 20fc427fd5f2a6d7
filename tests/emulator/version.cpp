#include "version.hpp"

#include <algorithm>
#include <charconv>

namespace cwb::emulator {

Result<Version> Version::parse(std::string_view text) {
  Version version;
  version.text = std::string(text);
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view part =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || error != std::errc{} || end != part.data() + part.size())
      return fail(ErrorKind::usage, "not a version (digits separated by dots): \"" + std::string(text) + "\"");
    version.parts.push_back(value);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return version;
}

int Version::compare(const Version& a, const Version& b) {
  const std::size_t count = std::max(a.parts.size(), b.parts.size());
  for (std::size_t i = 0; i < count; ++i) {
    const unsigned left = i < a.parts.size() ? a.parts[i] : 0;
    const unsigned right = i < b.parts.size() ? b.parts[i] : 0;
    if (left != right) return left < right ? -1 : 1;
  }
  return 0;
}

Result<CompatRule> CompatRule::parse(std::string_view text) {
  const std::size_t equals = text.find('=');
  if (!text.starts_with('<') || equals == std::string_view::npos)
    return fail(ErrorKind::usage, "compat rule must look like \"<1.5.0=1.4.9\": \"" + std::string(text) + "\"");
  auto changed_at = Version::parse(text.substr(1, equals - 1));
  auto last = Version::parse(text.substr(equals + 1));
  if (!changed_at) return fail(changed_at.error().with_context("compat rule \"" + std::string(text) + "\""));
  if (!last) return fail(last.error().with_context("compat rule \"" + std::string(text) + "\""));
  return CompatRule{std::move(*changed_at), std::move(*last)};
}

std::string refusal_message(std::string_view archive_version, std::string_view last_restoring) {
  return "Restore refused: the database structure changed after version " + std::string(archive_version) +
         " of this backup file. The last Connectware version that can restore this backup file is " +
         std::string(last_restoring) + ".";
}

std::optional<std::string> restore_refusal(const Version& archive, const Version& own,
                                           const std::vector<CompatRule>& rules) {
  if (own < archive) {
    return "Restore refused: this backup file was made by Connectware " + archive.text +
           ", which is newer than this Connectware " + own.text + ". Restore it with Connectware " + archive.text +
           " or newer.";
  }
  // The first structure change between the archive and us decides the last version able to restore it.
  const CompatRule* deciding = nullptr;
  for (const auto& rule : rules) {
    const bool crossed = archive < rule.changed_at && !(own < rule.changed_at);
    if (crossed && (deciding == nullptr || rule.changed_at < deciding->changed_at)) deciding = &rule;
  }
  if (deciding == nullptr) return std::nullopt;
  return refusal_message(archive.text, deciding->last_restoring.text);
}

} // namespace cwb::emulator
