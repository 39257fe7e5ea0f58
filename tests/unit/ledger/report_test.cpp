// The export formats: what reaches an auditor's spreadsheet or browser must be exactly the
// ledger's text, escaped so that no file name becomes markup or a new CSV cell.

#include "agent/ledger/report.hpp"

#include <gtest/gtest.h>

namespace lethe::ledger {
namespace {

ExportedEntry disposal(uint64_t seq, const std::string& time, const std::string& path,
                       uint64_t size, const std::string& category = "client-matter") {
    nlohmann::json p = {{"type", "disposal"},   {"seq", seq},         {"time", time},
                        {"root", "clients"},    {"path", path},       {"category", category},
                        {"action", "sanitize"}, {"subject", {{"size", size}, {"sha256", "ab"}}}};
    return {"state/ledger.jsonl", seq, std::string(64, 'f'), p};
}

VerifyReport passed() {
    VerifyReport r;
    r.path = "state/ledger.jsonl";
    r.entries = 3;
    r.by_type = {{"disposal", 3}};
    return r;
}

TEST(ReportTest, HtmlEscapeCoversMarkupQuotesAndInvalidUtf8) {
    EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    EXPECT_EQ(html_escape("bad\xff.pdf"), "bad\xef\xbf\xbd.pdf");
    EXPECT_EQ(html_escape("plain/path.pdf"), "plain/path.pdf");
}

TEST(ReportTest, CsvFieldsAreQuotedOnlyWhenRfc4180SaysSo) {
    EXPECT_EQ(csv_field("plain"), "plain");
    EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
    EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
}

TEST(ReportTest, CsvHasAHeaderAndOneCrlfRowPerEntry) {
    std::string csv = render_csv({disposal(1, "2026-01-15T10:00:00Z", "a,\"b\".pdf", 10)});
    auto first = csv.find("\r\n");
    ASSERT_NE(first, std::string::npos);
    EXPECT_EQ(csv.substr(0, 30), "ledger,line,seq,type,time,host");
    std::string row = csv.substr(first + 2);
    EXPECT_EQ(row.substr(row.size() - 2), "\r\n");
    EXPECT_NE(row.find(",clients,\"a,\"\"b\"\".pdf\","), std::string::npos) << row;
    EXPECT_NE(row.find(",10,ab,"), std::string::npos) << row;
}

TEST(ReportTest, JsonLinesCarryLineHashSeqAndThePayloadUnchanged) {
    auto e = disposal(7, "2026-01-15T10:00:00Z", "x.pdf", 3);
    std::string out = render_json_lines({e, e});
    auto nl = out.find('\n');
    ASSERT_NE(nl, std::string::npos);
    auto j = nlohmann::json::parse(out.substr(0, nl));
    EXPECT_EQ(j["seq"], 7);
    EXPECT_EQ(j["line"], 7);
    EXPECT_EQ(j["hash"], std::string(64, 'f'));
    EXPECT_EQ(j["payload"], e.payload);
    EXPECT_EQ(out.substr(nl + 1), out.substr(0, nl + 1));
}

TEST(ReportTest, HtmlTotalsByCategoryAndMonthAndAnEscapedTable) {
    ReportInput in;
    in.verification = {passed()};
    in.entries = {disposal(1, "2026-01-15T10:00:00Z", "<script>x</script>.pdf", 100),
                  disposal(2, "2026-01-20T10:00:00Z", "b.pdf", 20, "scratch"),
                  disposal(3, "2026-03-02T10:00:00Z", "c.pdf", 3)};
    std::string html = render_html(in);
    EXPECT_NE(html.find("data-status=\"passed\""), std::string::npos);
    EXPECT_NE(html.find("id=\"total-disposals\" data-value=\"3\""), std::string::npos);
    EXPECT_NE(html.find("id=\"total-bytes\" data-value=\"123\""), std::string::npos);
    EXPECT_NE(html.find("<tr data-count=\"2\" data-bytes=\"103\"><td>client-matter</td>"),
              std::string::npos);
    EXPECT_NE(html.find("<tr data-count=\"2\" data-bytes=\"120\"><td>2026-01</td>"),
              std::string::npos);
    // February had none, and still gets its (empty) bar.
    EXPECT_NE(html.find("data-month=\"2026-02\" data-count=\"0\""), std::string::npos);
    EXPECT_NE(html.find("clients/&lt;script&gt;x&lt;/script&gt;.pdf"), std::string::npos);
    EXPECT_EQ(html.find("<script>x"), std::string::npos);
    EXPECT_NE(html.find("No holds recorded in this ledger"), std::string::npos);
    // Nothing in the page may reach the network.
    EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
    EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST(ReportTest, ATimeThatIsNotADateIsCountedButNotCharted) {
    ReportInput in;
    in.verification = {passed()};
    in.entries = {disposal(1, "abcd-efgh", "a.pdf", 5), disposal(2, "2026-13-01", "b.pdf", 6),
                  disposal(3, "2026-04-01T00:00:00Z", "c.pdf", 7)};
    std::string html = render_html(in);
    EXPECT_NE(html.find("id=\"total-disposals\" data-value=\"3\""), std::string::npos);
    EXPECT_NE(html.find("<tr data-count=\"2\" data-bytes=\"11\"><td>(none)</td>"),
              std::string::npos);
    EXPECT_NE(html.find("data-month=\"2026-04\" data-count=\"1\""), std::string::npos);
    EXPECT_EQ(html.find("data-month=\"2026-13\""), std::string::npos);
}

TEST(ReportTest, HtmlSaysFailedAtTheTopWhenTheLedgerDoesNotVerify) {
    ReportInput in;
    VerifyReport bad = passed();
    bad.finding = Finding::BadSignature;
    bad.bad_line = 2;
    bad.problem = "signature <does not> match";
    in.verification = {bad};
    std::string html = render_html(in);
    EXPECT_NE(html.find("data-status=\"failed\"><h2>Verification: FAILED"), std::string::npos);
    EXPECT_NE(html.find("line 2: signature &lt;does not&gt; match [bad-signature]"),
              std::string::npos)
        << html.substr(html.find("verification"), 800);
}

TEST(ReportTest, HoldsInForceArePlacedAndNotReleased) {
    auto hold = [](uint64_t seq, const std::string& type, const std::string& id) {
        nlohmann::json p = {{"type", type}, {"seq", seq}, {"time", "2026-01-01T00:00:00Z"}};
        p["hold"] = {{"id", id}, {"reason", "litigation <A&B>"}, {"placed_by", "rm"},
                     {"paths", {"acme/**"}}};
        return ExportedEntry{"l", seq, "h", p};
    };
    ReportInput in;
    in.verification = {passed()};
    in.hold_entries = {hold(1, "hold-placed", "H1"), hold(2, "hold-placed", "H2"),
                       hold(3, "hold-released", "H1")};
    std::string html = render_html(in);
    EXPECT_NE(html.find("1 hold(s) in force; 3 hold entries in the ledger, 1 hold(s) released"),
              std::string::npos);
    EXPECT_NE(html.find("<td>H2</td>"), std::string::npos);
    EXPECT_EQ(html.find("<td>H1</td>"), std::string::npos);
    EXPECT_NE(html.find("litigation &lt;A&amp;B&gt;"), std::string::npos);
}

}  // namespace
}  // namespace lethe::ledger
