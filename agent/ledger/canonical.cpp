#include "agent/ledger/canonical.hpp"

#include <fmt/format.h>

namespace lethe::ledger {

namespace {

// Returns the JSON pointer of the first floating-point number in `value`, if any. The
// pointer is built only on the way back from a float: this runs for every certificate
// signed and every line verified, and payloads hold none.
std::optional<std::string> find_float(const nlohmann::json& value) {
    if (value.is_number_float()) return std::string();
    if (value.is_object()) {
        for (const auto& [key, item] : value.items()) {
            if (!item.is_structured() && !item.is_number_float()) continue;
            if (auto found = find_float(item)) return fmt::format("/{}{}", key, *found);
        }
    } else if (value.is_array()) {
        size_t i = 0;
        for (const auto& item : value) {
            if (auto found = find_float(item)) return fmt::format("/{}{}", i, *found);
            ++i;
        }
    }
    return std::nullopt;
}

}  // namespace

Result<std::string> canonical_json(const nlohmann::json& value) {
    if (auto where = find_float(value)) {
        if (where->empty()) *where = "/";
        return fail(ErrorKind::Internal,
                    fmt::format("certificate payload: {} is a floating-point number; payloads "
                                "hold integers only",
                                *where));
    }
    try {
        // nlohmann::json objects are std::maps (keys in byte order); dump() with no indent
        // is compact, and its default error handler throws on invalid UTF-8.
        return value.dump();
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::Internal, fmt::format("certificate payload: {}", e.what()));
    }
}

bool is_canonical_json(std::string_view text) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded()) return false;
    auto again = canonical_json(value);
    return again && *again == text;
}

}  // namespace lethe::ledger
