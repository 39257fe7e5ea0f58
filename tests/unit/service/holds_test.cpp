#include "agent/service/holds.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/ledger/keys.hpp"
#include "agent/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::service {
namespace {

util::Date day(const char* text) { return *util::parse_date(text); }

Hold make_hold(const std::string& id) {
    Hold h;
    h.id = id;
    h.reason = "test";
    h.placed_by = "alice";
    h.placed_at = "2026-11-01T10:00:00Z";
    return h;
}

void add_path(Hold& h, const std::string& glob, std::optional<std::string> root = {}) {
    h.paths.push_back({std::move(root), glob, std::nullopt});
    h.compiled.push_back(*util::Glob::compile(glob));
}

TEST(Hold, AFolderPatternCoversEverythingBelowIt) {
    Hold h = make_hold("H");
    add_path(h, "acme/2010-001");
    EXPECT_TRUE(h.covers("clients", "acme/2010-001/brief.pdf", {}, {}));
    EXPECT_TRUE(h.covers("clients", "acme/2010-001/sub/deep.pdf", {}, {}));
    EXPECT_FALSE(h.covers("clients", "acme/2010-0011/brief.pdf", {}, {}));
    EXPECT_FALSE(h.covers("clients", "acme/brief.pdf", {}, {}));
}

// A path (hold add --path) names one file or folder, whatever characters it has; it is
// stored with its escaped glob, which must agree with it, and reads back the same.
TEST(Hold, ALiteralPathCoversThatNameOnlyAndRoundTrips) {
    Hold h = make_hold("H");
    const std::string name = "san/Smith [Draft]";
    h.paths.push_back({std::nullopt, util::glob_escape(name), name});
    h.compiled.push_back(*util::Glob::compile(util::glob_escape(name)));
    EXPECT_TRUE(h.covers("clients", name, {}, {}));
    EXPECT_TRUE(h.covers("clients", name + "/brief.docx", {}, {}));
    EXPECT_FALSE(h.covers("clients", "san/Smith D", {}, {}));
    EXPECT_FALSE(h.covers("clients", name + "x/brief.docx", {}, {}));
    EXPECT_EQ(h.scope_text(), "path san/Smith [Draft]");
    auto back = Hold::from_json(h.to_json());
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->to_json(), h.to_json());
    EXPECT_FALSE(back->covers("clients", "san/Smith D", {}, {}));
    nlohmann::json forged = h.to_json();
    forged["paths"][0]["glob"] = "san/*";
    EXPECT_FALSE(Hold::from_json(forged));
    // A scope written by lethe 0.2 or earlier is a pattern, as it was.
    nlohmann::json old = h.to_json();
    old["paths"][0] = {{"glob", "san/Smith [Draft]"}};
    auto pattern = Hold::from_json(old);
    ASSERT_TRUE(pattern);
    EXPECT_TRUE(pattern->covers("clients", "san/Smith D", {}, {}));
    EXPECT_EQ(pattern->scope_text(), "glob san/Smith [Draft]");
}

TEST(Hold, ARootQualifiedPatternCoversOnlyThatRoot) {
    Hold h = make_hold("H");
    add_path(h, "**/*.pdf", "clients");
    EXPECT_TRUE(h.covers("clients", "a/b.pdf", {}, {}));
    EXPECT_FALSE(h.covers("hr", "a/b.pdf", {}, {}));
}

TEST(Hold, ClientAndMatterMustBothMatchWhenBothAreGiven) {
    Hold h = make_hold("H");
    h.client = "acme";
    h.matter = "2010-001";
    EXPECT_TRUE(h.covers("c", "x", std::string("acme"), std::string("2010-001")));
    EXPECT_FALSE(h.covers("c", "x", std::string("acme"), std::string("2010-002")));
    EXPECT_FALSE(h.covers("c", "x", std::string("bolt"), std::string("2010-001")));
    EXPECT_FALSE(h.covers("c", "x", {}, {}));
}

TEST(HoldSet, OnlyActiveHoldsCoverAndUntilIsInclusive) {
    HoldSet set;
    Hold until = make_hold("UNTIL");
    until.client = "acme";
    until.until = day("2030-01-31");
    Hold released = make_hold("GONE");
    released.client = "acme";
    released.released = true;
    set.holds = {until, released};
    EXPECT_EQ(set.covering("c", "x", std::string("acme"), {}, day("2030-01-31")),
              std::vector<std::string>{"UNTIL"});
    EXPECT_TRUE(set.covering("c", "x", std::string("acme"), {}, day("2030-02-01")).empty());
}

TEST(HoldStore, SavedHoldsReadBackAndEachSaveIsANewVersion) {
    testing::TempDir dir;
    HoldSet set;
    Hold h = make_hold("LIT-1");
    add_path(h, "acme/**", "clients");
    h.client = "acme";
    h.until = day("2031-05-06");
    set.holds.push_back(h);
    ASSERT_TRUE(save_holds(dir.path(), set));
    ASSERT_TRUE(save_holds(dir.path(), set));
    auto back = load_holds(dir.path());
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->version, 2u);
    EXPECT_EQ(back->sha256, set.sha256);
    ASSERT_EQ(back->holds.size(), 1u);
    const Hold& r = back->holds[0];
    EXPECT_EQ(r.id, "LIT-1");
    EXPECT_EQ(r.client, "acme");
    EXPECT_EQ(r.until, day("2031-05-06"));
    ASSERT_EQ(r.paths.size(), 1u);
    EXPECT_EQ(r.paths[0].root, "clients");
    EXPECT_TRUE(r.covers("clients", "acme/x/y.pdf", std::string("acme"), {}));
}

TEST(HoldStore, NoFileIsTheEmptyStoreButACorruptOneIsRefused) {
    testing::TempDir dir;
    auto none = load_holds(dir.path());
    ASSERT_TRUE(none);
    EXPECT_EQ(none->version, 0u);
    EXPECT_TRUE(none->holds.empty());
    EXPECT_FALSE(testing::exists(dir / "holds.lock"));  // reading never creates the lock

    // Once a store was written, its disappearance is not "no holds".
    {
        auto lock = HoldStoreLock::acquire(dir.path());
        ASSERT_TRUE(lock);
    }
    EXPECT_TRUE(load_holds(dir.path()));  // the first writer holds the lock before any store
    ASSERT_TRUE(save_holds(dir.path(), *none));
    ASSERT_EQ(::unlink((dir / "holds.json").c_str()), 0);
    auto deleted = load_holds(dir.path());
    ASSERT_FALSE(deleted);
    EXPECT_EQ(deleted.error().kind(), ErrorKind::Refused);
    EXPECT_NE(deleted.error().message().find("restore it from backup"), std::string::npos);

    for (
        const char* bad :
        {"", "{", "[]", R"({"schema":1,"version":1})", R"({"schema":9,"version":1,"holds":[]})",
         R"({"schema":1,"version":1,"holds":[{"id":"H"}]})",
         R"({"schema":1,"version":1,"holds":[{"id":"H","reason":"r","placed_by":"a","placed_at":"t","released":false,"paths":[]}]})",
         R"({"schema":1,"version":1,"holds":[{"id":"H","reason":"r","placed_by":"a","placed_at":"t","released":false,"paths":[{"glob":"[x"}]}]})"}) {
        dir.write("holds.json", bad);
        auto set = load_holds(dir.path());
        ASSERT_FALSE(set) << bad;
        EXPECT_EQ(set.error().kind(), ErrorKind::Refused) << bad;
        EXPECT_NE(set.error().message().find("no file will be disposed of"), std::string::npos);
    }
}

TEST(HoldWatch, ReloadsWhenTheStoreIsReplacedAndFailsClosedWhenItBreaks) {
    testing::TempDir dir;
    HoldWatch watch(dir.path());
    auto first = watch.current();
    ASSERT_TRUE(first);
    EXPECT_TRUE((*first)->holds.empty());

    HoldSet set;
    Hold h = make_hold("H");
    h.client = "acme";
    set.holds.push_back(h);
    ASSERT_TRUE(save_holds(dir.path(), set));
    auto second = watch.current();
    ASSERT_TRUE(second);
    ASSERT_EQ((*second)->holds.size(), 1u);

    dir.write("holds.json", "{not json");
    EXPECT_FALSE(watch.current());
    EXPECT_FALSE(watch.current());  // never falls back to the version it had
}

}  // namespace
}  // namespace lethe::service
