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

// A path, name or message for a terminal or a log line: invalid UTF-8 shown as U+FFFD, and
// each control character shown as the \xNN of its bytes: C0 (newline, carriage return, tab,
// ESC, ...), DEL and C1 (U+0080..U+009F, \xc2\xNN), so that one file stays on one line and
// a name can neither forge a line nor send a terminal an escape sequence. Printable ASCII
// comes back unchanged; the result is valid UTF-8 without control characters, so escaping
// it again changes nothing. JSON output keeps the exact bytes instead.
std::string display_name(std::string_view bytes);

// JSON text (as nlohmann::json::dump writes it, which escapes only C0 controls) with DEL and
// C1 control characters written as \u007f and \u0080..\u009f: the same JSON value, safe on a
// terminal. Outside strings valid JSON has no such characters, so only strings change.
std::string json_display(std::string_view json_text);

}  // namespace lethe::util
