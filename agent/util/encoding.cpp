#include "agent/util/encoding.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <fmt/format.h>

namespace lethe::util {

std::string hex_encode(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char ch : bytes) {
        auto c = static_cast<unsigned char>(ch);
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 0x0f]);
    }
    return out;
}

namespace {

constexpr unsigned char kFirstPrintable = 0x20;
constexpr unsigned char kDel = 0x7f;
constexpr unsigned char kC1Lead = 0xc2;  // U+0080..U+009F are 0xc2 0x80..0x9f in UTF-8
constexpr unsigned char kC1Last = 0x9f;

bool is_c1_at(std::string_view text, size_t i) {
    return static_cast<unsigned char>(text[i]) == kC1Lead && i + 1 < text.size() &&
           static_cast<unsigned char>(text[i + 1]) <= kC1Last;
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4, '=');
    size_t o = 0;
    size_t i = 0;
    auto byte = [&bytes](size_t k) { return uint32_t{static_cast<unsigned char>(bytes[k])}; };
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out[o++] = kAlphabet[(v >> 18) & 63];
        out[o++] = kAlphabet[(v >> 12) & 63];
        out[o++] = kAlphabet[(v >> 6) & 63];
        out[o++] = kAlphabet[v & 63];
    }
    size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t v = byte(i) << 16;
        if (rest == 2) v |= byte(i + 1) << 8;
        out[o++] = kAlphabet[(v >> 18) & 63];
        out[o++] = kAlphabet[(v >> 12) & 63];
        if (rest == 2) out[o] = kAlphabet[(v >> 6) & 63];  // else it stays '=', as the last
    }
    return out;
}

namespace {

constexpr std::array<int8_t, 256> kDecodeTable = [] {
    std::array<int8_t, 256> table{};
    table.fill(-1);
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    return table;
}();

// Decodes RFC 4648 base64 with padding; with `canonical`, also refuses text whose last
// character carries bits that encoding the result would not set (so that
// base64_encode(result) == text).
std::optional<std::string> decode(std::string_view text, bool canonical) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    size_t o = 0;
    auto value = [&text](size_t k) -> int {  // the table's -1 (not base64) stays negative
        return kDecodeTable[static_cast<unsigned char>(text[k])];
    };
    size_t full = text.empty() ? 0 : text.size() - 4;  // every quantum but the last
    for (size_t i = 0; i < full; i += 4) {
        int a = value(i);
        int b = value(i + 1);
        int c = value(i + 2);
        int d = value(i + 3);
        if ((a | b | c | d) < 0) return std::nullopt;
        uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                     (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
        out[o++] = static_cast<char>((n >> 16) & 0xff);
        out[o++] = static_cast<char>((n >> 8) & 0xff);
        out[o++] = static_cast<char>(n & 0xff);
    }
    if (!text.empty()) {
        size_t i = full;
        int pad = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
        int a = value(i);
        int b = value(i + 1);
        int c = pad >= 2 ? 0 : value(i + 2);
        int d = pad >= 1 ? 0 : value(i + 3);
        if ((a | b | c | d) < 0) return std::nullopt;
        uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                     (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
        if (canonical && ((pad == 2 && (n & 0xffff) != 0) || (pad == 1 && (n & 0xff) != 0))) {
            return std::nullopt;
        }
        out[o++] = static_cast<char>((n >> 16) & 0xff);
        if (pad < 2) out[o++] = static_cast<char>((n >> 8) & 0xff);
        if (pad < 1) out[o++] = static_cast<char>(n & 0xff);
    }
    out.resize(o);
    return out;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) { return decode(text, false); }

std::optional<std::string> base64_decode_canonical(std::string_view text) {
    return decode(text, true);
}

namespace {
// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    // Reject overlong forms, surrogates and values beyond U+10FFFF.
    static constexpr std::array<uint32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}
}  // namespace

bool is_valid_utf8(std::string_view bytes) {
    for (size_t i = 0; i < bytes.size();) {
        size_t n = utf8_sequence_length(bytes, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string utf8_display(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (size_t i = 0; i < bytes.size();) {
        size_t n = utf8_sequence_length(bytes, i);
        if (n == 0) {
            out += "\xef\xbf\xbd";
            ++i;
        } else {
            out.append(bytes.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string display_name(std::string_view bytes) {
    bool plain = std::all_of(bytes.begin(), bytes.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u >= kFirstPrintable && u < kDel;
    });
    if (plain) return std::string(bytes);
    std::string text = utf8_display(bytes);
    std::string out;
    out.reserve(text.size());
    auto escape = [&out](unsigned char u) { out += fmt::format("\\x{:02x}", u); };
    for (size_t i = 0; i < text.size(); ++i) {
        auto u = static_cast<unsigned char>(text[i]);
        if (u < kFirstPrintable || u == kDel) {
            escape(u);
        } else if (is_c1_at(text, i)) {
            escape(u);
            escape(static_cast<unsigned char>(text[i + 1]));
            ++i;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string json_display(std::string_view json_text) {
    std::string out;
    out.reserve(json_text.size());
    for (size_t i = 0; i < json_text.size(); ++i) {
        auto u = static_cast<unsigned char>(json_text[i]);
        if (u == kDel) {
            out += "\\u007f";
        } else if (is_c1_at(json_text, i)) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(json_text[i + 1]));
            ++i;
        } else {
            out += json_text[i];
        }
    }
    return out;
}

}  // namespace lethe::util
