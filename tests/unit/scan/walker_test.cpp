#include "agent/scan/walker.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::scan {
namespace {

using lethe::testing::TempDir;

struct Walked {
    std::set<std::string> files;
    std::vector<std::string> problems;
    WalkStats stats;
};

Walked walk_root(const std::string& root, WalkOptions options = {}) {
    Walked w;
    auto fd = open_root(root);
    EXPECT_TRUE(fd) << fd.error().message();
    auto stats = walk(
        fd->get(), options, [&](const FileFacts& f) { w.files.insert(f.path); },
        [&](std::string_view path, const Error&) { w.problems.emplace_back(path); });
    EXPECT_TRUE(stats) << stats.error().message();
    w.stats = *stats;
    return w;
}

TEST(Walk, ReportsRegularFilesWithRelativePaths) {
    TempDir dir;
    dir.write("root/acme/m1/a.pdf", "aaaa");
    dir.write("root/acme/m1/sub/b.docx", "bb");
    dir.write("root/top.txt", "t");
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files, (std::set<std::string>{"acme/m1/a.pdf", "acme/m1/sub/b.docx", "top.txt"}));
    EXPECT_EQ(w.stats.files, 3u);
    EXPECT_EQ(w.stats.bytes, 7u);
}

// lethe's disposal folder is left out where lethe puts it (the top of the root), and only
// there: a folder of that name deeper in the share is the users'.
TEST(Walk, LeavesOutLethesDisposalFolderAtTheTopOfTheRootOnly) {
    TempDir dir;
    dir.write("root/.lethe-disposal/.lethe-1a2b", "being destroyed");
    ASSERT_EQ(::chmod((dir / "root/.lethe-disposal").c_str(), 0700), 0);
    dir.write("root/acme/.lethe-disposal/users.pdf", "u");
    ASSERT_EQ(::chmod((dir / "root/acme/.lethe-disposal").c_str(), 0700), 0);
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files, (std::set<std::string>{"acme/.lethe-disposal/users.pdf"}));
}

// Only a folder lethe would have made (mode 0700, owned by this user) is left out: one that
// anyone else made at the top of the root is walked like any other, and hides nothing.
TEST(Walk, AFolderNamedLikeLethesDisposalFolderButNotItsIsWalked) {
    TempDir dir;
    dir.write("root/.lethe-disposal/users.pdf", "u");
    ASSERT_EQ(::chmod((dir / "root/.lethe-disposal").c_str(), 0755), 0);
    EXPECT_EQ(walk_root(dir / "root").files,
              (std::set<std::string>{".lethe-disposal/users.pdf"}));
    ASSERT_EQ(::chmod((dir / "root/.lethe-disposal").c_str(), 0700), 0);
    EXPECT_TRUE(walk_root(dir / "root").files.empty());
    if (::geteuid() != 0) {
        GTEST_SKIP() << "chown to another uid needs root";
    }
    ASSERT_EQ(::chown((dir / "root/.lethe-disposal").c_str(), 65534, 65534), 0);
    EXPECT_EQ(walk_root(dir / "root").files,
              (std::set<std::string>{".lethe-disposal/users.pdf"}));
}

TEST(Walk, NeverFollowsSymlinksToFilesOrFolders) {
    TempDir dir;
    dir.write("root/real.pdf", "r");
    dir.write("outside/secret.pdf", "s");
    ASSERT_EQ(::symlink((dir / "outside").c_str(), (dir / "root/escape").c_str()), 0);
    ASSERT_EQ(::symlink((dir / "outside/secret.pdf").c_str(), (dir / "root/link.pdf").c_str()), 0);
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files, (std::set<std::string>{"real.pdf"}));
    EXPECT_EQ(w.stats.symlinks, 2u);
}

TEST(Walk, ARootThatIsASymlinkIsRefused) {
    TempDir dir;
    dir.mkdir("real");
    ASSERT_EQ(::symlink((dir / "real").c_str(), (dir / "alias").c_str()), 0);
    auto fd = open_root(dir / "alias");
    ASSERT_FALSE(fd);
    EXPECT_NE(fd.error().message().find("symlink"), std::string::npos);
}

TEST(Walk, ExcludesFilesAndWholeFolders) {
    TempDir dir;
    dir.write("root/a/.snapshot/old.pdf", "o");
    dir.write("root/a/~$lock.docx", "l");
    dir.write("root/a/keep.docx", "k");
    WalkOptions options;
    options.exclude.push_back(*util::Glob::compile("**/.snapshot/**"));
    options.exclude.push_back(*util::Glob::compile("**/~$*"));
    Walked w = walk_root(dir / "root", options);
    EXPECT_EQ(w.files, (std::set<std::string>{"a/keep.docx"}));
    EXPECT_EQ(w.stats.excluded, 2u);
}

TEST(Walk, CountsSpecialFilesAndKeepsOddNamesExact) {
    TempDir dir;
    dir.mkdir("root");
    ASSERT_EQ(::mkfifo((dir / "root/pipe").c_str(), 0600), 0);
    std::string odd = "caf\xe9\nname.pdf";
    dir.write("root/" + odd, "x");
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files, (std::set<std::string>{odd}));
    EXPECT_EQ(w.stats.special, 1u);
}

TEST(Walk, DeepTreesDoNotRecurseOnTheStack) {
    TempDir dir;
    std::string rel = "root";
    for (int i = 0; i < 300; ++i) rel += "/d";
    dir.write(rel + "/deep.pdf", "x");
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.stats.files, 1u);
    EXPECT_EQ(w.stats.folders, 301u);
}

TEST(Walk, UnreadableFoldersAreCountedAndTheWalkGoesOn) {
    TempDir dir;
    dir.write("root/locked/x.pdf", "x");
    dir.write("root/open/y.pdf", "y");
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    ASSERT_EQ(::chmod((dir / "root/locked").c_str(), 0), 0);
    // Root reads every folder, so the walk runs in a child that has dropped to "nobody".
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(fds[0]);
        if (::geteuid() == 0 && (::setresgid(65534, 65534, 65534) != 0 ||
                                 ::setresuid(65534, 65534, 65534) != 0)) {
            ::_exit(2);
        }
        auto fd = open_root(dir / "root");
        if (!fd) ::_exit(3);
        std::string seen;
        auto stats = walk(
            fd->get(), WalkOptions{}, [&](const FileFacts& f) { seen += f.path + ";"; },
            [](std::string_view, const Error&) {});
        if (!stats) ::_exit(4);
        seen += "errors=" + std::to_string(stats->errors);
        [[maybe_unused]] auto n = ::write(fds[1], seen.data(), seen.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out(256, '\0');
    ssize_t n = ::read(fds[0], out.data(), out.size());
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::chmod((dir / "root/locked").c_str(), 0755);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    out.resize(static_cast<size_t>(std::max<ssize_t>(n, 0)));
    EXPECT_EQ(out, "open/y.pdf;errors=1");
}

}  // namespace
}  // namespace lethe::scan
