#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::util {

// Where Debian's tzdata package installs the IANA time zone database.
inline constexpr std::string_view kZoneInfoDir = "/usr/share/zoneinfo";

// A POSIX TZ rule, as in the footer of a TZif file (RFC 8536 section 3.3): a standard time
// and, optionally, a daylight saving time with the rules that start and end it each year.
// Includes the RFC 8536 version 3 extensions (transition times from -167 to 167 hours).
// Offsets are stored as UT offsets, east of Greenwich positive (the opposite sign of the
// text: "EST5EDT" is -18000). Value type.
struct PosixTimeZone {
    // When a daylight saving period starts or ends in a year, as local wall time.
    struct Rule {
        enum class Kind { Julian1, Julian0, MonthWeekDay };  // "Jn", "n", "Mm.w.d"
        Kind kind = Kind::MonthWeekDay;
        int day = 0;     // Jn: 1..365 (29 Feb never counted); n: 0..365; Mm.w.d: weekday 0..6
        int week = 0;    // Mm.w.d: 1..5 (5 = the last such weekday of the month)
        int month = 0;   // Mm.w.d: 1..12
        int32_t time = 7200;  // seconds after local midnight, -167h..167h (default 02:00)
    };
    std::string std_name;
    int32_t std_offset = 0;
    bool has_dst = false;
    std::string dst_name;
    int32_t dst_offset = 0;
    Rule start;  // in local standard time
    Rule end;    // in local daylight saving time

    // Parses e.g. "GMT0BST,M3.5.0/1,M10.5.0", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
    // "<+13>-13". The message says what is wrong and where.
    [[nodiscard]] static Result<PosixTimeZone> parse(std::string_view text);
    // The UT offset in seconds at `unix_seconds`.
    [[nodiscard]] int32_t offset_at(int64_t unix_seconds) const;
};

// A time zone read from a TZif file (RFC 8536 versions 1 to 4): the table of transitions
// and, after the last one, the footer's POSIX TZ rule. Immutable and thread safe once made;
// value type (a few kilobytes).
class TimeZone {
public:
    // UTC, without reading any file.
    [[nodiscard]] static TimeZone utc();
    // Parses the bytes of a TZif file; `name` is the zone's name, for messages and display.
    // Fails on anything RFC 8536 does not allow (bad magic, counts out of range, truncated
    // data, unsorted transitions, indexes out of range, a bad footer) and on leap-second
    // tables (the "right/" zones), which lethe does not support.
    [[nodiscard]] static Result<TimeZone> from_tzif(std::string_view bytes, std::string name);

    [[nodiscard]] const std::string& name() const { return m_name; }
    [[nodiscard]] bool is_utc() const { return m_utc; }
    // The UT offset in seconds at `unix_seconds`.
    [[nodiscard]] int32_t offset_at(int64_t unix_seconds) const;
    // The calendar date on the local wall clock at `time`.
    [[nodiscard]] Date local_date(TimePoint time) const;
    // The instant `day` begins on the local wall clock: local midnight, or, when midnight
    // does not exist that day (clocks go forward at 00:00, as in America/Santiago), the
    // first instant after the gap. When clocks go back across midnight and midnight happens
    // twice, the earlier one. Whole seconds. Used to compare dates of different zones.
    [[nodiscard]] TimePoint start_of(Date day) const;

private:
    struct Type {
        int32_t offset = 0;
        bool dst = false;
    };
    std::string m_name;
    bool m_utc = false;
    std::vector<int64_t> m_times;    // transition instants, strictly ascending
    std::vector<uint8_t> m_indexes;  // the type in force from each transition on
    std::vector<Type> m_types;       // at least one; type 0 applies before the first transition
    std::optional<PosixTimeZone> m_footer;  // after the last transition, when given
};

// Loads the IANA zone `name` (e.g. "Europe/London") from the zoneinfo folder `root`.
// The name must be relative, with components made of [A-Za-z0-9_+-] (no "." or ".."
// components). Symbolic links are followed only while they stay inside `root` (Debian
// links e.g. GB to Europe/London); a link leading out of it is refused. Fails with
// BadInput and a message naming the zone for an unknown zone, a folder, an unreadable or
// corrupt file.
[[nodiscard]] Result<TimeZone> load_time_zone(std::string_view name,
                                              const std::string& root = std::string(kZoneInfoDir));

}  // namespace lethe::util
