#pragma once
// The answer of GET /api/maintenance/db, parsed tolerantly: `running` is required, the `backup` and
// `restore` objects and all their fields are optional and may be null (as they are before the first
// backup), text fields may come as numbers, unknown fields are ignored, and both the documented spelling
// "succeded" and "succeeded" are accepted.

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace cwb::connectware {

/// The last backup or restore Connectware remembers.
struct OperationStatus {
  std::optional<bool> succeeded; // nullopt: the server did not say
  std::string id;                // backup ids start with the Connectware version, then the start time
  std::string message;           // "message" (or "error") as the server wrote it; may be empty
  nlohmann::json raw;            // the whole object, for fields we do not know yet
};

struct MaintenanceStatus {
  bool running = false;
  std::optional<OperationStatus> backup;
  std::optional<OperationStatus> restore;
};

/// Parses a status body. Errors: malformed_response when the body is not JSON (an HTML error page, say), not
/// an object, or lacks a boolean `running`; the message names the field and quotes the start of the body.
Result<MaintenanceStatus> parse_maintenance_status(std::string_view body);

/// Returns the first `limit` characters of `body` on one line, for error messages.
std::string excerpt(std::string_view body, std::size_t limit = 160);

} // namespace cwb::connectware
