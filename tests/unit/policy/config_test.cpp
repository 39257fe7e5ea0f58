#include "agent/policy/config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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
    EXPECT_NE(fraction.error().message().find("above 0 and at most 1"), std::string::npos);
    auto no_root = load_config(dir.write("c.toml", "policies = \"/p\"\n"));
    ASSERT_FALSE(no_root);
    EXPECT_NE(no_root.error().message().find("[[root]]"), std::string::npos);
}

TEST(Config, SanitizeAndArchiveSections) {
    lethe::testing::TempDir dir;
    auto cfg = load_config(dir.write("etc/lethe.toml", R"(
[sanitize]
passes = 2
final_zero = true
verify = false
[archive]
destination = "../archive"
recipients = ["age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"]
[[root]]
name = "r"
path = "/r"
)"));
    ASSERT_TRUE(cfg) << cfg.error().message();
    EXPECT_EQ(cfg->sanitize_passes, 2);
    EXPECT_TRUE(cfg->sanitize_final_zero);
    EXPECT_FALSE(cfg->sanitize_verify);
    EXPECT_EQ(cfg->archive_destination, dir / "archive");
    ASSERT_EQ(cfg->archive_recipients.size(), 1u);

    auto defaults = load_config(dir.write("d.toml", "[[root]]\nname=\"r\"\npath=\"/r\"\n"));
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->sanitize_passes, 1);
    EXPECT_FALSE(defaults->sanitize_final_zero);
    EXPECT_TRUE(defaults->sanitize_verify);
    EXPECT_TRUE(defaults->archive_destination.empty());

    auto passes = load_config(dir.write("p.toml", "[sanitize]\npasses = 0\n[[root]]\nname=\"r\"\npath=\"/r\"\n"));
    ASSERT_FALSE(passes);
    EXPECT_NE(passes.error().message().find("p.toml:2"), std::string::npos) << passes.error().message();
    auto secret = load_config(dir.write("s.toml",
        "[archive]\nrecipients = [\"AGE-SECRET-KEY-1GFPYYSJZ\"]\n[[root]]\nname=\"r\"\npath=\"/r\"\n"));
    ASSERT_FALSE(secret);
    EXPECT_NE(secret.error().message().find("public keys only"), std::string::npos);
}

// Issue 16: values that would switch a guard off or point lethe at the wrong folder are
// refused where they are written.
TEST(Config, RefusesValuesThatCannotBeSafeWithTheirLocation) {
    lethe::testing::TempDir dir;
    const std::string root = "[[root]]\nname=\"r\"\npath=\"/srv/r\"\n";
    struct Case {
        std::string text;
        std::string where;  // file:line:column of the value
        std::string says;
    };
    const std::vector<Case> cases = {
        {"[agent]\nmax_fraction_per_root = nan\n" + root, ":2:25", "not nan"},
        {"[agent]\nmax_fraction_per_root = inf\n" + root, ":2:25", "not inf"},
        {"[agent]\nmax_fraction_per_root = -inf\n" + root, ":2:25", "above 0 and at most 1"},
        {"[agent]\nmax_fraction_per_root = 0.0\n" + root, ":2:25", "above 0 and at most 1"},
        {"[agent]\nmax_fraction_per_root = 1.5\n" + root, ":2:25", "above 0 and at most 1"},
        {"[agent]\nmax_disposals_per_pass = 0\n" + root, ":2:26", "at least 1"},
        {"[agent]\nmax_disposals_per_pass = -3\n" + root, ":2:26", "at least 1"},
        {"[agent]\nstate_dir = \"\"\n" + root, ":2:13", "state_dir must not be empty"},
        {"[agent]\nstate_dir = \"/\"\n" + root, ":2:13", "state_dir must not be /"},
        {"[[root]]\nname=\"r\"\npath=\"\"\n", ":3:6", "'path' is required"},
        {"[[root]]\nname=\"r\"\npath=\"/\"\n", ":3:6", "root 'r' is / (the whole filesystem)"},
        {"[[root]]\nname=\"r\"\npath=\"/srv/../\"\n", ":3:6", "the whole filesystem"},
        {"[archive]\ndestination = \"\"\n" + root, ":2:15", "destination must not be empty"},
    };
    int n = 0;
    for (const auto& c : cases) {
        std::string name = "c" + std::to_string(++n) + ".toml";
        auto cfg = load_config(dir.write(name, c.text));
        ASSERT_FALSE(cfg) << c.text;
        EXPECT_NE(cfg.error().message().find(name + c.where), std::string::npos)
            << cfg.error().message();
        EXPECT_NE(cfg.error().message().find(c.says), std::string::npos) << cfg.error().message();
        EXPECT_EQ(cfg.error().kind(), ErrorKind::BadInput);
    }
    auto fine = load_config(dir.write("fine.toml", "[agent]\nmax_fraction_per_root = 1.0\n"
                                                   "max_disposals_per_pass = 1\n" + root));
    ASSERT_TRUE(fine) << fine.error().message();
}

TEST(Config, RemembersWhereIntervalAndWindowAreWritten) {
    lethe::testing::TempDir dir;
    auto cfg = load_config(dir.write("t.toml", "[agent]\ninterval = \"5x\"\nwindow = \"25:00-06:00\"\n"
                                               "[[root]]\nname=\"r\"\npath=\"/srv/r\"\n"));
    ASSERT_TRUE(cfg) << cfg.error().message();
    EXPECT_EQ(cfg->interval_at, dir / "t.toml:2:12");
    EXPECT_EQ(cfg->window_at, dir / "t.toml:3:10");
}

TEST(Config, AMissingFileSaysSo) {
    auto cfg = load_config("/nonexistent/lethe.toml");
    ASSERT_FALSE(cfg);
    EXPECT_NE(cfg.error().message().find("/nonexistent/lethe.toml"), std::string::npos);
}

}  // namespace
}  // namespace lethe::policy
