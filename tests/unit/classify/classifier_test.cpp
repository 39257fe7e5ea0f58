// The compiled Classifier (categories pre-filtered by the first segment of the path) against
// the plain classify() that tries every category: the same verdict for every file, on the
// cases an index could get wrong.

#include <algorithm>
#include <map>
#include <random>
#include <set>

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

// A random share for the differential test: markers in folders, attributes on files, files
// whose content cannot be sniffed. Read by two lookups: one that asks it afresh every time
// (the ground truth) and the real caches in front of it (what `lethe plan` uses).
struct RandomShare {
    std::map<std::string, util::TimePoint> markers;  // "folder/.marker" ("" folder: ".marker")
    std::map<std::string, std::string> attributes;   // "path\0name" -> value
    std::set<std::string> unsniffable;

    std::optional<util::TimePoint> marker_in(const std::string& folder, const std::string& marker) const {
        auto it = markers.find(folder.empty() ? marker : folder + "/" + marker);
        if (it == markers.end()) return std::nullopt;
        return it->second;
    }
    std::optional<std::string> xattr(std::string_view path, const std::string& name) const {
        auto it = attributes.find(std::string(path) + '\0' + name);
        if (it == attributes.end()) return std::nullopt;
        return it->second;
    }
    ContentType content_type(const scan::FileFacts& facts) const {
        if (unsniffable.count(facts.path) != 0) return ContentType{std::nullopt, "unreadable"};
        std::string_view path(facts.path);
        std::string_view ext = path.substr(path.rfind('.') + 1);
        if (ext == "pdf" || ext == "PDF") return ContentType{"application/pdf", ""};
        if (ext == "tif") return ContentType{"image/tiff", ""};
        return ContentType{"application/octet-stream", ""};
    }
};

// Every marker lookup walks from the file's folder to the root, asking the share each time.
class UncachedLookups final : public FileLookups {
public:
    explicit UncachedLookups(const RandomShare& share) : m_share(share) {}
    std::optional<util::TimePoint> marker_time(std::string_view path, const std::string& marker) override {
        std::string folder(path);
        while (true) {
            auto slash = folder.rfind('/');
            folder.resize(slash == std::string::npos ? 0 : slash);
            if (auto when = m_share.marker_in(folder, marker)) return when;
            if (folder.empty()) return std::nullopt;
        }
    }
    std::optional<std::string> xattr(std::string_view path, const std::string& name) override {
        return m_share.xattr(path, name);
    }
    ContentType content_type(const scan::FileFacts& facts) override { return m_share.content_type(facts); }

private:
    const RandomShare& m_share;
};

// The real marker caches in front of the share; counts how often each folder is asked.
class CachedLookups final : public CachingMarkerLookups {
public:
    explicit CachedLookups(const RandomShare& share) : m_share(share) {}
    std::map<std::string, int> probes;  // "folder\0marker" -> marker_in calls

    std::optional<std::string> xattr(std::string_view path, const std::string& name) override {
        return m_share.xattr(path, name);
    }
    ContentType content_type(const scan::FileFacts& facts) override { return m_share.content_type(facts); }

protected:
    std::optional<util::TimePoint> marker_in(const std::string& folder, const std::string& marker) override {
        ++probes[folder + '\0' + marker];
        return m_share.marker_in(folder, marker);
    }

private:
    const RandomShare& m_share;
};

// Files in random folders (revisited in any order, as two walker threads may hand them
// over; folder names that begin with another's, such as beta and beta2), with random names, extensions in any case, sizes, owners, times, hard links,
// markers at any level, pins (to real and unknown categories), event attributes holding
// dates and non-dates, lethe's encrypted copies, unreadable content; paths with empty
// segments and odd bytes too.
std::vector<scan::FileFacts> random_share(uint64_t seed, size_t count, RandomShare& share) {
    std::mt19937_64 rng(seed);
    auto pick = [&](const auto& options) { return std::string(options[rng() % std::size(options)]); };
    static const char* const kTop[] = {
        "clients", "accounts", "accounts/billing", "accounts/client-account", "correspondence", "post-room",
        "compliance/conflicts", "compliance/cdd", "hr/staff", "hr/payroll", "hr/right-to-work", "hr/recruitment",
        "marketing/consent", "marketing/events", "precedents", "scans", "acme-tmp", "odd*dir", "oddXdir",
        "other", "readme", "", "Clients", "clients2", "edge", "edge/x", "edge/lit-a"};
    static const char* const kSegment[] = {"acme", "beta", "client-0001", "2019-1", "2020-002", "originals",
                                           "work", "billing", "sub", "deep", "x", "scan-1", "a b", "\xff\xfe",
                                           "\xc3\xa9", "2020", "-tmp", "{client}", ".hidden", "", "lit-a", "beta2",
                                           "originals2", "2020x"};
    static const char* const kName[] = {"a", "deed", "inv", "doc-1", "scan-7", "readme", "x", "",
                                        ".matter-closed", ".left", "notes", "\xff", "a.b", "q"};
    static const char* const kExtension[] = {"pdf", "PDF", "docx", "msg", "MSG", "eml", "xlsx", "XLSX", "csv",
                                             "tmp", "txt", "tif", "tiff", "TIF", "age", "", "verylongextension",
                                             "Pdf", "bin"};
    static const char* const kMarker[] = {".matter-closed", ".left", ".closed"};
    static const char* const kPin[] = {"originals", "matter-file", "no-such", "billing", "personnel-file",
                                       "right-to-work-copies", "tmp", "zoned-fy", "scanned-post", "matter"};
    static const char* const kEventAttribute[] = {"user.lethe.relationship_ended", "user.lethe.consent_withdrawn",
                                                  "user.lethe.closed_on"};
    static const char* const kDate[] = {"2010-01-31", "2016-02-29", "2020-12-31", "2024-02-29", "not-a-date",
                                        "2023-13-01", "", "1999-03-31"};
    auto instant = [&] {  // 1995 to 2035, at any second, so that time zones matter
        auto seconds = 788918400 + static_cast<int64_t>(rng() % (40ULL * 365 * 86400));
        return util::TimePoint{std::chrono::seconds{seconds} + std::chrono::nanoseconds{rng() % 1000000000}};
    };
    std::vector<std::string> folders;
    std::vector<scan::FileFacts> out;
    for (size_t i = 0; i < count; ++i) {
        std::string folder;
        if (!folders.empty() && rng() % 3 != 0) {
            folder = folders[rng() % folders.size()];
        } else {
            folder = pick(kTop);
            for (size_t depth = rng() % 5; depth > 0; --depth) folder += (folder.empty() ? "" : "/") + pick(kSegment);
            folders.push_back(folder);
        }
        std::string name = pick(kName);
        if (name.empty() || rng() % 4 != 0) {
            std::string extension = pick(kExtension);
            if (!extension.empty()) name += "." + extension;
        }
        if (name.empty()) name = "f";
        scan::FileFacts f;
        f.path = folder.empty() ? name : folder + "/" + name;
        if (rng() % 200 == 0) f.path = pick(kTop);
        if (f.path.empty()) f.path = "f";
        f.size = rng() % 4 == 0 ? rng() % 3 : rng() % (1U << 24);
        f.uid = rng() % 8 == 0 ? 0 : 1000 + static_cast<uint32_t>(rng() % 3);
        f.gid = rng() % 8 == 0 ? 0 : 100 + static_cast<uint32_t>(rng() % 3);
        f.nlink = rng() % 10 == 0 ? 2 : 1;
        f.mtime = instant();
        f.atime = rng() % 2 == 0 ? f.mtime : instant();
        if (rng() % 2 == 0) f.btime = instant();
        f.ctime = f.mtime;
        if (rng() % 7 == 0) {  // a marker in the folder or one of its ancestors
            std::string where = folder;
            for (size_t up = rng() % 3; up > 0 && !where.empty(); --up) {
                auto slash = where.rfind('/');
                where.resize(slash == std::string::npos ? 0 : slash);
            }
            share.markers[(where.empty() ? "" : where + "/") + pick(kMarker)] = instant();
        }
        auto attribute = [&](std::string_view attribute_name, std::string value) {
            share.attributes[f.path + '\0' + std::string(attribute_name)] = std::move(value);
        };
        if (rng() % 25 == 0) attribute(policy::kPinXattr, pick(kPin));
        if (rng() % 5 == 0) attribute(pick(kEventAttribute), pick(kDate));
        if (rng() % 40 == 0) {  // lethe's encrypted copy of a file
            f.path += ".age";
            attribute(policy::kPinXattr, pick(kPin));
            attribute("user.lethe.expires", "2030-01-01");
            if (rng() % 2 == 0) attribute("user.lethe.trigger_date", pick(kDate));
            if (rng() % 2 == 0) attribute("user.lethe.encrypted", pick(kDate));
        }
        if (rng() % 10 == 0) share.unsniffable.insert(f.path);
        out.push_back(std::move(f));
    }
    return out;
}

// The example schedules and more: time zones, cutoffs, every trigger, every matcher, ties,
// and path patterns of every shape the compiled matcher must tell apart from the rest.
std::vector<policy::RetentionSchedule> differential_schedules() {
    auto loaded = policy::load_schedules({std::string(LETHE_TEST_DATA) + "/../../policies/law-firm"});
    EXPECT_TRUE(loaded) << loaded.error().message();
    std::vector<policy::RetentionSchedule> out = loaded ? std::move(*loaded) : std::vector<policy::RetentionSchedule>{};
    for (auto& s : schedules()) out.push_back(std::move(s));
    out.push_back(schedule("more", R"(
timezone = "America/New_York"

[event.closed]
marker = ".closed"

[event.closed-on]
xattr = "user.lethe.closed_on"

[[category]]
id = "closed-any"
paths = ["**/sub/**", "other/**"]
trigger = "event:closed"
retain = "1y2m"
cutoff = "fiscal-year-end:02-29"
action = "sanitize"

[[category]]
id = "closed-on"
paths = ["accounts/**", "other/**"]
trigger = "event:closed-on"
retain = "2m10d"
action = "encrypt"

[[category]]
id = "born"
paths = ["post-room/**", "other/**"]
trigger = "created"
retain = "3w"
action = "delete"

[[category]]
id = "read"
paths = ["correspondence/**"]
trigger = "accessed"
retain = "1m"
cutoff = "fiscal-year-end:06-30"
action = "archive"
owners = [1000, 1001]

[[category]]
id = "small"
max_size = 2
min_size = 1
retain = "5d"
action = "delete"
groups = [100]

[[category]]
id = "mimed"
paths = ["other/**", "clients/**"]
mime = ["image/*", "application/pdf"]
retain = "8y"
action = "encrypt"
archive_for = "2y"

[[category]]
id = "zoned-fy"
paths = ["hr/**", "other/**"]
retain = "1y1m1d"
cutoff = "fiscal-year-end:03-31"
trigger = "created"
created_fallback = "accessed"
action = "review"
review_action = "sanitize"
)"));
    out.push_back(schedule("edges", R"(
timezone = "Australia/Lord_Howe"

[[category]]
id = "edge-capture-last"
paths = ["edge/{client}", "edge/x/{matter}/{client}"]
retain = "2y"
action = "delete"

# A trailing '/' and an empty name ('//') never reach a classifier: the loader refuses them
# (tests/data/broken-schedules/unmatchable-paths.toml).

[[category]]
id = "edge-within-segment"
paths = ["edge/lit-{client}/**", "edge/{matter}-tmp/**", "edge/**/sub/{client}"]
retain = "5y"
action = "delete"

[[category]]
id = "edge-matter-first"
paths = ["edge/{matter}/{client}/**"]
retain = "6y"
action = "sanitize"

[[category]]
id = "tmp"
extensions = ["tmp", "TXT"]
retain = "0d"
action = "delete"

[[category]]
id = "perm"
paths = ["precedents/**"]
retain = "permanent"
action = "archive"
encrypt = true
)"));
    return out;
}

void expect_identical(const Decision& a, const Decision& b, const std::string& what) {
    SCOPED_TRACE(what);
    expect_same(a, b, what);
    EXPECT_EQ(a.content.has_value(), b.content.has_value());
    if (a.content && b.content) {
        EXPECT_EQ(a.content->mime, b.content->mime);
        EXPECT_EQ(a.content->problem, b.content->problem);
    }
    for (size_t i = 0; i < std::min(a.matches.size(), b.matches.size()); ++i) {
        const Match& x = a.matches[i];
        const Match& y = b.matches[i];
        EXPECT_EQ(x.schedule, y.schedule);
        EXPECT_EQ(x.trigger, y.trigger);
        EXPECT_EQ(x.trigger_date, y.trigger_date);
        EXPECT_EQ(x.counted_from, y.counted_from);
        EXPECT_EQ(x.note, y.note);
        EXPECT_EQ(x.problem, y.problem);
        EXPECT_EQ(x.client, y.client);
        EXPECT_EQ(x.matter, y.matter);
    }
    ASSERT_EQ(a.mime_misses.size(), b.mime_misses.size());
    for (size_t i = 0; i < a.mime_misses.size(); ++i) {
        EXPECT_EQ(a.mime_misses[i].first, b.mime_misses[i].first);
        EXPECT_EQ(a.mime_misses[i].second, b.mime_misses[i].second);
    }
}

TEST(Classifier, GivesThePlainPathsVerdictOnARandomShare) {
    auto s = differential_schedules();
    ASSERT_GT(s.size(), 8U);
    Classifier classifier(s);
    RandomShare share;
    auto facts = random_share(20261126, 3000, share);
    // In walk order too: a folder's files together, a subtree's folders together.
    auto walked = facts;
    std::sort(walked.begin(), walked.end(),
              [](const scan::FileFacts& a, const scan::FileFacts& b) { return a.path < b.path; });
    facts.insert(facts.end(), walked.begin(), walked.end());
    size_t decided = 0;
    std::map<Status, size_t> statuses;
    for (const char* now : {"2016-01-01T00:00:00Z", "2021-03-02T04:30:00Z", "2026-11-25T23:59:59Z",
                            "2040-01-01T12:00:00Z"}) {
        for (bool explain : {false, true}) {
            UncachedLookups truth(share);
            CachedLookups cached(share);
            ClassifyOptions plain{&truth, explain};
            ClassifyOptions indexed{&cached, explain};
            auto when = *util::parse_timestamp(now);
            for (const auto& f : facts) {
                Decision a = classify(f, s, when, plain);
                Decision b = classifier.classify(f, when, indexed);
                expect_identical(a, b, fmt::format("{} on {}{}", f.path, now, explain ? " (explain)" : ""));
                decided += a.category != nullptr ? 1 : 0;
                ++statuses[a.status];
                if (::testing::Test::HasFailure()) return;  // one file's differences are enough to read
            }
            // The caches ask the disk once per folder and marker, whatever order the folders come in
            // (each file is classified twice here: in random order, then in walk order).
            for (const auto& [key, calls] : cached.probes) EXPECT_EQ(calls, 1) << key;
        }
    }
    // The corpus exercises every outcome, not only the easy ones.
    EXPECT_GT(decided, facts.size() * 4);  // of 8 passes over the files
    for (Status status : {Status::Unmatched, Status::NotDue, Status::Due, Status::Review, Status::Skipped}) {
        EXPECT_GT(statuses[status], 100U) << to_string(status);
    }
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

TEST(CachingMarkerLookups, AnswersEveryOrderOfFoldersAsTheFoldersThemselvesWould) {
    // Folders that begin with another's name (b, b2, bc) are siblings, not children; a walk
    // goes down, up, across and back; files sit at the root too.
    RandomShare share;
    share.markers["a/b/.closed"] = at("2001-01-01");
    share.markers["a/b/c/d/.closed"] = at("2002-02-02");
    share.markers["x/.closed"] = at("2003-03-03");
    share.markers[".closed"] = at("2004-04-04");
    share.markers["a/b2/.other"] = at("2005-05-05");
    const std::vector<std::string> walk{
        "a/b/c/x.pdf",   "a/bc/y.pdf",       "a/b2/y.pdf",  "a/b/z.pdf", "a/b/c/d/e/f.pdf", "a/b/c/d/g.pdf",
        "a/b/c/h.pdf",   "a/b2/c/d/i.pdf",   "a/j.pdf",     "k.pdf",     "x/l.pdf",         "x2/m.pdf",
        "x/y/z/n.pdf",   "a/b/c/d/e/o.pdf",  "a/bc/d/p.pdf", "q.pdf",    "a/b/c/d/e/f2.pdf", "a/b/c2/r.pdf"};
    UncachedLookups truth(share);
    CachedLookups cached(share);
    for (int round = 0; round < 2; ++round) {
        for (const auto& path : walk) {
            for (const std::string marker : {".closed", ".other"}) {
                EXPECT_EQ(cached.marker_time(path, marker), truth.marker_time(path, marker)) << path << " " << marker;
            }
        }
    }
    EXPECT_EQ(util::date_of(*cached.marker_time("a/b2/y.pdf", ".closed")), date("2004-04-04"));
    EXPECT_EQ(util::date_of(*cached.marker_time("a/b/c/d/e/f.pdf", ".closed")), date("2002-02-02"));
    for (const auto& [key, calls] : cached.probes) EXPECT_EQ(calls, 1) << key;
}

}  // namespace
}  // namespace lethe::classify
