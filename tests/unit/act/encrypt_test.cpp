#include "agent/act/encrypt.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "agent/scan/file_facts.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::act {
namespace {

using lethe::testing::exists;
using lethe::testing::slurp;
using lethe::testing::TempDir;

int run(const std::string& cmd) {
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t entries(const std::string& dir) {
    size_t n = 0;
    DIR* d = ::opendir(dir.c_str());
    while (struct dirent* e = ::readdir(d)) n += e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.') ? 0 : 1;
    ::closedir(d);
    return n;
}

class EncryptTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.mkdir("root/acme");
        auto fd = scan::open_root(m_dir / "root");
        ASSERT_TRUE(fd);
        m_root = std::move(*fd);
        m_id = m_dir / "id.key";
        ASSERT_EQ(run("age-keygen -o '" + m_id + "' 2>/dev/null"), 0);
        auto ids = age::Identity::load_file(m_id);
        ASSERT_TRUE(ids);
        m_recipients = {*ids->front().recipient()};
    }
    Result<PreparedFile> prepared(const std::string& rel) {
        auto facts = scan::stat_beneath(m_root.get(), rel);
        if (!facts) return fail(facts.error());
        return prepare(m_root.get(), *facts, true);
    }
    TempDir m_dir;
    UniqueFd m_root;
    std::string m_id;
    std::vector<age::Recipient> m_recipients;
};

TEST_F(EncryptTest, AFileIsReplacedByAnAgeFileThatKeepsItsRetention) {
    std::string content(200000, 'm');
    m_dir.write("root/acme/memo.docx", content);
    auto file = prepared("acme/memo.docx");
    ASSERT_TRUE(file) << file.error().message();
    auto copy = encrypt_beside(*file, m_recipients,
                               {{"category", "client-matter"}, {"expires", "2033-01-01"}},
                               ".lethe-t.age.partial");
    ASSERT_TRUE(copy) << copy.error().message();
    EXPECT_EQ(copy->name, "memo.docx.age");
    std::string age_path = m_dir / "root/acme/memo.docx.age";
    ASSERT_EQ(run("age -d -i '" + m_id + "' '" + age_path + "' > '" + (m_dir / "plain") + "'"), 0);
    EXPECT_EQ(slurp(m_dir / "plain"), content);
    char value[64] = {};
    ssize_t n = ::getxattr(age_path.c_str(), "user.lethe.category", value, sizeof value);
    if (copy->attributes_kept) {
        ASSERT_GT(n, 0);
        EXPECT_EQ(std::string(value, static_cast<size_t>(n)), "client-matter");
    }
    // The caller then sanitizes the original: only the encrypted copy remains.
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_FALSE(exists(m_dir / "root/acme/memo.docx"));
    EXPECT_EQ(entries(m_dir / "root/acme"), 1u);

    // An .age file is never encrypted again.
    auto again = prepared("acme/memo.docx.age");
    ASSERT_TRUE(again);
    auto twice = encrypt_beside(*again, m_recipients, {}, ".lethe-t.age.partial");
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().kind(), ErrorKind::Refused);
}

TEST_F(EncryptTest, AnExistingAgeFileIsNeverReplaced) {
    m_dir.write("root/acme/memo.docx", "new memo");
    m_dir.write("root/acme/memo.docx.age", "someone else's file");
    auto file = prepared("acme/memo.docx");
    ASSERT_TRUE(file);
    auto copy = encrypt_beside(*file, m_recipients, {}, ".lethe-t.age.partial");
    ASSERT_FALSE(copy);
    EXPECT_EQ(copy.error().kind(), ErrorKind::Refused);
    EXPECT_EQ(slurp(m_dir / "root/acme/memo.docx.age"), "someone else's file");
    EXPECT_EQ(slurp(m_dir / "root/acme/memo.docx"), "new memo");
    EXPECT_EQ(entries(m_dir / "root/acme"), 2u);  // no temporary file left
}

}  // namespace
}  // namespace lethe::act
