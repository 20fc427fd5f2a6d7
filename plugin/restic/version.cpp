#include "restic/version.hpp"

#include <charconv>

namespace cwb::restic {
namespace {

// Reads a decimal number at the front of `text` and removes it; false when there is none.
bool take_number(std::string_view& text, int& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end == text.data()) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}

bool take_char(std::string_view& text, char c) {
  if (text.empty() || text.front() != c) return false;
  text.remove_prefix(1);
  return true;
}

} // namespace

std::string Version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

Result<Version> parse_version(std::string_view version_output) {
  constexpr std::string_view prefix = "restic ";
  std::string_view rest = version_output;
  Version version;
  if (rest.starts_with(prefix)) {
    rest.remove_prefix(prefix.size());
    if (take_number(rest, version.major) && take_char(rest, '.') && take_number(rest, version.minor) &&
        take_char(rest, '.') && take_number(rest, version.patch))
      return version;
  }
  const std::string_view first_line = version_output.substr(0, version_output.find('\n'));
  return fail(ErrorKind::restic, "restic: cannot read the version from \"" + std::string(first_line) + "\"");
}

Features Features::of(const Version& version) {
  Features features;
  features.retry_lock = version >= Version{0, 16, 0};
  features.detailed_exit_codes = version >= Version{0, 16, 0};
  features.uncompressed_size = version >= Version{0, 15, 0};
  return features;
}

} // namespace cwb::restic
