#include "agent/service/timing.hpp"

#include <fmt/format.h>
#include <time.h>

#include <cctype>
#include <charconv>

namespace lethe::service {

namespace {

constexpr int kMinutesPerDay = 24 * 60;

bool parse_hh_mm(std::string_view text, int& minutes) {
    if (text.size() != 5 || text[2] != ':') return false;
    for (size_t i : {0u, 1u, 3u, 4u}) {
        if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) return false;
    }
    int h = (text[0] - '0') * 10 + (text[1] - '0');
    int m = (text[3] - '0') * 10 + (text[4] - '0');
    if (h > 23 || m > 59) return false;
    minutes = h * 60 + m;
    return true;
}

}  // namespace

Result<std::chrono::seconds> parse_interval(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return fail(ErrorKind::BadInput,
                    fmt::format("interval '{}': {} (write e.g. \"1h\", \"30m\", \"1h30m\", \"1d\")",
                                text, why));
    };
    if (text.empty()) return bad("empty");
    int64_t total = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t digits = i;
        while (digits < text.size() &&
               std::isdigit(static_cast<unsigned char>(text[digits])) != 0) {
            ++digits;
        }
        if (digits == i) return bad("expected a number");
        if (digits == text.size()) return bad("a number needs a unit (s, m, h or d)");
        int64_t n = 0;
        auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + digits, n);
        if (ec != std::errc{} || n > 100000) return bad("number too large");
        int64_t unit = 0;
        switch (text[digits]) {
            case 's':
                unit = 1;
                break;
            case 'm':
                unit = 60;
                break;
            case 'h':
                unit = 3600;
                break;
            case 'd':
                unit = 86400;
                break;
            default:
                return bad(fmt::format("unknown unit '{}'", text[digits]));
        }
        total += n * unit;
        i = digits + 1;
    }
    if (total < 60) return bad("must be at least one minute");
    if (total > int64_t{31} * 86400) return bad("must be at most 31 days");
    return std::chrono::seconds(total);
}

Result<ActWindow> ActWindow::parse(std::string_view text) {
    ActWindow w;
    size_t dash = text.find('-');
    if (dash == std::string_view::npos || !parse_hh_mm(text.substr(0, dash), w.start) ||
        !parse_hh_mm(text.substr(dash + 1), w.end)) {
        return fail(ErrorKind::BadInput,
                    fmt::format("window '{}': expected local times \"HH:MM-HH:MM\", e.g. "
                                "\"20:00-06:00\"",
                                text));
    }
    if (w.start == w.end) {
        return fail(ErrorKind::BadInput,
                    fmt::format("window '{}': start and end are the same; leave window out to "
                                "act at any time",
                                text));
    }
    return w;
}

bool ActWindow::contains(int minute_of_day) const {
    if (start < end) return minute_of_day >= start && minute_of_day < end;
    return minute_of_day >= start || minute_of_day < end;
}

int ActWindow::minutes_until_open(int minute_of_day) const {
    if (contains(minute_of_day)) return 0;
    return ((start - minute_of_day) % kMinutesPerDay + kMinutesPerDay) % kMinutesPerDay;
}

std::string ActWindow::to_string() const {
    return fmt::format("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60);
}

Result<AgentTiming> parse_timing(std::string_view interval, std::string_view window) {
    AgentTiming timing;
    auto i = parse_interval(interval);
    if (!i) return fail(i.error().with_context("[agent]"));
    timing.interval = *i;
    if (!window.empty()) {
        auto w = ActWindow::parse(window);
        if (!w) return fail(w.error().with_context("[agent]"));
        timing.window = *w;
    }
    return timing;
}

Result<AgentTiming> parse_timing(const policy::AgentConfig& config) {
    auto where = [&config](const std::string& at) {
        return fmt::format("{}: [agent]", at.empty() ? config.source_path : at);
    };
    AgentTiming timing;
    auto i = parse_interval(config.interval);
    if (!i) return fail(i.error().with_context(where(config.interval_at)));
    timing.interval = *i;
    if (!config.window.empty()) {
        auto w = ActWindow::parse(config.window);
        if (!w) return fail(w.error().with_context(where(config.window_at)));
        timing.window = *w;
    }
    return timing;
}

int local_second_of_day(util::TimePoint t) {
    time_t secs = static_cast<time_t>(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    struct tm local {};
    ::localtime_r(&secs, &local);
    return local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec;
}

util::TimePoint next_pass_time(const AgentTiming& timing, std::optional<util::TimePoint> last_start,
                               util::TimePoint now, int (*second_of_day)(util::TimePoint)) {
    util::TimePoint next = last_start ? *last_start + timing.interval : now;
    if (next < now) next = now;
    if (!timing.window) return next;
    int sec = second_of_day(next);
    int wait_minutes = timing.window->minutes_until_open(sec / 60);
    if (wait_minutes == 0) return next;
    // To the start of the opening minute.
    return next + std::chrono::seconds(wait_minutes * 60 - sec % 60);
}

}  // namespace lethe::service
