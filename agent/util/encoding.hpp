#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lethe::util {

// Lowercase hex of raw bytes.
std::string hex_encode(std::string_view bytes);

// RFC 4648 §4 base64, standard alphabet, with padding.
std::string base64_encode(std::string_view bytes);
// Strict decode: rejects characters outside the alphabet and bad padding.
std::optional<std::string> base64_decode(std::string_view text);
// As base64_decode, but only the canonical encoding of the bytes: the unused bits of the last
// character must be zero, so that base64_encode(result) == text.
std::optional<std::string> base64_decode_canonical(std::string_view text);

bool is_valid_utf8(std::string_view bytes);

// The bytes with each invalid UTF-8 sequence replaced by U+FFFD: for display only.
std::string utf8_display(std::string_view bytes);

}  // namespace lethe::util
