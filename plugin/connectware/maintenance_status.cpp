#include "connectware/maintenance_status.hpp"

namespace cwb::connectware {

namespace {

using nlohmann::json;

OperationStatus parse_operation(const json& object) {
  OperationStatus operation;
  for (const char* key : {"succeeded", "succeded"}) {
    if (const auto it = object.find(key); it != object.end() && it->is_boolean()) {
      operation.succeeded = it->get<bool>();
      break;
    }
  }
  operation.id = object.value("id", std::string());
  operation.message = object.value("message", std::string());
  if (operation.message.empty()) {
    if (const auto it = object.find("error"); it != object.end() && it->is_string()) operation.message = *it;
  }
  operation.raw = object;
  return operation;
}

} // namespace

std::string excerpt(std::string_view body, std::size_t limit) {
  std::string result;
  bool space = false;
  for (const char c : body) {
    if (result.size() >= limit) {
      result += "...";
      break;
    }
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !result.empty();
      continue;
    }
    if (space) result += ' ';
    space = false;
    result += c;
  }
  return result;
}

Result<MaintenanceStatus> parse_maintenance_status(std::string_view body) {
  const auto document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return fail(ErrorKind::http, "maintenance status is not JSON: \"" + excerpt(body) + "\"");
  }
  if (!document.is_object()) {
    return fail(ErrorKind::http, "maintenance status is not a JSON object: \"" + excerpt(body) + "\"");
  }
  try {
    MaintenanceStatus status;
    status.running = document.at("running").get<bool>();
    if (const auto it = document.find("backup"); it != document.end() && it->is_object()) {
      status.backup = parse_operation(*it);
    }
    if (const auto it = document.find("restore"); it != document.end() && it->is_object()) {
      status.restore = parse_operation(*it);
    }
    return status;
  } catch (const json::exception& error) {
    return fail(ErrorKind::http, std::string("maintenance status: ") + error.what() + " in \"" + excerpt(body) + "\"");
  }
}

} // namespace cwb::connectware
