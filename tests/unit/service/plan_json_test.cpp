// `lethe plan --json` writes its lines without building a JSON document: each must be the
// bytes PlanEntry::to_json().dump() gives, odd paths included.

#include "agent/service/plan_json.hpp"

#include <gtest/gtest.h>

namespace lethe::service {
namespace {

PlanEntry entry(std::string path) {
    PlanEntry e;
    e.root = "shares";
    e.facts.path = std::move(path);
    e.facts.size = 123456789012ULL;
    e.facts.inode = 4242;
    e.facts.device = 2049;
    e.facts.nlink = 1;
    e.facts.mtime = util::TimePoint{std::chrono::sys_days{std::chrono::year{2019} / 2 / 28}} +
                    std::chrono::hours{23} + std::chrono::minutes{5} + std::chrono::seconds{7} +
                    std::chrono::nanoseconds{120};
    e.status = classify::Status::Due;
    e.category = "client-matter";
    e.schedule_id = "matters";
    e.schedule_version = 3;
    e.schedule_sha256 = std::string(64, 'a');
    e.mode = policy::Mode::Enforce;
    e.client = "acme";
    e.matter = "2019-004";
    e.trigger_date = std::chrono::sys_days{std::chrono::year{2012} / 2 / 29};
    e.expires = std::chrono::sys_days{std::chrono::year{2019} / 2 / 28};
    e.action = policy::Action::Sanitize;
    return e;
}

std::string written(const PlanEntry& e) {
    fmt::memory_buffer out;
    append_json_line(e, out);
    return fmt::to_string(out);
}

void expect_as_dump(const PlanEntry& e) {
    SCOPED_TRACE(e.facts.path);
    EXPECT_EQ(written(e), e.to_json().dump() + "\n");
}

TEST(PlanJson, EveryFieldAsToJsonWritesIt) {
    expect_as_dump(entry("acme/2019-004/brief.pdf"));
    PlanEntry bare = entry("top.pdf");
    bare.client.reset();
    bare.matter.reset();
    bare.expires.reset();  // permanent
    bare.status = classify::Status::Skipped;
    bare.reason = "hard links: overwriting would destroy the data of the other names";
    bare.mode = policy::Mode::Observe;
    bare.facts.mtime = util::TimePoint{std::chrono::sys_days{std::chrono::year{1969} / 12 / 31}};
    bare.schedule_version = -1;
    bare.facts.nlink = 3;
    expect_as_dump(bare);
    PlanEntry held = entry("acme/2019-004/held.docx");
    held.status = classify::Status::Held;
    held.holds = {"lit-2024-01", "reg \"quoted\""};
    held.reason = "legal hold lit-2024-01, reg \"quoted\"";
    expect_as_dump(held);
}

TEST(PlanJson, OddPathsStayExact) {
    // Quotes, backslashes, every control byte, DEL, UTF-8 beyond ASCII.
    std::string controls;
    for (int c = 1; c < 0x20; ++c) controls += static_cast<char>(c);
    for (std::string path : {std::string("a \"b\" \\c\\/d.pdf"), "x/" + controls + "\x7f.pdf",
                             std::string("clients/caf\xc3\xa9/\xe2\x82\xac \xf0\x9f\x93\x84.pdf"),
                             std::string("line\nbreak/tab\there.pdf")}) {
        expect_as_dump(entry(path));
    }
    // Bytes that are not UTF-8: shown with U+FFFD in `path`, exact in `path_b64`.
    PlanEntry odd = entry(std::string("acme/\xff\xfe/latin1-\xe9t\xe9.pdf"));
    odd.client = std::string("\xe9quipe");  // a capture with the same bytes: displayed
    expect_as_dump(odd);
    EXPECT_NE(written(odd).find("\"path_b64\":"), std::string::npos);
}

TEST(PlanJson, EntriesItCannotWriteItselfGoThroughToJson) {
    PlanEntry reviewed = entry("acme/2019-004/review.pdf");
    reviewed.status = classify::Status::Review;
    reviewed.review = {{"state", "pending"}, {"requested", "2026-01-01"}};
    expect_as_dump(reviewed);
    // A reason that is not UTF-8 is refused by dump(), and so by the writer.
    PlanEntry bad = entry("a.pdf");
    bad.reason = "\xff";
    EXPECT_THROW(bad.to_json().dump(), nlohmann::json::exception);
    fmt::memory_buffer out;
    EXPECT_THROW(append_json_line(bad, out), nlohmann::json::exception);
}

}  // namespace
}  // namespace lethe::service
