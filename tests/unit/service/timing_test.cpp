#include "agent/service/timing.hpp"

#include <gtest/gtest.h>

namespace lethe::service {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

util::TimePoint at(const char* text) { return *util::parse_timestamp(text); }

int utc_second_of_day(util::TimePoint t) {
    auto s = std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
    return static_cast<int>(((s % 86400) + 86400) % 86400);
}

TEST(Interval, AcceptsUnitsAndCombinations) {
    EXPECT_EQ(*parse_interval("1h"), hours(1));
    EXPECT_EQ(*parse_interval("90s"), seconds(90));
    EXPECT_EQ(*parse_interval("1h30m"), minutes(90));
    EXPECT_EQ(*parse_interval("1d"), hours(24));
}

TEST(Interval, RejectsWhatIsNotADurationWithAClearReason) {
    EXPECT_NE(parse_interval("").error().message().find("empty"), std::string::npos);
    EXPECT_NE(parse_interval("5").error().message().find("needs a unit"), std::string::npos);
    EXPECT_NE(parse_interval("5x").error().message().find("unknown unit 'x'"), std::string::npos);
    EXPECT_NE(parse_interval("h").error().message().find("expected a number"), std::string::npos);
    EXPECT_NE(parse_interval("30s").error().message().find("at least one minute"),
              std::string::npos);
    EXPECT_NE(parse_interval("40d").error().message().find("at most 31 days"), std::string::npos);
    EXPECT_NE(parse_interval("99999999999999999999h").error().message().find("too large"),
              std::string::npos);
}

TEST(Window, SpansMidnightAndRejectsBadTimes) {
    auto w = *ActWindow::parse("20:00-06:00");
    EXPECT_TRUE(w.contains(20 * 60));
    EXPECT_TRUE(w.contains(23 * 60 + 59));
    EXPECT_TRUE(w.contains(0));
    EXPECT_TRUE(w.contains(5 * 60 + 59));
    EXPECT_FALSE(w.contains(6 * 60));
    EXPECT_FALSE(w.contains(12 * 60));
    EXPECT_EQ(w.minutes_until_open(12 * 60), 8 * 60);
    EXPECT_EQ(w.minutes_until_open(21 * 60), 0);
    EXPECT_EQ(w.to_string(), "20:00-06:00");

    auto day = *ActWindow::parse("09:30-17:00");
    EXPECT_TRUE(day.contains(9 * 60 + 30));
    EXPECT_FALSE(day.contains(17 * 60));
    EXPECT_EQ(day.minutes_until_open(18 * 60), 15 * 60 + 30);

    for (const char* bad :
         {"", "20:00", "24:00-06:00", "20:60-06:00", "8:00-9:00", "20:00-20:00", "ab:cd-06:00"}) {
        EXPECT_FALSE(ActWindow::parse(bad)) << bad;
    }
    auto t = parse_timing("1h", "25:00-06:00");
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message().find("[agent]: window '25:00-06:00'"), std::string::npos)
        << t.error().message();
}

TEST(NextPass, FirstPassNowThenEveryInterval) {
    AgentTiming timing{hours(1), std::nullopt};
    auto now = at("2026-11-25T10:15:00Z");
    EXPECT_EQ(next_pass_time(timing, std::nullopt, now, utc_second_of_day), now);
    EXPECT_EQ(next_pass_time(timing, at("2026-11-25T10:00:00Z"), now, utc_second_of_day),
              at("2026-11-25T11:00:00Z"));
    // A pass that ran longer than the interval: the next one starts at once.
    EXPECT_EQ(next_pass_time(timing, at("2026-11-25T08:00:00Z"), now, utc_second_of_day), now);
}

TEST(NextPass, WaitsForTheWindowToOpen) {
    AgentTiming timing{hours(1), *ActWindow::parse("20:00-06:00")};
    EXPECT_EQ(next_pass_time(timing, std::nullopt, at("2026-11-25T12:34:56Z"), utc_second_of_day),
              at("2026-11-25T20:00:00Z"));
    EXPECT_EQ(next_pass_time(timing, std::nullopt, at("2026-11-25T23:10:00Z"), utc_second_of_day),
              at("2026-11-25T23:10:00Z"));
    // The last pass inside the window: the next would fall after it closes.
    EXPECT_EQ(next_pass_time(timing, at("2026-11-26T05:30:00Z"), at("2026-11-26T05:45:00Z"),
                             utc_second_of_day),
              at("2026-11-26T20:00:00Z"));
}

}  // namespace
}  // namespace lethe::service
