// End-to-end tests: run the built `lethe` binary on a temporary share and check the share
// and the ledger afterwards, as an operator or auditor would.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/filesystem.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::firm_schedule;
using testing::shell_quote;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class LetheE2E : public ::testing::Test {
protected:
    void SetUp() override {
        write_policy("enforce");
        write_config(10000, 0.9);
        // Due: modified in 2010, retention 7y. Not due: modified recently.
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.docx", "letter to client", "2011-02-03");
        m_dir.write("share/acme/2010-001/scratch.tmp", "temp", "2012-01-01");
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
        m_dir.write("share/acme/2010-001/notes.txt", "in no category", "2005-01-01");
        m_dir.write("outside/target.pdf", "must survive", "2001-01-01");
        EXPECT_EQ(::symlink((m_dir / "outside/target.pdf").c_str(),
                            (m_dir / "share/acme/2010-001/link.pdf").c_str()),
                  0);
    }

    void write_policy(const std::string& mode) {
        m_dir.write("policies/firm.toml", firm_schedule({.version = 3, .mode = mode}));
    }

    void write_config(int max_disposals, double max_fraction) {
        std::ostringstream cfg;
        cfg << "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
            << "max_disposals_per_pass = " << max_disposals << "\n"
            << "max_fraction_per_root = " << max_fraction << "\n"
            << "[[root]]\nname = \"clients\"\npath = \"share\"\n";
        m_dir.write("lethe.toml", cfg.str());
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

    Output keygen() {
        Output o = lethe("keygen " + config());
        EXPECT_EQ(o.code, 0) << o.err;
        return o;
    }

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

    TempDir m_dir;
};

TEST_F(LetheE2E, VersionAndHelp) {
    Output v = lethe("--version");
    EXPECT_EQ(v.code, 0);
    EXPECT_NE(v.out.find("lethe 0."), std::string::npos);
    Output h = lethe("--help");
    EXPECT_EQ(h.code, 0);
    for (const char* cmd : {"plan", "run", "certs", "keygen", "policy"}) {
        EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd;
    }
    Output plan_help = lethe("plan --help");
    EXPECT_EQ(plan_help.code, 0);
    EXPECT_NE(plan_help.out.find("--json"), std::string::npos);
    EXPECT_EQ(lethe("no-such-command").code, 2);
}

TEST_F(LetheE2E, PlanListsWhatIsDueAndDisposesNothing) {
    Output o = lethe("plan " + config() + " --now 2026-11-25");
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("clients/acme/2010-001/brief.pdf"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("2017-05-01"), std::string::npos) << o.out;  // expiry of brief.pdf
    EXPECT_NE(o.out.find("clients/acme/2010-001/scratch.tmp"), std::string::npos);
    EXPECT_EQ(o.out.find("new.pdf"), std::string::npos);
    EXPECT_EQ(o.out.find("notes.txt"), std::string::npos);
    EXPECT_NE(o.out.find("3 due"), std::string::npos) << o.out;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
}

TEST_F(LetheE2E, PlanJsonIsOneObjectPerFileThenASummary) {
    Output o = lethe("plan --json " + config() + " --now 2026-11-25");
    ASSERT_EQ(o.code, 0) << o.err;
    std::istringstream lines(o.out);
    std::vector<nlohmann::json> objects;
    for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(objects.size(), 4u);
    const auto& first = objects[0];
    for (const char* key : {"root", "path", "category", "client", "matter", "trigger_date",
                            "expires", "action", "status"}) {
        EXPECT_TRUE(first.contains(key)) << key;
    }
    EXPECT_EQ(first["status"], "due");
    EXPECT_EQ(first["client"], "acme");
    EXPECT_EQ(objects.back()["type"], "summary");
    EXPECT_EQ(objects.back()["by_status"]["due"]["files"], 3);
}

TEST_F(LetheE2E, PlanWithDueWithinListsFilesExpiringSoon) {
    Output o = lethe("plan " + config() + " --now 2031-01-01 --due-within 1y");
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("not-due"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("new.pdf"), std::string::npos) << o.out;  // expires 2031-06-01
}

TEST_F(LetheE2E, RunDisposesDueFilesCertifiesThemAndTheLedgerVerifies) {
    keygen();
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 3 files"), std::string::npos) << run.out;

    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2024-007/new.pdf"), "recent work");
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/notes.txt"), "in no category");
    EXPECT_EQ(slurp(m_dir / "outside/target.pdf"), "must survive");
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/link.pdf"));  // symlinks are left alone

    auto entries = payloads();
    ASSERT_EQ(entries.size(), 4u);  // three disposals and the pass's checkpoint
    const nlohmann::json* brief = nullptr;
    for (const auto& p : entries) {
        if (p.value("path", "") == "acme/2010-001/brief.pdf") brief = &p;
    }
    ASSERT_NE(brief, nullptr);
    EXPECT_EQ((*brief)["type"], "disposal");
    EXPECT_EQ((*brief)["action"], "sanitize");
    EXPECT_EQ((*brief)["category"], "client-matter");
    EXPECT_EQ((*brief)["schedule"]["id"], "firm-2026");
    EXPECT_EQ((*brief)["schedule"]["version"], 3);
    EXPECT_EQ((*brief)["expires"], "2017-05-01");
    EXPECT_EQ((*brief)["subject"]["size"], 16);
    // SHA-256 of "privileged brief", taken before destruction.
    EXPECT_EQ((*brief)["subject"]["sha256"], util::sha256_hex("privileged brief"));
    EXPECT_EQ((*brief)["method"]["verified"], true);
    EXPECT_EQ((*brief)["method"]["passes"], 1);
    EXPECT_EQ(entries.back()["type"], "checkpoint");
    EXPECT_EQ(entries.back()["pass"]["disposed"], 3);

    Output verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find("verified 4 certificates"), std::string::npos) << verify.out;
}

TEST_F(LetheE2E, AFlippedByteInTheLedgerFailsVerificationAndNamesTheLine) {
    keygen();
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string path = m_dir / "state/ledger.jsonl";
    std::string content = slurp(path);
    size_t third = content.find('\n', content.find('\n') + 1) + 1;
    content[third + 40] = content[third + 40] == 'A' ? 'B' : 'A';
    std::ofstream(path, std::ios::trunc | std::ios::binary) << content;
    Output verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 1);
    EXPECT_NE(verify.out.find("line 3"), std::string::npos) << verify.out;
}

TEST_F(LetheE2E, CertsVerifyWithoutALedgerIsAnError) {
    keygen();
    Output verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 2);
    EXPECT_NE(verify.err.find("ledger"), std::string::npos) << verify.err;
}

TEST_F(LetheE2E, RunWithoutAKeyRefusesAndSaysToRunKeygen) {
    Output run = lethe("run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("lethe keygen"), std::string::npos) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
}

TEST_F(LetheE2E, KeygenRefusesToOverwriteAndRunRefusesAReadableKey) {
    keygen();
    std::string key = slurp(m_dir / "state/keys/signing.pem");
    Output again = lethe("keygen " + config());
    EXPECT_EQ(again.code, 2);
    EXPECT_EQ(slurp(m_dir / "state/keys/signing.pem"), key);
    ASSERT_EQ(::chmod((m_dir / "state/keys/signing.pem").c_str(), 0644), 0);
    Output run = lethe("run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("readable by group or others"), std::string::npos) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
}

TEST_F(LetheE2E, ABrokenScheduleStopsAllDisposalAndNamesLineAndColumn) {
    keygen();
    m_dir.write("policies/broken.toml", "[schedule]\nid = \"b\"\nversion = 1\n[[category]]\n"
                                        "id = \"x\"\nretain = \"forever\"\naction = \"delete\"\n");
    Output check = lethe("policy check " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(check.code, 2);
    EXPECT_NE(check.err.find("broken.toml:6:10"), std::string::npos) << check.err;
    Output run = lethe("run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("broken.toml:6:10"), std::string::npos) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_FALSE(exists(m_dir / "state/ledger.jsonl"));
}

// Several errors in the schedules: one line where the message is one line (run, the
// journal), separated by "; " and never an escaped newline (\x0a); one FAILED line per error
// in `config check`, one error line each in `policy check`.
TEST_F(LetheE2E, SeveralScheduleErrorsAreReadableOnOneLineAndListedByTheChecks) {
    keygen();
    std::string file = m_dir / "policies/broken.toml";
    m_dir.write("policies/broken.toml", "[schedule]\nid = \"b\"\nversion = 1\n[[category]]\n"
                                        "id = \"x\"\nretain = \"forever\"\naction = \"shred\"\n");
    const std::string first = file + ":6:10: category 'x': retention 'forever' is not a number";
    const std::string second = file + ":7:10: category 'x': unknown action 'shred'";
    Output run = lethe("--log-target stderr run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_EQ(run.err.find("\\x0a"), std::string::npos) << run.err;
    size_t at = run.err.find("lethe: error: schedules (no disposal until fixed): " + first);
    ASSERT_NE(at, std::string::npos) << run.err;
    size_t end = run.err.find('\n', at);
    size_t next = run.err.find("; " + second, at);
    EXPECT_TRUE(next != std::string::npos && next < end) << run.err;

    Output check = lethe("config check " + config());
    EXPECT_EQ(check.code, 2);
    EXPECT_EQ(check.out.find("\\x0a"), std::string::npos) << check.out;
    EXPECT_NE(check.out.find("\nFAILED: schedules: " + first), std::string::npos) << check.out;
    EXPECT_NE(check.out.find("\nFAILED: schedules: " + second), std::string::npos) << check.out;

    Output policy = lethe("policy check " + shell_quote(m_dir / "policies"));
    EXPECT_EQ(policy.code, 2);
    EXPECT_NE(policy.err.find("lethe: error: " + first),
              std::string::npos)
        << policy.err;
    EXPECT_NE(policy.err.find("lethe: error: " + second),
              std::string::npos)
        << policy.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
}

TEST_F(LetheE2E, ObserveModeReportsButDestroysNothing) {
    write_policy("observe");
    keygen();
    Output plan = lethe("plan " + config());
    EXPECT_NE(plan.out.find("due*"), std::string::npos) << plan.out;
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 0 files"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("3 due under observe mode"), std::string::npos) << run.out;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
}

TEST_F(LetheE2E, BlastRadiusGuardsRefuseTheWholePass) {
    keygen();
    write_config(2, 0.9);
    Output too_many = lethe("run " + config());
    EXPECT_EQ(too_many.code, 2);
    EXPECT_NE(too_many.err.find("max_disposals_per_pass"), std::string::npos) << too_many.err;
    write_config(100, 0.2);
    Output too_much = lethe("run " + config());
    EXPECT_EQ(too_much.code, 2);
    EXPECT_NE(too_much.err.find("max_fraction_per_root"), std::string::npos) << too_much.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_TRUE(payloads().empty());
}

// --confirm-large lets the one pass the operator checked go past the guards; the
// checkpoint records what it allowed, and the next pass is guarded again.
TEST_F(LetheE2E, ConfirmLargeAllowsOnePassPastTheGuardsAndTheCheckpointSaysSo) {
    keygen();
    write_config(2, 0.2);
    Output refused = lethe("run " + config());
    EXPECT_EQ(refused.code, 2);
    EXPECT_NE(refused.err.find("then allow this one pass with `lethe run --confirm-large`"),
              std::string::npos)
        << refused.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");

    Output allowed = lethe("run --confirm-large " + config());
    ASSERT_EQ(allowed.code, 0) << allowed.err;
    EXPECT_NE(allowed.out.find("disposed 3 files"), std::string::npos) << allowed.out;
    EXPECT_NE(allowed.err.find("allowed by --confirm-large for this pass: 3 files are due, more "
                               "than max_disposals_per_pass = 2"),
              std::string::npos)
        << allowed.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2024-007/new.pdf"), "recent work");
    nlohmann::json checkpoint;
    int disposals = 0;
    for (const auto& p : payloads()) {
        if (p["type"] == "checkpoint") checkpoint = p;
        if (p["type"] == "disposal") ++disposals;
    }
    EXPECT_EQ(disposals, 3);
    ASSERT_TRUE(checkpoint["pass"].contains("confirm_large")) << checkpoint.dump();
    EXPECT_EQ(checkpoint["pass"]["confirm_large"].size(), 2u) << checkpoint.dump();

    // The next pass is guarded again.
    m_dir.write("share/acme/2010-002/a.pdf", "a", "2010-05-01");
    m_dir.write("share/acme/2010-002/b.pdf", "b", "2010-05-01");
    m_dir.write("share/acme/2010-002/c.pdf", "c", "2010-05-01");
    EXPECT_EQ(lethe("run " + config()).code, 2);
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-002/a.pdf"), "a");
}

TEST_F(LetheE2E, NamesThatAreNotUtf8StayExactInPlanAndCertificate) {
    keygen();
    std::string odd = "caf\xe9 memo.pdf";
    m_dir.write("share/acme/2010-001/" + odd, "odd", "2010-01-01");
    Output plan = lethe("plan --json " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    EXPECT_NE(plan.out.find("\"path_b64\""), std::string::npos) << plan.out;
    ASSERT_EQ(lethe("run " + config()).code, 0);
    EXPECT_FALSE(exists(m_dir / ("share/acme/2010-001/" + odd)));
    bool found = false;
    for (const auto& p : payloads()) {
        if (p.contains("path_b64")) {
            EXPECT_EQ(*util::base64_decode(p["path_b64"].get<std::string>()),
                      "acme/2010-001/" + odd);
            found = true;
        }
    }
    EXPECT_TRUE(found);
}

TEST_F(LetheE2E, AHardLinkedFileIsSkippedWithItsReasonAndKept) {
    keygen();
    ASSERT_EQ(::link((m_dir / "share/acme/2010-001/brief.pdf").c_str(),
                     (m_dir / "share/acme/brief-copy.bin").c_str()),
              0);
    Output plan = lethe("plan " + config());
    EXPECT_NE(plan.out.find("skipped"), std::string::npos) << plan.out;
    EXPECT_NE(plan.out.find("hard links"), std::string::npos) << plan.out;
    Output run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 2 files"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("1 skipped"), std::string::npos) << run.out;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
    EXPECT_EQ(slurp(m_dir / "share/acme/brief-copy.bin"), "privileged brief");
}

TEST_F(LetheE2E, CertificatesStateTheLimitsOfTheMethod) {
    keygen();
    ASSERT_EQ(lethe("run " + config()).code, 0);
    for (const auto& p : payloads()) {
        if (p["type"] != "disposal") continue;
        EXPECT_NE(p["method"]["scope"].get<std::string>().find("not a NIST SP 800-88"),
                  std::string::npos);
        EXPECT_FALSE(p["method"]["filesystem"].get<std::string>().empty());
        if (p["action"] == "delete") {
            EXPECT_NE(p["method"]["residual_risks"][0].get<std::string>().find("not overwritten"),
                      std::string::npos);
        }
        if (p["action"] == "sanitize") {
            // The method says what was written and how it was checked.
            EXPECT_EQ(p["method"]["kind"], "file overwrite");
            EXPECT_EQ(p["method"]["passes"], 1);
            EXPECT_EQ(p["method"]["pattern"], "random");
            EXPECT_TRUE(p["method"]["verified"].get<bool>());
            std::string how = p["method"]["read_back"];
            EXPECT_TRUE(how == "direct I/O (O_DIRECT)" ||
                        how.rfind("page cache dropped after sync", 0) == 0)
                << how;
            EXPECT_TRUE(p["method"]["residual_risks"].is_array());
        }
    }
}

#ifdef LETHE_TEST_HOOKS
TEST_F(LetheE2E, AFailedReadBackKeepsTheFileWritesNoCertificateAndExitsNonZero) {
    keygen();
    Output run = lethe("run " + config(), "LETHE_TEST_CORRUPT_AFTER_WRITE=1");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("verification failed"), std::string::npos) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    int disposals = 0;
    for (const auto& p : payloads()) {
        if (p["type"] != "disposal") continue;
        ++disposals;  // only scratch.tmp, which is deleted, not sanitized
        EXPECT_EQ(p["action"], "delete") << p.dump();
    }
    EXPECT_EQ(disposals, 1);
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

// A failed read-back is recorded (journal/log with the path and the block, a counter in
// last-pass.json and the metrics file, the intent kept and marked), and the next pass
// overwrites the file once more, says so, and certifies it with the hash of its content
// before the first overwrite.
TEST_F(LetheE2E, AFailedReadBackIsRecordedAndTheNextPassRetriesItOnceAndSaysSo) {
    m_dir.write("lethe.toml", "metrics_file = \"lethe.prom\"\n" + slurp(m_dir / "lethe.toml"));
    keygen();
    // Bytes 5 on of each overwritten file are corrupted after the write.
    Output run = lethe("--log-target stderr run " + config(), "LETHE_TEST_CORRUPT_AFTER_WRITE=at:5");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("acme/2010-001/brief.pdf: read-back does not match what was written: "
                           "first difference at byte 5, in block 0; 1 block(s) of 4 MiB differ"),
              std::string::npos)
        << run.err;
    auto record = nlohmann::json::parse(slurp(m_dir / "state/last-pass.json"));
    EXPECT_EQ(record["summary"]["failed_verifications"], 2) << record.dump();
    EXPECT_NE(slurp(m_dir / "lethe.prom").find("lethe_pass_verifications_failed 2"),
              std::string::npos)
        << slurp(m_dir / "lethe.prom");
    // intent.json: one intent per line, each kept and marked.
    std::istringstream intents(slurp(m_dir / "state/intent.json"));
    int marked = 0;
    for (std::string line; std::getline(intents, line);) {
        auto in = nlohmann::json::parse(line);
        EXPECT_EQ(in["verification_failed"]["block"], 0) << in.dump();
        EXPECT_EQ(in["verification_failed"]["first_difference"], 5) << in.dump();
        EXPECT_EQ(in["verification_failed"]["attempts"], 1) << in.dump();
        ++marked;
    }
    EXPECT_EQ(marked, 2);
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));

    Output retry = lethe("--log-target stderr run " + config());
    EXPECT_EQ(retry.code, 0) << retry.out << retry.err;
    EXPECT_NE(retry.err.find("acme/2010-001/brief.pdf: the read-back of its overwrite failed in "
                             "the pass of"),
              std::string::npos)
        << retry.err;
    EXPECT_NE(retry.err.find("from block 0 (byte 0); overwriting it once more"), std::string::npos)
        << retry.err;
    // Both files are counted as disposed of by this pass, where a records manager looks: the
    // summary line, the journal's pass line, `lethe status` and the checkpoint.
    EXPECT_NE(retry.out.find("disposed 2 files (32 B), of which 2 completed interrupted "
                             "disposals; 0 held"),
              std::string::npos)
        << retry.out;
    EXPECT_NE(retry.err.find("pass finished: 2 disposed (32 bytes), of which 2 completed "
                             "interrupted disposals; 0 skipped, 0 failed"),
              std::string::npos)
        << retry.err;
    Output status = lethe("status " + config());
    EXPECT_NE(status.out.find(", ok: 2 disposed (32 B), of which 2 completed interrupted "
                              "disposals; 0 skipped, 0 failed"),
              std::string::npos)
        << status.out;
    auto checkpoint = payloads().back();
    EXPECT_EQ(checkpoint["type"], "checkpoint");
    EXPECT_EQ(checkpoint["pass"]["disposed"], 2) << checkpoint.dump();
    EXPECT_EQ(checkpoint["pass"]["recovered"], 2) << checkpoint.dump();
    EXPECT_EQ(checkpoint["pass"]["bytes"], 32) << checkpoint.dump();
    EXPECT_NE(slurp(m_dir / "lethe.prom").find("lethe_pass_files_disposed{action=\"sanitize\"} 2"),
              std::string::npos)
        << slurp(m_dir / "lethe.prom");
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    int retried = 0;
    for (const auto& p : payloads()) {
        if (p["type"] != "disposal" || p["action"] != "sanitize") continue;
        ++retried;
        std::string original = p["path"] == "acme/2010-001/brief.pdf" ? "privileged brief"
                                                                       : "letter to client";
        EXPECT_EQ(p["subject"]["sha256"], util::sha256_hex(original)) << p.dump();
        EXPECT_EQ(p["method"]["verified"], true);
        EXPECT_NE(p["method"]["handling"].dump().find("overwritten again and verified"),
                  std::string::npos)
            << p.dump();
    }
    EXPECT_EQ(retried, 2);
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

TEST_F(LetheE2E, AReadBackThatFailsTwiceIsNotRetriedAgainAndIsNeverCertified) {
    keygen();
    EXPECT_EQ(lethe("run " + config(), "LETHE_TEST_CORRUPT_AFTER_WRITE=1").code, 1);
    Output again = lethe("--log-target stderr run " + config(), "LETHE_TEST_CORRUPT_AFTER_WRITE=1");
    EXPECT_EQ(again.code, 1) << again.out << again.err;
    EXPECT_NE(again.err.find("overwriting it once more"), std::string::npos) << again.err;
    EXPECT_NE(again.err.find("verification failed again"), std::string::npos) << again.err;
    EXPECT_NE(again.err.find("does not retry it again"), std::string::npos) << again.err;
    auto record = nlohmann::json::parse(slurp(m_dir / "state/last-pass.json"));
    EXPECT_EQ(record["summary"]["failed_verifications"], 2) << record.dump();
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));

    Output quiet = lethe("--log-target stderr run " + config());
    EXPECT_EQ(quiet.code, 0) << quiet.out << quiet.err;
    EXPECT_EQ(quiet.err.find("once more"), std::string::npos) << quiet.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    for (const auto& p : payloads()) {
        if (p["type"] == "disposal") {
            EXPECT_EQ(p["action"], "delete") << p.dump();
        }
    }
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

TEST_F(LetheE2E, AnInjectedClockIsRecordedInEveryCertificate) {
    keygen();
    Output run = lethe("run " + config() + " --now 2030-01-01T00:00:00Z");
    ASSERT_EQ(run.code, 0) << run.err;
    auto entries = payloads();
    ASSERT_FALSE(entries.empty());
    for (const auto& p : entries) {
        EXPECT_EQ(p["time"], "2030-01-01T00:00:00Z");
        EXPECT_EQ(p.value("clock", ""), "injected (test build)");
    }
}

// A crash point and how many disposals had begun by then: files are sanitized in groups
// (every file of the group overwritten and synced, then each read back and renamed) and
// their certificates appended together, so a crash at the first file's read-back or rename,
// or at the first unlink after the group's certificates were appended, leaves all three
// disposals of the group begun, to be completed by the next pass.
struct CrashPoint {
    const char* point;
    int interrupted;
};

// Names the parameterized tests after their crash point.
// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest looks PrintTo up by this name
void PrintTo(const CrashPoint& p, std::ostream* os) { *os << p.point; }

class CrashRecovery : public LetheE2E, public ::testing::WithParamInterface<CrashPoint> {};

TEST_P(CrashRecovery, TheNextPassCompletesAndCertifiesTheInterruptedDisposal) {
    keygen();
    Output crashed =
        lethe("run " + config(), std::string("LETHE_TEST_CRASH_AT=") + GetParam().point);
    ASSERT_EQ(crashed.code, 99) << crashed.err;
    EXPECT_TRUE(exists(m_dir / "state/intent.json"));
    Output resumed = lethe("run " + config());
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    // The disposals it completed count as this pass's (3 files of 16 + 16 + 4 bytes).
    EXPECT_NE(resumed.out.find(fmt::format("disposed 3 files (36 B), of which {} completed {}; ",
                                           GetParam().interrupted,
                                           GetParam().interrupted == 1
                                               ? "an interrupted disposal"
                                               : "interrupted disposals")),
              std::string::npos)
        << resumed.out;
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    // Nothing left behind under a temporary name.
    for (const char* name : {"share/acme/2010-001", "share/acme/2024-007"}) {
        std::string listing;
        for (auto& e : boost::filesystem::directory_iterator(m_dir / name)) {
            listing += e.path().filename().string() + " ";
        }
        EXPECT_EQ(listing.find(".lethe-"), std::string::npos) << listing;
    }
    int disposals = 0;
    for (const auto& p : payloads()) {
        if (p["type"] != "disposal") continue;
        ++disposals;
        std::string path = p["path"];
        if (path == "acme/2010-001/brief.pdf") {
            EXPECT_EQ(p["subject"]["sha256"], util::sha256_hex("privileged brief"));
        }
        if (path == "acme/2010-001/letter.docx") {
            EXPECT_EQ(p["subject"]["sha256"], util::sha256_hex("letter to client"));
        }
    }
    EXPECT_EQ(disposals, 3);  // each file certified exactly once
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

INSTANTIATE_TEST_SUITE_P(Points, CrashRecovery,
                         ::testing::Values(CrashPoint{"after-overwrite", 3},
                                           CrashPoint{"after-rename", 3},
                                           CrashPoint{"after-unlink", 3}));
#endif

}  // namespace
}  // namespace lethe
