#include "agent/service/archive_index.hpp"

#include <gtest/gtest.h>

#include "agent/service/holds.hpp"
#include "agent/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::service {
namespace {

util::Date day(const char* text) { return *util::parse_date(text); }

// Today at `instant` for the schedule "firm-2026" of make_archive()'s members, in `zone`.
policy::LocalToday today_in(const char* zone, const char* instant) {
    policy::RetentionSchedule s;
    s.id = "firm-2026";
    auto loaded = util::load_time_zone(zone);
    EXPECT_TRUE(loaded) << zone;
    if (loaded) s.zone = *loaded;
    return {{s}, *util::parse_timestamp(instant)};
}

IndexedArchive make_archive(const std::string& name, const std::string& client,
                            std::optional<util::Date> expires) {
    IndexedArchive a;
    a.name = name;
    a.path = "/srv/archive/" + name;
    a.sha256 = std::string(64, 'a');
    a.bytes = 1234;
    a.created = "2026-01-05T10:00:00Z";
    a.root = "clients";
    a.client = client;
    a.matter = "2010-001";
    for (const char* p : {"acme/2010-001/brief.pdf", "acme/2010-001/\xff-raw.pdf"}) {
        ArchivedMember m;
        m.path = p;
        m.sha256 = std::string(64, 'b');
        m.size = 10;
        m.category = "client-matter";
        m.schedule = "firm-2026";
        m.archived = day("2026-01-05");
        m.expires = expires;
        a.members.push_back(m);
    }
    return a;
}

TEST(ArchiveIndex, AnAbsentIndexIsEmptyAndAppendedArchivesReadBackExactly) {
    testing::TempDir dir;
    auto empty = load_archive_index(dir.path());
    ASSERT_TRUE(empty) << empty.error().message();
    EXPECT_TRUE(empty->archives.empty());

    ASSERT_TRUE(append_archive(dir.path(), make_archive("a1.tar.zst", "acme", day("2029-01-05"))));
    ASSERT_TRUE(append_archive(dir.path(), make_archive("a2.tar.zst", "bolt", std::nullopt)));
    ASSERT_TRUE(append_archive_disposed(
        dir.path(), {"a1.tar.zst", "2029-02-01T00:00:00Z", "expired", 17, std::nullopt}));
    auto index = load_archive_index(dir.path());
    ASSERT_TRUE(index) << index.error().message();
    ASSERT_EQ(index->archives.size(), 2u);
    const IndexedArchive* a1 = index->find("a1.tar.zst");
    ASSERT_NE(a1, nullptr);
    EXPECT_TRUE(a1->disposed);
    EXPECT_EQ(a1->disposed_certificate, 17u);
    EXPECT_EQ(a1->disposed_reason, "expired");
    ASSERT_EQ(a1->members.size(), 2u);
    EXPECT_EQ(a1->members[1].path, "acme/2010-001/\xff-raw.pdf");  // exact bytes, via path_b64
    EXPECT_EQ(a1->members[0].expires, day("2029-01-05"));
    EXPECT_FALSE(a1->members[0].expired_on(day("2029-01-04")));
    EXPECT_TRUE(a1->members[0].expired_on(day("2029-01-05")));
    const IndexedArchive* a2 = index->find("a2.tar.zst");
    ASSERT_NE(a2, nullptr);
    EXPECT_FALSE(a2->members[0].expires.has_value());
    EXPECT_FALSE(a2->members[0].expired_on(day("2999-01-01")));
    ASSERT_EQ(index->live().size(), 1u);
    EXPECT_EQ(index->live()[0]->name, "a2.tar.zst");
}

TEST(ArchiveIndex, LinesFromBeforeArchiveForAreReadAsPermanentCopiesMadeOnTheArchiveDay) {
    std::string old_line =
        R"({"type":"archive","name":"x.tar.zst","path":"/a/x.tar.zst","sha256":")" +
        std::string(64, 'c') +
        R"(","bytes":5,"created":"2025-03-04T05:06:07Z","root":"clients","client":"acme",)"
        R"("encrypted":false,"members":[{"path":"acme/m/f.pdf","sha256":")" +
        std::string(64, 'd') +
        R"(","size":3,"category":"c","schedule":"s","expires":"permanent"}]})" + "\n";
    auto index = parse_archive_index(old_line, "archives.jsonl");
    ASSERT_TRUE(index) << index.error().message();
    EXPECT_EQ(index->archives[0].members[0].archived, day("2025-03-04"));
    EXPECT_FALSE(index->archives[0].members[0].expires.has_value());
}

struct Corrupt {
    const char* name;
    std::string text;
    const char* words;
};

class CorruptIndex : public ::testing::TestWithParam<Corrupt> {};

TEST_P(CorruptIndex, IsRefusedNamingTheLineNeverReadAsFewerArchives) {
    auto index = parse_archive_index(GetParam().text, "/state/archives.jsonl");
    ASSERT_FALSE(index);
    EXPECT_EQ(index.error().kind(), ErrorKind::Refused);
    EXPECT_NE(index.error().message().find("/state/archives.jsonl line"), std::string::npos)
        << index.error().message();
    EXPECT_NE(index.error().message().find(GetParam().words), std::string::npos)
        << index.error().message();
    EXPECT_NE(index.error().message().find("archive expiry and erasure stop"), std::string::npos);
}

std::string good_line(const std::string& name) {
    return make_archive(name, "acme", std::nullopt).to_json().dump() + "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CorruptIndex,
    ::testing::Values(
        Corrupt{"torn_tail", good_line("a") + good_line("b").substr(0, 40),
                "line 2: the last line is incomplete"},
        Corrupt{"garbage", good_line("a") + "}{\n", "line 2: not a JSON object"},
        Corrupt{"unknown_type",
                R"({"type":"archiv"})"
                "\n",
                "unknown line type 'archiv'"},
        Corrupt{
            "missing_members",
            R"({"type":"archive","name":"a","path":"/a","sha256":")" + std::string(64, 'a') +
                R"(","bytes":1,"created":"2026-01-01T00:00:00Z","root":"r","encrypted":false,"members":[]})"
                "\n",
            "non-empty"},
        Corrupt{"bad_expiry",
                [] {
                    auto j = make_archive("a", "acme", std::nullopt).to_json();
                    j["members"][0]["expires"] = "soon";
                    return j.dump() + "\n";
                }(),
                "'expires'"},
        Corrupt{"twice", good_line("a") + good_line("a"), "indexed twice"},
        Corrupt{
            "unknown_disposal",
            R"({"type":"archive-disposed","name":"z","time":"t","reason":"expired","certificate":3})"
            "\n",
            "not indexed"}),
    [](const ::testing::TestParamInfo<Corrupt>& p) { return std::string(p.param.name); });

TEST(ArchiveIndex, AnUnreadableIndexFileIsRefused) {
    testing::TempDir dir;
    dir.mkdir("archives.jsonl");  // a folder where the file should be
    auto index = load_archive_index(dir.path());
    ASSERT_FALSE(index);
    EXPECT_EQ(index.error().kind(), ErrorKind::Refused);
}

TEST(ArchiveIndex, HoldsOnAnArchiveAreThoseCoveringAnyMember) {
    IndexedArchive a = make_archive("a", "acme", std::nullopt);
    HoldSet set;
    Hold by_client;
    by_client.id = "LIT-1";
    by_client.client = "acme";
    Hold other;
    other.id = "LIT-2";
    other.client = "bolt";
    Hold by_path;
    by_path.id = "LIT-3";
    by_path.paths.push_back({std::nullopt, "acme/2010-001/brief.pdf", std::nullopt});
    by_path.compiled.push_back(*util::Glob::compile("acme/2010-001/brief.pdf"));
    set.holds = {by_client, other, by_path};
    EXPECT_EQ(holds_on_archive(a, set, today_in("UTC", "2030-01-01T00:00:00Z")),
              (std::vector<std::string>{"LIT-1", "LIT-3"}));
    set.holds[0].released = true;
    set.holds[2].until = day("2029-12-31");
    EXPECT_TRUE(holds_on_archive(a, set, today_in("UTC", "2030-01-01T00:00:00Z")).empty());
}

// A hold's last day is a date of the members' schedule's zone: at 23:30 UTC on its last day
// it has lapsed for copies of a schedule in Auckland (already the next day there), not for
// those of a schedule in UTC or Los Angeles. A schedule no longer loaded is judged in UTC.
TEST(ArchiveIndex, HoldsOnAnArchiveLapseOnTheDateOfItsMembersZone) {
    IndexedArchive a = make_archive("a", "acme", std::nullopt);
    HoldSet set;
    Hold h;
    h.id = "LIT-1";
    h.client = "acme";
    h.until = day("2029-12-31");
    set.holds = {h};
    const char* instant = "2029-12-31T23:30:00Z";
    EXPECT_TRUE(holds_on_archive(a, set, today_in("Pacific/Auckland", instant)).empty());
    EXPECT_EQ(holds_on_archive(a, set, today_in("UTC", instant)),
              (std::vector<std::string>{"LIT-1"}));
    EXPECT_EQ(holds_on_archive(a, set, today_in("America/Los_Angeles", "2030-01-01T07:30:00Z")),
              (std::vector<std::string>{"LIT-1"}));  // still 31 December there
    EXPECT_TRUE(holds_on_archive(a, set, policy::LocalToday({}, *util::parse_timestamp(
                                                                  "2030-01-01T07:30:00Z")))
                    .empty());
}

// An archived copy expires on today in its schedule's zone.
TEST(ArchiveIndex, ACopyExpiresOnTheDateInItsSchedulesZone) {
    IndexedArchive a = make_archive("a", "acme", day("2030-01-01"));
    const ArchivedMember& m = a.members[0];
    const char* instant = "2029-12-31T23:30:00Z";
    EXPECT_TRUE(m.expired_on(today_in("Pacific/Auckland", instant).of(m.schedule)));
    EXPECT_FALSE(m.expired_on(today_in("UTC", instant).of(m.schedule)));
    EXPECT_FALSE(m.expired_on(today_in("America/Los_Angeles", "2030-01-01T07:30:00Z").of(m.schedule)));
}

}  // namespace
}  // namespace lethe::service
