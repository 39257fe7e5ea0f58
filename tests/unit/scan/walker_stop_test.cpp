// A walk asked to stop (SIGTERM in `lethe agent`) stops between two folders, or between two
// chunks of one long folder listing, and says it stopped: its caller must never take what
// it found for the whole tree.

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "agent/scan/walker.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::scan {
namespace {

using lethe::testing::TempDir;

// A share of `folders` folders below the root, one file in each.
void make_share(const TempDir& dir, int folders) {
    for (int i = 0; i < folders; ++i) {
        dir.write("root/m" + std::to_string(i) + "/f.pdf", "x");
    }
}

struct StoppedWalk {
    Result<WalkStats> result = WalkStats{};
    std::set<std::string> files;
};

StoppedWalk walk_with(const std::string& root, const WalkOptions& options) {
    StoppedWalk w;
    auto fd = open_root(root);
    EXPECT_TRUE(fd) << fd.error().message();
    w.result = walk(
        fd->get(), options, [&](const FileFacts& f) { w.files.insert(f.path); },
        [](std::string_view, const Error&) {});
    return w;
}

TEST(WalkStop, AStopAskedBeforeTheWalkListsNothingAndSaysItStopped) {
    TempDir dir;
    make_share(dir, 5);
    std::atomic<bool> stop{true};
    WalkOptions options;
    options.stop = &stop;
    StoppedWalk w = walk_with(dir / "root", options);
    ASSERT_FALSE(w.result);
    EXPECT_EQ(w.result.error().kind(), ErrorKind::Stopped);
    EXPECT_NE(w.result.error().message().find("stopped on request"), std::string::npos);
    EXPECT_TRUE(w.files.empty());
}

TEST(WalkStop, AStopThatIsNeverSetChangesNothing) {
    TempDir dir;
    make_share(dir, 40);
    std::atomic<bool> stop{false};
    WalkOptions options;
    options.stop = &stop;
    StoppedWalk w = walk_with(dir / "root", options);
    ASSERT_TRUE(w.result) << w.result.error().message();
    EXPECT_EQ(w.result->files, 40u);
    EXPECT_EQ(w.files.size(), 40u);
}

#ifdef LETHE_TEST_HOOKS
// The flag is set as the walk is about to open its tenth folder: with one walker, exactly
// the nine folders before it were listed; with four, the others stop at their next folder.
TEST(WalkStop, AStopSetAfterNFoldersEndsTheWalkAtTheNextFolder) {
    TempDir dir;
    make_share(dir, 200);
    for (unsigned threads : {1u, 4u}) {
        std::atomic<bool> stop{false};
        std::atomic<int> opened{0};
        set_before_open_folder_hook([&](std::string_view) {
            if (++opened == 10) stop = true;
        });
        WalkOptions options;
        options.threads = threads;
        options.stop = &stop;
        StoppedWalk w = walk_with(dir / "root", options);
        set_before_open_folder_hook(nullptr);
        ASSERT_FALSE(w.result) << threads << " threads";
        EXPECT_EQ(w.result.error().kind(), ErrorKind::Stopped);
        if (threads == 1) {
            EXPECT_EQ(opened.load(), 10);
            EXPECT_EQ(w.files.size(), 9u);
        } else {
            // Each of the other walkers may be between its hook and its check.
            EXPECT_LE(opened.load(), 10 + 3);
            EXPECT_LE(w.files.size(), 12u);
        }
    }
}
#endif

// Files go to the walker threads' sinks (as the plan's classification does); the first
// file sets the flag, and the long folder's listing ends at its next chunk.
class StoppingSink : public FileSink {
public:
    StoppingSink(std::atomic<bool>& stop, std::atomic<int>& files) : m_stop(stop), m_files(files) {}
    void file(const FileFacts&) override {
        m_stop = true;
        ++m_files;
    }
    void flush() override {}

private:
    std::atomic<bool>& m_stop;
    std::atomic<int>& m_files;
};

TEST(WalkStop, AStopInsideAFolderOfThousandsOfFilesEndsItsListingAtTheNextChunk) {
    TempDir dir;
    constexpr int kFiles = 6000;
    for (int i = 0; i < kFiles; ++i) {
        dir.write("root/big/document-with-a-long-name-" + std::to_string(i) + ".pdf", "");
    }
    auto fd = open_root(dir / "root");
    ASSERT_TRUE(fd);
    std::atomic<bool> stop{false};
    std::atomic<int> files{0};
    WalkOptions options;
    options.threads = 2;
    options.stop = &stop;
    auto result = walk_concurrently(
        fd->get(), options,
        [&]() -> std::unique_ptr<FileSink> { return std::make_unique<StoppingSink>(stop, files); },
        [](std::string_view, const Error&) {});
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind(), ErrorKind::Stopped);
    // One getdents64 chunk of 32 KiB holds well under a thousand of these names; the
    // whole folder is six thousand.
    EXPECT_GT(files.load(), 0);
    EXPECT_LT(files.load(), kFiles / 4);
}

}  // namespace
}  // namespace lethe::scan
