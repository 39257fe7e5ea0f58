// The journal as the anchor against a rollback of the whole state_dir (issue 16): every pass
// logs where it left the ledger (LETHE_LEDGER_SEQ, LETHE_LEDGER_HEAD, LETHE_STATE_DIR) and
// the next pass reads the newest such record of its state_dir, logged by its own user, back
// from a real systemd-journald. A state_dir restored as a whole from an older copy (ledger
// and last-pass.json together) agrees with itself, but not with the journal.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "agent/util/sha256.hpp"
#include "tests/e2e/service_fixture.hpp"
#include "tests/support/e2e.hpp"
#include "tests/support/hand_started_journald.hpp"

namespace lethe::testing {
namespace {

constexpr const char* kPassFinished = "4bba0fb16eddbb8f66eb16fa5f9fa66f";

class JournalAnchorE2E : public ServiceFixture {
  protected:
    void SetUp() override {
        ServiceFixture::SetUp();
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to start systemd-journald by hand";
        if (::access("/lib/systemd/systemd-journald", X_OK) != 0) {
            GTEST_FAIL() << "systemd-journald is missing: run scripts/install-deps";
        }
        m_journald = std::make_unique<HandStartedJournald>();
        ASSERT_TRUE(m_journald->ready()) << "systemd-journald did not start";
        keygen();
    }
    void TearDown() override { m_journald.reset(); }

    ProcessResult run(const std::string& target = "auto") {
        ProcessResult r =
            lethe("--log-target " + target + " run --config " + shell_quote(config()));
        EXPECT_TRUE(journal_synced());
        return r;
    }
    std::string state_dir() const { return m_dir / "state"; }
    std::string share(const std::string& rel) const { return m_dir / ("share/" + rel); }

    // The pass-finished records of this state_dir, as journalctl shows them.
    std::vector<nlohmann::json> pass_records() {
        std::string json = run_capture("journalctl -o json --no-pager MESSAGE_ID=" +
                                       std::string(kPassFinished) + " LETHE_STATE_DIR=" +
                                       shell_quote(state_dir()));
        std::vector<nlohmann::json> out;
        std::istringstream lines(json);
        for (std::string line; std::getline(lines, line);) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_object()) out.push_back(j);
        }
        return out;
    }

    // A pass-finished record of this state_dir claiming a ledger at entry `seq`, sent by
    // `as_user` (a setpriv prefix, or "" for this test's own user).
    void plant_record(const std::string& as_user, uint64_t seq) {
        std::string fields = "MESSAGE_ID=" + std::string(kPassFinished) +
                             "\\nMESSAGE=pass finished\\nLETHE_STATE_DIR=" + state_dir() +
                             "\\nLETHE_CERT_SEQ=" + std::to_string(seq) +
                             "\\nLETHE_LEDGER_SEQ=" + std::to_string(seq) +
                             "\\nLETHE_LEDGER_HEAD=" + std::string(64, 'a') + "\\n";
        std::string cmd =
            "printf " + shell_quote(fields) + " | " + as_user + " logger --journald 2>&1";
        EXPECT_EQ(run_capture(cmd), "") << cmd;
        ASSERT_TRUE(journal_synced());
    }

    std::unique_ptr<HandStartedJournald> m_journald;
};

TEST_F(JournalAnchorE2E, AWholeStateDirRestoredFromAnOlderCopyStopsThePassUntilAccepted) {
    ProcessResult first = run();
    ASSERT_EQ(first.code, 0) << first.err;
    ASSERT_EQ(std::system(("cp -a " + shell_quote(state_dir()) + " " +
                           shell_quote(m_dir / "state.old"))
                              .c_str()),
              0);
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    ProcessResult second = run();
    ASSERT_EQ(second.code, 0) << second.err;
    ASSERT_FALSE(exists(share("acme/2010-001/a2.pdf")));

    // The second pass's record says where it left the ledger: its checkpoint, entry 6.
    auto records = pass_records();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].value("LETHE_LEDGER_SEQ", ""), "6") << records[1];
    EXPECT_EQ(records[1].value("LETHE_STATE_DIR", ""), state_dir()) << records[1];

    // The whole state_dir back as it was after the first pass: ledger and last-pass.json agree.
    m_dir.write("share/acme/2010-001/a3.pdf", "acme a3", "2010-05-01");
    ASSERT_EQ(std::system(("rm -rf " + shell_quote(state_dir()) + " && cp -a " +
                           shell_quote(m_dir / "state.old") + " " + shell_quote(state_dir()))
                              .c_str()),
              0);
    ProcessResult refused = run();
    EXPECT_EQ(refused.code, 2) << refused.err;
    EXPECT_NE(refused.err.find("the ledger ends at entry 4, but the journal"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("with the ledger at entry 6"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("lethe state accept-ledger"), std::string::npos) << refused.err;
    EXPECT_EQ(slurp(share("acme/2010-001/a3.pdf")), "acme a3");
    EXPECT_TRUE(ledger_payloads(state_dir() + "/ledger.jsonl").size() == 4u);

    ProcessResult status = lethe("status --config " + shell_quote(config()));
    EXPECT_NE(status.out.find("ROLLBACK: the ledger ends at entry 4, but the journal"),
              std::string::npos)
        << status.out;

    ProcessResult accept = lethe("state accept-ledger --by x --reason y "
                                 "--config " +
                                 shell_quote(config()));
    ASSERT_EQ(accept.code, 0) << accept.err;
    auto payloads = ledger_payloads(state_dir() + "/ledger.jsonl");
    ASSERT_EQ(payloads.size(), 5u);
    EXPECT_EQ(payloads[4]["type"], "ledger-accepted");
    EXPECT_EQ(payloads[4]["journal"]["seq"], 6) << payloads[4];
    EXPECT_EQ(payloads[4]["journal"]["head"], records[1].value("LETHE_LEDGER_HEAD", ""));

    ProcessResult after = run();
    EXPECT_EQ(after.code, 0) << after.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a3.pdf")));
    // Its own record is the newest anchor now, and agrees with the ledger.
    m_dir.write("share/acme/2010-001/a4.pdf", "acme a4", "2010-05-01");
    ProcessResult next = run();
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a4.pdf")));
}

// A hold placed after the last pass leaves its own record in the journal, even when the
// command logs to stderr only: a state_dir backup from before the hold, restored after it,
// agrees with itself and with the last pass's record, but not with the hold's.
TEST_F(JournalAnchorE2E, AStateDirRestoredFromBeforeAHoldStopsThePassUntilAccepted) {
    ASSERT_EQ(run().code, 0);
    ASSERT_EQ(std::system(("cp -a " + shell_quote(state_dir()) + " " +
                           shell_quote(m_dir / "state.old"))
                              .c_str()),
              0);
    m_dir.write("share/acme/2010-001/evidence.pdf", "evidence", "2010-05-01");
    ProcessResult add = lethe("--log-target stderr hold add LIT-1 --reason subpoena --path "
                              "acme/2010-001/evidence.pdf --config " +
                              shell_quote(config()));
    ASSERT_EQ(add.code, 0) << add.err;
    ASSERT_TRUE(journal_synced());
    auto with_hold = ledger_payloads(state_dir() + "/ledger.jsonl");
    ASSERT_EQ(with_hold.back()["type"], "hold-placed");
    const size_t hold_seq = with_hold.size();

    ASSERT_EQ(std::system(("rm -rf " + shell_quote(state_dir()) + " && cp -a " +
                           shell_quote(m_dir / "state.old") + " " + shell_quote(state_dir()))
                              .c_str()),
              0);
    ProcessResult refused = run();
    EXPECT_EQ(refused.code, 2) << refused.err;
    EXPECT_NE(refused.err.find(fmt::format("the ledger ends at entry {}, but the journal",
                                           hold_seq - 1)),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find(fmt::format("with the ledger at entry {}", hold_seq)),
              std::string::npos)
        << refused.err;
    EXPECT_EQ(slurp(share("acme/2010-001/evidence.pdf")), "evidence");

    ProcessResult accept = lethe("state accept-ledger --by x --reason y --config " +
                                 shell_quote(config()));
    ASSERT_EQ(accept.code, 0) << accept.err;
    auto payloads = ledger_payloads(state_dir() + "/ledger.jsonl");
    ASSERT_EQ(payloads.back()["type"], "ledger-accepted");
    EXPECT_EQ(payloads.back()["journal"]["seq"], hold_seq) << payloads.back();
    ProcessResult after = run();
    EXPECT_EQ(after.code, 0) << after.err;
    // The acceptance's own record is the newest anchor now, and agrees with the ledger.
    m_dir.write("share/acme/2010-001/a5.pdf", "acme a5", "2010-05-01");
    ProcessResult next = run();
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a5.pdf")));
}

TEST_F(JournalAnchorE2E, OnlyARecordLoggedByLethesOwnUserIsAnAnchor) {
    ASSERT_EQ(run().code, 0);
    // Another user can send any field but _UID, which journald sets: not an anchor.
    plant_record("setpriv --reuid 65534 --regid 65534 --clear-groups", 40);
    std::string planted = run_capture("journalctl -o json --no-pager _UID=65534 LETHE_STATE_DIR=" +
                                      shell_quote(state_dir()));
    ASSERT_NE(planted.find("\"LETHE_LEDGER_SEQ\":\"40\""), std::string::npos) << planted;
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    ProcessResult second = run();
    EXPECT_EQ(second.code, 0) << second.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a2.pdf")));

    // The same record from lethe's own user is one: the ledger does not reach entry 40.
    plant_record("", 40);
    m_dir.write("share/acme/2010-001/a3.pdf", "acme a3", "2010-05-01");
    ProcessResult third = run();
    EXPECT_EQ(third.code, 2) << third.err;
    EXPECT_NE(third.err.find("with the ledger at entry 40"), std::string::npos) << third.err;
    EXPECT_EQ(slurp(share("acme/2010-001/a3.pdf")), "acme a3");
}

TEST_F(JournalAnchorE2E, WithoutARecordOfItsStateDirAPassRunsAsBefore) {
    // Passes that logged to stderr only left no record: the restore cannot be seen.
    ASSERT_EQ(run("stderr").code, 0);
    ASSERT_EQ(std::system(("cp -a " + shell_quote(state_dir()) + " " +
                           shell_quote(m_dir / "state.old"))
                              .c_str()),
              0);
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    ASSERT_EQ(run("stderr").code, 0);
    ASSERT_EQ(std::system(("rm -rf " + shell_quote(state_dir()) + " && cp -a " +
                           shell_quote(m_dir / "state.old") + " " + shell_quote(state_dir()))
                              .c_str()),
              0);
    m_dir.write("share/acme/2010-001/a3.pdf", "acme a3", "2010-05-01");
    ProcessResult run_ = run();
    EXPECT_EQ(run_.code, 0) << run_.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a3.pdf")));
    // Records of another state_dir are not this one's anchor.
    std::string other = m_dir / "other-state";
    ASSERT_EQ(std::system(("cp -a " + shell_quote(m_dir / "state.old") + " " +
                           shell_quote(other))
                              .c_str()),
              0);
    std::string cfg = slurp(config());
    cfg.replace(cfg.find("state_dir = \"state\""), 19, "state_dir = \"other-state\"");
    m_dir.write("lethe.toml", cfg);
    m_dir.write("share/acme/2010-001/a4.pdf", "acme a4", "2010-05-01");
    ProcessResult elsewhere = run();
    EXPECT_EQ(elsewhere.code, 0) << elsewhere.err;
    EXPECT_FALSE(exists(share("acme/2010-001/a4.pdf")));
}

}  // namespace
}  // namespace lethe::testing
