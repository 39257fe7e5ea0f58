// End-to-end tests of hold and review stores changed behind the ledger's back (a restored
// backup, an edit with jq): the ledger is the only authority for what reduces protection (a
// release, a narrower or shorter hold, an approval). A pass never signs such a store change
// into the ledger; it undoes it, keeps the file and says so. Protection the ledger lacks (a
// hold only in holds.json) stays in force and is reported until a records manager places or
// releases it with `lethe hold`.

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
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

class ForgedStoreE2E : public ::testing::Test {
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
        CliResult k = lethe("keygen " + config());
        EXPECT_EQ(k.code, 0) << k.err;
        m_held_sha = sha_of("bolt/2010-009/d.pdf");
    }

    CliResult lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    std::string config() const { return "--config " + shell_word(m_dir / "lethe.toml"); }
    std::string state(const std::string& name) const { return m_dir / ("state/" + name); }
    std::string sha_of(const std::string& share_path) {
        return util::sha256_hex(slurp(m_dir / ("share/" + share_path)));
    }

    std::vector<nlohmann::json> of_type(const std::string& type) {
        std::vector<nlohmann::json> out;
        for (auto& p : testing::ledger_payloads(state("ledger.jsonl"))) {
            if (p["type"] == type) out.push_back(p);
        }
        return out;
    }

    // Rewrites a store as someone with write access to state_dir would: the next version.
    void edit_store(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
        auto j = nlohmann::json::parse(slurp(state(name)));
        j["version"] = j["version"].get<int>() + 1;
        edit(j);
        m_dir.write("state/" + name, j.dump(2));
    }

    // The held file, byte for byte, after a pass.
    void expect_held_file_intact() {
        ASSERT_TRUE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
        EXPECT_EQ(sha_of("bolt/2010-009/d.pdf"), m_held_sha);
    }

    void expect_ledger_verifies() {
        CliResult v = lethe("certs verify " + config());
        EXPECT_EQ(v.code, 0) << v.out << v.err;
        EXPECT_NE(v.out.find("intact"), std::string::npos) << v.out;
    }

    // Queues share/reviewed/memo.txt for review (as R-1) and returns the queue item.
    nlohmann::json queue_memo() {
        m_dir.write("share/reviewed/memo.txt", "memo", "2010-05-01");
        CliResult run = lethe("run " + config());
        EXPECT_EQ(run.code, 0) << run.err;
        auto queue = nlohmann::json::parse(slurp(state("review.json")));
        EXPECT_EQ(queue["items"].size(), 1u);
        return queue["items"][0];
    }

    static nlohmann::json forged_approval(const std::string& sha256) {
        return {{"decision", "approved"},
                {"by", "mallory"},
                {"at", "2026-01-01T00:00:00Z"},
                {"sha256", sha256}};
    }

    TempDir m_dir;
    std::string m_held_sha;
};

TEST_F(ForgedStoreE2E, AReleaseWrittenIntoHoldsJsonWithoutALedgerEntryIsUndone) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    edit_store("holds.json", [](nlohmann::json& j) {
        j["holds"][0]["released"] = true;
        j["holds"][0]["released_by"] = "mallory";
        j["holds"][0]["released_at"] = "2026-01-01T00:00:00Z";
        j["holds"][0]["release_reason"] = "forged";
    });
    const std::string reported =
        "hold H1 is released in holds.json, but the ledger has no release; it is in force again";
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find(reported), std::string::npos) << status.out;

    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find(reported), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("lethe hold release H1"), std::string::npos) << run.err;
    expect_held_file_intact();
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));  // the pass did run
    EXPECT_EQ(of_type("hold-released").size(), 0u);
    EXPECT_EQ(of_type("hold-placed").size(), 1u);
    CliResult list = lethe("hold list --json " + config());
    EXPECT_NE(list.out.find("H1"), std::string::npos) << list.out;
    CliResult after = lethe("status " + config());
    EXPECT_NE(after.out.find("warnings:   none"), std::string::npos) << after.out;
    expect_ledger_verifies();
}

TEST_F(ForgedStoreE2E, AHoldNarrowedAndShortenedInHoldsJsonWithoutItsSeqIsRestored) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --path bolt/2010-009 --until 2099-01-01 " +
                    config())
                  .code,
              0);
    edit_store("holds.json", [](nlohmann::json& j) {
        j["holds"][0].erase("placed_seq");
        j["holds"][0]["until"] = "2020-01-01";
        j["holds"][0]["paths"] = nlohmann::json::array({{{"glob", "nothing/here"}}});
    });
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("hold H1 in holds.json differs from the ledger"), std::string::npos)
        << status.out;

    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("hold H1 in holds.json differs from the ledger (entry 1); restored "
                           "from the ledger"),
              std::string::npos)
        << run.err;
    expect_held_file_intact();
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);  // nothing signed from the edited store
    EXPECT_EQ(placed[0]["hold"]["until"], "2099-01-01");
    auto store = nlohmann::json::parse(slurp(state("holds.json")));
    EXPECT_EQ(store["holds"][0]["until"], "2099-01-01");
    EXPECT_EQ(store["holds"][0]["paths"][0]["glob"], "bolt/2010-009");
    EXPECT_EQ(store["holds"][0]["placed_seq"], 1);
    expect_ledger_verifies();
}

TEST_F(ForgedStoreE2E, AnApprovedItemInReviewJsonWithoutALedgerEntryIsNotDisposedOf) {
    nlohmann::json item = queue_memo();
    edit_store("review.json", [&](nlohmann::json& j) {
        j["items"][0]["state"] = "approved";
        j["items"][0]["decisions"].push_back(forged_approval(item["sha256"]));
    });
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("review R-1: the approval by mallory"), std::string::npos)
        << status.out;

    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("review R-1: the approval by mallory at 2026-01-01T00:00:00Z in "
                           "review.json is not in the ledger; undone"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    EXPECT_EQ(of_type("review-approved").size(), 0u);
    CliResult list = lethe("review list --json --all " + config());
    EXPECT_NE(list.out.find("\"state\":\"pending\""), std::string::npos) << list.out;
    EXPECT_EQ(list.out.find("mallory"), std::string::npos) << list.out;
    expect_ledger_verifies();
}

// The records manager's own approval is not refused as "already approved" by the one the
// ledger lacks, and it is the one that counts.
TEST_F(ForgedStoreE2E, AnApprovalTheLedgerLacksCanBeMadeProperly) {
    nlohmann::json item = queue_memo();
    edit_store("review.json", [&](nlohmann::json& j) {
        j["items"][0]["state"] = "approved";
        j["items"][0]["decisions"].push_back(forged_approval(item["sha256"]));
    });
    CliResult approve = lethe("review approve R-1 --by rm " + config());
    ASSERT_EQ(approve.code, 0) << approve.out << approve.err;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_FALSE(exists(m_dir / "share/reviewed/memo.txt"));
    auto approvals = of_type("review-approved");
    ASSERT_EQ(approvals.size(), 1u);
    EXPECT_EQ(approvals[0]["approved_by"], "rm");
    expect_ledger_verifies();
}

TEST_F(ForgedStoreE2E, AnApprovalDecisionWithoutSeqIsNeverSignedIntoTheLedger) {
    nlohmann::json item = queue_memo();
    edit_store("review.json", [&](nlohmann::json& j) {
        j["items"][0]["decisions"].push_back(forged_approval(item["sha256"]));
    });
    for (int pass = 0; pass < 2; ++pass) {
        CliResult run = lethe("run " + config());
        EXPECT_EQ(run.code, 0) << run.out << run.err;
        EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo") << "pass " << pass;
    }
    EXPECT_EQ(of_type("review-approved").size(), 0u);
    for (const auto& d : of_type("disposal")) EXPECT_FALSE(d.contains("review")) << d.dump();
    expect_ledger_verifies();
}

TEST_F(ForgedStoreE2E, AHoldOnlyInHoldsJsonKeepsItsFileAndIsReportedUntilPlaced) {
    m_dir.write("state/holds.json", R"({"schema": 1, "version": 1, "holds": [
  {"id": "H9", "reason": "found", "placed_by": "someone", "placed_at": "2026-01-01T00:00:00Z",
   "released": false, "client": "bolt", "paths": []}]})");
    const std::string reported = "hold H9 is in holds.json but not in the ledger";
    for (int pass = 0; pass < 2; ++pass) {  // reported by every pass, not once
        CliResult run = lethe("run " + config());
        EXPECT_EQ(run.code, 0) << run.out << run.err;
        EXPECT_NE(run.err.find(reported), std::string::npos) << "pass " << pass << run.err;
        EXPECT_NE(run.err.find("lethe hold add H9"), std::string::npos) << run.err;
        expect_held_file_intact();
        CliResult status = lethe("status " + config());
        EXPECT_NE(status.out.find(reported), std::string::npos) << status.out;
    }
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));
    // Nothing in the ledger claims that "someone" placed it.
    EXPECT_EQ(of_type("hold-placed").size(), 0u);

    // A records manager places it properly: then it is the ledger's, and the report stops.
    CliResult add = lethe("hold add H9 --reason 'found in review' --client bolt --by rm " +
                          config());
    ASSERT_EQ(add.code, 0) << add.err;
    auto placed = of_type("hold-placed");
    ASSERT_EQ(placed.size(), 1u);
    EXPECT_EQ(placed[0]["hold"]["placed_by"], "rm");
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("warnings:   none"), std::string::npos) << status.out;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(run.err.find(reported), std::string::npos) << run.err;
    expect_held_file_intact();
    expect_ledger_verifies();
}

TEST_F(ForgedStoreE2E, AHoldOnlyInHoldsJsonCanBeReleasedByARecordsManager) {
    m_dir.write("state/holds.json", R"({"schema": 1, "version": 1, "holds": [
  {"id": "H9", "reason": "found", "placed_by": "someone", "placed_at": "2026-01-01T00:00:00Z",
   "released": true, "released_by": "someone", "released_at": "2026-01-02T00:00:00Z",
   "release_reason": "x", "client": "bolt", "paths": []}]})");
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("hold H9 is in holds.json but not in the ledger"), std::string::npos)
        << run.err;
    expect_held_file_intact();  // its release is not in the ledger either: in force

    CliResult release = lethe("hold release H9 --reason 'not ours' --by rm " + config());
    ASSERT_EQ(release.code, 0) << release.err;
    auto released = of_type("hold-released");
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0]["released_by"], "rm");
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("warnings:   none"), std::string::npos) << status.out;
    CliResult after = lethe("run " + config());
    EXPECT_EQ(after.code, 0) << after.err;
    EXPECT_FALSE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
    expect_ledger_verifies();
}

// The last line of the ledger with the signature of its first line: the entry as written,
// but no longer signed by lethe's key (as an entry someone appended by hand would be).
void break_last_signature(const TempDir& dir) {
    std::string path = dir / "state/ledger.jsonl";
    std::vector<std::string> lines;
    std::istringstream in(slurp(path));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_GE(lines.size(), 2u);
    auto first = nlohmann::json::parse(lines.front());
    auto last = nlohmann::json::parse(lines.back());
    ASSERT_NE(last["signatures"][0]["sig"], first["signatures"][0]["sig"]);
    last["signatures"][0]["sig"] = first["signatures"][0]["sig"];
    lines.back() = last.dump();
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    dir.write("state/ledger.jsonl", text);
}

// The changed line is the one the command anchored (ledger-anchor.json, the journal): every
// pass stops until an operator accepts the ledger as it is; the signature check still holds
// after that.
void expect_stopped_until_accepted(const TempDir& dir, const std::string& config,
                                   const std::function<void()>& kept) {
    CliResult stopped = testing::run_lethe(dir, "run " + config);
    EXPECT_EQ(stopped.code, 2) << stopped.err;
    EXPECT_NE(stopped.err.find("the ledger was replaced"), std::string::npos) << stopped.err;
    kept();
    CliResult accept = testing::run_lethe(dir, "state accept-ledger --by ops --reason x " + config);
    ASSERT_EQ(accept.code, 0) << accept.err;
}

TEST_F(ForgedStoreE2E, AReleaseWhoseSignatureDoesNotVerifyDoesNotCount) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    ASSERT_EQ(lethe("hold release H1 --reason settled --by rm " + config()).code, 0);
    break_last_signature(m_dir);
    expect_stopped_until_accepted(m_dir, config(), [this] { expect_held_file_intact(); });
    const std::string said = "ledger entry 2 (hold-released of hold H1) does not count: its "
                             "signature does not verify";
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find(said), std::string::npos) << status.out;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find(said), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("the hold stays in force"), std::string::npos) << run.err;
    expect_held_file_intact();
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/a.pdf"));
}

TEST_F(ForgedStoreE2E, AnApprovalWhoseSignatureDoesNotVerifyDoesNotCount) {
    queue_memo();
    ASSERT_EQ(lethe("review approve R-1 --by rm " + config()).code, 0);
    break_last_signature(m_dir);
    expect_stopped_until_accepted(m_dir, config(), [this] {
        EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    });
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("(review-approved of review R-1) does not count: its signature does "
                           "not verify"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(slurp(m_dir / "share/reviewed/memo.txt"), "memo");
    CliResult list = lethe("review list --json --all " + config());
    EXPECT_NE(list.out.find("\"state\":\"pending\""), std::string::npos) << list.out;
}

TEST_F(ForgedStoreE2E, TheHoldAndReviewCommandsStillReleaseAndApprove) {
    ASSERT_EQ(lethe("hold add H1 --reason subpoena --client bolt " + config()).code, 0);
    queue_memo();
    expect_held_file_intact();
    CliResult release = lethe("hold release H1 --reason settled --by rm " + config());
    ASSERT_EQ(release.code, 0) << release.err;
    CliResult approve = lethe("review approve R-1 --by rm " + config());
    ASSERT_EQ(approve.code, 0) << approve.err;
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_EQ(run.err.find("differs from the ledger"), std::string::npos) << run.err;
    EXPECT_FALSE(exists(m_dir / "share/bolt/2010-009/d.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/reviewed/memo.txt"));
    EXPECT_EQ(of_type("hold-released").size(), 1u);
    EXPECT_EQ(of_type("review-approved").size(), 1u);
    expect_ledger_verifies();
}

}  // namespace
}  // namespace lethe
