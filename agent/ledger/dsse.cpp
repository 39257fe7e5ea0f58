#include "agent/ledger/dsse.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"

namespace lethe::ledger {

std::string pae(std::string_view payload_type, std::string_view payload) {
    return fmt::format("DSSEv1 {} {} {} {}", payload_type.size(), payload_type, payload.size(),
                       payload);
}

namespace {

// True when `text` needs no escaping in JSON and is ASCII, as base64, hex and lethe's
// payload type are: such strings are written between quotes as they are.
bool plain(std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') return false;
    }
    return true;
}

}  // namespace

std::string Envelope::to_json() const {
    std::string payload_b64 = util::base64_encode(payload);
    bool fast = plain(payload_type);
    for (const auto& s : signatures) fast = fast && plain(s.keyid);
    if (!fast) {
        // Anything that needs escaping goes through the JSON library (same output form).
        nlohmann::json sigs = nlohmann::json::array();
        for (const auto& s : signatures) {
            sigs.push_back({{"keyid", s.keyid}, {"sig", util::base64_encode(s.sig)}});
        }
        nlohmann::json j = {{"payload", payload_b64}, {"payloadType", payload_type},
                            {"signatures", sigs}};
        return j.dump();
    }
    // The same bytes nlohmann::json would write (sorted keys, compact), without building a
    // document: this runs once per certificate written and once per line verified.
    std::string out;
    out.reserve(payload_b64.size() + payload_type.size() + 160 * signatures.size() + 64);
    out += "{\"payload\":\"";
    out += payload_b64;
    out += "\",\"payloadType\":\"";
    out += payload_type;
    out += "\",\"signatures\":[";
    for (size_t i = 0; i < signatures.size(); ++i) {
        if (i > 0) out += ',';
        out += "{\"keyid\":\"";
        out += signatures[i].keyid;
        out += "\",\"sig\":\"";
        out += util::base64_encode(signatures[i].sig);
        out += "\"}";
    }
    out += "]}";
    return out;
}

std::optional<Envelope> Envelope::parse_canonical(std::string_view line) {
    // {"payload":"B64","payloadType":"T","signatures":[{"keyid":"K","sig":"B64"}]}
    auto take = [&line](std::string_view literal) {
        if (!line.starts_with(literal)) return false;
        line.remove_prefix(literal.size());
        return true;
    };
    auto until_quote = [&line](std::string_view& out) {
        size_t q = line.find('"');
        if (q == std::string_view::npos) return false;
        out = line.substr(0, q);
        line.remove_prefix(q);
        return plain(out);
    };
    std::string_view payload_b64, type, keyid, sig_b64;
    if (!take("{\"payload\":\"") || !until_quote(payload_b64) || !take("\",\"payloadType\":\"") ||
        !until_quote(type) || !take("\",\"signatures\":[{\"keyid\":\"") || !until_quote(keyid) ||
        !take("\",\"sig\":\"") || !until_quote(sig_b64) || !take("\"}]}") || !line.empty()) {
        return std::nullopt;
    }
    // Only the canonical base64 of the bytes (no stray bits in the last character).
    auto payload = util::base64_decode_canonical(payload_b64);
    auto sig = util::base64_decode_canonical(sig_b64);
    if (!payload || !sig) return std::nullopt;
    Envelope env;
    env.payload_type = std::string(type);
    env.payload = std::move(*payload);
    env.signatures.push_back({std::string(keyid), std::move(*sig)});
    return env;
}

Result<Envelope> Envelope::parse(std::string_view json_line) {
    auto j = nlohmann::json::parse(json_line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(ErrorKind::Verification, "not a JSON object");
    }
    auto str = [&](const nlohmann::json& obj, const char* key) -> std::optional<std::string> {
        auto it = obj.find(key);
        if (it == obj.end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    Envelope env;
    auto type = str(j, "payloadType");
    auto payload = str(j, "payload");
    if (!type || !payload) {
        return fail(ErrorKind::Verification, "envelope lacks payloadType or payload");
    }
    env.payload_type = *type;
    auto decoded = util::base64_decode(*payload);
    if (!decoded) return fail(ErrorKind::Verification, "payload is not valid base64");
    env.payload = std::move(*decoded);
    auto sigs = j.find("signatures");
    if (sigs == j.end() || !sigs->is_array() || sigs->empty()) {
        return fail(ErrorKind::Verification, "envelope has no signatures");
    }
    for (const auto& s : *sigs) {
        if (!s.is_object()) return fail(ErrorKind::Verification, "a signature is not an object");
        auto keyid = str(s, "keyid");
        auto sig = str(s, "sig");
        if (!keyid || !sig) return fail(ErrorKind::Verification, "a signature lacks keyid or sig");
        auto raw = util::base64_decode(*sig);
        if (!raw) return fail(ErrorKind::Verification, "a signature is not valid base64");
        env.signatures.push_back({*keyid, std::move(*raw)});
    }
    return env;
}

}  // namespace lethe::ledger
