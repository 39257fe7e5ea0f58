// MIME matchers: content types sniffed with libmagic from real files on disk, through the
// walk's safe open, and how a file that cannot be sniffed is kept out of disposal.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/classify/mime.hpp"
#include "agent/scan/file_facts.hpp"
#include "tests/support/sample_files.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::classify {
namespace {

using testing::TempDir;

constexpr std::string_view kDocx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

// One schedule; a decision points into it, so tests keep the vector alive.
std::vector<policy::RetentionSchedule> schedule(std::string_view categories) {
    std::string text = "[schedule]\nid = \"s\"\nversion = 1\n" + std::string(categories);
    auto s = policy::parse_schedule(text, "test.toml");
    EXPECT_TRUE(s) << s.error().message();
    return {s ? *s : policy::RetentionSchedule{}};
}

util::Date date(std::string_view text) { return *util::parse_date(text); }

class Mime : public ::testing::Test {
protected:
    void SetUp() override {
        auto fd = scan::open_root(m_dir.path());
        ASSERT_TRUE(fd) << fd.error().message();
        m_root = std::move(*fd);
    }
    scan::FileFacts facts(const std::string& relative) {
        auto f = scan::stat_beneath(m_root.get(), relative);
        EXPECT_TRUE(f) << f.error().message();
        return f ? *f : scan::FileFacts{};
    }
    Decision judge(const std::string& relative, const std::vector<policy::RetentionSchedule>& schedules,
                   bool explain = true) {
        FsLookups lookups(m_root.get());
        ClassifyOptions options;
        options.lookups = &lookups;
        options.explain = explain;
        return classify(facts(relative), schedules, date("2026-11-25"), options);
    }

    TempDir m_dir;
    UniqueFd m_root;
};

TEST_F(Mime, LibmagicNamesEachGeneratedFileByItsContent) {
    m_dir.write("a.pdf", testing::minimal_pdf());
    m_dir.write("b.png", testing::png_1x1());
    m_dir.write("c.docx", testing::docx_like_zip());
    m_dir.write("d.txt", testing::plain_text());
    m_dir.write("e.bin", "");
    EXPECT_EQ(sniff_file(m_root.get(), facts("a.pdf")).mime, "application/pdf");
    EXPECT_EQ(sniff_file(m_root.get(), facts("b.png")).mime, "image/png");
    EXPECT_EQ(sniff_file(m_root.get(), facts("c.docx")).mime, std::string(kDocx));
    EXPECT_EQ(sniff_file(m_root.get(), facts("d.txt")).mime, "text/plain");
    EXPECT_EQ(sniff_file(m_root.get(), facts("e.bin")).mime, "application/x-empty");
}

TEST_F(Mime, ARenamedPdfIsStillAPdfAndATextFileNamedPdfIsNot) {
    auto s = schedule(R"([[category]]
id = "pdfs"
mime = ["application/pdf"]
retain = "1y"
action = "delete"
)");
    m_dir.write("scans/contract.txt", testing::minimal_pdf(), "2020-01-01");
    m_dir.write("scans/notes.pdf", testing::plain_text(), "2020-01-01");
    Decision renamed = judge("scans/contract.txt", s);
    EXPECT_EQ(renamed.status, Status::Due);
    ASSERT_NE(renamed.category, nullptr);
    EXPECT_EQ(renamed.category->id, "pdfs");
    ASSERT_TRUE(renamed.content && renamed.content->mime);
    EXPECT_EQ(*renamed.content->mime, "application/pdf");
    ASSERT_EQ(renamed.matches.size(), 1U);
    EXPECT_EQ(renamed.matches[0].why, "content type 'application/pdf' is one of application/pdf");

    Decision text = judge("scans/notes.pdf", s);
    EXPECT_EQ(text.status, Status::Unmatched);
    ASSERT_EQ(text.mime_misses.size(), 1U);
    EXPECT_EQ(text.mime_misses[0].second, "content type 'text/plain' is not one of application/pdf");
}

TEST_F(Mime, WildcardSubtypesAndOtherMatchersCombine) {
    auto s = schedule(R"([[category]]
id = "id-scans"
paths = ["hr/right-to-work/**"]
mime = ["image/*", "Application/PDF"]
retain = "2y"
action = "sanitize"
)");
    m_dir.write("hr/right-to-work/ann/passport.png", testing::png_1x1(), "2020-01-01");
    m_dir.write("hr/right-to-work/ann/passport.pdf", testing::minimal_pdf(), "2020-01-01");
    m_dir.write("hr/right-to-work/ann/checklist.docx", testing::docx_like_zip(), "2020-01-01");
    m_dir.write("hr/other/photo.png", testing::png_1x1(), "2020-01-01");
    EXPECT_EQ(judge("hr/right-to-work/ann/passport.png", s).status, Status::Due);
    EXPECT_EQ(judge("hr/right-to-work/ann/passport.pdf", s).status, Status::Due);
    EXPECT_EQ(judge("hr/right-to-work/ann/checklist.docx", s).status, Status::Unmatched);
    // The path does not match: the content is never read.
    Decision elsewhere = judge("hr/other/photo.png", s);
    EXPECT_EQ(elsewhere.status, Status::Unmatched);
    EXPECT_FALSE(elsewhere.content);
}

TEST_F(Mime, ContentIsSniffedOnlyWhenEveryCheaperMatcherHoldsAndOncePerFile) {
    auto s = schedule(R"([[category]]
id = "big-pdfs"
mime = ["application/pdf"]
min_size = "1MiB"
retain = "1y"
action = "delete"

[[category]]
id = "pdfs"
mime = ["application/pdf"]
retain = "2y"
action = "delete"

[[category]]
id = "pdf-or-text"
mime = ["application/pdf", "text/plain"]
retain = "3y"
action = "delete"
)");
    m_dir.write("small.pdf", testing::minimal_pdf(), "2020-01-01");
    // Counts what is asked of the disk.
    class Counting final : public FileLookups {
    public:
        explicit Counting(int root) : m_fs(root) {}
        std::optional<util::TimePoint> marker_time(std::string_view p, const std::string& m) override {
            return m_fs.marker_time(p, m);
        }
        std::optional<std::string> xattr(std::string_view p, const std::string& n) override { return m_fs.xattr(p, n); }
        ContentType content_type(const scan::FileFacts& f) override {
            ++sniffs;
            return m_fs.content_type(f);
        }
        int sniffs = 0;

    private:
        FsLookups m_fs;
    } counting(m_root.get());
    ClassifyOptions options;
    options.lookups = &counting;
    Decision d = classify(facts("small.pdf"), s, date("2026-11-25"), options);
    EXPECT_EQ(d.matched_categories, 2U);
    EXPECT_EQ(d.category->id, "pdf-or-text");
    EXPECT_EQ(counting.sniffs, 1);

    auto no_mime = schedule("[[category]]\nid = \"all\"\nretain = \"1y\"\naction = \"delete\"\n");
    counting.sniffs = 0;
    (void)classify(facts("small.pdf"), no_mime, date("2026-11-25"), options);
    EXPECT_EQ(counting.sniffs, 0);
}

TEST_F(Mime, AFileThatCannotBeSniffedIsNotDisposedAndTheDecisionSaysWhy) {
    auto s = schedule(R"([[category]]
id = "scans"
mime = ["image/*"]
retain = "10y"
action = "review"

[[category]]
id = "everything"
retain = "1y"
action = "delete"
)");
    m_dir.write("scan.png", testing::png_1x1(), "2020-01-01");
    scan::FileFacts walked = facts("scan.png");
    // Another name keeps the walked inode allocated, so no replacement can reuse its number.
    ASSERT_EQ(::link((m_dir / "scan.png").c_str(), (m_dir / "kept.png").c_str()), 0);
    // After the walk, the file is replaced by a symlink to a PNG: lethe never reads through it.
    m_dir.write("elsewhere.png", testing::png_1x1(), "2020-01-01");
    ASSERT_EQ(::unlink((m_dir / "scan.png").c_str()), 0);
    ASSERT_EQ(::symlink("elsewhere.png", (m_dir / "scan.png").c_str()), 0);
    FsLookups lookups(m_root.get());
    ClassifyOptions options;
    options.lookups = &lookups;
    options.explain = true;
    Decision d = classify(walked, s, date("2026-11-25"), options);
    // Without the sniff, only 'everything' matches and would delete it: fail closed.
    EXPECT_EQ(d.status, Status::Skipped);
    EXPECT_NE(d.reason.find("may belong to category 'scans'"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("cannot read the content to sniff its type"), std::string::npos) << d.reason;
    ASSERT_EQ(d.mime_misses.size(), 1U);
    EXPECT_EQ(d.mime_misses[0].first->id, "scans");

    // Replaced by another regular file with the same name: a different inode is not sniffed.
    ASSERT_EQ(::unlink((m_dir / "scan.png").c_str()), 0);
    m_dir.write("scan.png", testing::png_1x1(), "2020-01-01");
    Decision replaced = classify(walked, s, date("2026-11-25"), options);
    EXPECT_EQ(replaced.status, Status::Skipped);
    EXPECT_NE(replaced.reason.find("replaced since the walk"), std::string::npos) << replaced.reason;

    // Alone, the mime category simply does not hold, and says why.
    auto only = schedule("[[category]]\nid = \"scans\"\nmime = [\"image/*\"]\nretain = \"1y\"\naction = \"delete\"\n");
    Decision unmatched = classify(walked, only, date("2026-11-25"), options);
    EXPECT_EQ(unmatched.status, Status::Unmatched);
    EXPECT_NE(unmatched.reason.find("replaced since the walk"), std::string::npos) << unmatched.reason;
}

TEST_F(Mime, WithoutDiskLookupsAMimeCategoryNeverHolds) {
    auto s = schedule("[[category]]\nid = \"pdfs\"\nmime = [\"application/pdf\"]\nretain = \"1y\"\naction = \"delete\"\n");
    m_dir.write("a.pdf", testing::minimal_pdf(), "2020-01-01");
    EXPECT_EQ(classify(facts("a.pdf"), s, date("2026-11-25")).status, Status::Unmatched);
}

TEST_F(Mime, ReadingToSniffDoesNotChangeTheAccessTime) {
    // Both files: access time 2020-01-01, older than their change time, so a plain read
    // updates it even under relatime.
    for (const char* name : {"a.pdf", "control.pdf"}) {
        m_dir.write(name, testing::minimal_pdf(), "2020-01-01");
        struct timespec times[2] = {{1577836800, 0}, {0, UTIME_OMIT}};
        ASSERT_EQ(::utimensat(AT_FDCWD, (m_dir / name).c_str(), times, 0), 0);
    }
    scan::FileFacts control = facts("control.pdf");
    (void)testing::slurp(m_dir / "control.pdf");
    ASSERT_NE(facts("control.pdf").atime, control.atime)
        << "this filesystem does not record access times: the test cannot tell";
    scan::FileFacts before = facts("a.pdf");
    ASSERT_EQ(sniff_file(m_root.get(), before).mime, "application/pdf");
    EXPECT_EQ(facts("a.pdf").atime, before.atime);
}

TEST_F(Mime, EachWalkerThreadSniffsWithItsOwnHandle) {
    m_dir.write("a.pdf", testing::minimal_pdf());
    m_dir.write("b.png", testing::png_1x1());
    scan::FileFacts pdf = facts("a.pdf");
    scan::FileFacts png = facts("b.png");
    std::atomic<int> wrong{0};
    auto worker = [&](const scan::FileFacts& f, const char* expected) {
        for (int i = 0; i < 200; ++i) {
            if (sniff_file(m_root.get(), f).mime != expected) ++wrong;
        }
    };
    std::thread t1(worker, std::cref(pdf), "application/pdf");
    std::thread t2(worker, std::cref(png), "image/png");
    t1.join();
    t2.join();
    EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace lethe::classify
