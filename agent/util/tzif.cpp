#include "agent/util/tzif.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>

#include <fmt/format.h>

#include "agent/util/fd.hpp"

namespace lethe::util {

namespace {

constexpr int64_t kDay = 86400;
// RFC 8536 section 3.2: a UT offset should lie in [-89999, 93599] (-24:59:59 to +25:59:59).
constexpr int32_t kMinOffset = -89999;
constexpr int32_t kMaxOffset = 93599;
// Larger than any zone file tzdata ships (the largest are under 4 KiB).
constexpr size_t kMaxTzifBytes = size_t{256} * 1024;

// --- POSIX TZ strings ----------------------------------------------------------------------

class TzCursor {
public:
    explicit TzCursor(std::string_view text) : m_text(text) {}
    [[nodiscard]] bool done() const { return m_pos >= m_text.size(); }
    [[nodiscard]] char peek() const { return done() ? '\0' : m_text[m_pos]; }
    [[nodiscard]] size_t pos() const { return m_pos; }
    bool take(char c) {
        if (peek() != c || done()) return false;
        ++m_pos;
        return true;
    }
    // Up to `max_digits` decimal digits; none when there is no digit.
    std::optional<int> number(int max_digits) {
        int value = 0;
        int n = 0;
        while (n < max_digits && !done() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
            value = value * 10 + (m_text[m_pos] - '0');
            ++m_pos;
            ++n;
        }
        if (n == 0) return std::nullopt;
        return value;
    }
    std::string_view rest() const { return m_text.substr(std::min(m_pos, m_text.size())); }
    std::string_view text() const { return m_text; }
    void advance(size_t n) { m_pos += n; }

private:
    std::string_view m_text;
    size_t m_pos = 0;
};

Error tz_error(const TzCursor& c, std::string_view what, std::optional<size_t> at = std::nullopt) {
    return Error(ErrorKind::BadInput, fmt::format("TZ rule '{}': {} at offset {}", c.text(), what,
                                                  at.value_or(c.pos())));
}

// A zone abbreviation: three or more letters, or <...> holding letters, digits, + and -.
Result<std::string> parse_tz_name(TzCursor& c) {
    std::string name;
    if (c.take('<')) {
        while (!c.done() && c.peek() != '>') {
            char ch = c.peek();
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '+' || ch == '-';
            if (!ok) return tl::unexpected(tz_error(c, "bad character in a <quoted> zone name"));
            name.push_back(ch);
            c.advance(1);
        }
        if (!c.take('>')) return tl::unexpected(tz_error(c, "unterminated <quoted> zone name"));
    } else {
        while (!c.done() && ((c.peek() >= 'A' && c.peek() <= 'Z') || (c.peek() >= 'a' && c.peek() <= 'z'))) {
            name.push_back(c.peek());
            c.advance(1);
        }
    }
    if (name.size() < 3) return tl::unexpected(tz_error(c, "a zone name needs at least 3 characters"));
    return name;
}

// [+|-]hh[:mm[:ss]] with hh up to `max_hours`; the value in seconds, sign applied.
Result<int32_t> parse_tz_time(TzCursor& c, int max_hours) {
    int sign = 1;
    if (c.take('-')) {
        sign = -1;
    } else {
        (void)c.take('+');
    }
    size_t at = c.pos();
    auto hours = c.number(3);
    if (!hours || *hours > max_hours) {
        return tl::unexpected(tz_error(c, fmt::format("expected hours from 0 to {}", max_hours), at));
    }
    int minutes = 0;
    int seconds = 0;
    if (c.take(':')) {
        at = c.pos();
        auto m = c.number(2);
        if (!m || *m > 59) return tl::unexpected(tz_error(c, "expected minutes from 00 to 59", at));
        minutes = *m;
        if (c.take(':')) {
            at = c.pos();
            auto s = c.number(2);
            if (!s || *s > 59) return tl::unexpected(tz_error(c, "expected seconds from 00 to 59", at));
            seconds = *s;
        }
    }
    return sign * (*hours * 3600 + minutes * 60 + seconds);
}

Result<PosixTimeZone::Rule> parse_tz_rule(TzCursor& c) {
    using Kind = PosixTimeZone::Rule::Kind;
    PosixTimeZone::Rule r;
    if (c.take('M')) {
        size_t at = c.pos();
        auto month = c.number(2);
        if (!month || *month < 1 || *month > 12) return tl::unexpected(tz_error(c, "expected a month from 1 to 12", at));
        if (!c.take('.')) return tl::unexpected(tz_error(c, "expected '.' after the month"));
        at = c.pos();
        auto week = c.number(1);
        if (!week || *week < 1 || *week > 5) return tl::unexpected(tz_error(c, "expected a week from 1 to 5", at));
        if (!c.take('.')) return tl::unexpected(tz_error(c, "expected '.' after the week"));
        at = c.pos();
        auto weekday = c.number(1);
        if (!weekday || *weekday > 6) return tl::unexpected(tz_error(c, "expected a weekday from 0 to 6", at));
        r.kind = Kind::MonthWeekDay;
        r.month = *month;
        r.week = *week;
        r.day = *weekday;
    } else if (c.take('J')) {
        size_t at = c.pos();
        auto day = c.number(3);
        if (!day || *day < 1 || *day > 365) return tl::unexpected(tz_error(c, "expected a Julian day from 1 to 365", at));
        r.kind = Kind::Julian1;
        r.day = *day;
    } else {
        size_t at = c.pos();
        auto day = c.number(3);
        if (!day || *day > 365) return tl::unexpected(tz_error(c, "expected a day from 0 to 365", at));
        r.kind = Kind::Julian0;
        r.day = *day;
    }
    if (c.take('/')) {
        auto t = parse_tz_time(c, 167);
        if (!t) return tl::unexpected(t.error());
        r.time = *t;
    }
    return r;
}

bool is_leap(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// Days since 1970-01-01 of the local date a rule names in `year`.
int64_t rule_day(const PosixTimeZone::Rule& r, int year) {
    using namespace std::chrono;
    int64_t jan1 = sys_days{std::chrono::year{year} / January / 1}.time_since_epoch().count();
    switch (r.kind) {
        case PosixTimeZone::Rule::Kind::Julian1:
            return jan1 + r.day - 1 + ((is_leap(year) && r.day >= 60) ? 1 : 0);
        case PosixTimeZone::Rule::Kind::Julian0:
            return jan1 + r.day;
        case PosixTimeZone::Rule::Kind::MonthWeekDay: {
            auto first = sys_days{std::chrono::year{year} / month{static_cast<unsigned>(r.month)} / 1};
            unsigned first_weekday = weekday{first}.c_encoding();
            int64_t day = (r.day - static_cast<int>(first_weekday) + 7) % 7 + (r.week - 1) * 7;
            auto last = sys_days{std::chrono::year{year} / month{static_cast<unsigned>(r.month)} / std::chrono::last};
            int64_t days_in_month = (last - first).count() + 1;
            while (day >= days_in_month) day -= 7;
            return first.time_since_epoch().count() + day;
        }
    }
    return jan1;
}

int civil_year(int64_t unix_seconds) {
    using namespace std::chrono;
    auto days = floor<std::chrono::days>(sys_seconds{seconds{unix_seconds}});
    return static_cast<int>(year_month_day{days}.year());
}

// --- TZif -----------------------------------------------------------------------------------

int64_t read_be(std::string_view bytes, size_t at, size_t width) {
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    if (width == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
}

struct Header {
    char version = 0;
    uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
    // Bytes of the data block after the header, for transition times of `width` bytes.
    [[nodiscard]] size_t data_size(size_t width) const {
        return timecnt * width + timecnt + typecnt * size_t{6} + charcnt +
               leapcnt * (width + 4) + isstdcnt + isutcnt;
    }
};

constexpr size_t kHeaderSize = 44;

Result<Header> read_header(std::string_view bytes, size_t at, const std::string& name) {
    if (bytes.size() < at + kHeaderSize) {
        return fail(ErrorKind::BadInput, fmt::format("time zone '{}': not a TZif file: truncated "
                                                     "header ({} bytes)", name, bytes.size()));
    }
    if (bytes.substr(at, 4) != "TZif") {
        return fail(ErrorKind::BadInput,
                    fmt::format("time zone '{}': not a TZif file (bad magic)", name));
    }
    Header h;
    h.version = bytes[at + 4];
    if (h.version != '\0' && h.version < '2') {
        return fail(ErrorKind::BadInput, fmt::format("time zone '{}': unknown TZif version byte {}",
                                                     name, static_cast<int>(h.version)));
    }
    auto count = [&](size_t i) { return static_cast<uint32_t>(read_be(bytes, at + 20 + 4 * i, 4)); };
    h.isutcnt = count(0);
    h.isstdcnt = count(1);
    h.leapcnt = count(2);
    h.timecnt = count(3);
    h.typecnt = count(4);
    h.charcnt = count(5);
    auto bad = [&](std::string_view what) {
        return fail(ErrorKind::BadInput, fmt::format("time zone '{}': corrupt TZif file: {}", name, what));
    };
    if (h.typecnt == 0 || h.typecnt > 256) return bad(fmt::format("{} local time types (1 to 256 allowed)", h.typecnt));
    if (h.charcnt == 0) return bad("no time zone designations");
    if (h.isutcnt != 0 && h.isutcnt != h.typecnt) return bad("UT/local indicator count differs from the type count");
    if (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) return bad("standard/wall indicator count differs from the type count");
    // Bound every count by the bytes actually there before multiplying.
    if (h.timecnt > bytes.size() || h.leapcnt > bytes.size() || h.charcnt > bytes.size()) {
        return bad("counts larger than the file");
    }
    return h;
}

}  // namespace

Result<PosixTimeZone> PosixTimeZone::parse(std::string_view text) {
    TzCursor c(text);
    PosixTimeZone z;
    auto std_name = parse_tz_name(c);
    if (!std_name) return fail(std_name.error());
    z.std_name = *std_name;
    auto std_offset = parse_tz_time(c, 24);
    if (!std_offset) return fail(std_offset.error());
    z.std_offset = -*std_offset;
    if (!c.done()) {
        auto dst_name = parse_tz_name(c);
        if (!dst_name) return fail(dst_name.error());
        z.has_dst = true;
        z.dst_name = *dst_name;
        z.dst_offset = z.std_offset + 3600;
        if (!c.done() && c.peek() != ',') {
            auto dst_offset = parse_tz_time(c, 24);
            if (!dst_offset) return fail(dst_offset.error());
            z.dst_offset = -*dst_offset;
        }
        if (c.done()) {
            // No rule: the default of the reference implementation (tzcode), the US rules.
            z.start = Rule{Rule::Kind::MonthWeekDay, 0, 2, 3, 7200};
            z.end = Rule{Rule::Kind::MonthWeekDay, 0, 1, 11, 7200};
        } else {
            if (!c.take(',')) return fail(tz_error(c, "expected ',' before the start rule"));
            auto start = parse_tz_rule(c);
            if (!start) return fail(start.error());
            if (!c.take(',')) return fail(tz_error(c, "expected ',' before the end rule"));
            auto end = parse_tz_rule(c);
            if (!end) return fail(end.error());
            z.start = *start;
            z.end = *end;
        }
    }
    if (!c.done()) return fail(tz_error(c, "unexpected text"));
    return z;
}

int32_t PosixTimeZone::offset_at(int64_t unix_seconds) const {
    if (!has_dst) return std_offset;
    // The transitions of the year around the instant and of its neighbours, so that rules
    // whose times run past the year's ends (v3: -167h..167h) are placed correctly.
    int year = civil_year(unix_seconds + std_offset);
    std::array<std::pair<int64_t, bool>, 6> transitions{};
    for (size_t i = 0; i < 3; ++i) {
        int y = year - 1 + static_cast<int>(i);
        transitions[2 * i] = {rule_day(start, y) * kDay + start.time - std_offset, true};
        transitions[2 * i + 1] = {rule_day(end, y) * kDay + end.time - dst_offset, false};
    }
    // On a tie (daylight saving all year: the end of one year is the start of the next), the
    // start comes last and wins.
    std::sort(transitions.begin(), transitions.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : (!a.second && b.second);
    });
    bool dst = !transitions.front().second;  // before the first: the opposite of it
    for (const auto& [at, starts] : transitions) {
        if (at > unix_seconds) break;
        dst = starts;
    }
    return dst ? dst_offset : std_offset;
}

TimeZone TimeZone::utc() {
    TimeZone z;
    z.m_name = "UTC";
    z.m_utc = true;
    z.m_types.push_back(Type{0, false});
    return z;
}

Result<TimeZone> TimeZone::from_tzif(std::string_view bytes, std::string name) {
    auto first = read_header(bytes, 0, name);
    if (!first) return fail(first.error());
    const std::string label = name;  // `name` moves into the zone below
    auto bad = [&label](std::string_view what) {
        return fail(ErrorKind::BadInput, fmt::format("time zone '{}': corrupt TZif file: {}", label, what));
    };
    Header h = *first;
    size_t at = kHeaderSize;
    size_t width = 4;
    if (h.version != '\0') {
        // Version 2 and later: skip the 32-bit block and read the 64-bit one after it.
        if (bytes.size() - at < h.data_size(4)) return bad("truncated version 1 data block");
        at += h.data_size(4);
        auto second = read_header(bytes, at, name);
        if (!second) return fail(second.error());
        h = *second;
        at += kHeaderSize;
        width = 8;
    }
    if (bytes.size() - at < h.data_size(width)) {
        return bad(fmt::format("truncated data block ({} bytes where {} are needed)",
                               bytes.size() - at, h.data_size(width)));
    }
    if (h.leapcnt != 0) {
        return fail(ErrorKind::BadInput,
                    fmt::format("time zone '{}' counts leap seconds (a \"right/\" zone); lethe "
                                "reads the POSIX zones only", label));
    }
    TimeZone z;
    z.m_name = std::move(name);
    z.m_times.reserve(h.timecnt);
    for (uint32_t i = 0; i < h.timecnt; ++i) {
        int64_t t = read_be(bytes, at + i * width, width);
        if (!z.m_times.empty() && t <= z.m_times.back()) return bad("transition times are not ascending");
        z.m_times.push_back(t);
    }
    at += h.timecnt * width;
    for (uint32_t i = 0; i < h.timecnt; ++i) {
        auto index = static_cast<uint8_t>(bytes[at + i]);
        if (index >= h.typecnt) return bad(fmt::format("transition {} names local time type {} of {}", i, index, h.typecnt));
        z.m_indexes.push_back(index);
    }
    at += h.timecnt;
    for (uint32_t i = 0; i < h.typecnt; ++i) {
        auto offset = static_cast<int32_t>(read_be(bytes, at + size_t{6} * i, 4));
        auto dst = static_cast<unsigned char>(bytes[at + size_t{6} * i + 4]);
        auto designation = static_cast<unsigned char>(bytes[at + size_t{6} * i + 5]);
        if (offset < kMinOffset || offset > kMaxOffset) return bad(fmt::format("UT offset {} out of range", offset));
        if (dst > 1) return bad("a daylight saving indicator other than 0 or 1");
        if (designation >= h.charcnt) return bad("a designation index past the designations");
        z.m_types.push_back(Type{offset, dst == 1});
    }
    at += h.typecnt * size_t{6} + h.charcnt + h.isstdcnt + h.isutcnt;
    if (width == 8) {
        // The footer: a POSIX TZ string between two newlines, for instants after the table.
        if (at >= bytes.size() || bytes[at] != '\n') return bad("missing footer");
        auto close = bytes.find('\n', at + 1);
        if (close == std::string_view::npos) return bad("unterminated footer");
        std::string_view tz = bytes.substr(at + 1, close - at - 1);
        if (!tz.empty()) {
            auto rule = PosixTimeZone::parse(tz);
            if (!rule) return bad(rule.error().message());
            z.m_footer = *rule;
        }
    }
    z.m_utc = z.m_times.empty() && z.m_types.size() == 1 && z.m_types[0].offset == 0 &&
              (!z.m_footer || (!z.m_footer->has_dst && z.m_footer->std_offset == 0));
    return z;
}

int32_t TimeZone::offset_at(int64_t unix_seconds) const {
    if (m_utc) return 0;
    if (m_times.empty() || unix_seconds >= m_times.back()) {
        if (m_footer) return m_footer->offset_at(unix_seconds);
        if (m_times.empty()) return m_types[0].offset;
        return m_types[m_indexes.back()].offset;
    }
    auto it = std::upper_bound(m_times.begin(), m_times.end(), unix_seconds);
    if (it == m_times.begin()) return m_types[0].offset;
    return m_types[m_indexes[static_cast<size_t>(it - m_times.begin()) - 1]].offset;
}

Date TimeZone::local_date(TimePoint time) const {
    auto seconds = std::chrono::floor<std::chrono::seconds>(time);
    if (m_utc) return std::chrono::floor<std::chrono::days>(seconds);
    int32_t offset = offset_at(seconds.time_since_epoch().count());
    return std::chrono::floor<std::chrono::days>(seconds + std::chrono::seconds{offset});
}

TimePoint TimeZone::start_of(Date day) const {
    const int64_t midnight = std::chrono::sys_seconds(day).time_since_epoch().count();
    if (m_utc) return TimePoint{std::chrono::seconds{midnight}};
    // Local wall time at t is t + offset_at(t): it rises with t except where clocks go back.
    auto wall = [this](int64_t t) { return t + offset_at(t); };
    // UT offsets stay well within 27 hours, so the wall clock reads before midnight at lo
    // and after it at hi. The first instant at which it reads midnight or later, found
    // where the wall clock rises (this also lands on the end of a gap that skips midnight).
    constexpr int64_t kHour = 3600;
    int64_t lo = midnight - 27 * kHour;
    int64_t hi = midnight + 27 * kHour;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (wall(mid) >= midnight) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    int64_t first = hi;
    // Where clocks go back across midnight, the wall clock reads midnight twice: take the
    // earlier reading. Each offset in force near that day is tried as the one at midnight.
    for (int64_t k = -9; k <= 9; ++k) {
        int32_t offset = offset_at(midnight + k * 3 * kHour);
        int64_t t = midnight - offset;
        if (t < first && offset_at(t) == offset) first = t;
    }
    return TimePoint{std::chrono::seconds{first}};
}

Result<TimeZone> load_time_zone(std::string_view name, const std::string& root) {
    auto refuse = [&](std::string_view why) {
        return fail(ErrorKind::BadInput, fmt::format("time zone '{}': {}", name, why));
    };
    if (name.empty() || name.size() > 255) return refuse("not an IANA zone name such as \"Europe/London\"");
    if (name.front() == '/') return refuse("must be an IANA zone name such as \"Europe/London\", not a path");
    size_t begin = 0;
    while (begin <= name.size()) {
        size_t end = name.find('/', begin);
        if (end == std::string_view::npos) end = name.size();
        std::string_view part = name.substr(begin, end - begin);
        if (part.empty() || part == "." || part == "..") {
            return refuse("must be an IANA zone name such as \"Europe/London\" (no empty, '.' or '..' parts)");
        }
        for (char ch : part) {
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-';
            if (!ok) {
                return refuse(fmt::format("'{}' is not allowed in a zone name (letters, digits, _ + - and /)",
                                          ch));
            }
        }
        begin = end + 1;
    }

    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        return refuse(fmt::format("the time zone database cannot be read: {} (is the tzdata "
                                  "package installed?)",
                                  errno_error(root, errno).message()));
    }
    // RESOLVE_BENEATH follows Debian's relative links (GB -> Europe/London) but refuses any
    // that leads out of the folder (localtime -> /etc/localtime).
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    std::string relative(name);
    UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, dir.get(), relative.c_str(), &how, sizeof how)));
    if (!fd) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            return refuse(fmt::format("unknown zone: {}/{} does not exist (zone names are "
                                      "IANA names such as \"Europe/London\" or \"America/New_York\")",
                                      root, name));
        }
        if (err == EXDEV) return refuse(fmt::format("{}/{} is a link that leads out of {}", root, name, root));
        return refuse(errno_error(fmt::format("{}/{}", root, name), err).message());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return refuse(errno_error("fstat", errno).message());
    if (S_ISDIR(st.st_mode)) return refuse(fmt::format("{}/{} is a folder of zones, not a zone", root, name));
    if (!S_ISREG(st.st_mode)) return refuse(fmt::format("{}/{} is not a regular file", root, name));
    if (static_cast<size_t>(st.st_size) > kMaxTzifBytes) {
        return refuse(fmt::format("{}/{} is {} bytes, too large for a TZif file", root, name, st.st_size));
    }
    std::string bytes;
    bytes.resize(static_cast<size_t>(st.st_size) + 1);
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return refuse(errno_error(fmt::format("read {}/{}", root, name), errno).message());
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    bytes.resize(got);
    if (got > kMaxTzifBytes) return refuse(fmt::format("{}/{} grew while being read", root, name));
    return TimeZone::from_tzif(bytes, std::string(name));
}

}  // namespace lethe::util
