#include "agent/classify/decision.hpp"

#include <gtest/gtest.h>

namespace lethe::classify {
namespace {

util::Date date(std::string_view text) { return *util::parse_date(text); }

policy::RetentionSchedule schedule(std::string_view toml) {
    auto s = policy::parse_schedule(toml, "test.toml");
    EXPECT_TRUE(s) << s.error().message();
    return *s;
}

scan::FileFacts file(std::string path, std::string_view modified, uint32_t nlink = 1) {
    scan::FileFacts f;
    f.path = std::move(path);
    f.size = 10;
    f.nlink = nlink;
    f.mtime = util::TimePoint{date(modified)};
    return f;
}

constexpr const char* kTwoCategories = R"(
[schedule]
id = "s"
version = 1
[[category]]
id = "matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf"]
retain = "7y"
action = "sanitize"
[[category]]
id = "billing"
paths = ["{client}/{matter}/billing/**"]
retain = "10y"
action = "delete"
[[category]]
id = "tmp"
paths = ["**"]
extensions = ["pdf"]
retain = "7y"
action = "delete"
)";

TEST(Classify, FileInNoCategoryIsUnmatched) {
    std::vector schedules{schedule(kTwoCategories)};
    Decision d = classify(file("acme/m1/notes.txt", "2000-01-01"), schedules, date("2026-01-01"));
    EXPECT_EQ(d.status, Status::Unmatched);
}

TEST(Classify, DueOnTheExpiryDateAndNotTheDayBefore) {
    std::vector schedules{schedule(kTwoCategories)};
    auto f = file("acme/m1/brief.PDF", "2019-03-15");
    Decision before = classify(f, schedules, date("2026-03-14"));
    EXPECT_EQ(before.status, Status::NotDue);
    Decision on = classify(f, schedules, date("2026-03-15"));
    EXPECT_EQ(on.status, Status::Due);
    EXPECT_EQ(util::format_date(*on.expires), "2026-03-15");
    EXPECT_EQ(on.category->id, "matter");
    EXPECT_EQ(on.client, "acme");
    EXPECT_EQ(on.matter, "m1");
}

TEST(Classify, LongestRetentionWins) {
    std::vector schedules{schedule(kTwoCategories)};
    Decision d = classify(file("acme/m1/billing/inv.pdf", "2015-01-01"), schedules, date("2023-01-01"));
    EXPECT_EQ(d.category->id, "billing");
    EXPECT_EQ(d.status, Status::NotDue);  // 7y would be due, 10y is not
}

TEST(Classify, OnEqualRetentionTheMoreProtectiveActionWins) {
    std::vector schedules{schedule(kTwoCategories)};
    Decision d = classify(file("acme/m1/brief.pdf", "2010-01-01"), schedules, date("2026-01-01"));
    EXPECT_EQ(d.category->id, "matter");
    EXPECT_EQ(d.action, policy::Action::Sanitize);
}

TEST(Classify, PermanentBeatsAnyDate) {
    std::vector schedules{schedule(kTwoCategories), schedule(R"(
[schedule]
id = "forever"
version = 1
[[category]]
id = "wills"
paths = ["**/wills/**"]
retain = "permanent"
action = "delete"
)")};
    Decision d = classify(file("acme/m1/wills/will.pdf", "1990-01-01"), schedules, date("2026-01-01"));
    EXPECT_EQ(d.category->id, "wills");
    EXPECT_EQ(d.status, Status::NotDue);
    EXPECT_FALSE(d.expires);
}

TEST(Classify, HardLinkedFilesDueForSanitizeAreSkipped) {
    std::vector schedules{schedule(kTwoCategories)};
    Decision d = classify(file("acme/m1/brief.pdf", "2010-01-01", 2), schedules, date("2026-01-01"));
    EXPECT_EQ(d.status, Status::Skipped);
    EXPECT_NE(d.reason.find("hard links"), std::string::npos);
}

}  // namespace
}  // namespace lethe::classify
