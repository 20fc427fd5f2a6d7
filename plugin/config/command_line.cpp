#include "config/command_line.hpp"

#include "config/config.hpp"

#include <CLI/CLI.hpp>

namespace cwb::config {
namespace {

std::string describe(const KeyInfo& key) {
  std::string text{key.help};
  text += " [env ";
  text += key.env_var;
  if (!key.default_text.empty()) text += ", default " + key.default_text;
  text += "]";
  return text;
}

std::string type_name(ValueType type) {
  switch (type) {
  case ValueType::string: return "TEXT";
  case ValueType::path: return "PATH";
  case ValueType::boolean: return "BOOL";
  case ValueType::integer: return "N";
  case ValueType::duration: return "DURATION";
  case ValueType::enumeration: return "CHOICE";
  case ValueType::list: return "A,B,...";
  }
  return "VALUE";
}

} // namespace

void add_options(CLI::App& app, CommandLine& command_line) {
  app.add_option_function<std::string>(
         "--config", [&command_line](const std::string& file) { command_line.config_file = file; },
         "Read settings from this file (key = value lines) [env CONNECTWARE_CONFIG]")
      ->type_name("FILE");
  app.add_flag_callback(
      "--show-config", [&command_line] { command_line.show_config = true; },
      "Print every setting with its origin (secrets masked) and exit");

  std::string environment_only;
  for (const auto& key : Config::keys()) {
    const std::string name{key.name};
    if (key.exposure == Exposure::environment_only) {
      environment_only += "\n  " + std::string{key.env_var} + ": " + std::string{key.help};
      continue;
    }
    const auto store = [&command_line, name](const std::string& value) { command_line.values[name] = value; };
    switch (key.type) {
    case ValueType::boolean: app.add_flag("--" + name)->description(describe(key))->each(store); break;
    case ValueType::list:
      app.add_option("--" + name)
          ->description(describe(key))
          ->type_name(type_name(key.type))
          ->expected(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
          ->each([&command_line, name](const std::string& value) {
            auto [entry, inserted] = command_line.values.try_emplace(name, value);
            if (!inserted) entry->second += "," + value;
          });
      break;
    default:
      app.add_option("--" + name)->description(describe(key))->type_name(type_name(key.type))->each(store);
      break;
    }
  }

  // Secrets have no flag so that they never show up in `ps`; say where they go instead.
  std::string footer = app.get_footer();
  if (!footer.empty()) footer += "\n\n";
  footer += "Secrets are read from the environment only (or from the matching *-file option):" + environment_only;
  app.footer(footer);
}

} // namespace cwb::config
