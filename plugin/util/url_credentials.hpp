#pragma once
// Credentials written into URLs ("https://user:pw@host", "s3:https://KEY:SECRET@host/bucket",
// "rest:https://user:pw@host/") are secrets that no Secret object guards: they arrive inside ordinary
// settings (connectware-url, repository, docker-host) and inside other programs' messages that quote them.
// Everything we print or write (logs, --show-config, errors, status.json, the manifest) passes through here.

#include <string>
#include <string_view>

namespace cwb::util {

/// The text that stands in for a URL's password.
inline constexpr std::string_view url_password_mask = "***";

/// Returns `text` with the password of every URL in it replaced by "***" ("https://user:***@host"). A URL
/// with a user but no password ("https://TOKEN@host") has the user masked, since that form carries tokens.
/// Text without "://" comes back unchanged.
std::string mask_url_credentials(std::string_view text);

} // namespace cwb::util
