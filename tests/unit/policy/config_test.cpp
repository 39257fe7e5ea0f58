#include "agent/policy/config.hpp"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::policy {
namespace {

TEST(Config, ResolvesRelativePathsAgainstTheConfigFolder) {
    lethe::testing::TempDir dir;
    std::string path = dir.write("etc/lethe.toml", R"(
policies = "policies.d"
[agent]
state_dir = "../state"
max_disposals_per_pass = 50
max_fraction_per_root = 0.5
[[root]]
name = "clients"
path = "/srv/shares/clients/"
exclude = ["**/.snapshot/**"]
)");
    auto cfg = load_config(path);
    ASSERT_TRUE(cfg) << cfg.error().message();
    EXPECT_EQ(cfg->policies, dir / "etc/policies.d");
    EXPECT_EQ(cfg->state_dir, dir / "state");
    EXPECT_EQ(cfg->signing_key, dir / "state/keys/signing.pem");
    EXPECT_EQ(cfg->max_disposals_per_pass, 50);
    EXPECT_DOUBLE_EQ(cfg->max_fraction_per_root, 0.5);
    ASSERT_EQ(cfg->roots.size(), 1u);
    EXPECT_EQ(cfg->roots[0].path, "/srv/shares/clients");
    EXPECT_TRUE(cfg->roots[0].one_filesystem);
}

TEST(Config, RejectsUnknownKeysAndBadGuards) {
    lethe::testing::TempDir dir;
    auto typo = load_config(dir.write("a.toml", "[agent]\nstate_dri = \"/x\"\n[[root]]\nname=\"r\"\npath=\"/r\"\n"));
    ASSERT_FALSE(typo);
    EXPECT_NE(typo.error().message().find("a.toml:2:1"), std::string::npos) << typo.error().message();
    auto fraction = load_config(dir.write("b.toml", "[agent]\nmax_fraction_per_root = 5\n[[root]]\nname=\"r\"\npath=\"/r\"\n"));
    ASSERT_FALSE(fraction);
    EXPECT_NE(fraction.error().message().find("between 0 and 1"), std::string::npos);
    auto no_root = load_config(dir.write("c.toml", "policies = \"/p\"\n"));
    ASSERT_FALSE(no_root);
    EXPECT_NE(no_root.error().message().find("[[root]]"), std::string::npos);
}

TEST(Config, AMissingFileSaysSo) {
    auto cfg = load_config("/nonexistent/lethe.toml");
    ASSERT_FALSE(cfg);
    EXPECT_NE(cfg.error().message().find("/nonexistent/lethe.toml"), std::string::npos);
}

}  // namespace
}  // namespace lethe::policy
