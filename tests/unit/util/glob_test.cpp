#include "agent/util/glob.hpp"

#include <gtest/gtest.h>

namespace lethe::util {
namespace {

Glob compile(std::string_view pattern) {
    auto g = Glob::compile(pattern);
    EXPECT_TRUE(g) << (g ? "" : g.error().message());
    return *g;
}

TEST(Glob, StarStaysWithinOneSegment) {
    Glob g = compile("*.pdf");
    EXPECT_TRUE(g.matches("brief.pdf"));
    EXPECT_FALSE(g.matches("acme/brief.pdf"));
}

TEST(Glob, DoubleStarSpansSegments) {
    Glob g = compile("**/.snapshot/**");
    EXPECT_TRUE(g.matches(".snapshot/x"));
    EXPECT_TRUE(g.matches("a/b/.snapshot/c/d"));
    EXPECT_FALSE(g.matches("a/snapshot/c"));
    Glob mid = compile("a/**/z.txt");
    EXPECT_TRUE(mid.matches("a/z.txt"));
    EXPECT_TRUE(mid.matches("a/b/c/z.txt"));
    EXPECT_FALSE(mid.matches("b/z.txt"));
}

TEST(Glob, CapturesNameClientAndMatter) {
    Glob g = compile("{client}/{matter}/**");
    Glob::Captures caps;
    ASSERT_TRUE(g.matches("acme/2019-004/pleadings/brief.pdf", &caps));
    EXPECT_EQ(caps["client"], "acme");
    EXPECT_EQ(caps["matter"], "2019-004");
    EXPECT_FALSE(g.matches("acme"));
}

TEST(Glob, CaptureWithinASegment) {
    Glob g = compile("clients/{client}-files/*");
    Glob::Captures caps;
    ASSERT_TRUE(g.matches("clients/acme-files/a.doc", &caps));
    EXPECT_EQ(caps["client"], "acme");
}

TEST(Glob, ClassesAndQuestionMark) {
    Glob g = compile("report-20[0-9][0-9]?.xlsx");
    EXPECT_TRUE(g.matches("report-2019a.xlsx"));
    EXPECT_FALSE(g.matches("report-19xx.xlsx"));
    Glob neg = compile("[!~]*.docx");
    EXPECT_TRUE(neg.matches("memo.docx"));
    EXPECT_FALSE(neg.matches("~memo.docx"));
    Glob office_lock = compile("**/~$*");
    EXPECT_TRUE(office_lock.matches("acme/m/~$brief.docx"));
}

TEST(Glob, MatchesBytesThatAreNotUtf8) {
    Glob g = compile("{client}/*");
    Glob::Captures caps;
    EXPECT_TRUE(g.matches("caf\xe9/n\nx", &caps));
    EXPECT_EQ(caps["client"], "caf\xe9");
}

TEST(Glob, RejectsBrokenPatternsWithTheColumn) {
    auto unclosed = Glob::compile("a/[bc");
    ASSERT_FALSE(unclosed);
    EXPECT_NE(unclosed.error().message().find("column 3"), std::string::npos)
        << unclosed.error().message();
    EXPECT_FALSE(Glob::compile("{client/x"));
    EXPECT_FALSE(Glob::compile("{}/x"));
    EXPECT_FALSE(Glob::compile("{a}/{a}"));
    EXPECT_FALSE(Glob::compile("/abs/*"));
    EXPECT_FALSE(Glob::compile("trailing\\"));
}

TEST(Glob, CapturesBacktrackAndAFailedMatchLeavesNoCapture) {
    auto g = *Glob::compile("{client}-{matter}/billing/**");
    Glob::Captures caps;
    ASSERT_TRUE(g.matches("acme-corp-2010/billing/x.pdf", &caps));
    EXPECT_EQ(caps["client"], "acme-corp");  // longest first, then shorter until the rest fits
    EXPECT_EQ(caps["matter"], "2010");
    Glob::Captures none;
    EXPECT_FALSE(g.matches("acme-corp-2010/letters/x.pdf", &none));
    EXPECT_TRUE(none.empty());
    auto tail = *Glob::compile("{client}/{matter}");
    ASSERT_TRUE(tail.matches("acme/2010-001", &caps));
    EXPECT_EQ(caps["matter"], "2010-001");
    EXPECT_FALSE(tail.matches("acme/2010-001/x", &caps));
}

TEST(Glob, StarBeforeALiteralTriesEveryPlaceOfThatLiteral) {
    auto g = *Glob::compile("**/*.tmp");
    EXPECT_TRUE(g.matches("a/b.c.tmp"));
    EXPECT_TRUE(g.matches("x.tmp.tmp"));
    EXPECT_FALSE(g.matches("a/b.tmp/c"));
    EXPECT_FALSE(g.matches("a/b.tmpx"));
    auto mid = *Glob::compile("a*b*c");
    EXPECT_TRUE(mid.matches("abbbcbc"));
    EXPECT_FALSE(mid.matches("ab/c"));
}

TEST(Glob, SpansGiveTheSameCapturesAsTheMapWithoutAllocating) {
    auto g = *Glob::compile("clients/{client}/{matter}-x/**");
    std::string_view spans[2];
    ASSERT_TRUE(g.matches("clients/acme/2019-x-x/a/b.pdf", spans));
    EXPECT_EQ(spans[0], "acme");  // capture_names() order
    EXPECT_EQ(spans[1], "2019-x");  // longest first, as with the map
    Glob::Captures caps;
    ASSERT_TRUE(g.matches("clients/acme/2019-x-x/a/b.pdf", &caps));
    EXPECT_EQ(caps["matter"], "2019-x");
    EXPECT_FALSE(g.matches("clients/acme/2019/a.pdf", spans));
    EXPECT_FALSE(g.matches("client/acme/2019-x/a.pdf", spans));
}

TEST(Glob, TheLiteralPrefixEndsAtTheFirstWildcardCaptureOrEscape) {
    EXPECT_EQ(Glob::compile("clients/{client}/**")->literal_prefix(), "clients/");
    EXPECT_EQ(Glob::compile("hr/staff/*.pdf")->literal_prefix(), "hr/staff/");
    EXPECT_EQ(Glob::compile("**/*.tmp")->literal_prefix(), "");
    EXPECT_EQ(Glob::compile("odd\\*dir/**")->literal_prefix(), "odd");
    EXPECT_EQ(Glob::compile("scans/[0-9]*")->literal_prefix(), "scans/");
    EXPECT_EQ(Glob::compile("readme")->literal_prefix(), "readme");
    // The whole pattern literal: only that path.
    auto exact = *Glob::compile("readme");
    EXPECT_TRUE(exact.matches("readme"));
    EXPECT_FALSE(exact.matches("readme/x"));
    EXPECT_FALSE(exact.matches("readm"));
}

TEST(WithoutDotSegments, DropsDotAndEmptySegmentsAndRefusesDotDot) {
    EXPECT_EQ(*without_dot_segments("san/**"), "san/**");
    EXPECT_EQ(*without_dot_segments("./san"), "san");
    EXPECT_EQ(*without_dot_segments("san/.//x/."), "san/x");
    EXPECT_EQ(*without_dot_segments("."), "");
    EXPECT_EQ(*without_dot_segments(".*/..x/x.."), ".*/..x/x..");  // ordinary names
    EXPECT_FALSE(without_dot_segments("../outside"));
    EXPECT_FALSE(without_dot_segments("san/../x"));
    EXPECT_FALSE(without_dot_segments("san/.."));
}

// Each shape the walk never produces, where it starts in the pattern, and what to write.
TEST(Unmatchable, NamesPatternsThatNoPathBelowARootCanMatch) {
    struct Case {
        std::string_view pattern;
        size_t column;
        std::string_view why;      // part of the reason
        std::string_view instead;  // "" when nothing can be suggested
    };
    const Case cases[] = {
        {"./san/**", 1, "'.'", "san/**"},
        {"san/./x", 5, "'.'", "san/x"},
        {"../outside/**", 1, "'..'", ""},
        {"a/../b", 3, "'..'", "b"},
        {"{client}/../x", 10, "'..'", ""},
        {"**/../x", 4, "'..'", ""},
        {"/san/**", 1, "must not start with '/'", "san/**"},
        {"san//x.pdf", 5, "empty name", "san/x.pdf"},
        {"san/", 4, "ends in '/'", "san/**"},
        {"san/**/", 7, "ends in '/'", "san/**"},
        {"\\./x", 1, "'.'", "x"},          // an escaped '.' is still '.'
        {"a\\/./x", 4, "'.'", "a/x"},      // an escaped '/' still separates names
    };
    for (const Case& c : cases) {
        auto u = unmatchable(c.pattern);
        ASSERT_TRUE(u) << c.pattern;
        EXPECT_EQ(u->column, c.column) << c.pattern;
        EXPECT_NE(u->why.find(c.why), std::string::npos) << c.pattern << ": " << u->why;
        EXPECT_EQ(u->instead, c.instead) << c.pattern;
    }
}

TEST(Unmatchable, LeavesPatternsThatCanMatchAlone) {
    for (std::string_view p : {"san/**", "**", "**/.snapshot/**", ".hidden/*", "a/...", "a/.b",
                               "a/..b/c", "*/x", "?/x", "[.]x", "{client}/{matter}/**", "a.",
                               ""}) {
        EXPECT_FALSE(unmatchable(p)) << p;
    }
}

}  // namespace
}  // namespace lethe::util

namespace lethe::util {
namespace {

// An escaped name matches itself and only itself, whatever pattern characters it holds.
TEST(GlobEscape, MatchesExactlyTheNameGiven) {
    for (std::string name : {"san/Smith [Draft] brief.docx", "memo{1}.docx", "a*b.docx",
                             "what?.docx", "**", "x/**/y", "back\\slash", "[!a-z]", "}{"}) {
        auto g = Glob::compile(glob_escape(name));
        ASSERT_TRUE(g) << name << ": " << g.error().message();
        EXPECT_TRUE(g->matches(name)) << name;
        EXPECT_TRUE(g->capture_names().empty()) << name;
    }
    auto draft = Glob::compile(glob_escape("Smith [Draft] brief.docx"));
    ASSERT_TRUE(draft);
    EXPECT_FALSE(draft->matches("Smith D brief.docx"));
    auto star = Glob::compile(glob_escape("a*b"));
    ASSERT_TRUE(star);
    EXPECT_FALSE(star->matches("aXb"));
    auto all = Glob::compile(glob_escape("**"));
    ASSERT_TRUE(all);
    EXPECT_FALSE(all->matches("x/y"));
    EXPECT_FALSE(all->matches("x"));
}

}  // namespace
}  // namespace lethe::util
