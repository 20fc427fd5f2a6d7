#pragma once
// How a backup holds Connectware's configuration still while the database is exported and the volumes
// staged. Connectware has no read-only mode: `pause` holds the configuration writers through the
// installation (installation::Installation::hold_configuration: on Compose, the service-manager paused);
// `verify` takes a fingerprint of the configuration before and after and stages again when it changed;
// `none` trusts the operator.

namespace cwb::backup {

enum class QuiesceMode { pause, verify, none };

/// Returns "pause", "verify" or "none".
constexpr const char* to_string(QuiesceMode mode) noexcept {
  switch (mode) {
  case QuiesceMode::pause: return "pause";
  case QuiesceMode::verify: return "verify";
  case QuiesceMode::none: return "none";
  }
  return "none";
}

} // namespace cwb::backup
