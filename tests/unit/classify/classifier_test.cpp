// The compiled Classifier (categories pre-filtered by the first segment of the path) against
// the plain classify() that tries every category: the same verdict for every file, on the
// cases an index could get wrong.

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "tests/unit/classify/fixture.hpp"

namespace lethe::classify {
namespace {

using fixture::at;
using fixture::date;
using fixture::file;
using fixture::schedule;
// Markers through the real per-folder caches, as on a real root.
using MemoryLookups = fixture::CachingMemoryLookups;

// Several schedules whose patterns start with literals, captures, `**`, escapes and none.
std::vector<policy::RetentionSchedule> schedules() {
    return {schedule("matters", R"(
[event.matter-closed]
marker = ".matter-closed"

[[category]]
id = "pdf-anywhere"
paths = ["**/*.pdf"]
retain = "6y"
action = "delete"

[[category]]
id = "matter"
paths = ["clients/{client}/{matter}/**"]
trigger = "event:matter-closed"
retain = "6y"
action = "delete"

[[category]]
id = "originals"
paths = ["clients/{client}/{matter}/originals/**"]
retain = "15y"
action = "review"

[[category]]
id = "scans"
paths = ["scans/[0-9]*/**", "clients/*/scan-*"]
extensions = ["TIF", "pdf"]
retain = "1y"
action = "sanitize"

[[category]]
id = "client-tmp"
paths = ["{client}-tmp/**"]
retain = "30d"
action = "delete"

[[category]]
id = "escaped"
paths = ["odd\\*dir/**"]
retain = "2y"
action = "delete"
)"),
            schedule("billing", R"(
[[category]]
id = "billing"
paths = ["clients/{client}/{matter}/billing/**", "accounts/{client}/**"]
extensions = ["xlsx", "csv"]
retain = "6y"
action = "sanitize"

[[category]]
id = "clients-pdf"
paths = ["clients/**"]
extensions = ["pdf"]
retain = "6y"
action = "delete"

[[category]]
id = "mail"
extensions = ["MSG"]
retain = "3y"
action = "delete"

[[category]]
id = "readme"
paths = ["readme"]
retain = "1y"
action = "delete"
)")};
}

std::vector<scan::FileFacts> files() {
    std::vector<scan::FileFacts> out;
    for (const char* path : {
             "clients/acme/2019-1/a.pdf", "clients/acme/2019-1/originals/deed.PDF",
             "clients/acme/2019-1/billing/inv.XLSX", "clients/acme/2019-1/billing/sub/x.csv",
             "clients/acme/2019-1/.matter-closed", "clients/beta/2020-2/b.docx",
             "clients/beta/2020-2/deep/er/c.pdf", "clients/x/c.pdf", "clients/acme/scan-1.tif", "clients/acme/scan-2.PDF",
             "clients/x.msg", "clients", "clients/a", "accounts/acme/inv.csv", "accounts/inv.csv",
             "scans/2020/x.TIF", "scans/x/y.tif", "acme-tmp/x.doc", "-tmp/x.doc", "odd*dir/a",
             "oddXdir/a", "x.msg", "X.MsG", "readme", "readme/x", "top.pdf", ".pdf", "other/p.bin",
             "other/q.bin", "clients/acme/2019-1/sub/\xff\xfe.pdf", "clients/\xff/2019-1/a.pdf"}) {
        out.push_back(file(path));
    }
    return out;
}

MemoryLookups lookups() {
    MemoryLookups l;
    l.markers["clients/acme/2019-1/.matter-closed"] = at("2016-06-30");
    l.attributes[std::string("other/p.bin") + '\0' + std::string(policy::kPinXattr)] = "originals";
    l.attributes[std::string("other/q.bin") + '\0' + std::string(policy::kPinXattr)] = "no-such";
    return l;
}

void expect_same(const Decision& a, const Decision& b, const std::string& path) {
    SCOPED_TRACE(path);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.schedule, b.schedule);
    EXPECT_EQ(a.category, b.category);
    EXPECT_EQ(a.client, b.client);
    EXPECT_EQ(a.matter, b.matter);
    EXPECT_EQ(a.trigger_date, b.trigger_date);
    EXPECT_EQ(a.expires, b.expires);
    EXPECT_EQ(a.action, b.action);
    EXPECT_EQ(a.reason, b.reason);
    EXPECT_EQ(a.matched_categories, b.matched_categories);
    EXPECT_EQ(a.rule, b.rule);
    EXPECT_EQ(a.trigger_note, b.trigger_note);
    ASSERT_EQ(a.matches.size(), b.matches.size());
    for (size_t i = 0; i < a.matches.size(); ++i) {
        EXPECT_EQ(a.matches[i].category, b.matches[i].category);
        EXPECT_EQ(a.matches[i].why, b.matches[i].why);
        EXPECT_EQ(a.matches[i].expires, b.matches[i].expires);
    }
}

TEST(Classifier, GivesThePlainPathsVerdictForEveryFileAndDay) {
    auto s = schedules();
    Classifier classifier(s);
    for (bool explain : {false, true}) {
        for (const char* today : {"2016-01-01", "2021-03-02", "2023-01-01", "2040-01-01"}) {
            MemoryLookups plain_lookups = lookups();
            MemoryLookups indexed_lookups = lookups();
            ClassifyOptions plain{&plain_lookups, explain};
            ClassifyOptions indexed{&indexed_lookups, explain};
            for (const auto& f : files()) {
                expect_same(classify(f, s, date(today), plain), classifier.classify(f, date(today), indexed),
                            fmt::format("{} on {}{}", f.path, today, explain ? " (explain)" : ""));
            }
        }
    }
}

TEST(Classifier, TheVerdictsThatAnIndexCouldGetWrong) {
    auto s = schedules();
    Classifier classifier(s);
    MemoryLookups l = lookups();
    ClassifyOptions options{&l, false};
    auto today = date("2023-01-01");
    auto verdict = [&](const std::string& path) { return classifier.classify(file(path), today, options); };
    // A tie between a category of the first schedule that may match any path and one keyed
    // to "clients" in the second: the one listed first wins, as on the plain path.
    Decision tie = verdict("clients/x/c.pdf");
    EXPECT_EQ(tie.category->id, "pdf-anywhere");
    EXPECT_EQ(tie.matched_categories, 2U);
    // A matter whose event has not happened is kept indefinitely: it beats any date.
    EXPECT_EQ(verdict("clients/beta/2020-2/deep/er/c.pdf").category->id, "matter");
    // Captures come from the winning pattern.
    Decision inv = verdict("clients/acme/2019-1/billing/inv.XLSX");
    EXPECT_EQ(inv.category->id, "matter");  // closed 2016-06-30 + 6y beats billing's 2015-03-01 + 6y
    EXPECT_EQ(inv.matched_categories, 2U);
    EXPECT_EQ(inv.client, "acme");
    EXPECT_EQ(inv.matter, "2019-1");
    Decision account = verdict("accounts/acme/inv.csv");
    EXPECT_EQ(account.category->id, "billing");
    EXPECT_EQ(account.client, "acme");
    EXPECT_FALSE(account.matter);
    // Extensions are case-insensitive, on either side.
    EXPECT_EQ(verdict("X.MsG").category->id, "mail");
    EXPECT_EQ(verdict("scans/2020/x.TIF").category->id, "scans");
    // A pattern starting with a capture, an escape or `**`: tried for every first segment.
    EXPECT_EQ(verdict("acme-tmp/x.doc").category->id, "client-tmp");
    EXPECT_EQ(verdict("odd*dir/a").category->id, "escaped");
    EXPECT_EQ(verdict("oddXdir/a").status, Status::Unmatched);
    // A path without a '/': its first segment is the whole name.
    EXPECT_EQ(verdict("readme").category->id, "readme");
    EXPECT_EQ(verdict("readme/x").status, Status::Unmatched);
    // Pins name any category, whatever the index would offer for the path.
    EXPECT_EQ(verdict("other/p.bin").category->id, "originals");
    EXPECT_EQ(verdict("other/q.bin").status, Status::Skipped);
    // The marker itself is never classified.
    EXPECT_EQ(verdict("clients/acme/2019-1/.matter-closed").status, Status::Unmatched);
}

TEST(Classifier, OffersOnlyTheCategoriesThatCanMatchTheFirstSegment) {
    auto s = schedules();
    Classifier classifier(s);
    auto ids = [&](std::string_view path) {
        std::vector<std::string> out;
        for (const auto& c : classifier.candidates(path)) out.push_back(c.category->id);
        return out;
    };
    using V = std::vector<std::string>;
    // In schedule order: the keyed categories and those that may match anything.
    EXPECT_EQ(ids("clients/a/b/c.pdf"), (V{"pdf-anywhere", "matter", "originals", "scans", "client-tmp",
                                            "escaped", "billing", "clients-pdf", "mail", "readme"}));
    EXPECT_EQ(ids("accounts/a.csv"), (V{"pdf-anywhere", "client-tmp", "escaped", "billing", "mail", "readme"}));
    EXPECT_EQ(ids("elsewhere/a.csv"), (V{"pdf-anywhere", "client-tmp", "escaped", "mail", "readme"}));
}

TEST(CachingMarkerLookups, AsksTheDiskOncePerFolderAndAnswersEachFileFromTheNearestMarker) {
    MemoryLookups l;
    l.markers["a/m1/.closed"] = at("2001-01-01");
    l.markers["a/.closed"] = at("2002-02-02");
    for (int round = 0; round < 3; ++round) {
        EXPECT_EQ(util::date_of(*l.marker_time("a/m1/x.pdf", ".closed")), date("2001-01-01"));
        EXPECT_EQ(util::date_of(*l.marker_time("a/m1/y.pdf", ".closed")), date("2001-01-01"));
        EXPECT_EQ(util::date_of(*l.marker_time("a/m2/z.pdf", ".closed")), date("2002-02-02"));
        EXPECT_FALSE(l.marker_time("a/m1/x.pdf", ".other"));
        EXPECT_FALSE(l.marker_time("b/z.pdf", ".closed"));
        EXPECT_EQ(util::date_of(*l.marker_time("a/m1/sub/w.pdf", ".closed")), date("2001-01-01"));
    }
    // Each (folder, marker) was looked for on disk once, however often its files were asked.
    EXPECT_EQ(l.probes["a/m1"], 2);  // .closed and .other
    EXPECT_EQ(l.probes["a/m2"], 1);
    EXPECT_EQ(l.probes["a"], 2);     // .closed (from a/m2), .other (from a/m1)
    EXPECT_EQ(l.probes["a/m1/sub"], 1);
    EXPECT_EQ(l.probes["b"], 1);
    EXPECT_EQ(l.probes[""], 2);      // .closed (from b), .other (from a)
}

}  // namespace
}  // namespace lethe::classify
