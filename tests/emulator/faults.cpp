#include "faults.hpp"

#include <charconv>
#include <set>

namespace cwb::emulator {
namespace {

const std::set<std::string, std::less<>> numeric_faults = {"slow_export", "slow_restore", "http_500"};
const std::set<std::string, std::less<>> counted_faults = {
    "fail_export",      "fail_restore",       "truncate_download", "corrupt_download",    "drop_connection", "http_500",
    "backup_start_502", "backup_started_502", "restore_start_502", "restore_started_502", "status_html"};
const std::set<std::string, std::less<>> other_faults = {"stuck_running", "refuse_restore", "variant",
                                                         "instant_restore", "stopped_service"};
const std::set<std::string, std::less<>> variants = {"docs", "nulls", "terse"};

std::optional<unsigned> parse_unsigned(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

} // namespace

Result<> FaultSet::validate(const Map& faults) {
  for (const auto& [name, value] : faults) {
    const bool known = numeric_faults.contains(name) || counted_faults.contains(name) || other_faults.contains(name);
    if (!known) return fail(ErrorKind::usage, "unknown fault: " + name);
    const bool needs_number = numeric_faults.contains(name);
    const bool may_have_number = counted_faults.contains(name);
    if ((needs_number || (may_have_number && !value.empty())) && !parse_unsigned(value))
      return fail(ErrorKind::usage, "fault " + name + " needs a number, got \"" + value + "\"");
    if (name == "variant" && !variants.contains(value))
      return fail(ErrorKind::usage, "variant needs docs, nulls or terse, got \"" + value + "\"");
    if (name == "refuse_restore" && value.empty())
      return fail(ErrorKind::usage, "fault refuse_restore needs the last version that can restore, e.g. 1.4.9");
    if (name == "stopped_service" && value.empty())
      return fail(ErrorKind::usage, "fault stopped_service needs a service name, e.g. protocol-mapper");
  }
  return {};
}

Result<FaultSet::Map> FaultSet::parse(const std::vector<std::string>& items) {
  Map faults;
  for (const auto& item : items) {
    const std::size_t equals = item.find('=');
    faults[item.substr(0, equals)] = equals == std::string::npos ? "" : item.substr(equals + 1);
  }
  CWB_TRY(validate(faults));
  return faults;
}

Result<FaultSet::Map> FaultSet::from_json(const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("faults") || !body["faults"].is_object())
    return fail(ErrorKind::usage, R"(expected {"faults": {"NAME": "VALUE", ...}})");
  Map faults;
  for (const auto& [name, value] : body["faults"].items()) {
    if (value.is_string())
      faults[name] = value.get<std::string>();
    else if (value.is_number_unsigned())
      faults[name] = std::to_string(value.get<unsigned>());
    else if (value.is_null() || value.is_boolean())
      faults[name] = "";
    else
      return fail(ErrorKind::usage, "fault " + name + ": value must be a string or a number");
  }
  CWB_TRY(validate(faults));
  return faults;
}

void FaultSet::replace(Map faults) {
  const std::lock_guard lock(mutex_);
  faults_ = std::move(faults);
}

nlohmann::json FaultSet::to_json() const {
  const std::lock_guard lock(mutex_);
  return nlohmann::json{{"faults", faults_}};
}

std::optional<std::string> FaultSet::value(const std::string& name) const {
  const std::lock_guard lock(mutex_);
  const auto found = faults_.find(name);
  if (found == faults_.end()) return std::nullopt;
  return found->second;
}

bool FaultSet::consume(const std::string& name) {
  const std::lock_guard lock(mutex_);
  const auto found = faults_.find(name);
  if (found == faults_.end()) return false;
  if (found->second.empty()) return true;
  const auto remaining = parse_unsigned(found->second);
  if (!remaining || *remaining == 0) {
    faults_.erase(found);
    return false;
  }
  if (*remaining == 1)
    faults_.erase(found);
  else
    found->second = std::to_string(*remaining - 1);
  return true;
}

unsigned FaultSet::seconds(const std::string& name) const {
  const auto text = value(name);
  if (!text) return 0;
  return parse_unsigned(*text).value_or(0);
}

} // namespace cwb::emulator
