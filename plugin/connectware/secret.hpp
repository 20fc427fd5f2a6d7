#pragma once
// The client keeps credentials as util::Secret (prints as "********"), the same type the configuration
// hands out.

#include "util/secret.hpp"

namespace cwb::connectware {
using util::Secret;

/// Returns "********" whatever the secret is.
inline std::string to_string(const Secret&) {
  return "********";
}
} // namespace cwb::connectware
