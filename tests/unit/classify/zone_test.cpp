// Dates in a schedule's time zone: trigger instants, cutoffs and "today" are local calendar
// dates in the zone the schedule names (UTC when it names none).

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/classify/decision.hpp"
#include "tests/unit/classify/fixture.hpp"

namespace lethe::classify {
namespace {

using fixture::at;
using fixture::date;
using fixture::file;
using fixture::schedule;
using fixture::MemoryLookups;

// The schedule `id` in the zone `zone_line` names ("" for UTC), with `categories`.
policy::RetentionSchedule schedule(std::string_view id, std::string_view zone_line,
                                   std::string_view categories) {
    return schedule(id, fmt::format("{}\n{}", zone_line, categories));
}

constexpr std::string_view kYearEnd = R"(
[[category]]
id = "matter"
retain = "1y"
cutoff = "year-end"
action = "delete"
)";

TEST(ZonedDates, ModifiedLateOnNewYearsEveUtcIsNextYearInBerlin) {
    // 23:30 UTC on 31 Dec 2025 is 00:30 on 1 Jan 2026 in Berlin (UTC+1 in winter).
    auto f = file("a.pdf", "2025-12-31T23:30:00Z");
    std::vector berlin{schedule("berlin", "timezone = \"Europe/Berlin\"", kYearEnd)};
    std::vector utc{schedule("utc", "", kYearEnd)};

    Decision local = classify(f, berlin, at("2027-06-01T00:00:00Z"));
    EXPECT_EQ(local.trigger_date, date("2026-01-01"));
    ASSERT_TRUE(local.expires);
    EXPECT_EQ(*local.expires, date("2027-12-31"));  // cutoff 2026-12-31, + 1y
    EXPECT_EQ(local.status, Status::NotDue);

    Decision plain = classify(f, utc, at("2027-06-01T00:00:00Z"));
    EXPECT_EQ(plain.trigger_date, date("2025-12-31"));
    ASSERT_TRUE(plain.expires);
    EXPECT_EQ(*plain.expires, date("2026-12-31"));  // cutoff 2025-12-31, + 1y
    EXPECT_EQ(plain.status, Status::Due);

    // timezone = "UTC" written out is exactly the default.
    std::vector written{schedule("utc", "timezone = \"UTC\"", kYearEnd)};
    EXPECT_EQ(classify(f, written, at("2027-06-01T00:00:00Z")).expires, plain.expires);
}

constexpr std::string_view kThirtyDays = R"(
[[category]]
id = "scratch"
retain = "30d"
action = "delete"
)";

TEST(ZonedDates, AFileBecomesDueAtLocalMidnightNotUtcMidnight) {
    // Modified 2026-01-10 12:00 local in both zones; expires 2026-02-09, local date.
    std::vector tokyo{schedule("tokyo", "timezone = \"Asia/Tokyo\"", kThirtyDays)};  // UTC+9
    auto t = file("x", "2026-01-10T03:00:00Z");
    EXPECT_EQ(classify(t, tokyo, at("2026-01-01T00:00:00Z")).expires, date("2026-02-09"));
    // Local midnight of 9 Feb in Tokyo is 15:00 UTC on 8 Feb.
    EXPECT_EQ(classify(t, tokyo, at("2026-02-08T14:59:59Z")).status, Status::NotDue);
    EXPECT_EQ(classify(t, tokyo, at("2026-02-08T15:00:00Z")).status, Status::Due);

    std::vector new_york{schedule("ny", "timezone = \"America/New_York\"", kThirtyDays)};  // UTC-5
    auto n = file("x", "2026-01-10T17:00:00Z");
    EXPECT_EQ(classify(n, new_york, at("2026-01-01T00:00:00Z")).expires, date("2026-02-09"));
    // UTC midnight of 9 Feb is still 8 Feb in New York: not yet due; due at 05:00 UTC.
    EXPECT_EQ(classify(n, new_york, at("2026-02-09T00:00:00Z")).status, Status::NotDue);
    EXPECT_EQ(classify(n, new_york, at("2026-02-09T04:59:59Z")).status, Status::NotDue);
    EXPECT_EQ(classify(n, new_york, at("2026-02-09T05:00:00Z")).status, Status::Due);

    // Across a daylight saving change: due from local midnight on 9 April in New York, which
    // is 04:00 UTC (EDT, UTC-4), not 05:00.
    auto spring = file("x", "2026-03-10T17:00:00Z");
    EXPECT_EQ(classify(spring, new_york, at("2026-01-01T00:00:00Z")).expires, date("2026-04-09"));
    EXPECT_EQ(classify(spring, new_york, at("2026-04-09T03:59:59Z")).status, Status::NotDue);
    EXPECT_EQ(classify(spring, new_york, at("2026-04-09T04:00:00Z")).status, Status::Due);
}

TEST(ZonedDates, EachCategoryUsesItsOwnSchedulesZone) {
    // Two schedules, one category each, same file: modified 14:30 UTC on 30 June 2026,
    // which is already 1 July in Kiritimati (UTC+14) and still 30 June in Honolulu (UTC-10).
    constexpr std::string_view kFiscal = R"(
[[category]]
id = "{}"
paths = ["{}/**"]
retain = "1d"
cutoff = "fiscal-year-end:06-30"
action = "delete"
)";
    std::vector schedules{
        schedule("kiritimati", "timezone = \"Pacific/Kiritimati\"",
                 fmt::format(fmt::runtime(kFiscal), "east", "east")),
        schedule("honolulu", "timezone = \"Pacific/Honolulu\"",
                 fmt::format(fmt::runtime(kFiscal), "west", "west"))};
    Decision east = classify(file("east/a", "2026-06-30T14:30:00Z"), schedules, at("2026-07-02T00:00:00Z"));
    Decision west = classify(file("west/a", "2026-06-30T14:30:00Z"), schedules, at("2026-07-02T00:00:00Z"));
    EXPECT_EQ(east.trigger_date, date("2026-07-01"));
    EXPECT_EQ(east.expires, date("2027-07-01"));  // fiscal year ending 30 June 2027, + 1d
    EXPECT_EQ(west.trigger_date, date("2026-06-30"));
    EXPECT_EQ(west.expires, date("2026-07-01"));  // fiscal year ending 30 June 2026, + 1d
    // "Today" is per schedule: at 09:59 UTC on 1 July it is 1 July 23:59 in Kiritimati but
    // still 30 June 23:59 in Honolulu, so the west file is not due until 10:00 UTC.
    EXPECT_EQ(classify(file("west/a", "2026-06-30T14:30:00Z"), schedules, at("2026-07-01T09:59:59Z")).status,
              Status::NotDue);
    EXPECT_EQ(classify(file("west/a", "2026-06-30T14:30:00Z"), schedules, at("2026-07-01T10:00:00Z")).status,
              Status::Due);
}

TEST(ZonedDates, MarkersAreLocalAndAttributeDatesAreDatesAlready) {
    std::vector s{schedule("sydney", "timezone = \"Australia/Sydney\"", R"(
[event.closed]
marker = ".closed"

[event.withdrawn]
xattr = "user.lethe.withdrawn"

[[category]]
id = "matter"
paths = ["matters/**"]
retain = "10d"
trigger = "event:closed"
action = "delete"

[[category]]
id = "consent"
paths = ["consent/**"]
retain = "10d"
trigger = "event:withdrawn"
action = "delete"
)")};
    MemoryLookups disk;
    ClassifyOptions options;
    options.lookups = &disk;
    // 14:00 UTC on 1 March 2026 is 01:00 on 2 March in Sydney (AEDT, UTC+11).
    disk.markers["matters/m1/.closed"] = at("2026-03-01T14:00:00Z");
    Decision m = classify(file("matters/m1/a.pdf", "2020-01-01T00:00:00Z"), s, at("2026-03-05T00:00:00Z"), options);
    EXPECT_EQ(m.trigger_date, date("2026-03-02"));
    EXPECT_EQ(m.expires, date("2026-03-12"));
    // The attribute holds a date: no zone is applied to it.
    disk.attributes[std::string("consent/c.pdf") + '\0' + "user.lethe.withdrawn"] = "2026-03-01";
    Decision c = classify(file("consent/c.pdf", "2020-01-01T00:00:00Z"), s, at("2026-03-05T00:00:00Z"), options);
    EXPECT_EQ(c.trigger_date, date("2026-03-01"));
    EXPECT_EQ(c.expires, date("2026-03-11"));
    // Due at local midnight of 11 March in Sydney: 13:00 UTC on 10 March.
    EXPECT_EQ(classify(file("consent/c.pdf", "2020-01-01T00:00:00Z"), s, at("2026-03-10T12:59:59Z"), options).status,
              Status::NotDue);
    EXPECT_EQ(classify(file("consent/c.pdf", "2020-01-01T00:00:00Z"), s, at("2026-03-10T13:00:00Z"), options).status,
              Status::Due);
}

// Two schedules match the same file and give it the same expiry date, 1 May 2026: in
// Auckland that date begins at 12:00 UTC on 30 April, in London at 23:00 UTC on 30 April, in
// UTC at midnight on 1 May. The longest retention is the latest of these instants, whatever
// the actions; only equal instants fall back to the more protective action.
TEST(ZonedDates, PrecedenceAcrossZonesComparesTheInstantsTheExpiryDatesBegin) {
    constexpr std::string_view kMatter = R"(
[[category]]
id = "{}"
paths = ["matters/**"]
retain = "1y"
action = "{}"
)";
    auto f = file("matters/a.pdf", "2025-05-01T10:00:00Z");  // 1 May in all three zones
    auto nz = schedule("nz", "timezone = \"Pacific/Auckland\"",
                       fmt::format(fmt::runtime(kMatter), "nz-matter", "review"));
    auto uk = schedule("uk", "timezone = \"Europe/London\"",
                       fmt::format(fmt::runtime(kMatter), "uk-matter", "archive"));
    auto utc = schedule("utc", "", fmt::format(fmt::runtime(kMatter), "utc-matter", "delete"));
    ClassifyOptions explain;
    explain.explain = true;
    auto now = at("2025-06-01T00:00:00Z");
    // By date alone all three tie and review (nz) would win; by instant UTC keeps it longest,
    // in whichever order the schedules are listed.
    // (The decisions point into the schedules: each vector outlives its decision.)
    for (const auto& order : {std::vector{nz, uk, utc}, std::vector{utc, uk, nz}}) {
        Decision d = classify(f, order, now, explain);
        ASSERT_NE(d.category, nullptr);
        EXPECT_EQ(d.category->id, "utc-matter");
        EXPECT_EQ(d.expires, date("2026-05-01"));
        EXPECT_EQ(d.rule, "keeps the file longest of the 3 matching categories");
    }
    // Without UTC, London's 1 May begins after Auckland's.
    std::vector both{nz, uk};
    Decision d = classify(f, both, now, explain);
    ASSERT_NE(d.category, nullptr);
    EXPECT_EQ(d.category->id, "uk-matter");
    // The winner's zone decides when the file is due: local midnight in London (BST).
    EXPECT_EQ(classify(f, both, at("2026-04-30T22:59:59Z")).status, Status::NotDue);
    EXPECT_EQ(classify(f, both, at("2026-04-30T23:00:00Z")).status, Status::Due);

    // Same instant in two zones (London and Lisbon share their offsets): a tie, so the more
    // protective action wins, as within one zone.
    auto pt = schedule("pt", "timezone = \"Europe/Lisbon\"",
                       fmt::format(fmt::runtime(kMatter), "pt-matter", "review"));
    std::vector same_clock{uk, pt};
    Decision tie = classify(f, same_clock, now, explain);
    ASSERT_NE(tie.category, nullptr);
    EXPECT_EQ(tie.category->id, "pt-matter");
    EXPECT_EQ(tie.rule, "expires with 'uk-matter' but its action is more protective (review > archive)");
}

// Kiritimati (UTC+14) and Honolulu (UTC-10) are a whole day apart: 1 May in Kiritimati
// begins at the same instant as 30 April in Honolulu. Different dates, one instant: a tie,
// which the more protective action decides (by date alone Kiritimati's would win).
TEST(ZonedDates, DifferentDatesThatBeginAtOneInstantAreATie) {
    auto f = file("matters/a.pdf", "2025-05-01T09:00:00Z");  // 23:00 on 1 May / 30 April
    auto kiritimati = schedule("kir", "timezone = \"Pacific/Kiritimati\"", R"(
[[category]]
id = "east"
paths = ["matters/**"]
retain = "1y"
action = "delete"
)");
    auto honolulu = schedule("hnl", "timezone = \"Pacific/Honolulu\"", R"(
[[category]]
id = "west"
paths = ["matters/**"]
retain = "1y"
action = "review"
)");
    ClassifyOptions explain;
    explain.explain = true;
    std::vector schedules{kiritimati, honolulu};
    Decision d = classify(f, schedules, at("2025-06-01T00:00:00Z"), explain);
    ASSERT_NE(d.category, nullptr);
    EXPECT_EQ(d.category->id, "west");
    EXPECT_EQ(d.expires, date("2026-04-30"));
    EXPECT_EQ(d.rule, "expires with 'east' but its action is more protective (review > delete)");
}

}  // namespace
}  // namespace lethe::classify
