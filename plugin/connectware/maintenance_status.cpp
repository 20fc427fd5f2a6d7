#include "connectware/maintenance_status.hpp"

namespace cwb::connectware {

namespace {

using nlohmann::json;

/// A field that should hold text: a string as it is, a number or boolean as JSON writes it, anything else
/// (null before the first backup, missing, an object) as empty. Never throws.
std::string text_field(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return {};
}

OperationStatus parse_operation(const json& object) {
  OperationStatus operation;
  for (const char* key : {"succeeded", "succeded"}) {
    if (const auto it = object.find(key); it != object.end() && it->is_boolean()) {
      operation.succeeded = it->get<bool>();
      break;
    }
  }
  operation.id = text_field(object, "id");
  operation.message = text_field(object, "message");
  if (operation.message.empty()) operation.message = text_field(object, "error");
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
    return fail(ErrorKind::malformed_response, "maintenance status is not JSON: \"" + excerpt(body) + "\"");
  }
  if (!document.is_object()) {
    return fail(ErrorKind::malformed_response, "maintenance status is not a JSON object: \"" + excerpt(body) + "\"");
  }
  const auto running = document.find("running");
  if (running == document.end() || !running->is_boolean()) {
    return fail(ErrorKind::malformed_response,
                std::string("maintenance status: field \"running\" is ") +
                    (running == document.end() ? "missing" : std::string("not a boolean but ") + running->type_name()) +
                    " in \"" + excerpt(body) + "\"");
  }
  MaintenanceStatus status;
  status.running = running->get<bool>();
  if (const auto it = document.find("backup"); it != document.end() && it->is_object()) {
    status.backup = parse_operation(*it);
  }
  if (const auto it = document.find("restore"); it != document.end() && it->is_object()) {
    status.restore = parse_operation(*it);
  }
  return status;
}

} // namespace cwb::connectware
