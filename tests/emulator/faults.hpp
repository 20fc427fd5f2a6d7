#pragma once
// Injected faults: a thread-safe set of NAME -> VALUE that the handlers consult. Set at start with
// --fault NAME[=VALUE] and replaced at run time through PUT /emulator/faults.
//
// Names: slow_export=SECONDS, fail_export, stuck_running, truncate_download, corrupt_download,
// http_500=COUNT, drop_connection, fail_restore, refuse_restore=LASTVERSION (every archive but the server's
// own newest export, which a rollback uploads), slow_restore=SECONDS,
// backup_start_502 and restore_start_502 (the backup POST or the restore upload is answered 502 and nothing
// starts, as when a proxy cannot reach Connectware), backup_started_502 and restore_started_502 (the
// operation starts, yet the answer is a 502, as when the proxy gives up waiting), status_html (the status is
// answered 200 with a proxy's HTML login page instead of JSON), instant_restore (the restore is over before
// the upload is answered: `running` can never be seen, as with a small database on a fast server),
// stopped_service=NAME (GET /api/system/health also lists NAME as `exited`, as Connectware lists a container
// its operator stopped; set it with --fault to keep it across a restart of the container). fail_export,
// fail_restore, the download faults and the start faults take an optional COUNT: with it they fire for the next COUNT
// operations and then clear themselves (so retries can be tested); without it, always.
//
// Not a fault but set the same way, `variant` picks how the API answers, within what Connectware's docs
// allow: `docs` (as the docs show it, the default), `nulls` (every field present and null before the first
// backup, `succeeded` spelled right, times, unknown and nested fields, POSTs answered 200 with JSON,
// refusals and failures worded differently: a generic failure quoting version numbers) and `terse` (only
// id, `succeeded` and a numeric finish time, no `restore` before the first restore, POSTs answered 202
// "Accepted").

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cwb::emulator {

class FaultSet {
public:
  using Map = std::map<std::string, std::string>;

  /// Returns the faults parsed from "NAME[=VALUE]" items. Errors: usage naming an unknown fault or a bad value.
  static Result<Map> parse(const std::vector<std::string>& items);
  /// Returns the faults of {"faults": {NAME: VALUE}}. Errors: usage for another shape or unknown names.
  static Result<Map> from_json(const nlohmann::json& body);
  /// Returns ok when every name is known and numeric values are numbers. Errors: usage.
  static Result<> validate(const Map& faults);

  void replace(Map faults);
  [[nodiscard]] nlohmann::json to_json() const;

  /// Returns the fault's value when it is set (without consuming it).
  [[nodiscard]] std::optional<std::string> value(const std::string& name) const;
  [[nodiscard]] bool active(const std::string& name) const { return value(name).has_value(); }
  /// Returns whether the fault fires now. A numeric value is a remaining count: it is decremented and the
  /// fault removed at zero. An empty value fires every time.
  bool consume(const std::string& name);
  /// Returns the fault's value as seconds (0 when unset or unparsable).
  [[nodiscard]] unsigned seconds(const std::string& name) const;

private:
  mutable std::mutex mutex_;
  Map faults_;
};

} // namespace cwb::emulator
