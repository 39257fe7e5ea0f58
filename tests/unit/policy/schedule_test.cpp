#include "agent/policy/schedule.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::policy {
namespace {

constexpr std::string_view kGood = R"(
[schedule]
id = "firm-2026"
version = 4
approved_by = "Records Committee"
mode = "enforce"

[[category]]
id = "client-matter"
description = "Pleadings and correspondence"
mandate = "Solicitors Regulation: 7 years after closure"
paths = ["{client}/{matter}/**"]
extensions = ["PDF", ".docx"]
retain = "7y"
action = "sanitize"

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
trigger = "modified"
action = "delete"
)";

TEST(Schedule, LoadsTheDesignExample) {
    auto s = parse_schedule(kGood, "firm.toml");
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->id, "firm-2026");
    EXPECT_EQ(s->version, 4);
    EXPECT_EQ(s->mode, Mode::Enforce);
    ASSERT_EQ(s->categories.size(), 2u);
    const Category& c = s->categories[0];
    EXPECT_EQ(c.extensions, (std::vector<std::string>{"pdf", "docx"}));
    EXPECT_EQ(c.retain.years, 7);
    EXPECT_EQ(c.action, Action::Sanitize);
    EXPECT_EQ(s->categories[1].action, Action::Delete);
    EXPECT_EQ(s->sha256.size(), 64u);
}

TEST(Schedule, ModeDefaultsToObserve) {
    auto s = parse_schedule(R"(
[schedule]
id = "x"
version = 1
[[category]]
id = "c"
retain = "1y"
action = "delete"
)", "x.toml");
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->mode, Mode::Observe);
}

TEST(Schedule, ArchiveForIsTheLifeOfTheArchivedCopyAndDefaultsToPermanent) {
    auto s = parse_schedule(R"(
[schedule]
id = "x"
version = 1
[[category]]
id = "matters"
retain = "7y"
action = "archive"
archive_for = "3y"
[[category]]
id = "hr"
retain = "1y"
action = "encrypt"
[[category]]
id = "forever"
retain = "1y"
action = "archive"
archive_for = "permanent"
)", "x.toml");
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE(s->categories[0].archive_for.has_value());
    EXPECT_EQ(s->categories[0].archive_for->years, 3);
    EXPECT_FALSE(s->categories[1].archive_for.has_value());
    EXPECT_FALSE(s->categories[2].archive_for.has_value());
}

struct BadCase {
    const char* name;
    const char* toml;
    const char* location;  // file:line:column expected in the message
    const char* words;     // and these words
};

class BrokenSchedule : public ::testing::TestWithParam<BadCase> {};

TEST_P(BrokenSchedule, NamesFileLineColumnAndTheProblem) {
    const BadCase& bad = GetParam();
    auto s = parse_schedule(bad.toml, "p.toml");
    ASSERT_FALSE(s);
    const std::string& msg = s.error().message();
    EXPECT_NE(msg.find(bad.location), std::string::npos) << msg;
    EXPECT_NE(msg.find(bad.words), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenSchedule,
    ::testing::Values(
        BadCase{"syntax", "[schedule]\nid = \"x\nversion = 1\n", "p.toml:2:", ""},
        BadCase{"typo_key",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretian = \"7y\"\n"
                "retain = \"7y\"\naction = \"delete\"\n",
                "p.toml:6:1", "unknown key 'retian'"},
        BadCase{"bad_duration",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"7 years\"\n"
                "action = \"delete\"\n",
                "p.toml:6:10", "retention '7 years'"},
        BadCase{"unknown_action",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"7y\"\n"
                "action = \"archve\"\n",
                "p.toml:7:10", "did you mean 'archive'"},
        BadCase{"encrypt_on_delete",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"7y\"\n"
                "action = \"delete\"\nencrypt = true\n",
                "p.toml:8:11", "applies to action"},
        BadCase{"archive_for_on_delete",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"7y\"\n"
                "action = \"delete\"\narchive_for = \"3y\"\n",
                "p.toml:8:15", "applies to action = \"archive\""},
        BadCase{"bad_archive_for",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"7y\"\n"
                "action = \"archive\"\narchive_for = \"3 years\"\n",
                "p.toml:8:15", "retention '3 years'"},
        BadCase{"unknown_mode", "[schedule]\nid = \"x\"\nversion = 1\nmode = \"enforcing\"\n",
                "p.toml:4:8", "unknown mode"},
        BadCase{"no_version", "[schedule]\nid = \"x\"\n[[category]]\nid=\"c\"\n", "p.toml:1:1",
                "'version' is required"},
        BadCase{"bad_glob",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\npaths = [\"a/[b\"]\n"
                "retain = \"1y\"\naction = \"delete\"\n",
                "p.toml:6:10", "unclosed '['"},
        BadCase{"duplicate_category",
                "[schedule]\nid = \"x\"\nversion = 1\n[[category]]\nid = \"c\"\nretain = \"1y\"\n"
                "action = \"delete\"\n[[category]]\nid = \"c\"\nretain = \"1y\"\naction = \"delete\"\n",
                "p.toml:9:6", "used twice"}),
    [](const ::testing::TestParamInfo<BadCase>& param) { return std::string(param.param.name); });

TEST(Schedule, ReviewKeysAreCheckedAgainstTheAction) {
    auto parse = [](std::string_view category) {
        return check_schedule(fmt::format("[schedule]\nid = \"s\"\nversion = 1\n[[category]]\n"
                                          "id = \"c\"\nretain = \"1y\"\n{}",
                                          category),
                              "r.toml");
    };
    auto with_review = parse("action = \"sanitize\"\nreview = true\n");
    ASSERT_TRUE(with_review.errors.empty()) << with_review.errors.front();
    EXPECT_TRUE(with_review.schedule->categories[0].needs_review());
    EXPECT_EQ(with_review.schedule->categories[0].approved_action(), Action::Sanitize);

    auto archive = parse("action = \"review\"\nreview_action = \"archive\"\nencrypt = true\n");
    ASSERT_TRUE(archive.errors.empty()) << archive.errors.front();
    EXPECT_EQ(archive.schedule->categories[0].approved_action(), Action::Archive);
    EXPECT_TRUE(archive.schedule->categories[0].encrypt);

    auto misplaced = parse("action = \"sanitize\"\nreview = true\nreview_action = \"delete\"\n");
    ASSERT_EQ(misplaced.errors.size(), 1u);
    EXPECT_NE(misplaced.errors[0].find("r.toml:9:17: category 'c': 'review_action' applies to "
                                       "action = \"review\""),
              std::string::npos)
        << misplaced.errors[0];
    auto typo = parse("action = \"review\"\nreview_action = \"santize\"\n");
    ASSERT_EQ(typo.errors.size(), 1u);
    EXPECT_NE(typo.errors[0].find("unknown review_action 'santize' (did you mean 'sanitize'?"),
              std::string::npos)
        << typo.errors[0];
    auto itself = parse("action = \"review\"\nreview_action = \"review\"\n");
    EXPECT_EQ(itself.errors.size(), 1u);
    auto contradiction = parse("action = \"review\"\nreview = false\n");
    ASSERT_EQ(contradiction.errors.size(), 1u);
    EXPECT_NE(contradiction.errors[0].find("'review = false' contradicts"), std::string::npos);
    auto encrypt = parse("action = \"review\"\nencrypt = true\n");  // approval deletes
    EXPECT_EQ(encrypt.errors.size(), 1u);
}

TEST(LoadSchedules, ReadsFoldersAndRejectsDuplicateIdsAcrossFiles) {
    lethe::testing::TempDir dir;
    std::string one = "[schedule]\nid = \"a\"\nversion = 1\n[[category]]\nid = \"c\"\n"
                      "retain = \"1y\"\naction = \"delete\"\n";
    dir.write("p/1.toml", one);
    dir.write("p/README.md", "not a schedule");
    auto loaded = load_schedules({dir / "p"});
    ASSERT_TRUE(loaded) << loaded.error().message();
    EXPECT_EQ(loaded->size(), 1u);

    dir.write("p/2.toml", one);
    auto dup = load_schedules({dir / "p"});
    ASSERT_FALSE(dup);
    EXPECT_NE(dup.error().message().find("already used"), std::string::npos);
}

// What a firm with a category per client writes: loading is linear (bench/schedule_load.sh
// times it; a test never does), and this checks the result of such a load.
TEST(LoadSchedules, TenThousandCategoriesLoadInOrderWithTheirIds) {
    constexpr size_t kCategories = 10000;
    std::string text = "[schedule]\nid = \"clients\"\nversion = 1\n";
    for (size_t i = 0; i < kCategories; ++i) {
        text += fmt::format("\n[[category]]\nid = \"client-{:05}\"\n"
                            "paths = [\"clients/c{:05}/{{matter}}/**\"]\n"
                            "extensions = [\"pdf\", \"docx\"]\nretain = \"{}y\"\n"
                            "action = \"sanitize\"\n",
                            i, i, 1 + i % 10);
    }
    lethe::testing::TempDir dir;
    auto loaded = load_schedules({dir.write("p/clients.toml", text)});
    ASSERT_TRUE(loaded) << loaded.error().message();
    ASSERT_EQ(loaded->size(), 1u);
    const auto& cats = loaded->front().categories;
    ASSERT_EQ(cats.size(), kCategories);
    for (size_t i = 0; i < kCategories; ++i) {
        ASSERT_EQ(cats[i].id, fmt::format("client-{:05}", i));
        ASSERT_EQ(cats[i].paths.at(0).pattern(), fmt::format("clients/c{:05}/{{matter}}/**", i));
        ASSERT_EQ(cats[i].id_at.line, 6 + 7 * i);
    }
    ScheduleReport report = check_schedule(text, "clients.toml");
    EXPECT_TRUE(report.errors.empty());
    EXPECT_TRUE(report.warnings.empty()) << report.warnings.front();
}

// The shadow check looks only where a covering category can be; it must still name the
// first one in schedule order, wherever that one is found.
TEST(Schedule, ShadowWarningNamesTheFirstCategoryThatAlwaysWins) {
    auto report = check_schedule(R"([schedule]
id = "s"
version = 1
[[category]]
id = "pdf-anywhere"
extensions = ["pdf"]
retain = "10y"
action = "review"
[[category]]
id = "billing"
paths = ["billing/**", "invoices/**"]
retain = "8y"
action = "sanitize"
[[category]]
id = "billing-pdf"
paths = ["billing/**"]
extensions = ["pdf", "PDF"]
owners = [0]
retain = "6y"
action = "delete"
[[category]]
id = "other-clock"
paths = ["billing/**"]
extensions = ["pdf"]
retain = "1y"
cutoff = "year-end"
action = "delete"
[[category]]
id = "odd-sizes"
min_size = 10
retain = "1y"
action = "delete"
)",
                                 "s.toml");
    ASSERT_TRUE(report.errors.empty()) << report.errors.front();
    ASSERT_EQ(report.warnings.size(), 1u);
    EXPECT_EQ(report.warnings[0].substr(0, report.warnings[0].find(" (")),
              "s.toml:15:6: category 'billing-pdf' can never win: category 'pdf-anywhere' "
              "matches every file it matches and keeps it longer");
}

TEST(LoadSchedules, AnEmptyFolderIsAnError) {
    lethe::testing::TempDir dir;
    dir.mkdir("empty");
    EXPECT_FALSE(load_schedules({dir / "empty"}));
}

}  // namespace
}  // namespace lethe::policy
