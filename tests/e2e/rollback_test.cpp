// End-to-end tests of state that cannot be rolled back quietly (issue 16, case 7): the hold
// and review stores are checked against the ledger at every pass and rebuilt from it, a
// ledger behind what state_dir recorded stops the pass, and the ledger takes appends from
// several processes.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/util/sha256.hpp"
#include "tests/support/lethe_cli.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::CliResult;
using testing::exists;
using testing::shell_word;
using testing::slurp;
using testing::TempDir;

constexpr int kRaceRounds = 20;

class RollbackE2E : public ::testing::Test {
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

[[category]]
id = "reviewed"
paths = ["reviewed/**"]
retain = "7y"
action = "delete"
review = true
)");
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "max_fraction_per_root = 1.0\n"
                    "[[root]]\nname = \"clients\"\npath = \"share\"\n");
        m_dir.write("share/acme/2010-001/a.pdf", "acme a", "2010-05-01");
        m_dir.write("share/bolt/2010-009/d.pdf", "bolt d", "2010-05-01");
        m_dir.write("share/bolt/2024-001/new.pdf", "recent", "2024-05-01");
        CliResult k = lethe("keygen " + config());
        EXPECT_EQ(k.code, 0) << k.err;
    }

    CliResult lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    std::string config() const { return "--config " + shell_word(m_dir / "lethe.toml"); }
    std::string state(const std::string& name) const { return m_dir / ("state/" + name); }

    std::vector<nlohmann::json> of_type(const std::string& type) {
        std::vector<nlohmann::json> out;
        for (auto& p : testing::ledger_payloads(state("ledger.jsonl"))) {
            if (p["type"] == type) out.push_back(p);
        }
        return out;
    }

    void expect_ledger_verifies() {
        CliResult v = lethe("certs verify " + config());
        EXPECT_EQ(v.code, 0) << v.out << v.err;
        EXPECT_NE(v.out.find("intact"), std::string::npos) << v.out;
    }

    std::string sha_of(const std::string& share_path) {
        return util::sha256_hex(slurp(m_dir / ("share/" + share_path)));
    }

    // A pass after the store was lost: the held file stays, and the journal (stderr here),
    // status and the rebuilt store say what happened.
    void expect_hold_survives_a_lost_store() {
        CliResult status = lethe("status " + config());
        EXPECT_NE(status.out.find("hold H1 (ledger entry 2) was not in holds.json"),
                  std::string::npos)
            << status.out;
        std::string before = sha_of("bolt/2010-009/d.pdf");
        CliResult run = lethe("run " + config());
        EXPECT_EQ(run.code, 0) << run.out << run.err;
        EXPECT_NE(run.err.find("state_dir differs from the ledger: hold H1"), std::string::npos)
            << run.err;
        EXPECT_NE(run.err.find("rebuilt from the ledger"), std::string::npos) << run.err;
        ASSERT_TRUE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
        EXPECT_EQ(sha_of("bolt/2010-009/d.pdf"), before);
        EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));  // not held: disposed
        CliResult list = lethe("hold list " + config());
        EXPECT_NE(list.out.find("H1"), std::string::npos) << list.out;
        CliResult after = lethe("status " + config());
        EXPECT_NE(after.out.find("warnings:   none"), std::string::npos) << after.out;
        expect_ledger_verifies();
    }

    TempDir m_dir;
};

TEST_F(RollbackE2E, HoldCommandsAppendTheirEntryBeforeTheyExit) {
    CliResult add = lethe("hold add H1 --reason subpoena --client bolt --until 2099-01-01 " +
                          config());
    ASSERT_EQ(add.code, 0) << add.err;
    EXPECT_NE(add.out.find("ledger entry 1"), std::string::npos) << add.out;
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);
    EXPECT_EQ(placed[0]["hold"]["id"], "H1");
    EXPECT_EQ(placed[0]["hold"]["reason"], "subpoena");
    EXPECT_EQ(placed[0]["hold"]["client"], "bolt");
    EXPECT_EQ(placed[0]["hold"]["until"], "2099-01-01");
    EXPECT_FALSE(placed[0]["hold"]["placed_by"].get<std::string>().empty());
    EXPECT_FALSE(placed[0]["hold"]["placed_at"].get<std::string>().empty());

    // Without a usable ledger the command fails and the store is not changed.
    std::string store = slurp(state("holds.json"));
    // A folder in the ledger's place cannot be appended to, even by root.
    ASSERT_EQ(::rename(state("ledger.jsonl").c_str(), state("ledger.aside").c_str()), 0);
    ASSERT_EQ(::mkdir(state("ledger.jsonl").c_str(), 0700), 0);
    CliResult refused = lethe("hold add H2 --reason x --client acme " + config());
    EXPECT_NE(refused.code, 0);
    EXPECT_NE(refused.err.find("nothing was changed"), std::string::npos) << refused.err;
    EXPECT_EQ(slurp(state("holds.json")), store);
    CliResult release = lethe("hold release H1 --reason x --by y " + config());
    EXPECT_NE(release.code, 0);
    EXPECT_EQ(slurp(state("holds.json")), store);
}

TEST_F(RollbackE2E, HoldsJsonReplacedByAValidEmptyStoreKeepsTheHeldFile) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);
    uint64_t seq = placed[0]["seq"].get<uint64_t>();
    m_dir.write("state/holds.json", R"({"schema": 1, "version": 7, "holds": []})");
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find(fmt::format("hold H1 (ledger entry {}) was not in holds.json", seq)),
              std::string::npos)
        << status.out;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("rebuilt from the ledger"), std::string::npos) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/bolt/2010-009/d.pdf"), "bolt d");
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    EXPECT_NE(slurp(state("holds.json")).find("\"H1\""), std::string::npos);
    CliResult after = lethe("status " + config());
    EXPECT_NE(after.out.find("warnings:   none"), std::string::npos) << after.out;
    expect_ledger_verifies();
}

TEST_F(RollbackE2E, HoldsJsonDeletedWithItsLockFileKeepsTheHeldFile) {
    ASSERT_EQ(lethe("hold add H0 --reason old --client nobody --allow-empty " + config()).code, 0);
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    ASSERT_EQ(::unlink(state("holds.json").c_str()), 0);
    ASSERT_EQ(::unlink(state("holds.lock").c_str()), 0);
    expect_hold_survives_a_lost_store();
}

TEST_F(RollbackE2E, HoldsJsonDeletedAloneIsRebuiltToo) {
    ASSERT_EQ(lethe("hold add H0 --reason old --client nobody --allow-empty " + config()).code, 0);
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    ASSERT_EQ(::unlink(state("holds.json").c_str()), 0);
    expect_hold_survives_a_lost_store();
}

TEST_F(RollbackE2E, AnOlderHoldsJsonWithAReleaseTheLedgerNeverSawKeepsTheHold) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    std::string before_release = slurp(state("holds.json"));
    // A release written into the store behind the ledger's back.
    auto j = nlohmann::json::parse(before_release);
    j["version"] = j["version"].get<int>() + 1;
    j["holds"][0]["released"] = true;
    j["holds"][0]["released_by"] = "mallory";
    j["holds"][0]["released_at"] = "2026-01-01T00:00:00Z";
    j["holds"][0]["release_reason"] = "forged";
    j["holds"][0]["released_seq"] = 99;
    m_dir.write("state/holds.json", j.dump(2));
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("the ledger has no release; it is in force again"), std::string::npos)
        << run.err;
    EXPECT_EQ(slurp(m_dir / "share/bolt/2010-009/d.pdf"), "bolt d");
    EXPECT_EQ(of_type("hold-released").size(), 0u);
}

TEST_F(RollbackE2E, ADeletedLedgerStopsThePassUntilAnOperatorAcceptsIt) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    ASSERT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    ASSERT_EQ(::unlink(state("ledger.jsonl").c_str()), 0);

    CliResult status = lethe("status " + config());
    EXPECT_EQ(status.code, 0);
    EXPECT_EQ(status.out.find("warnings:   none"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("ROLLBACK: the ledger is missing or empty"), std::string::npos)
        << status.out;
    for (int i = 0; i < 2; ++i) {  // and stays stopped: a failed pass keeps the anchor
        CliResult run = lethe("run " + config());
        EXPECT_EQ(run.code, 2) << run.out << run.err;
        EXPECT_NE(run.err.find("the ledger is missing or empty"), std::string::npos) << run.err;
        EXPECT_NE(run.err.find("lethe state accept-ledger"), std::string::npos) << run.err;
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/a2.pdf"), "acme a2");
    }
    EXPECT_EQ(of_type("disposal").size(), 0u);
    // The agent stops too (exit 2, which its unit does not restart) instead of failing the
    // same way every interval; `timeout` only bounds a regression.
    std::string agent = "timeout 60 " + shell_word(LETHE_BINARY) +
                        " --log-target stderr agent " + config() + " >/dev/null 2>&1";
    int agent_status = std::system(agent.c_str());
    ASSERT_TRUE(WIFEXITED(agent_status));
    EXPECT_EQ(WEXITSTATUS(agent_status), 2);
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/a2.pdf"), "acme a2");

    CliResult accept =
        lethe("state accept-ledger --by ops --reason 'ledger lost; INC-42' " + config());
    ASSERT_EQ(accept.code, 0) << accept.err;
    auto accepted = of_type("ledger-accepted");
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["by"], "ops");
    EXPECT_EQ(accepted[0]["recorded"]["seq"], 3);  // the first pass's checkpoint
    EXPECT_EQ(accepted[0]["found"]["entries"], 0);
    // Accepting twice is refused: nothing is behind any more.
    EXPECT_EQ(lethe("state accept-ledger --by ops --reason again " + config()).code, 2);

    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a2.pdf"));
    expect_ledger_verifies();
}

TEST_F(RollbackE2E, ALedgerCutBackOrReplacedStopsThePass) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string after_first = slurp(state("ledger.jsonl"));
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    ASSERT_EQ(lethe("run " + config()).code, 0);
    m_dir.write("share/acme/2010-001/a3.pdf", "acme a3", "2010-05-01");
    // An older copy of the ledger: shorter than the last pass's checkpoint.
    m_dir.write("state/ledger.jsonl", after_first);
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 2) << run.err;
    EXPECT_NE(run.err.find("but the last pass recorded its checkpoint at entry 5"),
              std::string::npos)
        << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/a3.pdf"));
}

// A hold placed after the last pass is the ledger's newest entry: cutting it off the ledger
// and out of holds.json must not read as a state_dir that agrees with itself.
TEST_F(RollbackE2E, AHoldCutOffTheLedgerAfterTheLastPassStopsThePass) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    m_dir.write("share/acme/2010-001/evidence.pdf", "evidence", "2010-05-01");
    std::string before = sha_of("acme/2010-001/evidence.pdf");
    CliResult add =
        lethe("hold add LIT-1 --reason subpoena --path acme/2010-001/evidence.pdf " + config());
    ASSERT_EQ(add.code, 0) << add.err;
    ASSERT_EQ(of_type("hold-placed").size(), 1u);
    uint64_t hold_seq = testing::ledger_payloads(state("ledger.jsonl")).size();

    // The hold's line cut off the ledger (head -n -1) and out of holds.json.
    std::string ledger = slurp(state("ledger.jsonl"));
    ledger.pop_back();
    m_dir.write("state/ledger.jsonl", ledger.substr(0, ledger.rfind('\n') + 1));
    auto holds = nlohmann::json::parse(slurp(state("holds.json")));
    holds["holds"] = nlohmann::json::array();
    m_dir.write("state/holds.json", holds.dump(2));
    ASSERT_EQ(of_type("hold-placed").size(), 0u);

    CliResult status = lethe("status " + config());
    EXPECT_EQ(status.out.find("warnings:   none"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("ROLLBACK: the ledger ends at entry"), std::string::npos)
        << status.out;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 2) << run.out << run.err;
    EXPECT_NE(run.err.find(fmt::format("the ledger ends at entry {}", hold_seq - 1)),
              std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find("lethe state accept-ledger"), std::string::npos) << run.err;
    ASSERT_TRUE(exists(m_dir / "share/acme/2010-001/evidence.pdf"));
    EXPECT_EQ(sha_of("acme/2010-001/evidence.pdf"), before);

    // Accepted, the ledger as it is goes on (the hold is gone with it).
    CliResult accept = lethe("state accept-ledger --by ops --reason 'INC-43' " + config());
    ASSERT_EQ(accept.code, 0) << accept.err;
    auto accepted = of_type("ledger-accepted");
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["recorded"]["seq"], hold_seq) << accepted[0];
    CliResult after = lethe("run " + config());
    EXPECT_EQ(after.code, 0) << after.err;
    expect_ledger_verifies();
}

TEST_F(RollbackE2E, AnOlderLedgerRestoredAfterAnApprovalDisposesOfNothing) {
    m_dir.write("share/reviewed/memo.txt", "memo", "2010-05-01");
    ASSERT_EQ(lethe("run " + config()).code, 0);  // queues memo.txt for review as R-1
    std::string before_approval = slurp(state("ledger.jsonl"));
    CliResult approve = lethe("review approve R-1 --by rm " + config());
    ASSERT_EQ(approve.code, 0) << approve.err;
    auto approvals = of_type("review-approved");
    ASSERT_EQ(approvals.size(), 1u);
    EXPECT_EQ(approvals[0]["review"]["id"], "R-1");
    m_dir.write("state/ledger.jsonl", before_approval);

    // The approval's entry was anchored (ledger-anchor.json): the pass stops first.
    CliResult stopped = lethe("run " + config());
    EXPECT_EQ(stopped.code, 2) << stopped.err;
    EXPECT_NE(stopped.err.find("but a command appended entry 4"), std::string::npos)
        << stopped.err;
    EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    // Accepted as it is, the approval the older ledger lacks is undone.
    ASSERT_EQ(lethe("state accept-ledger --by ops --reason INC-44 " + config()).code, 0);
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("review R-1: the approval by rm"), std::string::npos) << status.out;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("is not in the ledger; undone"), std::string::npos) << run.err;
    EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    for (const auto& d : of_type("disposal")) {
        EXPECT_FALSE(d.contains("review")) << d.dump();
    }
    CliResult list = lethe("review list --json --all " + config());
    EXPECT_NE(list.out.find("\"state\":\"pending\""), std::string::npos) << list.out;
    expect_ledger_verifies();
}

TEST_F(RollbackE2E, AnApprovalLostFromReviewJsonIsRestoredFromTheLedger) {
    m_dir.write("share/reviewed/memo.txt", "memo", "2010-05-01");
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string pending_queue = slurp(state("review.json"));
    ASSERT_EQ(lethe("review reject R-1 --by rm --reason 'still needed' " + config()).code, 0);
    m_dir.write("state/review.json", pending_queue);  // the rejection lost from the store
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("review R-1: the rejection by rm"), std::string::npos) << run.err;
    EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    CliResult list = lethe("review list --json --all " + config());
    EXPECT_NE(list.out.find("\"state\":\"rejected\""), std::string::npos) << list.out;
}

// A running pass (paused between two files) and `hold add` from another process: both
// entries in the ledger, the chain intact, the hold applied to the files not yet reached.
TEST_F(RollbackE2E, AHoldAddedWhileAPassRunsIsAppendedAtOnce) {
    m_dir.write("share/acme/2010-002/b.pdf", "acme b", "2010-05-01");
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

    CliResult add = lethe("hold add LATE --reason subpoena --path acme --path bolt " + config());
    EXPECT_EQ(add.code, 0) << add.err;
    EXPECT_NE(add.out.find("ledger entry"), std::string::npos) << add.out;
    EXPECT_EQ(of_type("hold-placed").size(), 1u);  // appended while the pass still runs

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
    EXPECT_EQ(of_type("disposal").size(), 1u);
    EXPECT_EQ(of_type("hold-placed").size(), 1u);
    auto checkpoints = of_type("checkpoint");
    ASSERT_EQ(checkpoints.size(), 1u);
    // The checkpoint describes the ledger right before it, the hold entry included.
    EXPECT_EQ(checkpoints[0]["entries"].get<uint64_t>() + 1, checkpoints[0]["seq"].get<uint64_t>());
    expect_ledger_verifies();
}

// Passes and hold commands racing for the ledger: every entry lands once, in one chain.
TEST_F(RollbackE2E, PassesAndHoldCommandsAppendingAtOnceKeepTheChainIntact) {
    std::string bin = shell_word(LETHE_BINARY);
    for (int i = 0; i < kRaceRounds; ++i) {
        std::string id = "H" + std::to_string(i);
        std::string cmd = "( " + bin + " run " + config() + " >/dev/null 2>&1 & " + bin +
                          " hold add " + id + " --reason race --client c" + id + " --allow-empty " + config() +
                          " >/dev/null 2>&1; s=$?; wait; exit $s )";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << "round " << i;
        ASSERT_EQ(of_type("hold-placed").size(), static_cast<size_t>(i + 1)) << "round " << i;
        CliResult v = lethe("certs verify " + config());
        ASSERT_EQ(v.code, 0) << "round " << i << ": " << v.out << v.err;
    }
    EXPECT_EQ(of_type("checkpoint").size(), static_cast<size_t>(kRaceRounds));
}

}  // namespace
}  // namespace lethe
