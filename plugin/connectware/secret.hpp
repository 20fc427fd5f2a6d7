#pragma once
// A password or token that prints as "********", so it cannot reach a log, a --show-config dump or an error
// message by accident. Code that needs the value says so with reveal().

#include <algorithm>
#include <ostream>
#include <string>
#include <utility>

namespace cwb::connectware {

class Secret {
public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      wipe();
      value_ = std::move(other.value_);
      other.wipe();
    }
    return *this;
  }
  // Overwrites the characters so a freed buffer does not keep the secret around.
  ~Secret() { wipe(); }

  /// Returns the secret itself: only for handing it to the transport.
  [[nodiscard]] const std::string& reveal() const { return value_; }
  [[nodiscard]] bool empty() const { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream& out, const Secret&) { return out << "********"; }

private:
  void wipe() noexcept {
    std::fill(value_.begin(), value_.end(), '\0');
    value_.clear();
  }
  std::string value_;
};

/// Returns "********" whatever the secret is.
inline std::string to_string(const Secret&) {
  return "********";
}

} // namespace cwb::connectware
