#include "agent/act/disposal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "agent/scan/file_facts.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::act {
namespace {

using lethe::testing::exists;
using lethe::testing::slurp;
using lethe::testing::TempDir;

class DisposalTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.mkdir("root");
        auto fd = scan::open_root(m_dir / "root");
        ASSERT_TRUE(fd);
        m_root = std::move(*fd);
    }

    scan::FileFacts planned(const std::string& rel) {
        auto f = scan::stat_beneath(m_root.get(), rel);
        EXPECT_TRUE(f) << f.error().message();
        return *f;
    }

    TempDir m_dir;
    UniqueFd m_root;
};

TEST_F(DisposalTest, SanitizeOverwritesVerifiesAndRemoves) {
    std::string content(3 * 1024 * 1024 + 17, 'c');  // several blocks and a tail
    m_dir.write("root/acme/brief.pdf", content);
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file->record().sha256_before, util::sha256_hex(content));
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_EQ(rec->method, "file overwrite");
    EXPECT_EQ(rec->passes, 1);
    EXPECT_EQ(rec->size, content.size());
    EXPECT_FALSE(rec->read_back.empty());
    EXPECT_FALSE(exists(m_dir / "root/acme/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "root/acme/.lethe-tmp"));
    EXPECT_TRUE(exists(m_dir / "root/acme"));
}

TEST_F(DisposalTest, SanitizeHandlesEmptyFiles) {
    m_dir.write("root/empty.pdf", "");
    auto file = prepare(m_root.get(), planned("empty.pdf"), true);
    ASSERT_TRUE(file);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_FALSE(exists(m_dir / "root/empty.pdf"));
}

TEST_F(DisposalTest, AFileChangedSincePlanningIsLeftAlone) {
    m_dir.write("root/memo.docx", "original");
    scan::FileFacts plan = planned("memo.docx");
    m_dir.write("root/memo.docx", "edited by a lawyer after the plan");
    auto file = prepare(m_root.get(), plan, true);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().kind(), ErrorKind::Refused);
    EXPECT_EQ(slurp(m_dir / "root/memo.docx"), "edited by a lawyer after the plan");
}

TEST_F(DisposalTest, AFileReplacedByAnotherIsLeftAlone) {
    m_dir.write("root/memo.docx", "same");
    scan::FileFacts plan = planned("memo.docx");
    ASSERT_EQ(::unlink((m_dir / "root/memo.docx").c_str()), 0);
    m_dir.write("root/other", "same");
    ASSERT_EQ(::rename((m_dir / "root/other").c_str(), (m_dir / "root/memo.docx").c_str()), 0);
    auto file = prepare(m_root.get(), plan, false);
    ASSERT_FALSE(file);
    EXPECT_TRUE(exists(m_dir / "root/memo.docx"));
}

TEST_F(DisposalTest, SanitizeNeverOverwritesAHardLinkedInode) {
    m_dir.write("root/a.pdf", "shared data");
    ASSERT_EQ(::link((m_dir / "root/a.pdf").c_str(), (m_dir / "root/b.pdf").c_str()), 0);
    auto file = prepare(m_root.get(), planned("a.pdf"), true);
    ASSERT_FALSE(file);
    EXPECT_NE(file.error().message().find("hard links"), std::string::npos);
    EXPECT_EQ(slurp(m_dir / "root/b.pdf"), "shared data");
}

TEST_F(DisposalTest, AFolderSwappedForASymlinkIsNotFollowed) {
    m_dir.write("root/acme/brief.pdf", "client data");
    m_dir.write("elsewhere/brief.pdf", "other data");
    scan::FileFacts plan = planned("acme/brief.pdf");
    ASSERT_EQ(::rename((m_dir / "root/acme").c_str(), (m_dir / "root/acme-moved").c_str()), 0);
    ASSERT_EQ(::symlink((m_dir / "elsewhere").c_str(), (m_dir / "root/acme").c_str()), 0);
    auto file = prepare(m_root.get(), plan, true);
    ASSERT_FALSE(file);
    EXPECT_EQ(slurp(m_dir / "elsewhere/brief.pdf"), "other data");
}

TEST_F(DisposalTest, RemoveUnlinksAndRecordsThatNothingWasOverwritten) {
    m_dir.write("root/scratch.tmp", "temp");
    auto file = prepare(m_root.get(), planned("scratch.tmp"), false);
    ASSERT_TRUE(file);
    auto rec = remove(*file);
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ(rec->method, "unlink");
    EXPECT_TRUE(rec->verified);
    ASSERT_FALSE(rec->residual_risks.empty());
    EXPECT_NE(rec->residual_risks[0].find("not overwritten"), std::string::npos);
    EXPECT_FALSE(exists(m_dir / "root/scratch.tmp"));
}

#ifdef LETHE_TEST_HOOKS
TEST_F(DisposalTest, AFailedReadBackKeepsTheFileAndReportsIt) {
    m_dir.write("root/brief.pdf", std::string(10000, 'p'));
    auto file = prepare(m_root.get(), planned("brief.pdf"), true);
    ASSERT_TRUE(file);
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", "1", 1);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Verification);
    ASSERT_TRUE(exists(m_dir / "root/brief.pdf"));
    std::string after = slurp(m_dir / "root/brief.pdf");
    EXPECT_EQ(after.size(), 10000u);
    EXPECT_NE(after, std::string(10000, 'p'));  // it was overwritten, just not verified
}
#endif

}  // namespace
}  // namespace lethe::act
