#pragma once
// A password or token that cannot leak by accident: it prints as "********" everywhere (streams, fmt/spdlog
// via config/logging.hpp) and its bytes are only reachable through reveal(), which is easy to grep for.

#include <ostream>
#include <string>
#include <string_view>

namespace cwb::util {

class Secret {
public:
  static constexpr std::string_view mask = "********";

  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  /// Overwrites the bytes before freeing them, so a core dump holds fewer copies.
  ~Secret();

  /// Returns the secret itself: only for the place that hands it to the peer (HTTP header, child env).
  [[nodiscard]] const std::string& reveal() const { return value_; }
  /// Returns true when no secret was given.
  [[nodiscard]] bool empty() const { return value_.empty(); }
  /// Returns "********" when set, "" when empty: what logs and --show-config print.
  [[nodiscard]] std::string redacted() const { return value_.empty() ? std::string{} : std::string{mask}; }

  friend bool operator==(const Secret& a, const Secret& b) = default;
  friend std::ostream& operator<<(std::ostream& out, const Secret& secret) { return out << secret.redacted(); }

private:
  void wipe() noexcept;
  std::string value_;
};

} // namespace cwb::util
