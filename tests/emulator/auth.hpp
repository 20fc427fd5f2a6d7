#pragma once
// Connectware's access model as the emulator needs it: permissions are HTTP paths with MQTT wildcards
// ('#' any number of levels, '+' exactly one) and an operation; passwords are salted hashes; tokens
// from POST /api/login are signed (JWT-shaped) and carry their user and expiry.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cwb::emulator {

enum class Operation { read, write };

/// Returns read for GET/HEAD/OPTIONS and write for everything else.
Operation operation_for_method(std::string_view method);

/// Returns whether the MQTT-style `pattern` ("/api/maintenance/#") matches the HTTP `path`.
bool path_matches(std::string_view pattern, std::string_view path);

struct Permission {
  std::string resource;  // path pattern
  std::string operation; // "read", "write" or "readWrite"

  /// Returns whether this permission grants `operation` on `path`.
  [[nodiscard]] bool allows(std::string_view path, Operation operation) const;
};

/// Returns whether any of `permissions` grants `operation` on `path`.
bool any_allows(const std::vector<Permission>& permissions, std::string_view path, Operation operation);

/// Returns the salted password hash stored in the users table (hex SHA-256 of salt ":" password).
std::string hash_password(std::string_view salt, std::string_view password);

/// Returns `bytes` random bytes as lower-case hex (salts, secrets).
std::string random_hex(std::size_t bytes);

/// Returns the bytes of standard (padded) base64 `text`, nullopt when it is not base64.
std::optional<std::string> decode_base64(std::string_view text);

/// Issues and checks login tokens: base64url(header).base64url({"sub","exp"}).base64url(HMAC-SHA256).
class TokenSigner {
public:
  explicit TokenSigner(std::string secret) : secret_(std::move(secret)) {}

  /// Returns a token for `username` valid until `expires_at`.
  [[nodiscard]] std::string issue(const std::string& username, std::chrono::system_clock::time_point expires_at) const;
  /// Returns the token's user when its signature is good and it has not expired at `now`, else nullopt.
  [[nodiscard]] std::optional<std::string> verify(std::string_view token,
                                                  std::chrono::system_clock::time_point now) const;

private:
  [[nodiscard]] std::string sign(std::string_view data) const;
  std::string secret_;
};

} // namespace cwb::emulator
