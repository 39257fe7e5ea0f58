#include "agent/util/time.hpp"

#include <charconv>

#include <fmt/format.h>

namespace lethe::util {

namespace {

bool parse_int(std::string_view text, int& out) {
    if (text.empty()) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

}  // namespace

Result<Date> parse_date(std::string_view text) {
    int y = 0;
    int m = 0;
    int d = 0;
    if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !parse_int(text.substr(0, 4), y) ||
        !parse_int(text.substr(5, 2), m) || !parse_int(text.substr(8, 2), d)) {
        return fail(ErrorKind::BadInput,
                    fmt::format("'{}' is not a date (expected YYYY-MM-DD)", text));
    }
    std::chrono::year_month_day ymd{std::chrono::year{y},
                                    std::chrono::month{static_cast<unsigned>(m)},
                                    std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return fail(ErrorKind::BadInput, fmt::format("'{}' is not a valid calendar date", text));
    }
    return Date{ymd};
}

std::string format_date(Date date) {
    std::chrono::year_month_day ymd{date};
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

std::string format_timestamp(TimePoint time, bool with_nanos) {
    auto day = std::chrono::floor<std::chrono::days>(time);
    auto since_midnight = time - day;
    std::chrono::hh_mm_ss hms{std::chrono::duration_cast<std::chrono::nanoseconds>(since_midnight)};
    auto nanos = hms.subseconds().count();
    std::string base = fmt::format("{}T{:02}:{:02}:{:02}", format_date(Date{day}),
                                   hms.hours().count(), hms.minutes().count(),
                                   hms.seconds().count());
    if (with_nanos && nanos != 0) {
        return fmt::format("{}.{:09}Z", base, nanos);
    }
    return base + "Z";
}

Result<TimePoint> parse_timestamp(std::string_view text) {
    auto date = parse_date(text.substr(0, std::min<size_t>(text.size(), 10)));
    if (!date) {
        return fail(date.error());
    }
    TimePoint result{*date};
    if (text.size() == 10) {
        return result;
    }
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (text.size() < 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
        text.back() != 'Z' || !parse_int(text.substr(11, 2), hh) ||
        !parse_int(text.substr(14, 2), mm) || !parse_int(text.substr(17, 2), ss) || hh > 23 ||
        mm > 59 || ss > 60) {
        return fail(ErrorKind::BadInput,
                    fmt::format("'{}' is not a UTC time (expected YYYY-MM-DDThh:mm:ssZ)", text));
    }
    result += std::chrono::hours{hh} + std::chrono::minutes{mm} + std::chrono::seconds{ss};
    std::string_view frac = text.substr(19, text.size() - 20);
    if (!frac.empty()) {
        int ns = 0;
        if (frac[0] != '.' || frac.size() > 10 || !parse_int(frac.substr(1), ns)) {
            return fail(ErrorKind::BadInput, fmt::format("'{}': bad fraction of a second", text));
        }
        for (size_t i = frac.size() - 1; i < 9; ++i) ns *= 10;
        result += std::chrono::nanoseconds{ns};
    }
    return result;
}

TimePoint from_timespec(int64_t seconds, uint32_t nanoseconds) {
    return TimePoint{std::chrono::seconds{seconds}} + std::chrono::nanoseconds{nanoseconds};
}

Date date_of(TimePoint time) { return std::chrono::floor<std::chrono::days>(time); }

}  // namespace lethe::util
