// End-to-end tests of what a legal hold covers: `--path` is a file or folder name, taken
// literally whatever characters it has; `--glob` is a pattern; a hold whose scope matches
// nothing is refused unless the records manager says it is meant (`--allow-empty`). And a
// `.lethe-disposal` folder lethe did not make hides nothing and is never used: the pass
// says so and exits 1.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/util/sha256.hpp"
#include "tests/support/lethe_cli.hpp"

namespace lethe::testing {
namespace {

class HoldScopeE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", firm_schedule({}));
        m_dir.write("lethe.toml", firm_config({}));
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
        CliResult k = lethe("keygen " + config());
        ASSERT_EQ(k.code, 0) << k.err;
    }

    CliResult lethe(const std::string& args) { return run_lethe(m_dir, args); }
    [[nodiscard]] std::string config() const {
        return "--config " + shell_quote(m_dir / "lethe.toml");
    }
    [[nodiscard]] std::string share(const std::string& relative) const {
        return m_dir / ("share/" + relative);
    }
    // Writes a file long due (2010 + 7 years) and returns its SHA-256.
    std::string due(const std::string& relative, const std::string& content) {
        m_dir.write("share/" + relative, content, "2010-05-01");
        return util::sha256_hex(content);
    }
    [[nodiscard]] std::string sha256_of(const std::string& relative) const {
        return util::sha256_hex(slurp(share(relative)));
    }
    std::vector<nlohmann::json> of_type(const std::string& type) const {
        std::vector<nlohmann::json> out;
        if (!exists(m_dir / "state/ledger.jsonl")) return out;
        for (auto& p : ledger_payloads(m_dir / "state/ledger.jsonl")) {
            if (p["type"] == type) out.push_back(p);
        }
        return out;
    }

    TempDir m_dir;
};

// A brief named with glob characters is held by its name. Read as a pattern, "[Draft]" is
// one character of D, r, a, f, t: the hold would cover "Smith D brief.docx" and not the
// brief, which the next pass would destroy.
TEST_F(HoldScopeE2E, APathWithGlobCharactersHoldsExactlyThatFile) {
    const std::vector<std::string> named = {"san/2010-001/Smith [Draft] brief.docx",
                                            "san/2010-001/memo{1}.docx", "san/2010-001/a*b.docx",
                                            "san/2010-001/what?.docx"};
    std::vector<std::string> sums;
    for (const auto& n : named) sums.push_back(due(n, "content of " + n));
    // What the names would match as patterns: not held, disposed of.
    for (const char* other : {"san/2010-001/Smith D brief.docx", "san/2010-001/memo1.docx",
                              "san/2010-001/aXYZb.docx", "san/2010-001/whatX.docx"}) {
        due(other, std::string("other ") + other);
    }
    for (size_t i = 0; i < named.size(); ++i) {
        const std::string id = "H" + std::to_string(i);
        CliResult add = lethe("hold add " + id + " --reason 'Smith v San' --path " +
                              shell_quote(named[i]) + " " + config());
        ASSERT_EQ(add.code, 0) << named[i] << ": " << add.err;
        EXPECT_NE(add.out.find("hold " + id + " placed: path " + named[i]), std::string::npos)
            << add.out;
        EXPECT_NE(add.out.find("covers now: 1 file "), std::string::npos) << add.out;
        CliResult show = lethe("hold show " + id + " " + config());
        ASSERT_EQ(show.code, 0) << show.err;
        EXPECT_NE(show.out.find("covers:  path " + named[i]), std::string::npos) << show.out;
        EXPECT_NE(show.out.find("now:     1 file "), std::string::npos) << show.out;
    }
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("disposed 4 files"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("4 held"), std::string::npos) << run.out;
    for (size_t i = 0; i < named.size(); ++i) {
        ASSERT_TRUE(exists(share(named[i]))) << named[i];
        EXPECT_EQ(sha256_of(named[i]), sums[i]) << named[i];
    }
    EXPECT_FALSE(exists(share("san/2010-001/Smith D brief.docx")));
    EXPECT_FALSE(exists(share("san/2010-001/memo1.docx")));
    // The ledger records the path as written, and the escaped pattern an older lethe reads.
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 4u);
    EXPECT_EQ(placed[0]["hold"]["paths"][0]["path"], named[0]);
    EXPECT_EQ(placed[0]["hold"]["paths"][0]["glob"], "san/2010-001/Smith \\[Draft\\] brief.docx");
    CliResult verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

// A folder path covers everything below it, literally too; an absolute path names one root.
TEST_F(HoldScopeE2E, AFolderPathWithGlobCharactersHoldsEverythingBelowIt) {
    const std::string kept = due("acme/2010-[1]/brief.pdf", "in the bracket folder");
    due("acme/2010-1/brief.pdf", "what the pattern would match");
    CliResult add = lethe("hold add H-DIR --reason audit --path " +
                          shell_quote(share("acme/2010-[1]") + "/") + " " + config());
    ASSERT_EQ(add.code, 0) << add.err;
    EXPECT_NE(add.out.find("path acme/2010-[1] in root clients"), std::string::npos) << add.out;
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_EQ(sha256_of("acme/2010-[1]/brief.pdf"), kept);
    EXPECT_FALSE(exists(share("acme/2010-1/brief.pdf")));
}

// --glob is the pattern --path used to be; a store written by an earlier lethe (holds.json
// with {"glob": ...} scopes) means what it meant: a pattern.
TEST_F(HoldScopeE2E, GlobsAndTheGlobScopesOfEarlierStoresAreStillPatterns) {
    const std::string a = due("acme/2010-001/a.pdf", "acme a");
    const std::string b = due("acme/2010-002/b.pdf", "acme b");
    due("acme/2010-003/c.pdf", "acme c");
    CliResult add = lethe("hold add H-GLOB --reason audit --glob 'acme/2010-00[1]' " + config());
    ASSERT_EQ(add.code, 0) << add.err;
    EXPECT_NE(add.out.find("placed: glob acme/2010-00[1]"), std::string::npos) << add.out;
    EXPECT_NE(add.out.find("covers now: 1 file "), std::string::npos) << add.out;
    // A hold an earlier release left in holds.json only (never in the ledger): it stays in
    // force, as a pattern, and no pass enters it in the ledger (only `lethe hold` does).
    std::string store = slurp(m_dir / "state/holds.json");
    auto j = nlohmann::json::parse(store);
    j["holds"].push_back({{"id", "OLD-1"},
                          {"reason", "placed by lethe 0.2.0"},
                          {"placed_by", "tester"},
                          {"placed_at", "2026-12-01T10:00:00Z"},
                          {"released", false},
                          {"paths", {{{"glob", "acme/*-00[2]"}}}}});
    m_dir.write("state/holds.json", j.dump(2) + "\n");
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_EQ(sha256_of("acme/2010-001/a.pdf"), a);
    EXPECT_EQ(sha256_of("acme/2010-002/b.pdf"), b);
    EXPECT_FALSE(exists(share("acme/2010-003/c.pdf")));
    CliResult show = lethe("hold show OLD-1 " + config());
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("covers:  glob acme/*-00[2]"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("now:     1 file "), std::string::npos) << show.out;
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);
    EXPECT_EQ(placed[0]["hold"]["id"], "H-GLOB");
}

// A hold whose scope covers nothing now is refused, naming the scope; --allow-empty places it
// (a hold may come before the files) with a warning. Each scope is checked on its own.
TEST_F(HoldScopeE2E, AScopeThatMatchesNothingIsRefusedUnlessAllowed) {
    due("acme/2010-001/a.pdf", "acme a");
    struct Case {
        std::string args;
        std::string named;
    };
    const std::vector<Case> cases = {
        {"--path 'acme/2010-001/a.pdf.bak'", "path acme/2010-001/a.pdf.bak"},
        {"--path acme/2010-001 --path acme/2099-001", "path acme/2099-001"},
        {"--glob 'acme/*/zz*'", "glob acme/*/zz*"},
        {"--client nobody", "client nobody"},
        {"--client acme --matter 2099-001", "matter 2099-001"},
    };
    for (const auto& c : cases) {
        CliResult add = lethe("hold add H-EMPTY --reason audit " + c.args + " " + config());
        EXPECT_EQ(add.code, 2) << c.args << ": " << add.out << add.err;
        EXPECT_NE(add.err.find(c.named + " matches no file"), std::string::npos)
            << c.args << ": " << add.err;
        EXPECT_NE(add.err.find("--allow-empty"), std::string::npos) << add.err;
    }
    EXPECT_FALSE(exists(m_dir / "state/holds.json"));
    EXPECT_TRUE(of_type("hold-placed").empty());

    CliResult allowed = lethe("hold add H-EARLY --reason 'before the files arrive' --path "
                              "acme/2010-001/later.pdf --allow-empty " + config());
    ASSERT_EQ(allowed.code, 0) << allowed.err;
    EXPECT_NE(allowed.err.find("path acme/2010-001/later.pdf matches no file now"),
              std::string::npos)
        << allowed.err;
    EXPECT_NE(allowed.out.find("covers now: 0 files"), std::string::npos) << allowed.out;
    ASSERT_EQ(of_type("hold-placed").size(), 1u);
    // It holds the file once it arrives.
    const std::string later = due("acme/2010-001/later.pdf", "arrived later");
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_EQ(sha256_of("acme/2010-001/later.pdf"), later);
    EXPECT_FALSE(exists(share("acme/2010-001/a.pdf")));
}

// A `.lethe-disposal` that lethe did not make (another owner, or mode 0755) hides nothing
// and is never used: no file on its filesystem is disposed of, none is destroyed, and the
// pass says which folder and exits 1.
TEST_F(HoldScopeE2E, AForeignDisposalFolderHidesNothingAndFailsThePass) {
    for (int variant = 0; variant < 2; ++variant) {
        SCOPED_TRACE(variant == 0 ? "mode 0755" : "another owner");
        if (variant == 1 && ::geteuid() != 0) {
            GTEST_SKIP() << "chown to another uid needs root";
        }
        std::filesystem::remove_all(share(".lethe-disposal"));
        const std::string inside = due(".lethe-disposal/acme/2010-001/users.pdf", "the users'");
        const std::string elsewhere = due("acme/2010-001/a.pdf", "acme a");
        const std::string folder = share(".lethe-disposal");
        ASSERT_EQ(::chmod(folder.c_str(), variant == 0 ? 0755 : 0700), 0);
        if (variant == 1) {
            ASSERT_EQ(::chown(folder.c_str(), 65534, 65534), 0);
        }

        CliResult plan = lethe("plan " + config());
        EXPECT_NE(plan.out.find(".lethe-disposal/acme/2010-001/users.pdf"), std::string::npos)
            << plan.out;
        CliResult run = lethe("--log-target stderr run " + config());
        EXPECT_EQ(run.code, 1) << run.out << run.err;
        EXPECT_NE(run.err.find("disposals in clients skipped: .lethe-disposal at " + folder +
                               " is not lethe's folder"),
                  std::string::npos)
            << run.err;
        EXPECT_EQ(sha256_of(".lethe-disposal/acme/2010-001/users.pdf"), inside);
        EXPECT_EQ(sha256_of("acme/2010-001/a.pdf"), elsewhere);
        EXPECT_TRUE(of_type("disposal").empty());
    }
}

}  // namespace
}  // namespace lethe::testing
