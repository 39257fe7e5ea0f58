// lethe's encrypted copies (NAME.age) keep their original's retention through the extended
// attributes the encrypt action sets and through the state index of encrypted copies; where
// the attributes are missing the index alone pins the copy, and where both exist and
// disagree the one that keeps the copy longer decides.

#include <gtest/gtest.h>

#include "tests/unit/classify/fixture.hpp"

namespace lethe::classify {
namespace {

using fixture::at;
using fixture::date;

policy::RetentionSchedule drafts() {
    return fixture::schedule(R"(
[[category]]
id = "drafts"
paths = ["**/*.odt"]
retain = "5y"
action = "encrypt"
archive_for = "3y"

[[category]]
id = "board"
paths = ["board/**"]
retain = "10y"
action = "encrypt"
archive_for = "10y"
)");
}

// Attributes in memory, plus at most one index record.
class Lookups final : public FileLookups, public fixture::MemoryDisk {
public:
    std::optional<IndexedCopy> record;
    std::optional<util::TimePoint> marker_time(std::string_view, const std::string&) override {
        return std::nullopt;
    }
    std::optional<std::string> xattr(std::string_view path, const std::string& name) override {
        return MemoryDisk::xattr(path, name);
    }
    ContentType content_type(const scan::FileFacts&) override { return {}; }
    const IndexedCopy* indexed_copy(const scan::FileFacts& facts) override {
        return record && record->is(facts) ? &*record : nullptr;
    }
};

scan::FileFacts copy_facts() {
    scan::FileFacts f = fixture::file("acme/d.odt.age", "2026-01-10");
    f.device = 7;
    f.inode = 42;
    return f;
}

IndexedCopy record_of(const scan::FileFacts& f, const char* category, const char* made) {
    IndexedCopy r;
    r.device = f.device;
    r.inode = f.inode;
    r.size = f.size;
    r.mtime = f.mtime;
    r.category = category;
    r.schedule = "s";
    r.trigger_date = date("2015-03-01");
    r.expires = date("2020-03-01");
    r.encrypted = date(made);
    return r;
}

void set_attributes(Lookups& l, const std::string& path, const char* category, const char* made) {
    l.set_xattr(path, "user.lethe.category", category);
    l.set_xattr(path, "user.lethe.schedule", "s");
    l.set_xattr(path, "user.lethe.trigger_date", "2015-03-01");
    l.set_xattr(path, "user.lethe.expires", "2020-03-01");
    l.set_xattr(path, "user.lethe.encrypted", made);
}

TEST(EncryptedCopy, WithoutAttributesTheIndexKeepsItsCategoryAndExpiry) {
    std::vector<policy::RetentionSchedule> schedules{drafts()};
    scan::FileFacts f = copy_facts();
    Lookups none;
    ClassifyOptions options{&none, true};
    // Neither attributes nor index: in no category (the hole the index closes).
    EXPECT_EQ(classify(f, schedules, at("2030-01-01"), options).status, Status::Unmatched);

    Lookups l;
    l.record = record_of(f, "drafts", "2026-01-10");
    options.lookups = &l;
    Decision kept = classify(f, schedules, at("2028-06-01"), options);
    EXPECT_EQ(kept.status, Status::NotDue);
    ASSERT_NE(kept.category, nullptr);
    EXPECT_EQ(kept.category->id, "drafts");
    EXPECT_EQ(kept.trigger_date, date("2015-03-01"));
    EXPECT_EQ(kept.expires, date("2029-01-10"));  // archive_for 3y after it was made
    EXPECT_NE(kept.rule.find("index of encrypted copies"), std::string::npos) << kept.rule;
    EXPECT_NE(kept.trigger_note.find("no lethe attributes"), std::string::npos) << kept.trigger_note;

    Decision due = classify(f, schedules, at("2029-01-10"), options);
    EXPECT_EQ(due.status, Status::Due);
    EXPECT_EQ(due.action, policy::Action::Sanitize);  // never encrypted twice
}

TEST(EncryptedCopy, AnotherFileUnderTheCopysNameIsNotPinnedByItsRecord) {
    std::vector<policy::RetentionSchedule> schedules{drafts()};
    scan::FileFacts f = copy_facts();
    Lookups l;
    l.record = record_of(f, "drafts", "2026-01-10");
    ClassifyOptions options{&l, false};
    scan::FileFacts other = f;
    other.inode = 43;  // the copy was sanitized; a new file took its name
    EXPECT_EQ(classify(other, schedules, at("2030-01-01"), options).status, Status::Unmatched);
    scan::FileFacts rewritten = f;
    rewritten.size = 101;  // same inode number reused, other content
    EXPECT_EQ(classify(rewritten, schedules, at("2030-01-01"), options).status, Status::Unmatched);
    scan::FileFacts moved = f;
    moved.device = 8;
    EXPECT_EQ(classify(moved, schedules, at("2030-01-01"), options).status, Status::Unmatched);
}

TEST(EncryptedCopy, WhenAttributesAndIndexDisagreeTheLongerRetentionDecides) {
    std::vector<policy::RetentionSchedule> schedules{drafts()};
    scan::FileFacts f = copy_facts();
    // The attributes were edited to the shorter category: the index keeps it longer.
    Lookups l;
    set_attributes(l, f.path, "drafts", "2026-01-10");
    l.record = record_of(f, "board", "2026-01-10");
    ClassifyOptions options{&l, true};
    Decision d = classify(f, schedules, at("2030-01-01"), options);
    EXPECT_EQ(d.status, Status::NotDue);
    ASSERT_NE(d.category, nullptr);
    EXPECT_EQ(d.category->id, "board");
    EXPECT_EQ(d.expires, date("2036-01-10"));
    EXPECT_NE(d.trigger_note.find("disagree"), std::string::npos) << d.trigger_note;
    EXPECT_NE(d.trigger_note.find("lethe's index of encrypted copies"), std::string::npos);

    // The other way round: the attributes keep it longer (a later encryption date).
    Lookups m;
    set_attributes(m, f.path, "drafts", "2027-05-01");
    m.record = record_of(f, "drafts", "2026-01-10");
    options.lookups = &m;
    Decision e = classify(f, schedules, at("2029-06-01"), options);
    EXPECT_EQ(e.status, Status::NotDue);
    EXPECT_EQ(e.expires, date("2030-05-01"));
    EXPECT_NE(e.trigger_note.find("its extended attributes (category 'drafts', encrypted "
                                  "2027-05-01, kept until 2030-05-01)"),
              std::string::npos)
        << e.trigger_note;

    // Agreeing records say nothing about a disagreement.
    Lookups same;
    set_attributes(same, f.path, "drafts", "2026-01-10");
    same.record = record_of(f, "drafts", "2026-01-10");
    options.lookups = &same;
    Decision g = classify(f, schedules, at("2029-06-01"), options);
    EXPECT_EQ(g.status, Status::Due);
    EXPECT_EQ(g.trigger_note.find("disagree"), std::string::npos) << g.trigger_note;
}

TEST(EncryptedCopy, AnIndexRecordOfACategoryNoScheduleDefinesIsNeverActedOn) {
    std::vector<policy::RetentionSchedule> schedules{drafts()};
    scan::FileFacts f = copy_facts();
    Lookups l;
    l.record = record_of(f, "gone", "2020-01-10");
    ClassifyOptions options{&l, false};
    Decision d = classify(f, schedules, at("2040-01-01"), options);
    EXPECT_EQ(d.status, Status::Skipped);
    EXPECT_NE(d.reason.find("'gone'"), std::string::npos) << d.reason;
}

TEST(EncryptedCopy, FsLookupsFindTheRecordOnlyForTheSameFile) {
    scan::FileFacts f = copy_facts();
    IndexedCopies copies;
    IndexedCopy old = record_of(f, "drafts", "2020-01-10");
    old.inode = 40;  // an earlier copy under the same name, long gone
    copies[f.path] = {old, record_of(f, "drafts", "2026-01-10")};
    FsLookups lookups(-1, &copies);
    const IndexedCopy* found = lookups.indexed_copy(f);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->encrypted, date("2026-01-10"));
    scan::FileFacts touched = f;
    touched.mtime = at("2026-02-01");
    EXPECT_EQ(lookups.indexed_copy(touched), nullptr);
    FsLookups without(-1);
    EXPECT_EQ(without.indexed_copy(f), nullptr);
}

}  // namespace
}  // namespace lethe::classify
