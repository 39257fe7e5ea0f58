#include "agent/service/encrypted_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "agent/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::service {
namespace {

util::Date day(const char* text) { return *util::parse_date(text); }

EncryptedEntry entry(const std::string& path, uint64_t inode, const char* intent) {
    EncryptedEntry e;
    e.root = "clients";
    e.path = path;
    e.copy.device = 2049;
    e.copy.inode = inode;
    e.copy.size = 70211;
    e.copy.mtime = *util::parse_timestamp("2026-01-10T09:30:01.123456789Z");
    e.copy.category = "drafts";
    e.copy.schedule = "firm-2026";
    e.copy.trigger_date = day("2010-05-01");
    e.copy.expires = day("2015-05-01");
    e.copy.encrypted = day("2026-01-10");
    e.time = "2026-01-10T09:30:02Z";
    e.intent = intent;
    return e;
}

TEST(EncryptedIndex, AnAbsentIndexIsEmptyAndAppendedEntriesReadBackExactly) {
    testing::TempDir dir;
    auto empty = load_encrypted_index(dir.path());
    ASSERT_TRUE(empty) << empty.error().message();
    EXPECT_TRUE(empty->entries.empty());

    ASSERT_TRUE(append_encrypted(dir.path(), entry("acme/2010-001/draft.odt.age", 11, "i1")));
    EncryptedEntry raw = entry("acme/\xff-raw.odt.age", 12, "i2");
    raw.copy.expires.reset();  // permanent
    ASSERT_TRUE(append_encrypted(dir.path(), raw));
    auto index = load_encrypted_index(dir.path());
    ASSERT_TRUE(index) << index.error().message();
    ASSERT_EQ(index->entries.size(), 2u);
    const EncryptedEntry& a = index->entries[0];
    EXPECT_EQ(a.root, "clients");
    EXPECT_EQ(a.path, "acme/2010-001/draft.odt.age");
    EXPECT_EQ(a.copy.device, 2049u);
    EXPECT_EQ(a.copy.inode, 11u);
    EXPECT_EQ(a.copy.size, 70211u);
    EXPECT_EQ(a.copy.mtime, *util::parse_timestamp("2026-01-10T09:30:01.123456789Z"));
    EXPECT_EQ(a.copy.category, "drafts");
    EXPECT_EQ(a.copy.schedule, "firm-2026");
    EXPECT_EQ(a.copy.trigger_date, day("2010-05-01"));
    EXPECT_EQ(a.copy.expires, day("2015-05-01"));
    EXPECT_EQ(a.copy.encrypted, day("2026-01-10"));
    EXPECT_EQ(a.intent, "i1");
    EXPECT_EQ(index->entries[1].path, "acme/\xff-raw.odt.age");  // exact bytes
    EXPECT_FALSE(index->entries[1].copy.expires);

    ASSERT_NE(index->by_intent("i2"), nullptr);
    EXPECT_EQ(index->by_intent("i2")->copy.inode, 12u);
    EXPECT_EQ(index->by_intent("nope"), nullptr);
    auto roots = index->by_root();
    ASSERT_EQ(roots.count("clients"), 1u);
    EXPECT_EQ(roots["clients"].size(), 2u);
    EXPECT_EQ(roots["clients"]["acme/2010-001/draft.odt.age"].size(), 1u);
}

TEST(EncryptedIndex, ACorruptOrTornLineIsAClearErrorNamingTheLine) {
    testing::TempDir dir;
    ASSERT_TRUE(append_encrypted(dir.path(), entry("a.odt.age", 1, "i1")));
    std::string good = *util::read_file(encrypted_index_path(dir.path()));

    // A half line that does end in a newline is damage, not an interrupted append.
    auto damaged = parse_encrypted_index(good + good.substr(0, good.size() / 2) + "\n", "X");
    ASSERT_FALSE(damaged);
    EXPECT_EQ(damaged.error().kind(), ErrorKind::Refused);
    EXPECT_NE(damaged.error().message().find("X line 2"), std::string::npos)
        << damaged.error().message();

    auto garbage = parse_encrypted_index(good + "not json\n", "X");
    ASSERT_FALSE(garbage);
    EXPECT_NE(garbage.error().message().find("line 2: not a JSON object"), std::string::npos)
        << garbage.error().message();

    std::string no_inode = good;
    no_inode.replace(no_inode.find("\"inode\""), 7, "\"inodX\"");
    auto missing = parse_encrypted_index(no_inode, "X");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("line 1"), std::string::npos);

    std::string bad_date = good;
    bad_date.replace(bad_date.find("2026-01-10\""), 10, "2026-13-40");
    EXPECT_FALSE(parse_encrypted_index(bad_date, "X"));

    // On disk: every reader stops with the message instead of reading "no copies".
    std::ofstream(encrypted_index_path(dir.path()), std::ios::app) << "{\"type\":\"encrypted\"\n";
    auto loaded = load_encrypted_index(dir.path());
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message().find("encrypted.jsonl line 2"), std::string::npos)
        << loaded.error().message();
}

TEST(EncryptedIndex, AnAppendCutShortByACrashIsIgnoredAndDroppedByTheNextAppend) {
    testing::TempDir dir;
    ASSERT_TRUE(append_encrypted(dir.path(), entry("a.odt.age", 1, "i1")));
    std::string path = encrypted_index_path(dir.path());
    std::string good = *util::read_file(path);
    // What a crash during the write of the second line can leave: part of it, no newline.
    std::ofstream(path, std::ios::app) << good.substr(0, good.size() / 2);

    auto index = load_encrypted_index(dir.path());
    ASSERT_TRUE(index) << index.error().message();
    ASSERT_EQ(index->entries.size(), 1u);
    EXPECT_EQ(index->entries[0].intent, "i1");

    ASSERT_TRUE(append_encrypted(dir.path(), entry("b.odt.age", 2, "i2")));
    auto after = load_encrypted_index(dir.path());
    ASSERT_TRUE(after) << after.error().message();
    ASSERT_EQ(after->entries.size(), 2u);
    EXPECT_EQ(after->entries[1].intent, "i2");
    EXPECT_EQ(after->entries[1].copy.inode, 2u);
    std::string text = *util::read_file(path);
    EXPECT_EQ(text.substr(0, good.size()), good);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

}  // namespace
}  // namespace lethe::service
