#include "config/config_file.hpp"

#include "util/file_system.hpp"

#include <algorithm>

namespace cwb::config {
namespace {

constexpr std::string_view blanks = " \t\r";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(blanks);
  return text.substr(first, last - first + 1);
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// A '#' starts a comment after an unquoted value only when blanks precede it, so URLs with fragments and
// values like "a#b" survive.
std::string_view strip_trailing_comment(std::string_view value) {
  for (std::size_t i = 1; i < value.size(); ++i)
    if (value[i] == '#' && (value[i - 1] == ' ' || value[i - 1] == '\t')) return trim(value.substr(0, i));
  return value;
}

} // namespace

Result<std::vector<ConfigFileEntry>> parse_config_text(std::string_view text, const std::filesystem::path& file) {
  std::vector<ConfigFileEntry> entries;
  int line_number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto raw_line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_number;

    const auto where = file.string() + ":" + std::to_string(line_number) + ": ";
    const auto line = trim(raw_line);
    if (line.empty() || line.front() == '#') continue;

    const auto equals = line.find('=');
    if (equals == std::string_view::npos)
      return fail(ErrorKind::usage, where + "expected \"key = value\", got \"" + std::string{line} + "\"");
    const auto key = trim(line.substr(0, equals));
    if (key.empty()) return fail(ErrorKind::usage, where + "missing key before \"=\"");
    if (!std::ranges::all_of(key, is_key_char))
      return fail(ErrorKind::usage, where + "invalid key \"" + std::string{key} +
                                        "\": keys are lower-case words joined by dashes, like the long flags");

    auto value = trim(line.substr(equals + 1));
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      const char quote = value.front();
      const auto closing = value.find(quote, 1);
      if (closing == std::string_view::npos)
        return fail(ErrorKind::usage, where + "unterminated " + (quote == '"' ? "double" : "single") +
                                          " quote in the value of " + std::string{key});
      const auto rest = trim(value.substr(closing + 1));
      if (!rest.empty() && rest.front() != '#')
        return fail(ErrorKind::usage, where + "unexpected text after the closing quote of " + std::string{key});
      value = value.substr(1, closing - 1);
    } else {
      value = strip_trailing_comment(value);
    }
    entries.push_back(ConfigFileEntry{std::string{key}, std::string{value}, line_number});
  }
  return entries;
}

Result<std::vector<ConfigFileEntry>> read_config_file(const std::filesystem::path& file) {
  auto text = util::read_file(file);
  if (!text) return fail(ErrorKind::usage, "config file: " + text.error().message);
  return parse_config_text(*text, file);
}

} // namespace cwb::config
