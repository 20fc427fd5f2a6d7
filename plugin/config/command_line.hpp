#pragma once
// The command-line layer of the configuration: add_options() registers one long flag per key on a CLI11
// app (keys that are environment-only, i.e. secrets, get none) and collects what the user gave into a
// CommandLine, which Config::resolve() then layers over the environment and the config file.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace cwb::config {

/// The configuration flags given on the command line: only those present, as raw text.
struct CommandLine {
  std::map<std::string, std::string, std::less<>> values; // key -> value; list flags given twice are joined with ','
  std::optional<std::filesystem::path> config_file;       // --config
  bool show_config = false;                               // --show-config
};

/// Registers --<key> for every key that may appear on the command line, plus --config FILE and
/// --show-config, each with its help text, environment variable and default for --help. CLI11 fills
/// `command_line` while parsing, so it must outlive app.parse(). Boolean keys are flags that also take a
/// value (--insecure, --insecure=false); list keys may repeat (--tags a --tags b) or take "a,b".
void add_options(CLI::App& app, CommandLine& command_line);

} // namespace cwb::config
