// End-to-end tests of legal holds: the built `lethe` binary on a temporary share, checked
// the way a records manager and an auditor would (the share, the plan, the ledger).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/util/encoding.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::shell_quote;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class HoldsE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf"]
retain = "7y"
action = "sanitize"
)");
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "max_fraction_per_root = 0.9\n"
                    "[[root]]\nname = \"clients\"\npath = \"share\"\n");
        // Expired (2010 + 7y) under two clients; one recent file keeps the guard happy.
        m_dir.write("share/acme/2010-001/a.pdf", "acme a", "2010-05-01");
        m_dir.write("share/acme/2010-001/b.pdf", "acme b", "2010-05-01");
        m_dir.write("share/acme/2010-002/c.pdf", "acme c", "2010-05-01");
        m_dir.write("share/bolt/2010-009/d.pdf", "bolt d", "2010-05-01");
        m_dir.write("share/bolt/2024-001/new.pdf", "recent", "2024-05-01");
        Output k = lethe("keygen " + config());
        EXPECT_EQ(k.code, 0) << k.err;
    }

    Output lethe(const std::string& args, const std::string& env = "") {
        Output o;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        std::string cmd = env + " " + shell_quote(LETHE_BINARY) + " " + args + " >" +
                          shell_quote(out) + " 2>" + shell_quote(err);
        int status = std::system(cmd.c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }

    std::string config() const { return "--config " + shell_quote(m_dir / "lethe.toml"); }

    std::vector<nlohmann::json> payloads() {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir / "state/ledger.jsonl");
        for (std::string line; std::getline(in, line);) {
            auto env = nlohmann::json::parse(line);
            auto payload = util::base64_decode(env["payload"].get<std::string>());
            out.push_back(nlohmann::json::parse(*payload));
        }
        return out;
    }

    std::vector<nlohmann::json> of_type(const std::string& type) {
        std::vector<nlohmann::json> out;
        for (auto& p : payloads()) {
            if (p["type"] == type) out.push_back(p);
        }
        return out;
    }

    void expect_ledger_verifies() {
        Output v = lethe("certs verify " + config());
        EXPECT_EQ(v.code, 0) << v.out << v.err;
        EXPECT_NE(v.out.find("intact"), std::string::npos) << v.out;
    }

    TempDir m_dir;
};

TEST_F(HoldsE2E, HeldFilesSurviveEveryPassAndGoInTheFirstPassAfterRelease) {
    Output add =
        lethe("hold add LIT-7 --reason 'Smith v Acme' --client acme --by alice " + config());
    ASSERT_EQ(add.code, 0) << add.err;
    EXPECT_NE(add.out.find("hold LIT-7 placed: client acme"), std::string::npos) << add.out;

    Output status = lethe("status " + config());
    EXPECT_NE(status.out.find("holds:      1 active"), std::string::npos) << status.out;

    Output plan = lethe("plan --json " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    std::istringstream lines(plan.out);
    int held = 0;
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        if (j.value("type", "") == "summary") continue;
        if (j["client"] == "acme") {
            EXPECT_EQ(j["status"], "held") << line;
            EXPECT_EQ(j["holds"], nlohmann::json::array({"LIT-7"})) << line;
            ++held;
        } else {
            EXPECT_EQ(j["status"], "due") << line;
        }
    }
    EXPECT_EQ(held, 3);

    for (int pass = 0; pass < 3; ++pass) {
        Output run = lethe("run " + config());
        ASSERT_EQ(run.code, 0) << run.err;
        EXPECT_NE(run.out.find("3 held"), std::string::npos) << run.out;
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/a.pdf"), "acme a");
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-002/c.pdf"), "acme c");
    }
    EXPECT_FALSE(exists(m_dir / "share/bolt/2010-009/d.pdf"));  // not held: disposed at once

    Output show = lethe("hold show LIT-7 " + config());
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("3 files"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("18 bytes"), std::string::npos) << show.out;

    Output no_by = lethe("hold release LIT-7 --reason settled " + config());
    EXPECT_EQ(no_by.code, 2);  // --by is required to release
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/a.pdf"));

    Output release = lethe("hold release LIT-7 --reason 'case settled' --by bob " + config());
    ASSERT_EQ(release.code, 0) << release.err;
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 3 files"), std::string::npos) << run.out;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-002/c.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/bolt/2024-001/new.pdf"), "recent");

    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);
    EXPECT_EQ(placed[0]["hold"]["id"], "LIT-7");
    EXPECT_EQ(placed[0]["hold"]["client"], "acme");
    EXPECT_EQ(placed[0]["hold"]["placed_by"], "alice");
    EXPECT_EQ(placed[0]["hold"]["reason"], "Smith v Acme");
    auto released = of_type("hold-released");
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0]["released_by"], "bob");
    EXPECT_EQ(released[0]["reason"], "case settled");
    EXPECT_EQ(released[0]["hold"]["placed_seq"], placed[0]["seq"]);
    // Every disposal certificate names the hold store it checked and that none applied.
    auto disposals = of_type("disposal");
    ASSERT_EQ(disposals.size(), 4u);
    for (const auto& d : disposals) {
        EXPECT_EQ(d["holds_checked"]["applied"], "none") << d.dump();
        EXPECT_TRUE(d["holds_checked"]["store_sha256"].is_string());
    }
    EXPECT_EQ(disposals.back()["holds_checked"]["unreleased"], 0);
    EXPECT_GT(disposals.back()["holds_checked"]["store_version"].get<int>(),
              disposals.front()["holds_checked"]["store_version"].get<int>());
    expect_ledger_verifies();
    Output certs = lethe("certs list " + config());
    ASSERT_EQ(certs.code, 0) << certs.err;
    EXPECT_NE(certs.out.find("hold-placed      LIT-7 by alice: Smith v Acme, client acme"),
              std::string::npos)
        << certs.out;
    EXPECT_NE(certs.out.find("hold-released    LIT-7 by bob: case settled"), std::string::npos)
        << certs.out;

    Output list = lethe("hold list --all " + config());
    EXPECT_NE(list.out.find("released"), std::string::npos) << list.out;
    EXPECT_EQ(lethe("hold list " + config()).out.find("LIT-7"), std::string::npos);
}

TEST_F(HoldsE2E, InventoryShowsTheHoldsCoveringEachFileOfTheClient) {
    ASSERT_EQ(lethe("hold add LIT-9 --reason 'Smith v Acme' --matter 2010-001 --by alice " + config()).code, 0);

    Output table = lethe("inventory --client acme " + config());
    ASSERT_EQ(table.code, 0) << table.err;
    std::istringstream rows(table.out);
    int held_rows = 0;
    int due_rows = 0;
    for (std::string row; std::getline(rows, row);) {
        if (row.find("2010-001/") != std::string::npos) {
            EXPECT_EQ(row.rfind("held", 0), 0u) << row;
            EXPECT_NE(row.find("(legal hold LIT-9)"), std::string::npos) << row;
            ++held_rows;
        } else if (row.find("2010-002/") != std::string::npos) {
            EXPECT_EQ(row.rfind("due", 0), 0u) << row;
            EXPECT_EQ(row.find("legal hold"), std::string::npos) << row;
            ++due_rows;
        }
    }
    EXPECT_EQ(held_rows, 2) << table.out;
    EXPECT_EQ(due_rows, 1) << table.out;

    Output json = lethe("inventory --json --client acme " + config());
    ASSERT_EQ(json.code, 0) << json.err;
    std::istringstream lines(json.out);
    int files = 0;
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        if (!j.contains("path")) continue;
        ++files;
        bool in_held_matter = j["path"].get<std::string>().find("2010-001/") != std::string::npos;
        EXPECT_EQ(j["holds"], in_held_matter ? nlohmann::json::array({"LIT-9"}) : nlohmann::json::array()) << line;
        EXPECT_EQ(j["status"], in_held_matter ? "held" : "due") << line;
    }
    EXPECT_EQ(files, 3);
}

// `lethe explain` judges a file as the plan does, holds included: a records manager who asks
// why a due file was not disposed of is told which hold keeps it, and what the schedule alone
// would say; a file the hold does not cover is due, and released holds no longer count.
TEST_F(HoldsE2E, ExplainNamesTheHoldsThatKeepAFile) {
    ASSERT_EQ(lethe("hold add LIT-9 --reason 'Smith v Acme' --matter 2010-001 --until 2031-01-31 "
                    "--by alice " + config()).code, 0);
    const std::string held = shell_quote(m_dir / "share/acme/2010-001/a.pdf");
    const std::string free = shell_quote(m_dir / "share/acme/2010-002/c.pdf");

    Output text = lethe("explain " + held + " " + config());
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("  legal hold LIT-9: Smith v Acme (covers matter 2010-001; placed "),
              std::string::npos) << text.out;
    EXPECT_NE(text.out.find("by alice, until 2031-01-31)"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("  without the hold: due"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find(
                  "  status: held, expires 2017-05-01, action sanitize (legal hold LIT-9)"),
              std::string::npos) << text.out;
    EXPECT_EQ(text.out.find("holds: none"), std::string::npos) << text.out;

    Output other = lethe("explain " + free + " " + config());
    ASSERT_EQ(other.code, 0) << other.err;
    EXPECT_NE(other.out.find("  holds: none"), std::string::npos) << other.out;
    EXPECT_NE(other.out.find("  status: due"), std::string::npos) << other.out;

    Output json = lethe("explain --json " + held + " " + free + " " + config());
    ASSERT_EQ(json.code, 0) << json.err;
    std::istringstream lines(json.out);
    std::string first;
    std::string second;
    ASSERT_TRUE(std::getline(lines, first));
    ASSERT_TRUE(std::getline(lines, second));
    auto h = nlohmann::json::parse(first);
    EXPECT_EQ(h["status"], "held") << first;
    EXPECT_EQ(h["schedule_status"], "due") << first;
    EXPECT_EQ(h["reason"], "legal hold LIT-9") << first;
    ASSERT_EQ(h["holds"].size(), 1u) << first;
    EXPECT_EQ(h["holds"][0]["id"], "LIT-9") << first;
    EXPECT_EQ(h["holds"][0]["reason"], "Smith v Acme") << first;
    EXPECT_EQ(h["holds"][0]["scope"], "matter 2010-001") << first;
    EXPECT_EQ(h["holds"][0]["placed_by"], "alice") << first;
    EXPECT_EQ(h["holds"][0]["until"], "2031-01-31") << first;
    auto f = nlohmann::json::parse(second);
    EXPECT_EQ(f["status"], "due") << second;
    EXPECT_EQ(f["holds"], nlohmann::json::array()) << second;
    EXPECT_FALSE(f.contains("schedule_status")) << second;

    // After its until date, and once released, the hold no longer keeps the file.
    Output lapsed = lethe("explain " + held + " " + config() + " --now 2031-02-01");
    ASSERT_EQ(lapsed.code, 0) << lapsed.err;
    EXPECT_NE(lapsed.out.find("  status: due"), std::string::npos) << lapsed.out;
    ASSERT_EQ(lethe("hold release LIT-9 --reason settled --by bob " + config()).code, 0);
    Output released = lethe("explain " + held + " " + config());
    ASSERT_EQ(released.code, 0) << released.err;
    EXPECT_NE(released.out.find("  holds: none"), std::string::npos) << released.out;
    EXPECT_NE(released.out.find("  status: due"), std::string::npos) << released.out;
}

TEST_F(HoldsE2E, APathHoldCoversAFolderAndAnAbsolutePathInARoot) {
    Output add = lethe("hold add H-PATH --reason audit --path " +
                       shell_quote(m_dir / "share/acme/2010-001") + " --glob 'bolt/**/d.pdf' " +
                       config());
    ASSERT_EQ(add.code, 0) << add.err;
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 1 file "), std::string::npos) << run.out;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/b.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-002/c.pdf"));
}

// Paths relative to a root never start with "./" or contain "..": such a hold would be
// placed and cover nothing. It is refused with what to write instead, as the schedule
// loader refuses such patterns, and nothing is placed.
TEST_F(HoldsE2E, AHoldPathThatCanNeverMatchIsRefusedWithWhatToWriteInstead) {
    Output dot = lethe("hold add H-DOT --reason audit --path ./acme " + config());
    EXPECT_EQ(dot.code, 2);
    EXPECT_NE(dot.err.find("write 'acme' instead"), std::string::npos) << dot.err;
    Output up = lethe("hold add H-UP --reason audit --path ../outside " + config());
    EXPECT_EQ(up.code, 2);
    EXPECT_NE(up.err.find("'..' never matches"), std::string::npos) << up.err;
    Output inner = lethe("hold add H-IN --reason audit --path 'acme/./2010-001' " + config());
    EXPECT_EQ(inner.code, 2);
    EXPECT_NE(inner.err.find("write 'acme/2010-001' instead"), std::string::npos) << inner.err;
    Output absolute = lethe("hold add H-ABS --reason audit --path " +
                            shell_quote(m_dir / "share/./acme//2010-001") + " " + config());
    EXPECT_EQ(absolute.code, 2);
    EXPECT_NE(absolute.err.find("write '" + m_dir / "share/acme/2010-001" + "' instead"),
              std::string::npos)
        << absolute.err;
    Output climb = lethe("hold add H-CLIMB --reason audit --path " +
                         shell_quote(m_dir / "share/acme/../bolt") + " " + config());
    EXPECT_EQ(climb.code, 2);
    EXPECT_FALSE(exists(m_dir / "state/holds.json"));
    EXPECT_TRUE(of_type("hold-placed").empty());

    // Written as the message says, the hold covers the files and the pass keeps them.
    ASSERT_EQ(lethe("hold add H-DOT --reason audit --path acme " + config()).code, 0);
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-002/c.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
}

TEST_F(HoldsE2E, AHoldLapsesAfterItsUntilDate) {
    Output add =
        lethe("hold add H-UNTIL --reason review --matter 2010-002 --until 2030-01-31 " + config());
    ASSERT_EQ(add.code, 0) << add.err;
    Output before = lethe("plan " + config() + " --now 2030-01-31");
    EXPECT_NE(before.out.find("legal hold H-UNTIL"), std::string::npos) << before.out;
    Output after = lethe("plan " + config() + " --now 2030-02-01");
    EXPECT_EQ(after.out.find("H-UNTIL"), std::string::npos) << after.out;
    EXPECT_NE(after.out.find("4 due"), std::string::npos) << after.out;
}

TEST_F(HoldsE2E, BadHoldCommandsAreRefusedAndChangeNothing) {
    EXPECT_EQ(lethe("hold add H1 --reason x " + config()).code, 2);  // covers nothing
    EXPECT_EQ(lethe("hold add 'a b' --reason x --client acme " + config()).code, 2);
    EXPECT_EQ(lethe("hold add H1 --reason x --path /nowhere/x " + config()).code, 2);
    EXPECT_EQ(lethe("hold add H1 --reason x --client acme --until 2030-02-30 " + config()).code, 2);
    EXPECT_FALSE(exists(m_dir / "state/holds.json"));
    ASSERT_EQ(lethe("hold add H1 --reason x --client acme " + config()).code, 0);
    Output dup = lethe("hold add H1 --reason y --client bolt " + config());
    EXPECT_EQ(dup.code, 2);
    EXPECT_NE(dup.err.find("already exists"), std::string::npos) << dup.err;
    EXPECT_EQ(lethe("hold release NOPE --reason x --by bob " + config()).code, 2);
    EXPECT_EQ(lethe("hold show NOPE " + config()).code, 2);
    EXPECT_EQ(of_type("hold-placed").size(), 1u);
}

TEST_F(HoldsE2E, ACorruptHoldsFileStopsAllDisposal) {
    ASSERT_EQ(lethe("hold add H1 --reason x --client bolt " + config()).code, 0);
    std::string store = slurp(m_dir / "state/holds.json");
    m_dir.write("state/holds.json", store.substr(0, store.size() / 2));  // a torn write
    Output run = lethe("run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("holds file"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("no file will be disposed of"), std::string::npos) << run.err;
    for (const char* f : {"acme/2010-001/a.pdf", "acme/2010-001/b.pdf", "acme/2010-002/c.pdf",
                          "bolt/2010-009/d.pdf"}) {
        EXPECT_TRUE(exists(m_dir / (std::string("share/") + f))) << f;
    }
    EXPECT_EQ(lethe("plan " + config()).code, 2);
    // Nor may a hold command paper over it with a fresh store.
    EXPECT_EQ(lethe("hold add H2 --reason x --client acme " + config()).code, 2);
    EXPECT_EQ(of_type("disposal").size(), 0u);

    // A deleted store is not "no holds" either: the pass rebuilds it from the ledger.
    ASSERT_EQ(::unlink((m_dir / "state/holds.json").c_str()), 0);
    Output deleted = lethe("run " + config());
    EXPECT_EQ(deleted.code, 0) << deleted.err;
    EXPECT_NE(deleted.err.find("hold H1 (ledger entry 1) was not in holds.json"),
              std::string::npos)
        << deleted.err;
    EXPECT_TRUE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
    EXPECT_EQ(of_type("disposal").size(), 3u);  // acme's three files
}

// Runs `lethe run` in a child that pauses between two files (LETHE_TEST_HOOKS), places a
// hold from this process while it waits, and lets it go on.
TEST_F(HoldsE2E, AHoldPlacedDuringAPassProtectsTheFilesNotYetReached) {
    std::string hooks = m_dir / "hooks";
    m_dir.mkdir("hooks");
    ASSERT_EQ(::mkfifo((hooks + "/paused").c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((hooks + "/resume").c_str(), 0600), 0);
    int paused = ::open((hooks + "/paused").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(paused, 0);

    std::string config_path = m_dir / "lethe.toml";
    std::string out_path = m_dir / "run.out";
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setenv("LETHE_TEST_PAUSE_AFTER", "1", 1);
        ::setenv("LETHE_TEST_PAUSE_DIR", hooks.c_str(), 1);
        int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execl(LETHE_BINARY, "lethe", "run", "--config", config_path.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until the pass has handled one file and stopped (or died, which fails the test).
    pollfd p{paused, POLLIN, 0};
    bool reached = false;
    for (int i = 0; i < 600 && !reached; ++i) {
        if (::poll(&p, 1, 100) > 0 && (p.revents & POLLIN) != 0) reached = true;
        int status = 0;
        if (!reached && ::waitpid(child, &status, WNOHANG) == child) {
            ::close(paused);
            FAIL() << "the pass ended before the pause: " << slurp(out_path);
        }
    }
    ::close(paused);
    ASSERT_TRUE(reached) << slurp(out_path);

    // One due file is gone; the pass holds the pass lock while the hold is placed.
    Output add = lethe("hold add LATE --reason 'subpoena' --path acme --path bolt " + config());
    EXPECT_EQ(add.code, 0) << add.err;
    // The command appends its entry itself, under the ledger's lock, while the pass runs.
    EXPECT_NE(add.out.find("ledger entry 2"), std::string::npos) << add.out;

    // Without a reader (the pass not yet waiting) a non-blocking open fails with ENXIO; a
    // pass that died instead fails the test rather than hang it.
    int resume = -1;
    for (int i = 0; i < 600 && resume < 0; ++i) {
        resume = ::open((hooks + "/resume").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (resume >= 0) break;
        ASSERT_EQ(errno, ENXIO);
        int early = 0;
        ASSERT_NE(::waitpid(child, &early, WNOHANG), child) << slurp(out_path);
        ::poll(nullptr, 0, 100);
    }
    ASSERT_GE(resume, 0) << slurp(out_path);
    ASSERT_EQ(::write(resume, "\n", 1), 1);
    ::close(resume);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::string run_out = slurp(out_path);
    ASSERT_TRUE(WIFEXITED(status)) << run_out;
    EXPECT_EQ(WEXITSTATUS(status), 0) << run_out;
    EXPECT_NE(run_out.find("disposed 1 file "), std::string::npos) << run_out;
    EXPECT_NE(run_out.find("3 held"), std::string::npos) << run_out;

    int left = 0;
    for (const char* f : {"acme/2010-001/a.pdf", "acme/2010-001/b.pdf", "acme/2010-002/c.pdf",
                          "bolt/2010-009/d.pdf"}) {
        if (exists(m_dir / (std::string("share/") + f))) ++left;
    }
    EXPECT_EQ(left, 3);

    // The hold was entered between the two disposals' checks: after the first certificate,
    // before the pass's checkpoint.
    auto entries = payloads();
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0]["type"], "disposal");
    EXPECT_EQ(entries[0]["holds_checked"]["store_version"], 0);
    EXPECT_EQ(entries[1]["type"], "hold-placed");
    EXPECT_EQ(entries[1]["hold"]["id"], "LATE");
    EXPECT_EQ(entries[2]["type"], "checkpoint");
    EXPECT_EQ(entries[2]["pass"]["held"], 3);
    expect_ledger_verifies();
    Output show = lethe("hold show LATE " + config());
    EXPECT_NE(show.out.find("(ledger entry 2)"), std::string::npos) << show.out;
}

}  // namespace
}  // namespace lethe
