#include "agent/policy/retention.hpp"

#include <charconv>
#include <chrono>
#include <limits>

#include <fmt/format.h>

namespace lethe::policy {

Result<Retention> Retention::parse(std::string_view text) {
    Retention r;
    if (text == "permanent") {
        r.permanent = true;
        return r;
    }
    auto bad = [&](std::string_view why) {
        return fail(ErrorKind::BadInput,
                    fmt::format("retention '{}' {} (expected e.g. \"7y\", \"18m\", \"2w\", "
                                "\"30d\", \"1y6m\" or \"permanent\")",
                                text, why));
    };
    if (text.empty()) {
        return bad("is empty");
    }
    bool any = false;
    size_t i = 0;
    char last_unit = 0;
    static constexpr std::string_view kOrder = "ymwd";
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
        if (i == start || i == text.size()) {
            return bad("is not a number followed by a unit y, m, w or d");
        }
        int value = 0;
        auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + i, value);
        if (ec != std::errc{} || value > 1000) {
            return bad("is too large");
        }
        char unit = text[i++];
        auto pos = kOrder.find(unit);
        if (pos == std::string_view::npos) {
            return bad(fmt::format("has unknown unit '{}'", unit));
        }
        if (last_unit != 0 && pos <= kOrder.find(last_unit)) {
            return bad("repeats a unit or has them out of order (y, m, w, d)");
        }
        last_unit = unit;
        switch (unit) {
            case 'y': r.years = value; break;
            case 'm': r.months = value; break;
            case 'w': r.days += 7 * value; break;
            case 'd': r.days += value; break;
            default: break;
        }
        any = true;
    }
    if (!any) {
        return bad("has no duration");
    }
    return r;
}

util::Date Retention::add_to(util::Date start) const {
    using namespace std::chrono;
    year_month_day ymd{start};
    year_month ym = year_month{ymd.year(), ymd.month()} + std::chrono::years{this->years} +
                    std::chrono::months{this->months};
    auto last = year_month_day_last{ym.year(), month_day_last{ym.month()}}.day();
    day d = ymd.day() > last ? last : ymd.day();
    return sys_days{year_month_day{ym.year(), ym.month(), d}} + std::chrono::days{this->days};
}

std::string Retention::to_string() const {
    if (permanent) return "permanent";
    std::string out;
    if (years != 0) out += fmt::format("{}y", years);
    if (months != 0) out += fmt::format("{}m", months);
    if (days != 0 || out.empty()) out += fmt::format("{}d", days);
    return out;
}

}  // namespace lethe::policy
