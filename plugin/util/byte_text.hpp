#pragma once
// Bytes in text formats: file names and link targets may hold any byte but NUL, and JSON strings hold only
// valid UTF-8. Names that are valid UTF-8 are written as they are; the others (and binary values such as
// extended attributes) as base64.

#include <optional>
#include <string>
#include <string_view>

namespace cwb::util {

/// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

/// `text` with every byte that does not start a well-formed UTF-8 character replaced by U+FFFD, one per
/// byte: what Go's encoding/json makes of such a string, and so what restic before 0.16 stored as a
/// symbolic link's target (restic issue #3311; 0.16 added `linktarget_raw`).
std::string with_invalid_utf8_replaced(std::string_view text);

/// `text` fit for a one-line message: valid UTF-8 stays as it is, except control characters (newlines in
/// a file name) written as \n, \t or \xNN; bytes that are not UTF-8 are written as \xNN.
std::string printable(std::string_view text);

/// Standard base64 (RFC 4648, with padding) of any bytes.
std::string base64_encode(std::string_view bytes);

/// The bytes of standard base64 text, or nullopt when `text` is not such text.
std::optional<std::string> base64_decode(std::string_view text);

} // namespace cwb::util
