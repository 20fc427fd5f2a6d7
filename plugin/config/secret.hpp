#pragma once
// The configuration hands out secrets as util::Secret (prints as "********").

#include "util/secret.hpp"

namespace cwb::config {
using util::Secret;
} // namespace cwb::config
