// The TZif reader against glibc (an independent implementation reading the same tzdata
// files) and against hand-built files for the parser's error handling.

#include "agent/util/tzif.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::util {
namespace {

using std::chrono::sys_days;

// What glibc's localtime_r says for `t` with TZ set to `tz` (":Zone/Name" or a POSIX rule).
class GlibcZone {
public:
    explicit GlibcZone(const std::string& tz) {
        if (const char* old = std::getenv("TZ")) m_old = old;
        ::setenv("TZ", tz.c_str(), 1);
        ::tzset();
    }
    ~GlibcZone() {
        if (m_old) {
            ::setenv("TZ", m_old->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    GlibcZone(const GlibcZone&) = delete;
    GlibcZone& operator=(const GlibcZone&) = delete;

    struct Local {
        long offset;
        Date date;
    };
    [[nodiscard]] static Local at(int64_t t) {
        time_t tt = static_cast<time_t>(t);
        struct tm tm {};
        EXPECT_NE(::localtime_r(&tt, &tm), nullptr);
        Date d{std::chrono::year{tm.tm_year + 1900} / std::chrono::month{static_cast<unsigned>(tm.tm_mon + 1)} /
               std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
        return {tm.tm_gmtoff, d};
    }

private:
    std::optional<std::string> m_old;
};

TimePoint instant(int64_t t) { return TimePoint{std::chrono::seconds{t}}; }

// Compares the offset and local date at instants spread over 1970..2100 (a step of a day
// and an hour and a bit, so the time of day drifts), and at every second either side of
// each change of offset found on the way. Returns the number of changes found.
int compare_with_glibc(const TimeZone& zone, const std::string& tz, int* compared,
                       int64_t step = 86400 + 3600 + 7) {
    GlibcZone glibc(tz);
    const int64_t from = 0;                                        // 1970-01-01
    const int64_t to = sys_days{std::chrono::year{2100} / 12 / 31}.time_since_epoch().count() * 86400;
    int changes = 0;
    int mismatches = 0;
    auto check = [&](int64_t t) {
        ++*compared;
        auto expected = GlibcZone::at(t);
        if (zone.offset_at(t) != expected.offset || zone.local_date(instant(t)) != expected.date) {
            if (++mismatches <= 5) {
                ADD_FAILURE() << tz << " at " << t << " (" << format_timestamp(instant(t))
                              << "): lethe offset " << zone.offset_at(t) << " date "
                              << format_date(zone.local_date(instant(t))) << ", glibc offset "
                              << expected.offset << " date " << format_date(expected.date);
            }
        }
    };
    int32_t previous = zone.offset_at(from);
    for (int64_t t = from; t <= to; t += step) {
        check(t);
        int32_t now = zone.offset_at(t);
        if (now != previous) {
            // Find the first second of the new offset, then compare around it.
            int64_t lo = t - step;
            int64_t hi = t;
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                (zone.offset_at(mid) == previous ? lo : hi) = mid;
            }
            for (int64_t d : {-3601, -1, 0, 1, 3599}) check(hi + d);
            ++changes;
            previous = now;
        }
    }
    return changes;
}

// --- Hand-built files -------------------------------------------------------------------

void put32(std::string& out, int64_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put64(std::string& out, int64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

struct Blob {
    char version = '2';
    std::vector<int64_t> times;
    std::vector<uint8_t> indexes;
    std::vector<std::pair<int32_t, uint8_t>> types;  // offset, isdst
    std::string designations = std::string("AAA\0BBB\0", 8);
    uint32_t leapcnt = 0;
    std::optional<uint32_t> typecnt;  // to lie in the header
    std::string footer;

    void block(std::string& out, int width) const {
        out += "TZif";
        out.push_back(version);
        out += std::string(15, '\0');
        put32(out, 0);                                   // isutcnt
        put32(out, 0);                                   // isstdcnt
        put32(out, leapcnt);                             // leapcnt
        put32(out, static_cast<int64_t>(times.size()));  // timecnt
        put32(out, typecnt.value_or(static_cast<uint32_t>(types.size())));
        put32(out, static_cast<int64_t>(designations.size()));
        for (int64_t t : times) (width == 8 ? put64 : put32)(out, t);
        for (uint8_t i : indexes) out.push_back(static_cast<char>(i));
        for (auto [offset, dst] : types) {
            put32(out, offset);
            out.push_back(static_cast<char>(dst));
            out.push_back(static_cast<char>(dst ? 4 : 0));
        }
        out += designations;
        for (uint32_t i = 0; i < leapcnt; ++i) {
            (width == 8 ? put64 : put32)(out, 0);
            put32(out, 1);
        }
    }
    [[nodiscard]] std::string bytes() const {
        std::string out;
        block(out, 4);
        if (version != '\0') {
            block(out, 8);
            out += "\n" + footer + "\n";
        }
        return out;
    }
};

TEST(TzifAgainstGlibc, RealZonesAgreeAtThousandsOfInstants) {
    struct Case {
        const char* name;
        int min_changes;  // offset changes between 1970 and 2100 (DST twice a year, etc.)
    };
    for (Case c : {Case{"Europe/London", 250}, Case{"America/New_York", 250},
                   Case{"Australia/Lord_Howe", 240}, Case{"Pacific/Apia", 15},
                   Case{"Pacific/Kiritimati", 1}, Case{"Asia/Kolkata", 0}, Case{"UTC", 0},
                   Case{"America/Nuuk", 200}, Case{"Europe/Dublin", 250}}) {
        auto zone = load_time_zone(c.name);
        ASSERT_TRUE(zone) << zone.error().message();
        EXPECT_EQ(zone->name(), c.name);
        int compared = 0;
        int changes = compare_with_glibc(*zone, std::string(":") + c.name, &compared);
        EXPECT_GE(changes, c.min_changes) << c.name;
        EXPECT_GT(compared, 40000) << c.name;
        RecordProperty(std::string(c.name) + " instants", compared);
        RecordProperty(std::string(c.name) + " offset changes", changes);
    }
}

TEST(TzifAgainstGlibc, KnownLocalDatesAndOffsets) {
    auto london = load_time_zone("Europe/London");
    ASSERT_TRUE(london);
    // 2026-03-29 01:00 UTC: the clocks go forward to 02:00 BST.
    int64_t change = 1774746000;
    EXPECT_EQ(london->offset_at(change - 1), 0);
    EXPECT_EQ(london->offset_at(change), 3600);
    // 23:30 UTC on 30 June is already 1 July in London.
    EXPECT_EQ(format_date(london->local_date(*parse_timestamp("2026-06-30T23:30:00Z"))), "2026-07-01");
    EXPECT_EQ(format_date(london->local_date(*parse_timestamp("2026-12-31T23:30:00Z"))), "2026-12-31");

    auto lord_howe = load_time_zone("Australia/Lord_Howe");
    ASSERT_TRUE(lord_howe);
    EXPECT_EQ(lord_howe->offset_at(1768435200), 11 * 3600);  // 2026-01-15: summer, +11
    EXPECT_EQ(lord_howe->offset_at(1782864000), 10 * 3600 + 1800);  // 2026-07-01: +10:30

    // Samoa skipped 30 December 2011: 29 Dec 23:59:59 local was followed by 31 Dec 00:00.
    auto apia = load_time_zone("Pacific/Apia");
    ASSERT_TRUE(apia);
    EXPECT_EQ(format_date(apia->local_date(instant(1325239199))), "2011-12-29");
    EXPECT_EQ(format_date(apia->local_date(instant(1325239200))), "2011-12-31");

    auto kolkata = load_time_zone("Asia/Kolkata");
    ASSERT_TRUE(kolkata);
    EXPECT_EQ(kolkata->offset_at(1782864000), 5 * 3600 + 1800);
    EXPECT_EQ(format_date(kolkata->local_date(*parse_timestamp("2026-12-31T18:30:00Z"))), "2027-01-01");
    EXPECT_EQ(format_date(kolkata->local_date(*parse_timestamp("2026-12-31T18:29:59Z"))), "2026-12-31");
}

// The instant a local date begins, checked with glibc at every day from 2010 to 2035: the
// wall clock reads `day` (or later, on a skipped day) from then on and an earlier day one
// second before.
TEST(TzifAgainstGlibc, StartOfEveryDayAgrees) {
    for (const char* name : {"Europe/London", "Pacific/Auckland", "America/Los_Angeles",
                             "America/Santiago", "Asia/Beirut", "America/Havana", "Pacific/Apia",
                             "Australia/Lord_Howe", "UTC"}) {
        auto zone = load_time_zone(name);
        ASSERT_TRUE(zone) << zone.error().message();
        GlibcZone glibc(std::string(":") + name);
        Date first = *parse_date("2010-01-01");
        Date last = *parse_date("2035-12-31");
        int checked = 0;
        for (Date day = first; day <= last; day += std::chrono::days{1}) {
            int64_t t = std::chrono::floor<std::chrono::seconds>(zone->start_of(day))
                            .time_since_epoch()
                            .count();
            ASSERT_GE(GlibcZone::at(t).date, day) << name << " " << format_date(day);
            ASSERT_LT(GlibcZone::at(t - 1).date, day) << name << " " << format_date(day);
            ++checked;
        }
        EXPECT_GT(checked, 9000) << name;
    }
}

TEST(TzifAgainstGlibc, StartOfDaysWithoutOrWithTwoMidnights) {
    auto at = [](const char* zone, const char* day) {
        auto z = load_time_zone(zone);
        EXPECT_TRUE(z) << zone;
        return format_timestamp(z->start_of(*parse_date(day)));
    };
    EXPECT_EQ(at("UTC", "2026-11-26"), "2026-11-26T00:00:00Z");
    EXPECT_EQ(at("Pacific/Auckland", "2026-11-27"), "2026-11-26T11:00:00Z");  // +13 in summer
    EXPECT_EQ(at("America/Los_Angeles", "2026-11-26"), "2026-11-26T08:00:00Z");
    // Chile moved its clocks from 00:00 to 01:00 on 3 September 2023: the day began at 01:00.
    EXPECT_EQ(at("America/Santiago", "2023-09-03"), "2023-09-03T04:00:00Z");
    // Cuba moved them from 01:00 back to 00:00 on 5 November 2023, so midnight came twice
    // (04:00 and 05:00 UTC): the day began at the first.
    EXPECT_EQ(at("America/Havana", "2023-11-05"), "2023-11-05T04:00:00Z");
    // Lebanon's clocks went back from 24:00 to 23:00 on Saturday 28 October 2023: Sunday
    // began once, at midnight EET.
    EXPECT_EQ(at("Asia/Beirut", "2023-10-29"), "2023-10-28T22:00:00Z");
    // Samoa skipped 30 December 2011: it "began" when 31 December did.
    EXPECT_EQ(at("Pacific/Apia", "2011-12-30"), at("Pacific/Apia", "2011-12-31"));
}

TEST(PosixTimeZone, RulesAgreeWithGlibc) {
    // v3 forms: negative and beyond-24h transition times, all-year DST, Jn and n days.
    for (const char* rule :
         {"GMT0BST,M3.5.0/1,M10.5.0", "EST5EDT,M3.2.0,M11.1.0", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
          "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "CET-1CEST,J60/2,J300/3",
          "CET-1CEST,59/2,299/3", "<+13>-13", "IST-5:30", "XXX3YYY2:30,M4.5.6/26,M9.1.0/-20",
          "AAA-10BBB,M10.5.0/50,M3.5.0/-50"}) {
        auto z = PosixTimeZone::parse(rule);
        ASSERT_TRUE(z) << rule << ": " << z.error().message();
        Blob blob;
        blob.types = {{z->std_offset, 0}};
        blob.footer = rule;
        auto zone = TimeZone::from_tzif(blob.bytes(), rule);
        ASSERT_TRUE(zone) << zone.error().message();
        int compared = 0;
        (void)compare_with_glibc(*zone, rule, &compared, 3 * 86400 + 3607);
        EXPECT_GT(compared, 15000);
    }
}

TEST(PosixTimeZone, DaylightSavingAllYear) {
    // RFC 8536 section 3.3.1: "EST5EDT,0/0,J365/25" observes daylight saving time all year,
    // 4 hours behind UT. (glibc 2.36 disagrees around New Year, so no oracle here.)
    auto z = PosixTimeZone::parse("EST5EDT,0/0,J365/25");
    ASSERT_TRUE(z);
    for (int64_t t = 0; t < 4102444800; t += 86400 / 4 + 7) ASSERT_EQ(z->offset_at(t), -14400) << t;
    int64_t new_year = sys_days{std::chrono::year{2030} / 1 / 1}.time_since_epoch().count() * 86400;
    for (int64_t d = int64_t{-6} * 3600; d <= int64_t{6} * 3600; d += 60) ASSERT_EQ(z->offset_at(new_year + d), -14400) << d;
}

TEST(PosixTimeZone, ParsesEveryForm) {
    auto nuuk = PosixTimeZone::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    ASSERT_TRUE(nuuk);
    EXPECT_EQ(nuuk->std_name, "-02");
    EXPECT_EQ(nuuk->std_offset, -7200);
    EXPECT_EQ(nuuk->dst_offset, -3600);
    EXPECT_EQ(nuuk->start.time, -3600);
    auto j = PosixTimeZone::parse("AAA3BBB,J60/2:30:15,100");
    ASSERT_TRUE(j);
    EXPECT_EQ(j->start.kind, PosixTimeZone::Rule::Kind::Julian1);
    EXPECT_EQ(j->start.day, 60);
    EXPECT_EQ(j->start.time, 2 * 3600 + 30 * 60 + 15);
    EXPECT_EQ(j->end.kind, PosixTimeZone::Rule::Kind::Julian0);
    EXPECT_EQ(j->end.day, 100);
    EXPECT_EQ(j->end.time, 7200);
    // J60 is 1 March in every year; day 59 (from 0) is 29 Feb in a leap year.
    auto leap_j = PosixTimeZone::parse("AAA0BBB,J60/0,J300/0");
    auto leap_n = PosixTimeZone::parse("AAA0BBB,59/0,J300/0");
    ASSERT_TRUE(leap_j && leap_n);
    int64_t feb29 = sys_days{std::chrono::year{2028} / 2 / 29}.time_since_epoch().count() * 86400;
    EXPECT_EQ(leap_j->offset_at(feb29 + 3600), 0);
    EXPECT_EQ(leap_j->offset_at(feb29 + 86400 + 3600), 3600);
    EXPECT_EQ(leap_n->offset_at(feb29 + 3600), 3600);

    for (const char* bad : {"", "AB1", "AAA", "AAA25", "AAA1BBB,M13.1.0,M1.1.0", "AAA1BBB,M3.6.0,M1.1.0",
                            "AAA1BBB,M3.1.7,M1.1.0", "AAA1BBB,J0,J1", "AAA1BBB,366,1",
                            "AAA1BBB,M3.1.0/168,M1.1.0", "AAA1BBB,M3.1.0", "<A+>1", "<AAA1", "AAA1:60",
                            "AAA1BBB,M3.1.0,M10.1.0x"}) {
        EXPECT_FALSE(PosixTimeZone::parse(bad)) << "accepted '" << bad << "'";
    }
    auto message = PosixTimeZone::parse("AAA1BBB,M13.1.0,M1.1.0");
    EXPECT_EQ(message.error().message(),
              "TZ rule 'AAA1BBB,M13.1.0,M1.1.0': expected a month from 1 to 12 at offset 9");
}


Blob two_types() {
    Blob b;
    b.times = {1000000, 2000000};
    b.indexes = {1, 0};
    b.types = {{-18000, 0}, {-14400, 1}};
    return b;
}

TEST(TzifHandBuilt, VersionOneFileUsesItsTableAndTheLastTypeAfterIt) {
    Blob b = two_types();
    b.version = '\0';
    auto zone = TimeZone::from_tzif(b.bytes(), "Test/V1");
    ASSERT_TRUE(zone) << zone.error().message();
    EXPECT_EQ(zone->offset_at(0), -18000);        // before the first transition: type 0
    EXPECT_EQ(zone->offset_at(999999), -18000);
    EXPECT_EQ(zone->offset_at(1000000), -14400);
    EXPECT_EQ(zone->offset_at(1999999), -14400);
    EXPECT_EQ(zone->offset_at(2000000), -18000);
    EXPECT_EQ(zone->offset_at(int64_t{4000000000}), -18000);  // no footer: the last type
}

TEST(TzifHandBuilt, VersionTwoFileUsesTheFooterAfterItsTable) {
    Blob b = two_types();
    b.footer = "EST5EDT,M3.2.0,M11.1.0";
    // The 32-bit block is skipped: make it say something else entirely.
    std::string bytes = b.bytes();
    auto zone = TimeZone::from_tzif(bytes, "Test/V2");
    ASSERT_TRUE(zone) << zone.error().message();
    EXPECT_EQ(zone->offset_at(1500000), -14400);
    int64_t july = sys_days{std::chrono::year{2030} / 7 / 1}.time_since_epoch().count() * 86400;
    EXPECT_EQ(zone->offset_at(july), -14400);            // footer: EDT in July
    EXPECT_EQ(zone->offset_at(july + int64_t{180} * 86400), -18000);  // EST in late December
    // 2030-03-10 02:00 EST = 07:00 UTC: daylight saving starts.
    int64_t spring = sys_days{std::chrono::year{2030} / 3 / 10}.time_since_epoch().count() * 86400 + int64_t{7} * 3600;
    EXPECT_EQ(zone->offset_at(spring - 1), -18000);
    EXPECT_EQ(zone->offset_at(spring), -14400);
    EXPECT_EQ(format_date(zone->local_date(instant(july - 3600))), "2030-06-30");

    Blob empty_footer = two_types();
    auto no_rule = TimeZone::from_tzif(empty_footer.bytes(), "Test/V2");
    ASSERT_TRUE(no_rule);
    EXPECT_EQ(no_rule->offset_at(july), -18000);  // empty footer: the last type
}

TEST(TzifHandBuilt, EveryTruncationIsAPreciseError) {
    for (char version : {'\0', '2', '3'}) {
        Blob b = two_types();
        b.version = version;
        b.footer = "EST5EDT,M3.2.0,M11.1.0";
        std::string bytes = b.bytes();
        ASSERT_TRUE(TimeZone::from_tzif(bytes, "T"));
        for (size_t n = 0; n < bytes.size(); ++n) {
            auto cut = TimeZone::from_tzif(std::string_view(bytes).substr(0, n), "Test/Cut");
            ASSERT_FALSE(cut) << "a prefix of " << n << " of " << bytes.size() << " bytes was accepted";
            EXPECT_EQ(cut.error().kind(), ErrorKind::BadInput);
            EXPECT_EQ(cut.error().message().rfind("time zone 'Test/Cut': ", 0), 0u) << cut.error().message();
        }
    }
    Blob b = two_types();
    std::string bytes = b.bytes();
    EXPECT_EQ(TimeZone::from_tzif(bytes.substr(0, 20), "Z").error().message(),
              "time zone 'Z': not a TZif file: truncated header (20 bytes)");
    EXPECT_EQ(TimeZone::from_tzif(bytes.substr(0, 60), "Z").error().message(),
              "time zone 'Z': corrupt TZif file: truncated version 1 data block");
    EXPECT_EQ(TimeZone::from_tzif(bytes.substr(0, bytes.size() - 1), "Z").error().message(),
              "time zone 'Z': corrupt TZif file: unterminated footer");
}

std::string error_of(const Blob& b) {
    auto zone = TimeZone::from_tzif(b.bytes(), "Bad/Zone");
    return zone ? std::string("accepted") : zone.error().message();
}

TEST(TzifHandBuilt, CorruptFilesAreRefusedWithWhatIsWrong) {
    std::string bytes = two_types().bytes();
    bytes[0] = 'X';
    EXPECT_EQ(TimeZone::from_tzif(bytes, "Bad/Zone").error().message(),
              "time zone 'Bad/Zone': not a TZif file (bad magic)");
    EXPECT_EQ(TimeZone::from_tzif("# leap seconds\n" + std::string(64, ' '), "leapseconds").error().message(),
              "time zone 'leapseconds': not a TZif file (bad magic)");

    Blob version = two_types();
    version.version = '1';
    EXPECT_EQ(error_of(version), "time zone 'Bad/Zone': unknown TZif version byte 49");

    Blob no_types = two_types();
    no_types.types.clear();
    no_types.indexes.clear();
    no_types.times.clear();
    EXPECT_EQ(error_of(no_types), "time zone 'Bad/Zone': corrupt TZif file: 0 local time types (1 to 256 allowed)");

    Blob many_types = two_types();
    many_types.typecnt = 300;
    EXPECT_EQ(error_of(many_types), "time zone 'Bad/Zone': corrupt TZif file: 300 local time types (1 to 256 allowed)");

    Blob huge_count = two_types();
    huge_count.typecnt = 200;  // in range, but the file does not hold 200 types
    EXPECT_EQ(error_of(huge_count).rfind("time zone 'Bad/Zone': corrupt TZif file: truncated", 0), 0u);

    Blob index = two_types();
    index.indexes = {1, 2};
    EXPECT_EQ(error_of(index), "time zone 'Bad/Zone': corrupt TZif file: transition 1 names local time type 2 of 2");

    Blob order = two_types();
    order.times = {2000000, 1000000};
    EXPECT_EQ(error_of(order), "time zone 'Bad/Zone': corrupt TZif file: transition times are not ascending");

    Blob offset = two_types();
    offset.types[1].first = 100000;
    EXPECT_EQ(error_of(offset), "time zone 'Bad/Zone': corrupt TZif file: UT offset 100000 out of range");

    Blob designation = two_types();
    designation.designations = "A";
    EXPECT_EQ(error_of(designation), "time zone 'Bad/Zone': corrupt TZif file: a designation index past the designations");

    Blob leap = two_types();
    leap.leapcnt = 1;
    EXPECT_EQ(error_of(leap), "time zone 'Bad/Zone' counts leap seconds (a \"right/\" zone); lethe reads the POSIX zones only");

    Blob footer = two_types();
    footer.footer = "EST5EDT,M3.2.0";
    EXPECT_EQ(error_of(footer), "time zone 'Bad/Zone': corrupt TZif file: TZ rule 'EST5EDT,M3.2.0': expected ',' before the end rule at offset 14");

    std::string no_footer = two_types().bytes();
    no_footer.resize(no_footer.size() - 2);  // drop "\n\n"
    EXPECT_EQ(TimeZone::from_tzif(no_footer, "Bad/Zone").error().message(),
              "time zone 'Bad/Zone': corrupt TZif file: missing footer");
}

TEST(LoadTimeZone, NamesAreValidatedAndLinksStayInsideTheDatabase) {
    auto gb = load_time_zone("GB");  // Debian: a link to Europe/London
    auto london = load_time_zone("Europe/London");
    ASSERT_TRUE(gb && london);
    for (int64_t t = 0; t < 4000000000; t += 9999991) EXPECT_EQ(gb->offset_at(t), london->offset_at(t));

    auto message = [](std::string_view name, const std::string& root = std::string(kZoneInfoDir)) {
        auto z = load_time_zone(name, root);
        return z ? std::string("loaded") : z.error().message();
    };
    EXPECT_EQ(message("Europe/Lundon"),
              "time zone 'Europe/Lundon': unknown zone: /usr/share/zoneinfo/Europe/Lundon does not exist "
              "(zone names are IANA names such as \"Europe/London\" or \"America/New_York\")");
    EXPECT_EQ(message("Europe"), "time zone 'Europe': /usr/share/zoneinfo/Europe is a folder of zones, not a zone");
    EXPECT_EQ(message("leapseconds"), "time zone 'leapseconds': not a TZif file (bad magic)");
    EXPECT_EQ(message("right/Europe/London"),
              "time zone 'right/Europe/London' counts leap seconds (a \"right/\" zone); lethe reads the POSIX zones only");
    EXPECT_EQ(message("localtime"),
              "time zone 'localtime': /usr/share/zoneinfo/localtime is a link that leads out of /usr/share/zoneinfo");
    EXPECT_EQ(message("../../../etc/passwd"),
              "time zone '../../../etc/passwd': must be an IANA zone name such as \"Europe/London\" (no empty, '.' or '..' parts)");
    EXPECT_EQ(message("/etc/passwd"),
              "time zone '/etc/passwd': must be an IANA zone name such as \"Europe/London\", not a path");
    EXPECT_EQ(message("Europe//London"),
              "time zone 'Europe//London': must be an IANA zone name such as \"Europe/London\" (no empty, '.' or '..' parts)");
    EXPECT_EQ(message("zone.tab"),
              "time zone 'zone.tab': '.' is not allowed in a zone name (letters, digits, _ + - and /)");
    EXPECT_EQ(message(""), "time zone '': not an IANA zone name such as \"Europe/London\"");

    // A database of our own: a relative link out of it is refused as well.
    testing::TempDir dir;
    Blob b = two_types();
    dir.write("db/Test/Zone", b.bytes());
    dir.write("outside/Secret", b.bytes());
    ASSERT_EQ(::symlink("Zone", (dir / "db/Test/Alias").c_str()), 0);
    ASSERT_EQ(::symlink("../../outside/Secret", (dir / "db/Test/Escape").c_str()), 0);
    ASSERT_EQ(::mkfifo((dir / "db/Test/Fifo").c_str(), 0600), 0);
    EXPECT_EQ(message("Test/Zone", dir / "db"), "loaded");
    EXPECT_EQ(message("Test/Alias", dir / "db"), "loaded");
    EXPECT_EQ(message("Test/Escape", dir / "db"),
              fmt::format("time zone 'Test/Escape': {0}/Test/Escape is a link that leads out of {0}", dir / "db"));
    EXPECT_EQ(message("Test/Fifo", dir / "db"),
              fmt::format("time zone 'Test/Fifo': {}/Test/Fifo is not a regular file", dir / "db"));
    EXPECT_EQ(message("Test/Zone", dir / "missing"),
              fmt::format("time zone 'Test/Zone': the time zone database cannot be read: {}: No such file or "
                          "directory (is the tzdata package installed?)", dir / "missing"));
}

}  // namespace
}  // namespace lethe::util
