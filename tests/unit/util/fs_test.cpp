#include "agent/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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
