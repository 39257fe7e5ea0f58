// The schedule language as the classifier applies it: cutoffs, triggers, events, pins,
// matchers and precedence.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/util/fd.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/classify/fixture.hpp"

namespace lethe::classify {
namespace {

using fixture::at;
using fixture::date;
using fixture::file;
using fixture::schedule;
using fixture::MemoryLookups;

policy::Cutoff cutoff_of(std::string_view text) {
    auto s = schedule(fmt::format("[[category]]\nid = \"c\"\nretain = \"1y\"\ncutoff = \"{}\"\naction = \"delete\"\n", text));
    return s.categories.at(0).cutoff;
}

TEST(Cutoff, YearEndCountsFromTheThirtyFirstOfDecember) {
    auto c = cutoff_of("year-end");
    EXPECT_EQ(c.apply(date("2023-05-05")), date("2023-12-31"));
    EXPECT_EQ(c.apply(date("2023-12-31")), date("2023-12-31"));
    EXPECT_EQ(c.apply(date("2024-01-01")), date("2024-12-31"));
}

TEST(Cutoff, FiscalYearEndIsTheNextOccurrenceOfTheDay) {
    auto c = cutoff_of("fiscal-year-end:03-31");
    EXPECT_EQ(c.apply(date("2023-02-01")), date("2023-03-31"));
    EXPECT_EQ(c.apply(date("2023-03-31")), date("2023-03-31"));
    EXPECT_EQ(c.apply(date("2023-04-01")), date("2024-03-31"));
}

TEST(Cutoff, AFiscalYearEndingOnTheTwentyNinthOfFebruaryEndsOnTheTwentyEighthInOtherYears) {
    auto c = cutoff_of("fiscal-year-end:02-29");
    EXPECT_EQ(c.apply(date("2023-01-10")), date("2023-02-28"));
    EXPECT_EQ(c.apply(date("2024-01-10")), date("2024-02-29"));
    EXPECT_EQ(c.apply(date("2023-03-01")), date("2024-02-29"));
}

TEST(Rules, RetentionCountsFromTheCutoffAndLeapDaysClamp) {
    std::vector s{schedule(R"(
[[category]]
id = "billing"
retain = "7y"
cutoff = "fiscal-year-end:02-29"
action = "delete"
)")};
    Decision d = classify(file("inv.xlsx", "2023-06-01"), s, date("2031-02-27"));
    // Cut off at 2024-02-29; plus 7 years is 2031-02-28 (no 29th in 2031).
    ASSERT_TRUE(d.expires);
    EXPECT_EQ(*d.expires, date("2031-02-28"));
    EXPECT_EQ(d.status, Status::NotDue);
    EXPECT_EQ(classify(file("inv.xlsx", "2023-06-01"), s, date("2031-02-28")).status, Status::Due);
}

TEST(Rules, SizeOwnerAndGroupMustAllHold) {
    std::vector s{schedule(R"(
[[category]]
id = "big-scans"
extensions = ["tif"]
min_size = "1KiB"
max_size = 4096
owners = [1001]
groups = [2000, 2001]
retain = "1y"
action = "delete"
)")};
    auto f = file("scan.TIF", "2020-01-01");
    f.size = 2048;
    f.uid = 1001;
    f.gid = 2001;
    EXPECT_EQ(classify(f, s, date("2026-01-01")).status, Status::Due);
    auto small = f;
    small.size = 1023;
    EXPECT_EQ(classify(small, s, date("2026-01-01")).status, Status::Unmatched);
    auto large = f;
    large.size = 4097;
    EXPECT_EQ(classify(large, s, date("2026-01-01")).status, Status::Unmatched);
    auto other_owner = f;
    other_owner.uid = 1002;
    EXPECT_EQ(classify(other_owner, s, date("2026-01-01")).status, Status::Unmatched);
    auto other_group = f;
    other_group.gid = 3000;
    EXPECT_EQ(classify(other_group, s, date("2026-01-01")).status, Status::Unmatched);
}

TEST(Rules, OwnersMayBeNamed) {
    auto s = schedule("[[category]]\nid = \"c\"\nowners = [\"root\"]\ngroups = [\"root\"]\nretain = \"1y\"\naction = \"delete\"\n");
    ASSERT_EQ(s.categories.size(), 1u);
    EXPECT_EQ(s.categories[0].owners, (std::vector<uint32_t>{0}));
    EXPECT_EQ(s.categories[0].groups, (std::vector<uint32_t>{0}));
}

TEST(Rules, CreatedUsesBirthTimeAndFallsBackOnlyWhenConfigured) {
    std::vector with_fallback{schedule(R"(
[[category]]
id = "drafts"
retain = "1y"
trigger = "created"
created_fallback = "modified"
action = "delete"
)")};
    std::vector without{schedule(R"(
[[category]]
id = "drafts"
retain = "1y"
trigger = "created"
action = "delete"
)")};
    auto born = file("a.txt", "2025-06-01");
    born.btime = at("2020-01-01");
    Decision d = classify(born, without, date("2025-07-01"));
    EXPECT_EQ(d.trigger_date, date("2020-01-01"));
    EXPECT_EQ(d.status, Status::Due);

    auto no_birth = file("a.txt", "2025-06-01");
    Decision fell_back = classify(no_birth, with_fallback, date("2025-07-01"));
    EXPECT_EQ(fell_back.trigger_date, date("2025-06-01"));
    EXPECT_EQ(fell_back.status, Status::NotDue);
    EXPECT_NE(fell_back.trigger_note.find("no birth time"), std::string::npos);

    Decision refused = classify(no_birth, without, date("2030-01-01"));
    EXPECT_EQ(refused.status, Status::Skipped);
    EXPECT_NE(refused.reason.find("no birth time"), std::string::npos);
}

TEST(Rules, AccessedUsesTheAccessTime) {
    std::vector s{schedule("[[category]]\nid = \"c\"\nretain = \"30d\"\ntrigger = \"accessed\"\naction = \"delete\"\n")};
    auto f = file("a.txt", "2020-01-01");
    f.atime = at("2025-12-20");
    Decision d = classify(f, s, date("2026-01-01"));
    EXPECT_EQ(d.trigger_date, date("2025-12-20"));
    EXPECT_EQ(d.status, Status::NotDue);
}

constexpr const char* kMatterEvent = R"(
[event.matter-closed]
marker = ".matter-closed"

[event.consent-withdrawn]
xattr = "user.lethe.consent_withdrawn"

[[category]]
id = "matter"
paths = ["{client}/{matter}/**"]
retain = "7y"
cutoff = "year-end"
trigger = "event:matter-closed"
action = "delete"

[[category]]
id = "consent"
paths = ["marketing/**"]
retain = "30d"
trigger = "event:consent-withdrawn"
action = "delete"
)";

TEST(Rules, AMatterAgesAsOneUnitFromItsClosingMarker) {
    std::vector s{schedule(kMatterEvent)};
    MemoryLookups disk;
    ClassifyOptions options;
    options.lookups = &disk;
    auto old_file = file("acme/m1/2009/brief.pdf", "2009-01-01");
    auto new_file = file("acme/m1/notes.txt", "2019-11-30");
    // Open matter: nothing expires, whatever the files' own dates.
    Decision open = classify(old_file, s, date("2040-01-01"), options);
    EXPECT_EQ(open.status, Status::NotDue);
    EXPECT_FALSE(open.expires);

    disk.markers["acme/m1/.matter-closed"] = at("2019-12-15");
    Decision a = classify(old_file, s, date("2026-12-30"), options);
    Decision b = classify(new_file, s, date("2026-12-30"), options);
    EXPECT_EQ(a.trigger_date, date("2019-12-15"));
    ASSERT_TRUE(a.expires);
    EXPECT_EQ(*a.expires, date("2026-12-31"));
    EXPECT_EQ(a.expires, b.expires);
    EXPECT_EQ(a.status, Status::NotDue);
    EXPECT_EQ(classify(new_file, s, date("2026-12-31"), options).status, Status::Due);
    // The marker itself is never a candidate for disposal.
    EXPECT_EQ(classify(file("acme/m1/.matter-closed", "2019-12-15"), s, date("2040-01-01"), options).status,
              Status::Unmatched);
}

TEST(Rules, AnEventAttributeMustHoldAnIsoDate) {
    std::vector s{schedule(kMatterEvent)};
    MemoryLookups disk;
    ClassifyOptions options;
    options.lookups = &disk;
    auto f = file("marketing/list.csv", "2020-01-01");
    EXPECT_EQ(classify(f, s, date("2026-01-01"), options).status, Status::NotDue);
    disk.attributes[std::string("marketing/list.csv") + '\0' + "user.lethe.consent_withdrawn"] = "2025-12-01";
    Decision d = classify(f, s, date("2026-01-01"), options);
    EXPECT_EQ(d.status, Status::Due);
    EXPECT_EQ(*d.expires, date("2025-12-31"));
    disk.attributes[std::string("marketing/list.csv") + '\0' + "user.lethe.consent_withdrawn"] = "last week";
    Decision bad = classify(f, s, date("2026-01-01"), options);
    EXPECT_EQ(bad.status, Status::Skipped);
    EXPECT_NE(bad.reason.find("not an ISO date"), std::string::npos);
}

TEST(Rules, WithoutLookupsAnEventIsNeverActedOn) {
    std::vector s{schedule(kMatterEvent)};
    EXPECT_EQ(classify(file("acme/m1/a.pdf", "2000-01-01"), s, date("2040-01-01")).status, Status::Skipped);
}

constexpr const char* kPinned = R"(
[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"

[[category]]
id = "board-minutes"
paths = ["board/**"]
retain = "permanent"
action = "review"
)";

TEST(Rules, APinOverridesTheMatchers) {
    std::vector s{schedule(kPinned)};
    MemoryLookups disk;
    ClassifyOptions options;
    options.lookups = &disk;
    auto f = file("x/minutes.tmp", "2000-01-01");
    EXPECT_EQ(classify(f, s, date("2026-01-01"), options).category->id, "scratch");
    disk.attributes[std::string("x/minutes.tmp") + '\0' + "user.lethe.category"] = "board-minutes";
    Decision d = classify(f, s, date("2026-01-01"), options);
    EXPECT_EQ(d.category->id, "board-minutes");
    EXPECT_EQ(d.status, Status::NotDue);
    disk.attributes[std::string("x/minutes.tmp") + '\0' + "user.lethe.category"] = "no-such";
    Decision unknown = classify(f, s, date("2026-01-01"), options);
    EXPECT_EQ(unknown.status, Status::Skipped);
    EXPECT_NE(unknown.reason.find("no-such"), std::string::npos);
}

TEST(Rules, ArchiveAndEncryptAreDueWhileReviewWaitsForAPerson) {
    std::vector s{schedule(R"(
[[category]]
id = "a"
paths = ["a/**"]
retain = "1y"
action = "archive"
[[category]]
id = "e"
paths = ["e/**"]
retain = "1y"
action = "encrypt"
[[category]]
id = "r"
paths = ["r/**"]
retain = "1y"
action = "review"
erasable = false
)")};
    Decision a = classify(file("a/x", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(a.status, Status::Due);
    EXPECT_EQ(a.action, policy::Action::Archive);
    Decision e = classify(file("e/x", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(e.status, Status::Due);
    EXPECT_EQ(e.action, policy::Action::Encrypt);
    Decision r = classify(file("r/x", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(r.status, Status::Review);
    EXPECT_FALSE(r.category->erasable);
}

TEST(Rules, OnEqualExpiryTheMoreProtectiveActionWinsAndExplainSaysSo) {
    std::vector s{schedule(R"(
[[category]]
id = "del"
retain = "12m"
action = "delete"
[[category]]
id = "rev"
retain = "1y"
action = "review"
[[category]]
id = "short"
retain = "6m"
action = "archive"
)")};
    ClassifyOptions options;
    options.explain = true;
    Decision d = classify(file("f", "2020-01-01"), s, date("2020-06-01"), options);
    EXPECT_EQ(d.category->id, "rev");
    EXPECT_EQ(d.matches.size(), 3u);
    EXPECT_NE(d.rule.find("more protective"), std::string::npos) << d.rule;
}

TEST(Rules, ReviewBesideAnActionWaitsForApprovalAndRanksAsReview) {
    std::vector s{schedule(R"(
[[category]]
id = "plain"
retain = "1y"
action = "archive"
[[category]]
id = "checked"
paths = ["*.pdf"]
retain = "1y"
action = "sanitize"
review = true
[[category]]
id = "originals"
paths = ["originals/**"]
retain = "1y"
action = "review"
[[category]]
id = "deeds"
paths = ["deeds/**"]
retain = "1y"
action = "review"
review_action = "archive"
)")};
    // Same expiry: the category that needs review beats a plain archive, which would
    // otherwise be more protective than sanitize.
    Decision d = classify(file("x.pdf", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(d.category->id, "checked");
    EXPECT_EQ(d.status, Status::Review);
    EXPECT_EQ(d.category->approved_action(), policy::Action::Sanitize);
    EXPECT_NE(d.reason.find("sanitize once a records manager approves"), std::string::npos)
        << d.reason;
    // Not due yet: no review either.
    EXPECT_EQ(classify(file("x.pdf", "2025-06-01"), s, date("2026-01-01")).status, Status::NotDue);
    Decision pure = classify(file("originals/will.pdf", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(pure.status, Status::Review);
    EXPECT_EQ(pure.category->approved_action(), policy::Action::Delete);
    EXPECT_NE(pure.reason.find("approval disposes with delete"), std::string::npos) << pure.reason;
    Decision deed = classify(file("deeds/title.pdf", "2000-01-01"), s, date("2026-01-01"));
    EXPECT_EQ(deed.category->approved_action(), policy::Action::Archive);
}

TEST(FsLookups, FindsTheNearestMarkerAndReadsAttributesWithoutFollowingSymlinks) {
    lethe::testing::TempDir dir;
    dir.write("acme/m1/sub/a.pdf", "x");
    dir.write("acme/m1/.matter-closed", "", "2019-12-15");
    dir.write("acme/.matter-closed", "", "2001-01-01");
    ASSERT_EQ(::symlink((dir / "acme/m1/sub/a.pdf").c_str(), (dir / "acme/link.pdf").c_str()), 0);
    UniqueFd root(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root);
    FsLookups lookups(root.get());
    auto when = lookups.marker_time("acme/m1/sub/a.pdf", ".matter-closed");
    ASSERT_TRUE(when);
    EXPECT_EQ(util::date_of(*when), date("2019-12-15"));
    EXPECT_EQ(util::date_of(*lookups.marker_time("acme/other/b.pdf", ".matter-closed")), date("2001-01-01"));
    EXPECT_FALSE(lookups.marker_time("top.pdf", ".matter-closed"));

    std::string value = "board-minutes";
    ASSERT_EQ(::setxattr((dir / "acme/m1/sub/a.pdf").c_str(), "user.lethe.category", value.data(), value.size(), 0), 0);
    EXPECT_EQ(lookups.xattr("acme/m1/sub/a.pdf", "user.lethe.category"), value);
    EXPECT_FALSE(lookups.xattr("acme/link.pdf", "user.lethe.category"));
    EXPECT_FALSE(lookups.xattr("acme/m1/.matter-closed", "user.lethe.category"));
}

}  // namespace
}  // namespace lethe::classify
