#include "agent/ledger/dsse.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"

namespace lethe::ledger {

std::string pae(std::string_view payload_type, std::string_view payload) {
    return fmt::format("DSSEv1 {} {} {} {}", payload_type.size(), payload_type, payload.size(),
                       payload);
}

std::string Envelope::to_json() const {
    nlohmann::json sigs = nlohmann::json::array();
    for (const auto& s : signatures) {
        sigs.push_back({{"keyid", s.keyid}, {"sig", util::base64_encode(s.sig)}});
    }
    nlohmann::json j = {{"payload", util::base64_encode(payload)},
                        {"payloadType", payload_type},
                        {"signatures", sigs}};
    return j.dump();
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
