// End-to-end tests of schedules that name a time zone, beyond the classification of live
// files: archived copies' dates and expiry, legal holds' last days, review extensions,
// `plan --due-within`, and precedence between schedules in different zones. Each runs at an
// injected instant where UTC and the zone disagree on the date (23:30 UTC is already the
// next day in Auckland; 07:30 UTC is still the day before in Los Angeles).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/e2e.hpp"

namespace lethe {
namespace {

using testing::CommandOutput;
using testing::exists;
using testing::sh_quote;
using testing::slurp;
using testing::TempDir;

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos) out.push_back(nlohmann::json::parse(text.substr(pos, end - pos)));
        pos = end + 1;
    }
    return out;
}

// One share, one enforced schedule "firm" in `zone` (UTC when empty) whose category
// `action`s the files of each matter a year after they were modified. brief.pdf was modified
// at 10:00 UTC on 1 May 2025, which is 1 May in UTC, Auckland and Los Angeles alike, so it
// expires on 1 May 2026 in each; what differs is when that date, and today, begin.
class ZonedShare {
  public:
    ZonedShare(const std::string& zone, const std::string& action, const std::string& extra = "") {
        std::string zone_line = zone.empty() ? "" : "timezone = \"" + zone + "\"\n";
        dir.write("policies/firm.toml", "[schedule]\nid = \"firm\"\nversion = 1\nmode = "
                                        "\"enforce\"\n" + zone_line +
                                            "\n[[category]]\nid = \"client-matter\"\n"
                                            "paths = [\"{client}/{matter}/**\"]\n"
                                            "retain = \"1y\"\naction = \"" + action + "\"\n" +
                                            extra);
        dir.write("lethe.toml",
                  "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                  "max_fraction_per_root = 1.0\n[archive]\ndestination = \"archive\"\n"
                  "[[root]]\nname = \"clients\"\npath = \"share\"\n");
        dir.mkdir("archive");
        dir.write("share/acme/2025-001/brief.pdf", "privileged brief", "2025-05-01T10:00:00Z");
        CommandOutput k = lethe("keygen " + config());
        EXPECT_EQ(k.code, 0) << k.err;
    }
    CommandOutput lethe(const std::string& args) const { return testing::run_lethe(dir, args); }
    [[nodiscard]] std::string config() const { return "--config " + sh_quote(dir / "lethe.toml"); }
    // The plan's file objects and its summary, at `instant`.
    [[nodiscard]] std::vector<nlohmann::json> plan(const std::string& instant,
                                                   const std::string& more = "") const {
        CommandOutput o = lethe("plan --json --now " + instant + " " + more + " " + config());
        EXPECT_EQ(o.code, 0) << o.err;
        return json_lines(o.out);
    }

    TempDir dir;
};

// The archived copy's date is today in the schedule's zone, and it expires when its
// `archive_for` has run out on that zone's calendar: at local midnight in Auckland, 11:00
// UTC, not at UTC midnight.
TEST(ZonedE2E, AnArchivedCopyIsDatedAndExpiresInItsSchedulesZone) {
    ZonedShare s("Pacific/Auckland", "archive", "archive_for = \"1y\"\n");
    // 23:30 UTC on 26 November is 12:30 on 27 November in Auckland (NZDT, UTC+13).
    CommandOutput first = s.lethe("run --now 2026-11-26T23:30:00Z " + s.config());
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_FALSE(exists(s.dir / "share/acme/2025-001/brief.pdf"));
    auto index = json_lines(slurp(s.dir / "state/archives.jsonl"));
    ASSERT_EQ(index.size(), 1u);
    ASSERT_EQ(index[0]["members"].size(), 1u);
    EXPECT_EQ(index[0]["members"][0]["archived"], "2026-11-27");
    EXPECT_EQ(index[0]["members"][0]["expires"], "2027-11-27");
    std::string archive = index[0]["name"];
    ASSERT_TRUE(exists(s.dir / ("archive/" + archive)));

    // 10:30 UTC on 26 November 2027 is 23:30 on the 26th in Auckland: kept.
    ASSERT_EQ(s.lethe("run --now 2027-11-26T10:30:00Z " + s.config()).code, 0);
    EXPECT_TRUE(exists(s.dir / ("archive/" + archive)));
    // 11:30 UTC is 00:30 on the 27th there: the copy has expired, though UTC is still on the
    // 26th.
    CommandOutput expired = s.lethe("run --now 2027-11-26T11:30:00Z " + s.config());
    ASSERT_EQ(expired.code, 0) << expired.err;
    EXPECT_FALSE(exists(s.dir / ("archive/" + archive)));
    auto disposals = testing::payloads_of(s.dir / "state/ledger.jsonl", "archive-disposal");
    ASSERT_EQ(disposals.size(), 1u);
}

// A hold's last day is a date of the file's schedule's zone. At 23:30 UTC on the hold's last
// day it has lapsed for a file of an Auckland schedule (the next day there) but not in UTC;
// at 07:30 UTC on the day after it, it still holds a file of a Los Angeles schedule.
TEST(ZonedE2E, AHoldLapsesAfterItsLastDayInTheZoneOfTheFilesSchedule) {
    struct Case {
        const char* zone;
        const char* instant;
        const char* status;
    };
    for (Case c : {Case{"Pacific/Auckland", "2026-11-26T23:30:00Z", "due"},
                   Case{"", "2026-11-26T23:30:00Z", "held"},
                   Case{"America/Los_Angeles", "2026-11-27T07:30:00Z", "held"},
                   Case{"", "2026-11-27T07:30:00Z", "due"}}) {
        SCOPED_TRACE(std::string(c.zone) + " at " + c.instant);
        ZonedShare s(c.zone, "delete");
        CommandOutput hold = s.lethe("hold add LIT-1 --reason 'Acme v Bolt' --client acme "
                                   "--until 2026-11-26 --by alice " + s.config());
        ASSERT_EQ(hold.code, 0) << hold.err;
        auto lines = s.plan(c.instant);
        ASSERT_EQ(lines.size(), 2u);
        EXPECT_EQ(lines[0]["status"], c.status);
        // And the pass acts on that: the file is deleted only where the hold has lapsed.
        ASSERT_EQ(s.lethe(std::string("run --now ") + c.instant + " " + s.config()).code, 0);
        EXPECT_EQ(exists(s.dir / "share/acme/2025-001/brief.pdf"),
                  std::string(c.status) == "held");
    }
}

// --due-within counts from today in the zone of each file's schedule: at 23:30 UTC on 31
// March it is 1 April in Auckland, and one month on is 1 May, the day brief.pdf expires.
TEST(ZonedE2E, DueWithinCountsFromTodayInTheSchedulesZone) {
    for (const char* zone : {"Pacific/Auckland", ""}) {
        SCOPED_TRACE(zone);
        ZonedShare s(zone, "delete");
        auto lines = s.plan("2026-03-31T23:30:00Z", "--due-within 1m");
        ASSERT_FALSE(lines.empty());
        const nlohmann::json& summary = lines.back();
        bool auckland = std::string(zone) == "Pacific/Auckland";
        EXPECT_EQ(summary["due_within"]["until"], auckland ? "2026-05-01" : "2026-04-30");
        EXPECT_EQ(summary["due_within"]["files"], auckland ? 1 : 0);
        EXPECT_FALSE(summary["due_within"].contains("until_by_zone"));
        ASSERT_EQ(lines.size(), auckland ? 2u : 1u);
        if (auckland) {
            EXPECT_EQ(lines[0]["status"], "not-due");
            EXPECT_EQ(lines[0]["expires"], "2026-05-01");
        }
    }
}

// Schedules in two zones: the horizon is given per zone, and each file is counted against
// its own schedule's.
TEST(ZonedE2E, DueWithinWithSchedulesInTwoZonesGivesTheDateInEach) {
    ZonedShare s("Pacific/Auckland", "delete");
    s.dir.write("policies/hr.toml", R"([schedule]
id = "hr"
version = 1
mode = "enforce"

[[category]]
id = "personnel"
paths = ["hr/**"]
retain = "1y"
action = "delete"
)");
    s.dir.write("share/hr/smith.xlsx", "personnel file", "2025-05-01T10:00:00Z");
    auto lines = s.plan("2026-03-31T23:30:00Z", "--due-within 1m");
    ASSERT_EQ(lines.size(), 2u);  // brief.pdf (Auckland), not hr/smith.xlsx (UTC)
    EXPECT_EQ(lines[0]["path"], "acme/2025-001/brief.pdf");
    const nlohmann::json& within = lines.back()["due_within"];
    EXPECT_FALSE(within.contains("until"));
    EXPECT_EQ(within["until_by_zone"]["Pacific/Auckland"], "2026-05-01");
    EXPECT_EQ(within["until_by_zone"]["UTC"], "2026-04-30");
    EXPECT_EQ(within["files"], 1);
    CommandOutput text = s.lethe("plan --now 2026-03-31T23:30:00Z --due-within 1m " + s.config());
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("  due by 2026-05-01 in Pacific/Auckland, 2026-04-30 in UTC: 1 file "
                            "more ("),
              std::string::npos)
        << text.out;
}

// A rejection's extension counts from today in the zone of the file's schedule.
TEST(ZonedE2E, AReviewExtensionCountsFromTodayInTheSchedulesZone) {
    for (const char* zone : {"Pacific/Auckland", ""}) {
        SCOPED_TRACE(zone);
        ZonedShare s(zone, "review");
        ASSERT_EQ(s.lethe("run --now 2026-11-26T12:00:00Z " + s.config()).code, 0);  // queued: R-1
        CommandOutput reject = s.lethe("review reject R-1 --by alice --reason 'matter reopened' "
                                     "--extend 1m --now 2026-11-26T23:30:00Z " + s.config());
        ASSERT_EQ(reject.code, 0) << reject.err;
        bool auckland = std::string(zone) == "Pacific/Auckland";
        EXPECT_NE(reject.out.find(auckland ? "back in review on 2026-12-27"
                                           : "back in review on 2026-12-26"),
                  std::string::npos)
            << reject.out;
    }
}

// Two schedules give the same file the same expiry date, 1 May 2026. In Auckland that day
// begins 13 hours before it does in UTC, so the UTC category keeps the file longer and wins,
// although the Auckland one's action (review) is the more protective.
TEST(ZonedE2E, PrecedenceBetweenZonesComparesWhenTheExpiryDatesBegin) {
    ZonedShare s("Pacific/Auckland", "review");
    s.dir.write("policies/utc.toml", R"([schedule]
id = "utc-firm"
version = 1
mode = "enforce"

[[category]]
id = "matter-utc"
paths = ["{client}/{matter}/**"]
retain = "1y"
action = "delete"
)");
    CommandOutput o = s.lethe("explain --json --now 2026-03-01 " + s.config() + " " +
                            sh_quote(s.dir / "share/acme/2025-001/brief.pdf"));
    ASSERT_EQ(o.code, 0) << o.err;
    auto j = nlohmann::json::parse(o.out.substr(0, o.out.find('\n')));
    EXPECT_EQ(j["winner"], "matter-utc");
    EXPECT_EQ(j["expires"], "2026-05-01");
    EXPECT_EQ(j["rule"], "keeps the file longest of the 2 matching categories");
    // Due from UTC midnight, the winner's: still not due at 23:30 UTC on 30 April.
    auto lines = s.plan("2026-04-30T23:30:00Z");
    ASSERT_EQ(lines.size(), 1u);  // only the summary: nothing due
}

// An access request and an erasure request see holds as a pass does: on today in the zone
// of each file's (and archived copy's) schedule. At 23:30 UTC on the hold's last day it has
// lapsed under an Auckland schedule and still holds under a UTC one.
TEST(ZonedE2E, InventoryAndErasureJudgeHoldsOnTheDateInTheSchedulesZone) {
    for (const char* zone : {"Pacific/Auckland", ""}) {
        SCOPED_TRACE(zone);
        bool auckland = std::string(zone) == "Pacific/Auckland";
        ZonedShare s(zone, "archive", "archive_for = \"10y\"\n");
        ASSERT_EQ(s.lethe("run --now 2026-11-20T12:00:00Z " + s.config()).code, 0);  // archived
        s.dir.write("share/acme/2026-002/new.pdf", "recent work", "2026-10-01T10:00:00Z");
        CommandOutput hold = s.lethe("hold add LIT-1 --reason 'Acme v Bolt' --client acme "
                                     "--until 2026-11-26 --by alice " + s.config());
        ASSERT_EQ(hold.code, 0) << hold.err;

        CommandOutput inv = s.lethe("inventory --client acme --json --now 2026-11-26T23:30:00Z " +
                                    s.config());
        ASSERT_EQ(inv.code, 0) << inv.err;
        int seen = 0;
        for (const auto& j : json_lines(inv.out)) {
            if (j.value("type", "") == "archived") {
                EXPECT_EQ(j["status"], auckland ? "archived" : "held");
                ++seen;
            } else if (j.value("path", "") == "acme/2026-002/new.pdf") {
                EXPECT_EQ(j["holds"], auckland ? nlohmann::json::array()
                                               : nlohmann::json::array({"LIT-1"}));
                ++seen;
            }
        }
        EXPECT_EQ(seen, 2) << inv.out;

        CommandOutput erase = s.lethe("erase --client acme --request ER-1 --by rm --dry-run "
                                      "--json --now 2026-11-26T23:30:00Z " + s.config());
        ASSERT_EQ(erase.code, 0) << erase.err;
        int items = 0;
        for (const auto& j : json_lines(erase.out)) {
            if (!j.contains("kind")) continue;
            EXPECT_EQ(j["outcome"], auckland ? "would-erase" : "kept") << j.dump();
            if (!auckland) {
                EXPECT_EQ(j["holds"], nlohmann::json::array({"LIT-1"})) << j.dump();
            }
            ++items;
        }
        EXPECT_EQ(items, 2) << erase.out;  // new.pdf and the archive holding brief.pdf
    }
}

// An expiry is a date in its schedule's zone: a schedule that only names a zone moves its
// files' expiries, and `policy diff` says so.
TEST(ZonedE2E, PolicyDiffShowsAnExpiryMovedByAZoneChange) {
    ZonedShare s("", "delete");
    std::string utc = slurp(s.dir / "policies/firm.toml");
    std::string nz = utc;
    nz.insert(nz.find("\n[[category]]"), "timezone = \"Pacific/Auckland\"\n");
    s.dir.write("old/firm.toml", utc);
    s.dir.write("new/firm.toml", nz);
    CommandOutput o = s.lethe("policy diff --json --now 2026-01-01 " + s.config() + " " +
                              sh_quote(s.dir / "old") + " " + sh_quote(s.dir / "new"));
    ASSERT_EQ(o.code, 0) << o.err;
    auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j["changed"], 1);
    ASSERT_EQ(j["changes"].size(), 1u) << o.out;
    EXPECT_EQ(j["changes"][0]["moves"], "expiry ");
    EXPECT_EQ(j["changes"][0]["examples"][0],
              "clients/acme/2025-001/brief.pdf: expires 2026-05-01 (UTC) -> 2026-05-01 "
              "(Pacific/Auckland)");
}

// `lethe hold list` and `hold show` give a hold's state as of today in UTC, and name the
// zones of loaded schedules where it differs: the files of those schedules are judged there.
TEST(ZonedE2E, HoldListNamesTheZonesWhereAHoldsStateDiffersFromUtc) {
    ZonedShare s("America/Los_Angeles", "delete");
    s.dir.write("policies/nz.toml", R"([schedule]
id = "nz"
version = 1
timezone = "Pacific/Auckland"

[[category]]
id = "nz-matter"
paths = ["nz/**"]
retain = "1y"
action = "delete"
)");
    ASSERT_EQ(s.lethe("hold add LIT-1 --reason 'Acme v Bolt' --client acme --until 2026-11-26 "
                      "--by alice " + s.config())
                  .code,
              0);
    auto list = [&](const char* instant) {
        CommandOutput o = s.lethe(std::string("hold list --json --now ") + instant + " " +
                                  s.config());
        EXPECT_EQ(o.code, 0) << o.err;
        return nlohmann::json::parse(o.out.substr(0, o.out.find('\n')));
    };
    // 23:30 UTC on the 26th: the 27th in Auckland, still the 26th in Los Angeles.
    nlohmann::json late = list("2026-11-26T23:30:00Z");
    EXPECT_EQ(late["state"], "active");
    EXPECT_EQ(late["state_by_zone"], nlohmann::json({{"Pacific/Auckland", "lapsed"}}));
    // 07:30 UTC on the 27th: still 23:30 on the 26th in Los Angeles.
    nlohmann::json next = list("2026-11-27T07:30:00Z");
    EXPECT_EQ(next["state"], "lapsed");
    EXPECT_EQ(next["state_by_zone"], nlohmann::json({{"America/Los_Angeles", "active"}}));
    // A day later every zone agrees.
    EXPECT_FALSE(list("2026-11-28T12:00:00Z").contains("state_by_zone"));

    CommandOutput show = s.lethe("hold show LIT-1 --now 2026-11-27T07:30:00Z " + s.config());
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("hold LIT-1 (lapsed)\n  active for files of schedules in "
                            "America/Los_Angeles (dates there)\n"),
              std::string::npos)
        << show.out;
}

}  // namespace
}  // namespace lethe
