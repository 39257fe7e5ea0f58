#include "agent/util/time.hpp"

#include <gtest/gtest.h>

namespace lethe::util {
namespace {

TEST(Dates, ParseAndFormatRoundTrip) {
    auto d = parse_date("2024-02-29");
    ASSERT_TRUE(d);
    EXPECT_EQ(format_date(*d), "2024-02-29");
}

TEST(Dates, RejectImpossibleOrMalformedDates) {
    EXPECT_FALSE(parse_date("2023-02-29"));
    EXPECT_FALSE(parse_date("2023-13-01"));
    EXPECT_FALSE(parse_date("2023-1-01"));
    EXPECT_FALSE(parse_date("yesterday"));
}

TEST(Timestamps, ParseAndFormatUtc) {
    auto t = parse_timestamp("2026-03-04T05:06:07.000000123Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(format_timestamp(*t), "2026-03-04T05:06:07Z");
    EXPECT_EQ(format_timestamp(*t, true), "2026-03-04T05:06:07.000000123Z");
    auto midnight = parse_timestamp("2026-03-04");
    ASSERT_TRUE(midnight);
    EXPECT_EQ(format_timestamp(*midnight), "2026-03-04T00:00:00Z");
    EXPECT_FALSE(parse_timestamp("2026-03-04 05:06:07"));
    EXPECT_FALSE(parse_timestamp("2026-03-04T25:00:00Z"));
}

}  // namespace
}  // namespace lethe::util
