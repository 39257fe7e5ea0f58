#include "agent/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

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
