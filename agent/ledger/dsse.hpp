#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"

namespace lethe::ledger {

// The payload type of every lethe certificate envelope.
inline constexpr std::string_view kPayloadType = "application/vnd.lethe.certificate+json";

// DSSE pre-authentication encoding (secure-systems-lab/dsse protocol.md):
//   "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
std::string pae(std::string_view payload_type, std::string_view payload);

struct DsseSignature {
    std::string keyid;
    std::string sig;  // raw bytes
};

// A parsed DSSE envelope: {"payload": b64, "payloadType": ..., "signatures": [...]}.
struct Envelope {
    std::string payload_type;
    std::string payload;  // decoded bytes
    std::vector<DsseSignature> signatures;

    // One line of compact JSON with sorted keys; base64 is RFC 4648 §4 with padding.
    [[nodiscard]] std::string to_json() const;
    // Strict: rejects missing fields, wrong types and invalid base64.
    [[nodiscard]] static Result<Envelope> parse(std::string_view json_line);
    // Parses a line only if it is exactly what to_json() writes for one signature with plain
    // (unescaped) strings, as lethe writes every line; nullopt otherwise, for parse() to judge.
    // A fast path for verifying large ledgers: no JSON document is built.
    [[nodiscard]] static std::optional<Envelope> parse_canonical(std::string_view json_line);
};

}  // namespace lethe::ledger
