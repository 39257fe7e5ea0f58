#include "agent/ledger/canonical.hpp"

#include <fmt/format.h>

#include <iterator>

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

constexpr char kHexDigits[] = "0123456789abcdef";

// Appends `text` as a JSON string exactly as nlohmann::json::dump() writes it (UTF-8 kept
// raw; `"`, `\\` and control characters escaped, the latter as \b \t \n \f \r or
// \u00xx). False when `text` is not valid UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), which dump() refuses too.
bool append_string(std::string& out, std::string_view text) {
    out += '"';
    size_t i = 0;
    while (i < text.size()) {
        // Runs of printable ASCII, nearly all of a payload, are copied in one piece.
        size_t run = i;
        while (run < text.size()) {
            auto r = static_cast<unsigned char>(text[run]);
            if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
            ++run;
        }
        out.append(text.data() + i, run - i);
        i = run;
        if (i == text.size()) break;
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\t': out += "\\t"; break;
                case '\n': out += "\\n"; break;
                case '\f': out += "\\f"; break;
                case '\r': out += "\\r"; break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out += kHexDigits[c >> 4];
                        out += kHexDigits[c & 0xf];
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        size_t len = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xbf;  // the range of the second byte
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) low = 0xa0;   // overlong
            if (c == 0xed) high = 0x9f;  // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) low = 0x90;   // overlong
            if (c == 0xf4) high = 0x8f;  // above U+10FFFF
        } else {
            return false;
        }
        if (text.size() - i < len) return false;
        auto second = static_cast<unsigned char>(text[i + 1]);
        if (second < low || second > high) return false;
        for (size_t k = 2; k < len; ++k) {
            if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
        }
        out.append(text.data() + i, len);
        i += len;
    }
    out += '"';
    return true;
}

// Appends `value` in canonical form; false for what canonical_json refuses (a float,
// invalid UTF-8) or what a payload never holds (binary).
bool append_value(std::string& out, const nlohmann::json& value) {
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
        case Type::object: {
            out += '{';
            bool first = true;
            for (auto it = value.begin(); it != value.end(); ++it) {
                if (!first) out += ',';
                first = false;
                if (!append_string(out, it.key())) return false;
                out += ':';
                if (!append_value(out, it.value())) return false;
            }
            out += '}';
            return true;
        }
        case Type::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value) {
                if (!first) out += ',';
                first = false;
                if (!append_value(out, item)) return false;
            }
            out += ']';
            return true;
        }
        case Type::string:
            return append_string(out, value.get_ref<const std::string&>());
        case Type::boolean:
            out += value.get<bool>() ? "true" : "false";
            return true;
        case Type::null:
            out += "null";
            return true;
        case Type::number_integer:
            fmt::format_to(std::back_inserter(out), "{}", value.get<int64_t>());
            return true;
        case Type::number_unsigned:
            fmt::format_to(std::back_inserter(out), "{}", value.get<uint64_t>());
            return true;
        default:
            return false;
    }
}

}  // namespace

Result<std::string> canonical_json(const nlohmann::json& value) {
    // nlohmann::json objects are std::maps, so keys come in byte order. append_value writes
    // the bytes dump() would (a unit test compares them on random documents) without its
    // per-character overhead: this runs for every certificate signed and line verified.
    std::string out;
    out.reserve(1024);
    if (append_value(out, value)) return out;
    // Refused: say why, as precisely as the JSON library can.
    if (auto where = find_float(value)) {
        if (where->empty()) where->push_back('/');  // not = "/": GCC 12 -Wrestrict false positive
        return fail(ErrorKind::Internal,
                    fmt::format("certificate payload: {} is a floating-point number; payloads "
                                "hold integers only",
                                *where));
    }
    try {
        // Invalid UTF-8: dump() names the offending byte in the error it throws.
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
