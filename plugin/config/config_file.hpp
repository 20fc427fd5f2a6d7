#pragma once
// The config file format: `key = value` lines, keys spelled like the long flags ("connectware-url").
//   # whole-line comment
//   connectware-url = https://connectware.local   # a comment after whitespace
//   tags = "connectware, nightly"                  # quotes optional; quoted text is taken literally
// Blank lines are ignored; a key given twice takes its last value. No escapes, no sections, no includes.

#include "core/error.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::config {

struct ConfigFileEntry {
  std::string key;
  std::string value; // quotes removed, surrounding blanks trimmed
  int line = 0;      // 1-based
};

/// Returns the entries of `text` in file order. Errors: usage "FILE:LINE: <what is wrong>" for a line
/// without "=", an empty or malformed key, an unterminated quote or text after a closing quote. Keys are
/// not checked against the key table here (Config::resolve does that).
Result<std::vector<ConfigFileEntry>> parse_config_text(std::string_view text, const std::filesystem::path& file);

/// Reads and parses `file`. Errors: usage "config file: cannot open FILE: <reason>" or a parse error above.
Result<std::vector<ConfigFileEntry>> read_config_file(const std::filesystem::path& file);

} // namespace cwb::config
