#include "agent/policy/retention.hpp"

#include <gtest/gtest.h>

namespace lethe::policy {
namespace {

util::Date date(std::string_view text) { return *util::parse_date(text); }

std::string add(std::string_view retention, std::string_view start) {
    auto r = Retention::parse(retention);
    EXPECT_TRUE(r) << r.error().message();
    return util::format_date(r->add_to(date(start)));
}

TEST(Retention, AddsCalendarYearsMonthsWeeksAndDays) {
    EXPECT_EQ(add("7y", "2019-03-15"), "2026-03-15");
    EXPECT_EQ(add("18m", "2019-03-15"), "2020-09-15");
    EXPECT_EQ(add("2w", "2019-12-25"), "2020-01-08");
    EXPECT_EQ(add("30d", "2019-02-01"), "2019-03-03");
    EXPECT_EQ(add("1y6m", "2019-03-15"), "2020-09-15");
}

TEST(Retention, LeapDayAndMonthEndsClampToTheMonthsLastDay) {
    EXPECT_EQ(add("7y", "2024-02-29"), "2031-02-28");
    EXPECT_EQ(add("4y", "2024-02-29"), "2028-02-29");
    EXPECT_EQ(add("1m", "2023-01-31"), "2023-02-28");
    EXPECT_EQ(add("1m", "2024-01-31"), "2024-02-29");
    EXPECT_EQ(add("1m1d", "2023-01-31"), "2023-03-01");
}

TEST(Retention, Permanent) {
    auto r = Retention::parse("permanent");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->permanent);
}

TEST(Retention, RejectsWhatARecordsManagerMightMistype) {
    for (auto bad : {"", "7", "y7", "7 years", "7Y", "6m1y", "1y1y", "-1y", "99999y", "1.5y"}) {
        EXPECT_FALSE(Retention::parse(bad)) << bad;
    }
}

}  // namespace
}  // namespace lethe::policy
