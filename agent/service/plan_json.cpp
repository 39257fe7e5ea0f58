#include "agent/service/plan_json.hpp"

#include <chrono>
#include <iterator>
#include <string_view>

#include "agent/util/encoding.hpp"

namespace lethe::service {

namespace {

void append(fmt::memory_buffer& out, std::string_view text) { out.append(text.data(), text.data() + text.size()); }

// A JSON string as nlohmann::json::dump() writes it (ensure_ascii off): `text` must be UTF-8.
void append_string(fmt::memory_buffer& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    size_t plain = 0;  // start of the run of bytes copied as they are
    for (size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        append(out, text.substr(plain, i - plain));
        plain = i + 1;
        switch (c) {
            case '"': append(out, "\\\""); break;
            case '\\': append(out, "\\\\"); break;
            case '\b': append(out, "\\b"); break;
            case '\f': append(out, "\\f"); break;
            case '\n': append(out, "\\n"); break;
            case '\r': append(out, "\\r"); break;
            case '\t': append(out, "\\t"); break;
            default: {
                const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
                out.append(escaped, escaped + sizeof escaped);
            }
        }
    }
    append(out, text.substr(plain));
    out.push_back('"');
}

void append_key(fmt::memory_buffer& out, std::string_view key, bool first = false) {
    if (!first) out.push_back(',');
    out.push_back('"');
    append(out, key);
    append(out, "\":");
}

void append_date(fmt::memory_buffer& out, util::Date date) {
    std::chrono::year_month_day ymd{date};
    fmt::format_to(std::back_inserter(out), FMT_STRING("\"{:04}-{:02}-{:02}\""), static_cast<int>(ymd.year()),
                   static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

// util::format_timestamp(time, true) in quotes, without its temporaries.
void append_timestamp(fmt::memory_buffer& out, util::TimePoint time) {
    auto day = std::chrono::floor<std::chrono::days>(time);
    std::chrono::year_month_day ymd{util::Date{day}};
    std::chrono::hh_mm_ss hms{std::chrono::duration_cast<std::chrono::nanoseconds>(time - day)};
    auto it = std::back_inserter(out);
    fmt::format_to(it, FMT_STRING("\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}"), static_cast<int>(ymd.year()),
                   static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                   hms.minutes().count(), hms.seconds().count());
    if (auto nanos = hms.subseconds().count(); nanos != 0) fmt::format_to(it, FMT_STRING(".{:09}"), nanos);
    append(out, "Z\"");
}

bool writable(const PlanEntry& e) {
    if (!e.review.is_null()) return false;
    auto utf8 = [](const std::string& s) { return util::is_valid_utf8(s); };
    if (!utf8(e.root) || !utf8(e.category) || !utf8(e.schedule_id) || !utf8(e.schedule_sha256) ||
        !utf8(e.reason)) {
        return false;
    }
    for (const auto& h : e.holds) {
        if (!utf8(h)) return false;
    }
    return true;
}

}  // namespace

void append_json_line(const PlanEntry& e, fmt::memory_buffer& out) {
    if (!writable(e)) {
        append(out, e.to_json().dump());
        out.push_back('\n');
        return;
    }
    auto it = std::back_inserter(out);
    out.push_back('{');
    append_key(out, "action", true);
    append_string(out, policy::to_string(e.action));
    append_key(out, "category");
    append_string(out, e.category);
    if (e.client) {
        append_key(out, "client");
        append_string(out, util::is_valid_utf8(*e.client) ? std::string_view(*e.client)
                                                          : std::string_view(util::utf8_display(*e.client)));
    }
    append_key(out, "device");
    fmt::format_to(it, FMT_STRING("{}"), e.facts.device);
    append_key(out, "expires");
    if (e.expires) {
        append_date(out, *e.expires);
    } else {
        append(out, "\"permanent\"");
    }
    if (!e.holds.empty()) {
        append_key(out, "holds");
        out.push_back('[');
        for (size_t i = 0; i < e.holds.size(); ++i) {
            if (i > 0) out.push_back(',');
            append_string(out, e.holds[i]);
        }
        out.push_back(']');
    }
    append_key(out, "inode");
    fmt::format_to(it, FMT_STRING("{}"), e.facts.inode);
    if (e.matter) {
        append_key(out, "matter");
        append_string(out, util::is_valid_utf8(*e.matter) ? std::string_view(*e.matter)
                                                          : std::string_view(util::utf8_display(*e.matter)));
    }
    append_key(out, "mode");
    append_string(out, policy::to_string(e.mode));
    append_key(out, "mtime");
    append_timestamp(out, e.facts.mtime);
    append_key(out, "nlink");
    fmt::format_to(it, FMT_STRING("{}"), e.facts.nlink);
    append_key(out, "path");
    if (util::is_valid_utf8(e.facts.path)) {
        append_string(out, e.facts.path);
    } else {
        append_string(out, util::utf8_display(e.facts.path));
        append_key(out, "path_b64");
        append_string(out, util::base64_encode(e.facts.path));
    }
    if (!e.reason.empty()) {
        append_key(out, "reason");
        append_string(out, e.reason);
    }
    append_key(out, "root");
    append_string(out, e.root);
    append_key(out, "schedule");
    append_string(out, e.schedule_id);
    append_key(out, "schedule_sha256");
    append_string(out, e.schedule_sha256);
    append_key(out, "schedule_version");
    fmt::format_to(it, FMT_STRING("{}"), e.schedule_version);
    append_key(out, "size");
    fmt::format_to(it, FMT_STRING("{}"), e.facts.size);
    append_key(out, "status");
    append_string(out, classify::to_string(e.status));
    append_key(out, "trigger_date");
    append_date(out, e.trigger_date);
    append(out, "}\n");
}

}  // namespace lethe::service
