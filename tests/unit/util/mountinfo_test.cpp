#include "agent/util/mountinfo.hpp"

#include <gtest/gtest.h>

namespace lethe::util {
namespace {

// Lines as the kernel writes them (proc(5)): optional fields before " - ", octal escapes in
// paths.
constexpr const char* kTable =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "30 22 0:39 / /var/lib/lethe rw,relatime shared:5 master:2 - tmpfs tmpfs rw,mode=700\n"
    "31 22 0:39 /keys /srv/share/my\\040keys rw,relatime - tmpfs tmpfs rw\n"
    "32 22 254:0 /srv/other/a\\134b /srv/share/view rw - ext4 /dev/vda rw\n"
    "33 30 0:40 / /var/lib/lethe rw - tmpfs over rw\n";

TEST(Mountinfo, ParsesOptionalFieldsAndEscapes) {
    auto t = parse_mountinfo(kTable);
    ASSERT_TRUE(t) << t.error().message();
    ASSERT_EQ(t->size(), 5u);
    EXPECT_EQ((*t)[1].id, 30u);
    EXPECT_EQ((*t)[1].parent, 22u);
    EXPECT_EQ((*t)[1].major, 0u);
    EXPECT_EQ((*t)[1].minor, 39u);
    EXPECT_EQ((*t)[1].fs_type, "tmpfs");
    EXPECT_EQ((*t)[2].root, "/keys");
    EXPECT_EQ((*t)[2].mount_point, "/srv/share/my keys");
    EXPECT_EQ((*t)[3].root, "/srv/other/a\\b");
    EXPECT_EQ((*t)[0].source, "/dev/vda");
}

TEST(Mountinfo, ALineNotInTheFormatFailsTheTable) {
    EXPECT_FALSE(parse_mountinfo("22 1 254:0 / / rw shared:1 ext4 /dev/vda rw\n"));
    EXPECT_FALSE(parse_mountinfo("x 1 254:0 / / rw - ext4 /dev/vda rw\n"));
    EXPECT_FALSE(parse_mountinfo(""));
}

TEST(Mountinfo, APathIsPlacedThroughTheMountThatShowsIt) {
    auto t = parse_mountinfo(kTable);
    ASSERT_TRUE(t);
    auto share = fs_place(*t, "/srv/share/my keys/signing.pem");
    ASSERT_TRUE(share);
    EXPECT_EQ(share->device(), "0:39");
    EXPECT_EQ(share->path, "/keys/signing.pem");
    // Stacked mounts: the one on top (33, listed after) shows the path.
    auto state = fs_place(*t, "/var/lib/lethe/keys");
    ASSERT_TRUE(state);
    EXPECT_EQ(state->device(), "0:40");
    EXPECT_EQ(state->path, "/keys");
    auto plain = fs_place(*t, "/srv/sharex");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->device(), "254:0");
    EXPECT_EQ(plain->path, "/srv/sharex");
    EXPECT_EQ(fs_place(*t, "/")->path, "/");
}

TEST(Mountinfo, OverlapIsByDeviceAndWholeComponents) {
    FsPlace keys{0, 39, "/keys"};
    EXPECT_TRUE(overlap(keys, FsPlace{0, 39, "/"}));
    EXPECT_TRUE(overlap(keys, FsPlace{0, 39, "/keys/signing.pem"}));
    EXPECT_FALSE(overlap(keys, FsPlace{0, 39, "/keysafe"}));
    EXPECT_FALSE(overlap(keys, FsPlace{0, 40, "/keys"}));
    EXPECT_TRUE(path_within("/a/b", "/a"));
    EXPECT_FALSE(path_within("/a/bc", "/a/b"));
}

}  // namespace
}  // namespace lethe::util
