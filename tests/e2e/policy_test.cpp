// End-to-end tests of the records manager's commands: policy check, explain, policy diff,
// run against the built binary on a generated share.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/support/e2e.hpp"
#include "tests/support/sample_files.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::slurp;
using testing::TempDir;

using Output = testing::CommandOutput;
using testing::shell_quote;

constexpr const char* kFirm = R"([schedule]
schema = 1
id = "firm"
version = 1
approved = 2026-03-01
mode = "enforce"

[event.matter-closed]
marker = ".matter-closed"

[[category]]
id = "client-matter"
mandate = "SRA Code of Conduct: keep 7 years after the matter closes"
paths = ["{client}/{matter}/**"]
retain = "7y"
cutoff = "year-end"
trigger = "event:matter-closed"
action = "review"

[[category]]
id = "billing"
paths = ["{client}/{matter}/billing/**"]
retain = "6y"
action = "sanitize"
erasable = false

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"
)";

class PolicyE2E : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", kFirm);
        m_dir.write("lethe.toml", testing::firm_config({.max_fraction_per_root = "0.9"}));
        // A closed matter (marker dated 2015), an open one, billing and scratch files.
        m_dir.write("share/acme/m1/brief.pdf", "brief", "2010-01-01");
        m_dir.write("share/acme/m1/sub/letter.docx", "letter", "2014-01-01");
        m_dir.write("share/acme/m1/.matter-closed", "", "2015-05-05");
        m_dir.write("share/acme/m1/billing/inv.xlsx", "invoice", "2012-01-01");
        m_dir.write("share/acme/m2/draft.docx", "open matter", "2001-01-01");
        m_dir.write("share/old.tmp", "temp", "2012-01-01");
    }

    Output lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    std::string config() const { return "--config " + shell_quote(m_dir / "lethe.toml"); }

    TempDir m_dir;
};

TEST_F(PolicyE2E, CheckExitsZeroOnACleanScheduleAndReadsTheConfigsPoliciesByDefault) {
    Output o = lethe("policy check " + config());
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("schedule 'firm' version 1, 3 categories, mode enforce"), std::string::npos) << o.out;
}

TEST_F(PolicyE2E, CheckWarnsAboutShadowedCategoriesAndFailsWithStrict) {
    m_dir.write("policies/firm.toml", std::string(kFirm) + R"(
[[category]]
id = "scratch-copy"
paths = ["**/*.tmp"]
retain = "7d"
action = "delete"
)");
    Output lax = lethe("policy check " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(lax.code, 0) << lax.err;
    EXPECT_NE(lax.err.find("category 'scratch-copy' can never win"), std::string::npos) << lax.err;
    Output strict = lethe("policy check --strict " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(strict.code, 1);
}

TEST_F(PolicyE2E, CheckReportsEveryErrorInEveryFileAndAsJson) {
    m_dir.write("policies/hr.toml", R"([schedule]
id = "hr"
version = 1
[[category]]
id = "personnel"
retain = "6 years"
acton = "delete"
)");
    m_dir.write("policies/dup.toml", R"([schedule]
id = "dup"
version = 1
[[category]]
id = "billing"
retain = "1y"
action = "delete"
)");
    Output o = lethe("policy check " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(o.code, 2);
    EXPECT_NE(o.err.find("hr.toml:6:10: category 'personnel': retention '6 years'"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("hr.toml:7:1: category 'personnel': unknown key 'acton' (did you mean 'action'?)"),
              std::string::npos) << o.err;
    EXPECT_NE(o.err.find("category id 'billing' is already defined by"), std::string::npos) << o.err;
    Output json = lethe("policy check --json " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(json.code, 2);
    auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(j["error_count"], 4) << json.out;  // retain, action missing, acton, duplicate id
    EXPECT_EQ(j["files"].size(), 3u);
}

TEST_F(PolicyE2E, ExplainShowsEveryMatchTheWinnerAndWhy) {
    Output o = lethe("explain " + config() + " --now 2026-11-25 " +
                     shell_quote(m_dir / "share/acme/m1/billing/inv.xlsx"));
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("category 'client-matter'"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("category 'billing'"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("trigger event:matter-closed 2015-05-05, cutoff year-end -> 2015-12-31, "
                         "retain 7y, expires 2022-12-31"),
              std::string::npos) << o.out;
    EXPECT_NE(o.out.find("winner: 'client-matter': keeps the file longest"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("client: acme  matter: m1"), std::string::npos) << o.out;
    // Due, but the category asks for a person's review: kept, and said so.
    EXPECT_NE(o.out.find("status: review"), std::string::npos) << o.out;

    Output open = lethe("explain --json " + config() + " --now 2026-11-25 " +
                        shell_quote(m_dir / "share/acme/m2/draft.docx"));
    ASSERT_EQ(open.code, 0) << open.err;
    auto j = nlohmann::json::parse(open.out);
    EXPECT_EQ(j["status"], "not-due");
    EXPECT_EQ(j["winner"], "client-matter");
    EXPECT_EQ(j["matches"][0]["expires"], "pending");

    Output outside = lethe("explain " + config() + " " + shell_quote(m_dir / "policies/firm.toml"));
    EXPECT_EQ(outside.code, 2);
    EXPECT_NE(outside.err.find("not inside any configured root"), std::string::npos) << outside.err;
}

TEST_F(PolicyE2E, MimeCategoriesJudgeTheContentNotTheName) {
    m_dir.write("policies/firm.toml", R"([schedule]
id = "firm"
version = 1
mode = "enforce"

[[category]]
id = "scanned-ids"
paths = ["scans/**"]
mime = ["image/*", "application/pdf"]
retain = "1y"
action = "delete"
)");
    m_dir.write("share/scans/passport.txt", testing::png_1x1(), "2020-01-01");
    m_dir.write("share/scans/contract.dat", testing::minimal_pdf(), "2020-01-01");
    m_dir.write("share/scans/notes.pdf", testing::plain_text(), "2020-01-01");
    m_dir.write("share/scans/engagement.docx", testing::docx_like_zip(), "2020-01-01");

    Output pdf = lethe("explain " + config() + " --now 2026-11-25 " +
                       shell_quote(m_dir / "share/scans/contract.dat"));
    ASSERT_EQ(pdf.code, 0) << pdf.err;
    EXPECT_NE(pdf.out.find("content type: application/pdf (sniffed)"), std::string::npos) << pdf.out;
    EXPECT_NE(pdf.out.find("category 'scanned-ids' (schedule 'firm' v1): path matches 'scans/**', "
                           "content type 'application/pdf' is one of image/*, application/pdf"),
              std::string::npos) << pdf.out;
    EXPECT_NE(pdf.out.find("status: due"), std::string::npos) << pdf.out;

    Output text = lethe("explain " + config() + " --now 2026-11-25 " +
                        shell_quote(m_dir / "share/scans/notes.pdf"));
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("content type: text/plain (sniffed)"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("category 'scanned-ids': every matcher held but mime: content type "
                            "'text/plain' is not one of image/*, application/pdf"),
              std::string::npos) << text.out;
    EXPECT_NE(text.out.find("matches no category: lethe never touches it"), std::string::npos) << text.out;

    Output json = lethe("explain --json " + config() + " --now 2026-11-25 " +
                        shell_quote(m_dir / "share/scans/engagement.docx"));
    ASSERT_EQ(json.code, 0) << json.err;
    auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(j["status"], "unmatched");
    EXPECT_EQ(j["content"]["type"], "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    EXPECT_EQ(j["mime_not_matched"][0]["category"], "scanned-ids");

    ASSERT_EQ(lethe("keygen " + config()).code, 0);
    Output run = lethe("run " + config() + " --now 2026-11-25");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_FALSE(exists(m_dir / "share/scans/passport.txt"));  // a PNG, whatever its name
    EXPECT_FALSE(exists(m_dir / "share/scans/contract.dat"));  // a PDF
    EXPECT_TRUE(exists(m_dir / "share/scans/notes.pdf"));      // text named .pdf: not matched
    EXPECT_TRUE(exists(m_dir / "share/scans/engagement.docx"));
}

TEST_F(PolicyE2E, RunNeverDestroysFilesAwaitingReview) {
    ASSERT_EQ(lethe("keygen " + config()).code, 0);
    Output run = lethe("run " + config() + " --now 2026-11-25");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/m1/brief.pdf"));      // review: kept
    EXPECT_TRUE(exists(m_dir / "share/acme/m1/.matter-closed"));  // markers: never touched
    EXPECT_TRUE(exists(m_dir / "share/acme/m2/draft.docx"));     // open matter
    EXPECT_FALSE(exists(m_dir / "share/old.tmp"));       // delete: carried out
}

TEST_F(PolicyE2E, DiffCountsTheFilesAScheduleChangeWouldMoveByCategory) {
    std::string proposed(kFirm);
    proposed.replace(proposed.find("retain = \"30d\""), 14, "retain = \"20y\"");
    m_dir.write("proposed/firm.toml", proposed);
    Output o = lethe("policy diff " + config() + " --now 2026-11-25 " +
                     shell_quote(m_dir / "policies") + " " + shell_quote(m_dir / "proposed"));
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("6 files judged as of 2026-11-25; 1 would change"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("scratch -> scratch: 1 file "), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("clients/old.tmp: expires 2012-01-31 -> 2032-01-01, status due -> not-due"),
              std::string::npos) << o.out;
    Output json = lethe("policy diff --json " + config() + " --now 2026-11-25 " +
                        shell_quote(m_dir / "policies") + " " + shell_quote(m_dir / "proposed"));
    auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(j["changed"], 1);
    EXPECT_EQ(j["changes"][0]["old_category"], "scratch");
}

TEST_F(PolicyE2E, ZonedSchedulesReckonDatesOnTheirLocalClock) {
    m_dir.write("policies/firm.toml", R"([schedule]
id = "berlin-office"
version = 1
timezone = "Europe/Berlin"

[[category]]
id = "matter"
paths = ["berlin/**"]
retain = "1y"
cutoff = "year-end"
action = "delete"
)");
    m_dir.write("policies/ny.toml", R"([schedule]
id = "ny-office"
version = 1
timezone = "America/New_York"

[[category]]
id = "scratch"
paths = ["ny/**"]
retain = "30d"
action = "delete"
)");
    // 00:30 on 1 January 2026 in Berlin; 12:00 on 10 January 2026 in New York.
    m_dir.write("share/berlin/nye.pdf", "minutes", "2025-12-31T23:30:00Z");
    m_dir.write("share/ny/notes.tmp", "notes", "2026-01-10T17:00:00Z");

    Output berlin = lethe("explain " + config() + " --now 2027-06-01 " +
                          shell_quote(m_dir / "share/berlin/nye.pdf"));
    ASSERT_EQ(berlin.code, 0) << berlin.err;
    EXPECT_NE(berlin.out.find("(7 bytes, modified 2025-12-31T23:30:00Z)"), std::string::npos) << berlin.out;
    EXPECT_NE(berlin.out.find("trigger modified 2026-01-01, cutoff year-end -> 2026-12-31, retain 1y, "
                              "expires 2027-12-31, action delete (dates in Europe/Berlin)"),
              std::string::npos) << berlin.out;
    EXPECT_NE(berlin.out.find("status: not-due, expires 2027-12-31"), std::string::npos) << berlin.out;
    EXPECT_NE(berlin.out.find("today: 2027-06-01 in Europe/Berlin"), std::string::npos) << berlin.out;

    Output ny = lethe("explain --json " + config() + " --now 2026-02-09T04:59:59Z " +
                      shell_quote(m_dir / "share/ny/notes.tmp"));
    ASSERT_EQ(ny.code, 0) << ny.err;
    auto j = nlohmann::json::parse(ny.out);
    EXPECT_EQ(j["status"], "not-due");
    EXPECT_EQ(j["expires"], "2026-02-09");
    EXPECT_EQ(j["time_zone"], "America/New_York");
    EXPECT_EQ(j["today"], "2026-02-08");
    EXPECT_EQ(j["matches"][0]["trigger_date"], "2026-01-10");
    EXPECT_EQ(j["matches"][0]["time_zone"], "America/New_York");

    // The plan, one second before and at local midnight in New York (05:00 UTC).
    auto due_paths = [&](const std::string& now) {
        Output o = lethe("plan --json " + config() + " --now " + now);
        EXPECT_EQ(o.code, 0) << o.err;
        std::vector<std::string> due;
        size_t start = 0;
        while (start < o.out.size()) {
            size_t end = o.out.find('\n', start);
            if (end == std::string::npos) end = o.out.size();
            auto line = nlohmann::json::parse(o.out.substr(start, end - start));
            if (line.contains("path") && line["status"] == "due") {
                due.push_back(line["path"].get<std::string>() + " " + line["trigger_date"].get<std::string>() +
                              " " + line["expires"].get<std::string>());
            }
            start = end + 1;
        }
        std::sort(due.begin(), due.end());  // the walk's threads list files in any order
        return due;
    };
    EXPECT_EQ(due_paths("2026-02-09T04:59:59Z"), std::vector<std::string>{});
    EXPECT_EQ(due_paths("2026-02-09T05:00:00Z"),
              std::vector<std::string>{"ny/notes.tmp 2026-01-10 2026-02-09"});
    // Berlin: due from local midnight of 31 December 2027, 23:00 UTC on the 30th (UTC+1).
    EXPECT_EQ(due_paths("2027-12-30T22:59:59Z"), std::vector<std::string>{"ny/notes.tmp 2026-01-10 2026-02-09"});
    EXPECT_EQ(due_paths("2027-12-30T23:00:00Z"),
              (std::vector<std::string>{"berlin/nye.pdf 2026-01-01 2027-12-31", "ny/notes.tmp 2026-01-10 2026-02-09"}));

    // A misspelt zone is a policy check error at its line and column.
    m_dir.write("policies/ny.toml", "[schedule]\nid = \"ny-office\"\nversion = 1\ntimezone = \"America/New_Yrok\"\n"
                                    "[[category]]\nid = \"scratch\"\nretain = \"30d\"\naction = \"delete\"\n");
    Output check = lethe("policy check " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(check.code, 2);
    EXPECT_NE(check.err.find("ny.toml:4:12: [schedule]: time zone 'America/New_Yrok': unknown zone: "
                             "/usr/share/zoneinfo/America/New_Yrok does not exist"),
              std::string::npos) << check.err;
    Output plan = lethe("plan " + config() + " --now 2026-02-09");
    EXPECT_EQ(plan.code, 2) << plan.out;
}

// A category that fails open (an empty matcher list matches every file, not none) or that
// names a pattern no path can match is refused by the check without --strict, and by every
// command that loads schedules: nothing is disposed, not even what the rest would dispose.
TEST_F(PolicyE2E, EmptyMatcherListsAndUnmatchablePatternsAreRefusedWhereverSchedulesLoad) {
    ASSERT_EQ(lethe("keygen " + config()).code, 0);
    const std::string kSan = "\n[[category]]\nid = \"san\"\n";
    const std::string kRest = "retain = \"30d\"\naction = \"sanitize\"\n";
    const size_t matcher_line = static_cast<size_t>(std::count(kFirm, kFirm + strlen(kFirm), '\n')) + 4;
    struct Case {
        std::string matcher;
        std::string message;
    };
    const Case cases[] = {
        {"paths = []", fmt::format("firm.toml:{}:9: category 'san': 'paths' is empty: an empty "
                                   "list would match every file, not none",
                                   matcher_line)},
        {"owners = []", fmt::format("firm.toml:{}:10: category 'san': 'owners' is empty",
                                    matcher_line)},
        {"paths = [\"./acme/**\"]",
         fmt::format("firm.toml:{}:10: category 'san': path pattern './acme/**', column 1: can "
                     "never match: paths relative to the root have no '.' folder; write 'acme/**' "
                     "instead",
                     matcher_line)},
    };
    for (const Case& c : cases) {
        m_dir.write("policies/firm.toml", kFirm + kSan + c.matcher + "\n" + kRest);
        Output check = lethe("policy check " + config());
        EXPECT_EQ(check.code, 2) << c.matcher;
        EXPECT_NE(check.err.find(c.message), std::string::npos) << check.err;
        for (std::string command : {"plan", "run", "--log-target stderr agent --once"}) {
            Output o = lethe(command + " " + config() + " --now 2026-11-25");
            EXPECT_EQ(o.code, 2) << command << " with " << c.matcher << ": " << o.err;
            EXPECT_NE(o.err.find(c.message), std::string::npos) << command << ": " << o.err;
        }
        EXPECT_EQ(slurp(m_dir / "share/old.tmp"), "temp");  // due under 'scratch', kept
        EXPECT_EQ(slurp(m_dir / "share/acme/m1/billing/inv.xlsx"), "invoice");
    }
}

TEST_F(PolicyE2E, TheExampleSchedulesPassTheStrictCheck) {
    std::string dir = std::string(LETHE_SOURCE_DIR) + "/policies";
    Output set = lethe("policy check --strict " + shell_quote(dir + "/law-firm"));
    EXPECT_EQ(set.code, 0) << set.err;
    EXPECT_NE(set.out.find("schedule 'law-firm-matters'"), std::string::npos) << set.out;
    EXPECT_NE(set.out.find("schedule 'law-firm-marketing'"), std::string::npos) << set.out;
    Output first = lethe("policy check --strict " + shell_quote(dir + "/firm-example.toml"));
    EXPECT_EQ(first.code, 0) << first.err;
}

}  // namespace
}  // namespace lethe
