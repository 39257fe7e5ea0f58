#include "agent/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::util {
namespace {

using lethe::testing::slurp;
using lethe::testing::TempDir;

TEST(AtomicWrite, ReplacesContentAndSetsMode) {
    TempDir dir;
    std::string path = dir / "state.json";
    ASSERT_TRUE(write_file_atomic(path, "one", 0600));
    ASSERT_TRUE(write_file_atomic(path, "two", 0600));
    EXPECT_EQ(slurp(path), "two");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CreateExclusive, RefusesToReplaceAnExistingFile) {
    TempDir dir;
    std::string path = dir / "key.pem";
    ASSERT_TRUE(create_file_exclusive(path, "first", 0600));
    auto again = create_file_exclusive(path, "second", 0600);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().sys_errno(), EEXIST);
    EXPECT_EQ(slurp(path), "first");
}

TEST(OpenBeneath, RefusesSymlinksAndEscapes) {
    TempDir dir;
    dir.write("root/inside/file", "x");
    dir.write("outside/secret", "s");
    ASSERT_EQ(::symlink("../outside", (dir / "root/link").c_str()), 0);
    UniqueFd root(::open((dir / "root").c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(root);
    EXPECT_TRUE(open_beneath(root.get(), "inside/file", O_RDONLY));
    EXPECT_FALSE(open_beneath(root.get(), "link/secret", O_RDONLY));
    EXPECT_FALSE(open_beneath(root.get(), "../outside/secret", O_RDONLY));
    EXPECT_FALSE(open_beneath(root.get(), "link", O_RDONLY | O_DIRECTORY));
}

// `depth` folders of 12 characters ("folder-0001/..."): 500 make a path of 6,500 bytes,
// beyond PATH_MAX, which the kernel refuses whole (ENAMETOOLONG).
std::string deep_folder(int depth) {
    std::string path;
    for (int i = 1; i <= depth; ++i) {
        if (!path.empty()) path += '/';
        path += fmt::format("folder-{:04}", i);
    }
    return path;
}

void write_at(int dir_fd, const char* name, std::string_view content) {
    UniqueFd fd(::openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
}

std::string read_all(int fd) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TEST(OpenBeneath, OpensAFileFiveHundredFoldersDeep) {
    TempDir dir;
    std::string folder = "root/" + deep_folder(500);
    ASSERT_GT(folder.size(), size_t{PATH_MAX});
    UniqueFd deepest(dir.open_folder(folder));
    ASSERT_TRUE(deepest);
    write_at(deepest.get(), "brief.pdf", "deep brief");
    UniqueFd root(::open((dir / "root").c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(root);

    std::string relative = deep_folder(500) + "/brief.pdf";
    auto file = open_beneath(root.get(), relative, O_RDONLY);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(read_all(file->get()), "deep brief");
    auto parent = open_beneath(root.get(), deep_folder(500), O_RDONLY | O_DIRECTORY, 0, true);
    ASSERT_TRUE(parent) << parent.error().message();
    // Doubled slashes, wherever a step happens to end, name the same file.
    std::string doubled;
    for (char c : relative) doubled += c == '/' ? std::string("//") : std::string(1, c);
    EXPECT_TRUE(open_beneath(root.get(), doubled, O_RDONLY));
    // Created at that depth, as the disposal's helpers do.
    auto created = open_beneath(root.get(), deep_folder(500) + "/new.tmp",
                                O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_TRUE(created) << created.error().message();
    struct stat st {};
    EXPECT_EQ(::fstatat(deepest.get(), "new.tmp", &st, AT_SYMLINK_NOFOLLOW), 0);
}

// Steps keep every guarantee: a symlink at depth 300 (to a copy of the rest of the path
// outside the root), a symlink as the last component, a ".." that climbs out, an absolute
// path: each refused, at any depth.
TEST(OpenBeneath, RefusesASymlinkOrAnEscapeAtAnyDepth) {
    TempDir dir;
    std::string below = deep_folder(500).substr(deep_folder(300).size() + 1);
    UniqueFd outside(dir.open_folder("outside/" + below));
    ASSERT_TRUE(outside);
    write_at(outside.get(), "secret.pdf", "outside the root");
    UniqueFd at299(dir.open_folder("root/" + deep_folder(299)));
    ASSERT_TRUE(at299);
    std::string target = dir / "outside";
    ASSERT_EQ(::symlinkat(target.c_str(), at299.get(), "folder-0300"), 0);
    UniqueFd root(::open((dir / "root").c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(root);

    auto through = open_beneath(root.get(), deep_folder(500) + "/secret.pdf", O_RDONLY);
    ASSERT_FALSE(through);
    EXPECT_EQ(through.error().sys_errno(), ELOOP) << through.error().message();
    EXPECT_FALSE(open_beneath(root.get(), deep_folder(500), O_RDONLY | O_DIRECTORY));

    // A symlink as the last component of a long path.
    UniqueFd at400(dir.open_folder("real/" + deep_folder(400)));
    ASSERT_TRUE(at400);
    ASSERT_EQ(::symlinkat(target.c_str(), at400.get(), "link.pdf"), 0);
    UniqueFd real(::open((dir / "real").c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(real);
    auto last = open_beneath(real.get(), deep_folder(400) + "/link.pdf", O_RDONLY);
    ASSERT_FALSE(last);
    EXPECT_EQ(last.error().sys_errno(), ELOOP);

    // Down 400 folders and up 401: out of the root, refused even though each ".." is real.
    std::string climb = deep_folder(400);
    for (int i = 0; i < 401; ++i) climb += "/..";
    climb += "/outside/" + below + "/secret.pdf";
    ASSERT_GT(climb.size(), size_t{PATH_MAX});
    EXPECT_FALSE(open_beneath(real.get(), climb, O_RDONLY));
    std::string absolute = dir / ("real/" + deep_folder(400));  // inside, but absolute
    ASSERT_GT(absolute.size(), size_t{PATH_MAX});
    EXPECT_FALSE(open_beneath(real.get(), absolute, O_RDONLY | O_DIRECTORY));
}

TEST(ReadXattrAt, ReadsTheEntryItselfAndNeverFollowsASymlinkEitherWay) {
    TempDir dir;
    std::string file = dir.write("root/folder/pinned.pdf", "x");
    std::string outside = dir.write("outside.pdf", "o");
    ASSERT_EQ(::setxattr(file.c_str(), "user.lethe.category", "matter", 6, 0), 0) << "user xattrs on the test folder";
    ASSERT_EQ(::setxattr(outside.c_str(), "user.lethe.category", "stolen", 6, 0), 0);
    ASSERT_EQ(::symlink((dir / "outside.pdf").c_str(), (dir / "root/folder/link.pdf").c_str()), 0);
    std::string long_value(300, 'v');
    std::string wordy = dir.write("root/folder/wordy.pdf", "w");
    ASSERT_EQ(::setxattr(wordy.c_str(), "user.lethe.category", long_value.data(), long_value.size(), 0), 0);
    UniqueFd folder(::open((dir / "root/folder").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(folder);
    for (bool force_proc : {false, true}) {
        SCOPED_TRACE(force_proc ? "through /proc" : "getxattrat where the kernel has it");
        EXPECT_EQ(read_xattr_at(folder.get(), "pinned.pdf", "user.lethe.category", 255, force_proc),
                  std::optional<std::string>("matter"));
        EXPECT_EQ(read_xattr_at(folder.get(), "link.pdf", "user.lethe.category", 255, force_proc), std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "missing.pdf", "user.lethe.category", 255, force_proc), std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "pinned.pdf", "user.other", 255, force_proc), std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "..", "user.lethe.category", 255, force_proc), std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "../folder/pinned.pdf", "user.lethe.category", 255, force_proc),
                  std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "wordy.pdf", "user.lethe.category", 255, force_proc), std::nullopt);
        EXPECT_EQ(read_xattr_at(folder.get(), "wordy.pdf", "user.lethe.category", 300, force_proc),
                  std::optional<std::string>(long_value));
    }
}

TEST(MakeDirs, RefusesAFileWhereAFolderShouldBe) {
    TempDir dir;
    dir.write("state", "not a folder");
    auto made = make_dirs(dir / "state/keys", 0700);
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().message().find("not a folder"), std::string::npos);
    ASSERT_TRUE(make_dirs(dir / "a/b/c", 0700));
}

}  // namespace
}  // namespace lethe::util
