#include "util/url_credentials.hpp"

namespace cwb::util {
namespace {

// The authority of a URL ends at the path, query or fragment, and a URL inside prose or JSON ends at
// whitespace or a quote.
bool ends_authority(char c) {
  switch (c) {
  case '/':
  case '?':
  case '#':
  case ' ':
  case '\t':
  case '\n':
  case '\r':
  case '"':
  case '\'':
  case '<':
  case '>':
  case '`': return true;
  default: return false;
  }
}

} // namespace

std::string mask_url_credentials(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  std::size_t copied = 0;
  for (auto scheme_end = text.find("://"); scheme_end != std::string_view::npos;
       scheme_end = text.find("://", scheme_end + 3)) {
    const std::size_t authority_start = scheme_end + 3;
    std::size_t authority_end = authority_start;
    while (authority_end < text.size() && !ends_authority(text[authority_end]))
      ++authority_end;
    // The last '@' ends the user information: a password may itself contain '@' when not percent-encoded.
    const auto authority = text.substr(authority_start, authority_end - authority_start);
    const auto at = authority.rfind('@');
    if (at == std::string_view::npos) continue;
    const auto colon = authority.find(':');
    const std::size_t mask_from = authority_start + (colon != std::string_view::npos && colon < at ? colon + 1 : 0);
    result.append(text.substr(copied, mask_from - copied));
    result.append(url_password_mask);
    copied = authority_start + at;
  }
  result.append(text.substr(copied));
  return result;
}

} // namespace cwb::util
