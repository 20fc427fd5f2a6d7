#include "http/transport.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace cwb::http {

namespace {

std::string lower(std::string_view text) {
  std::string result(text);
  std::ranges::transform(result, result.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

bool is_token_parameter(std::string_view name) {
  constexpr std::array names{"apitoken", "token", "access_token", "password"};
  const auto lowered = lower(name);
  return std::ranges::any_of(names, [&](const char* candidate) { return lowered == candidate; });
}

} // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  const auto wanted = lower(name);
  for (const auto& [key, value] : headers) {
    if (lower(key) == wanted) return value;
  }
  return std::nullopt;
}

std::string redact_url(std::string_view url) {
  std::string result(url);
  // Drop user:password@ from the authority.
  if (const auto scheme_end = result.find("://"); scheme_end != std::string::npos) {
    const auto authority_start = scheme_end + 3;
    const auto authority_end = result.find_first_of("/?#", authority_start);
    const auto authority = std::string_view(result).substr(
        authority_start, authority_end == std::string::npos ? std::string::npos : authority_end - authority_start);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) result.erase(authority_start, at + 1);
  }
  // Mask token-like query values.
  const auto query_start = result.find('?');
  if (query_start == std::string::npos) return result;
  std::string redacted = result.substr(0, query_start + 1);
  std::string_view query = std::string_view(result).substr(query_start + 1);
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    if (!first) redacted += '&';
    first = false;
    const auto eq = part.find('=');
    if (eq != std::string_view::npos && is_token_parameter(part.substr(0, eq))) {
      redacted.append(part.substr(0, eq + 1));
      redacted += "********";
    } else {
      redacted.append(part);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return redacted;
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string result;
  result.reserve(text.size());
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      result += static_cast<char>(c);
    } else {
      result += '%';
      result += hex[c >> 4];
      result += hex[c & 0x0F];
    }
  }
  return result;
}

} // namespace cwb::http
