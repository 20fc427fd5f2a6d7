#pragma once
// How a backup holds Connectware's configuration still while the database is exported and the volumes
// staged. Connectware has no read-only mode: `pause` holds the configuration writers through the
// installation (installation::Installation::hold_configuration: on Compose, the service-manager paused);
// `verify` takes a fingerprint of the configuration before and after and stages again when it changed;
// `optimistic` does the same once, and when the configuration changed stages again with it paused (so it
// freezes nothing in the common case, and always ends); `none` trusts the operator.

namespace cwb::backup {

enum class QuiesceMode { optimistic, pause, verify, none };

/// Returns "optimistic", "pause", "verify" or "none".
constexpr const char* to_string(QuiesceMode mode) noexcept {
  switch (mode) {
  case QuiesceMode::optimistic: return "optimistic";
  case QuiesceMode::pause: return "pause";
  case QuiesceMode::verify: return "verify";
  case QuiesceMode::none: return "none";
  }
  return "none";
}

/// What the quiesce came to, recorded with the mode (manifest, status): `unchanged` (optimistic: the
/// configuration did not change, nothing was held) or `paused_retry` (optimistic: it changed, and the
/// staging was done again with the writers paused). Empty for the other modes.
inline constexpr const char* quiesce_outcome_unchanged = "unchanged";
inline constexpr const char* quiesce_outcome_paused_retry = "paused_retry";

} // namespace cwb::backup
