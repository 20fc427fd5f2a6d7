#include "auth.hpp"

#include "util/sha256.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace cwb::emulator {
namespace {

std::vector<std::string_view> split_levels(std::string_view text) {
  std::vector<std::string_view> levels;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) {
      levels.push_back(text.substr(start));
      return levels;
    }
    levels.push_back(text.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string base64url(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                      static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(length));
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (standard.size() % 4 != 0)
    standard.push_back('=');
  return decode_base64(standard);
}

} // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int length =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it)
    ++padding;
  out.resize(static_cast<std::size_t>(length) - std::min<std::size_t>(padding, 2));
  return out;
}

Operation operation_for_method(std::string_view method) {
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return Operation::read;
  return Operation::write;
}

bool path_matches(std::string_view pattern, std::string_view path) {
  const auto wanted = split_levels(pattern);
  const auto levels = split_levels(path);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (wanted[i] == "#") return true; // the rest, including nothing
    if (i >= levels.size()) return false;
    if (wanted[i] != "+" && wanted[i] != levels[i]) return false;
  }
  // "/api/services/#" also covers "/api/services/" (an empty last level).
  return wanted.size() == levels.size();
}

bool Permission::allows(std::string_view path, Operation wanted) const {
  const bool operation_granted = operation == "readWrite" || (operation == "read" && wanted == Operation::read) ||
                                 (operation == "write" && wanted == Operation::write);
  return operation_granted && path_matches(resource, path);
}

bool any_allows(const std::vector<Permission>& permissions, std::string_view path, Operation operation) {
  for (const auto& permission : permissions) {
    if (permission.allows(path, operation)) return true;
  }
  return false;
}

std::string hash_password(std::string_view salt, std::string_view password) {
  return util::sha256_hex(std::string(salt) + ":" + std::string(password));
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : buffer) {
    hex.push_back(digits[byte >> 4]);
    hex.push_back(digits[byte & 0x0f]);
  }
  return hex;
}

std::string TokenSigner::sign(std::string_view data) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(), &length);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string TokenSigner::issue(const std::string& username, std::chrono::system_clock::time_point expires_at) const {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count();
  const std::string header = base64url(R"({"alg":"HS256","typ":"JWT"})");
  const std::string payload = base64url(nlohmann::json{{"sub", username}, {"exp", exp}}.dump());
  const std::string signed_part = header + "." + payload;
  return signed_part + "." + sign(signed_part);
}

std::optional<std::string> TokenSigner::verify(std::string_view token,
                                               std::chrono::system_clock::time_point now) const {
  const std::size_t last_dot = token.rfind('.');
  const std::size_t first_dot = token.find('.');
  if (last_dot == std::string_view::npos || first_dot == last_dot) return std::nullopt;
  const std::string_view signed_part = token.substr(0, last_dot);
  if (sign(signed_part) != token.substr(last_dot + 1)) return std::nullopt;
  const auto payload = base64url_decode(token.substr(first_dot + 1, last_dot - first_dot - 1));
  if (!payload) return std::nullopt;
  const auto json = nlohmann::json::parse(*payload, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  const auto exp = json.value("exp", std::int64_t{0});
  const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (exp <= now_seconds) return std::nullopt;
  return json.value("sub", std::string());
}

} // namespace cwb::emulator
