#pragma once
// restic's version and the features that depend on it, so commands use newer flags only where they exist.

#include "core/error.hpp"

#include <compare>
#include <string>
#include <string_view>

namespace cwb::restic {

struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;

  auto operator<=>(const Version&) const = default;
  /// "0.14.0"
  [[nodiscard]] std::string to_string() const;
};

/// Returns the version in the output of `restic version` ("restic 0.14.0 compiled with go1.19.8 on
/// linux/amd64"). Errors: restic when the text does not start with "restic X.Y.Z".
Result<Version> parse_version(std::string_view version_output);

/// What a restic version can do; all false for 0.14.
struct Features {
  bool retry_lock = false;          // --retry-lock (0.16)
  bool detailed_exit_codes = false; // exit codes 10 (no repository), 11 (locked), 12 (wrong password) (0.16)
  bool uncompressed_size = false;   // stats raw-data reports total_uncompressed_size (0.15)

  /// Returns the features of `version`.
  static Features of(const Version& version);
};

} // namespace cwb::restic
