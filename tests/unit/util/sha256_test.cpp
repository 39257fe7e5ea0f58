#include "agent/util/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "agent/util/fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::util {
namespace {

using lethe::testing::TempDir;

// 10 MiB and 5 bytes: two full 4 MiB blocks and a short one, no two blocks alike.
std::string ten_mib() {
    std::string s((size_t{10} << 20) + 5, '\0');
    uint32_t x = 2463534242u;
    for (char& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

TEST(Sha256Fd, HashesTheWholeFileWhateverTheOffsetOfTheFd) {
    TempDir dir;
    const std::string content = ten_mib();
    UniqueFd fd(::open(dir.write("big", content).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::lseek(fd.get(), 12345, SEEK_SET), 12345);
    auto hash = sha256_fd_hex(fd.get(), "big");
    ASSERT_TRUE(hash) << hash.error().message();
    EXPECT_EQ(*hash, sha256_hex(content));
    EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 12345);

    UniqueFd empty(::open(dir.write("empty", "").c_str(), O_RDONLY | O_CLOEXEC));
    auto none = sha256_fd_hex(empty.get(), "empty");
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_EQ(*none, sha256_hex(""));
}

TEST(Sha256Fd, ReportsEachBlockAndStopsAfterTheBlockInHandWhenAsked) {
    TempDir dir;
    const std::string content = ten_mib();
    const std::string path = dir.write("big", content);
    std::atomic<bool> stop{false};
    int blocks = 0;
    StopToken token(&stop, [&] { ++blocks; });

    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto hash = sha256_fd_hex(fd.get(), "big", &token);
    ASSERT_TRUE(hash) << hash.error().message();
    EXPECT_EQ(*hash, sha256_hex(content));
    EXPECT_EQ(blocks, 3);

    // Asked to stop during the second block: it reads no third one.
    blocks = 0;
    StopToken asking(&stop, [&] {
        if (++blocks == 2) stop = true;
    });
    auto stopped = sha256_fd_hex(fd.get(), "big", &asking);
    ASSERT_FALSE(stopped);
    EXPECT_EQ(stopped.error().kind(), ErrorKind::Stopped);
    EXPECT_NE(stopped.error().message().find("hash big: stopped"), std::string::npos)
        << stopped.error().message();
    EXPECT_EQ(blocks, 2);
}

TEST(Sha256Fd, AReadErrorNamesTheFile) {
    TempDir dir;
    UniqueFd folder(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto hash = sha256_fd_hex(folder.get(), "a folder");
    ASSERT_FALSE(hash);
    EXPECT_NE(hash.error().message().find("read a folder"), std::string::npos)
        << hash.error().message();
}

}  // namespace
}  // namespace lethe::util
