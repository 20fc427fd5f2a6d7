#pragma once
// Connectware versions ("1.10.2") and the cross-version restore rules: which backup files a given
// Connectware refuses to restore, and the message that names the last version able to restore them.

#include "core/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::emulator {

/// A dotted numeric version; compares component by component ("1.10.0" > "1.9.9"), missing parts are 0.
struct Version {
  std::vector<unsigned> parts;
  std::string text;

  /// Returns the parsed version. Errors: usage when `text` is not digits separated by dots.
  static Result<Version> parse(std::string_view text);

  friend bool operator==(const Version& a, const Version& b) { return compare(a, b) == 0; }
  friend bool operator<(const Version& a, const Version& b) { return compare(a, b) < 0; }
  static int compare(const Version& a, const Version& b);
};

/// "<1.5.0=1.4.9": the database structure changed at 1.5.0, so archives made below 1.5.0 can only be
/// restored by versions up to 1.4.9.
struct CompatRule {
  Version changed_at;
  Version last_restoring;

  /// Returns the parsed rule. Errors: usage naming the rule when it is not "<VERSION=VERSION".
  static Result<CompatRule> parse(std::string_view text);
};

/// Returns the refusal message when `own` must refuse an archive made by `archive`, or nullopt when it
/// can restore it. Archives from a newer version are refused too.
std::optional<std::string> restore_refusal(const Version& archive, const Version& own,
                                           const std::vector<CompatRule>& rules);

/// Returns the message used when a restore is refused and `last_restoring` is the newest version that
/// could restore an archive made by `archive_version` (also used by the refuse_restore fault).
std::string refusal_message(std::string_view archive_version, std::string_view last_restoring);

} // namespace cwb::emulator
