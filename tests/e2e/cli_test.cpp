// End-to-end tests: run the built `lethe` binary on a temporary share and check the share
// and the ledger afterwards, as an operator or auditor would.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') {
            q += "'\\''";
        } else {
            q += c;
        }
    }
    return q + "'";
}

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
        m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 3
mode = ")" + mode + R"("

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx"]
retain = "7y"
action = "sanitize"

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"
)");
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
        std::string cmd = env + " " + quote(LETHE_BINARY) + " " + args + " >" + quote(out) +
                          " 2>" + quote(err);
        int status = std::system(cmd.c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }

    std::string config() const { return "--config " + quote(m_dir / "lethe.toml"); }

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

}  // namespace
}  // namespace lethe
