#include "util/secret.hpp"

#include <string.h>

namespace cwb::util {

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) {
  other.wipe();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = std::move(other.value_);
    other.wipe();
  }
  return *this;
}

Secret::~Secret() {
  wipe();
}

void Secret::wipe() noexcept {
  // explicit_bzero cannot be optimised away like a memset before free.
  if (!value_.empty()) explicit_bzero(value_.data(), value_.size());
  value_.clear();
}

} // namespace cwb::util
