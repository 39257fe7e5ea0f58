#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "agent/util/error.hpp"

namespace lethe::ledger {

// The canonical JSON form of a certificate payload: object keys sorted by their UTF-8 bytes,
// no insignificant whitespace, integers only (a floating-point number anywhere is refused,
// since its text form is not unique), strings valid UTF-8 written raw except for the escapes
// JSON requires ("\"", "\\" and control characters, as \b \f \n \r \t or \u00XX).
// Fails with Internal for a float or invalid UTF-8: payloads are built by lethe itself.
[[nodiscard]] Result<std::string> canonical_json(const nlohmann::json& value);

// True when `text` is exactly the canonical form of the JSON value it encodes.
[[nodiscard]] bool is_canonical_json(std::string_view text);

}  // namespace lethe::ledger
