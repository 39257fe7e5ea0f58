// The `encrypt` action on a root whose filesystem keeps no user extended attributes (ramfs):
// the NAME.age copy keeps the original's category, trigger date and expiry through the state
// index of encrypted copies (state_dir/encrypted.jsonl), so `explain` and `plan` classify it,
// a pass after its expiry sanitizes and certifies it, and a pass killed around the copy's
// rename completes on the next run (the index proves the copy lethe's).

#include <sys/mount.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/sha256.hpp"
#include "tests/support/e2e.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::CommandOutput;
using testing::exists;
using testing::sh_quote;
using testing::slurp;
using testing::TempDir;

class EncryptedIndexE2E : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "mounting ramfs needs root; CI runs as root";
        m_dir.mkdir("share");
        ASSERT_EQ(::mount("none", (m_dir / "share").c_str(), "ramfs", 0, nullptr), 0)
            << std::strerror(errno);
        m_mounted = true;
        // What makes this test: the root's filesystem refuses user xattrs.
        m_dir.write("share/probe", "x");
        EXPECT_NE(::setxattr((m_dir / "share/probe").c_str(), "user.lethe.test", "1", 1, 0), 0);
        ::unlink((m_dir / "share/probe").c_str());

        m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "drafts"
paths = ["{client}/{matter}/**"]
extensions = ["odt"]
retain = "5y"
action = "encrypt"
archive_for = "3y"
)");
        CommandOutput k = lethe("keygen --age-identity " + sh_quote(m_dir / "rm.key"));
        ASSERT_EQ(k.code, 0) << k.err;
        std::string recipient = k.out.substr(0, k.out.find('\n'));
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "max_fraction_per_root = 1.0\n[archive]\nrecipients = [\"" + recipient +
                        "\"]\n[[root]]\nname = \"clients\"\npath = \"share\"\n");
        ASSERT_EQ(lethe("keygen" + config()).code, 0);
        m_dir.write("share/acme/2010-001/d.odt", kDraft, "2010-05-01");
    }
    void TearDown() override {
        if (m_mounted) {
            EXPECT_EQ(::umount2((m_dir / "share").c_str(), 0), 0);
        }
    }

    std::string config() const { return " --config " + sh_quote(m_dir / "lethe.toml"); }
    CommandOutput lethe(const std::string& args, const std::string& env = "") {
        return testing::run_shell(m_dir, env + " " + sh_quote(LETHE_BINARY) + " " + args);
    }
    std::vector<nlohmann::json> disposals() {
        return testing::payloads_of(m_dir / "state/ledger.jsonl", "disposal");
    }
    std::vector<nlohmann::json> index_lines() {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir / "state/encrypted.jsonl");
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
        return out;
    }
    // The copy decrypts, with the standard tool, to the original.
    void expect_copy_decrypts() {
        std::string out = m_dir / "decrypted";
        ASSERT_EQ(std::system(("age -d -i " + sh_quote(m_dir / "rm.key") + " -o " + sh_quote(out) +
                               " " + sh_quote(m_dir / kCopy))
                                  .c_str()),
                  0);
        EXPECT_EQ(slurp(out), kDraft);
    }

    static constexpr const char* kCopy = "share/acme/2010-001/d.odt.age";
    inline static const std::string kDraft = std::string(70000, 'D') + "privileged draft";
    TempDir m_dir;
    bool m_mounted = false;
};

TEST_F(EncryptedIndexE2E, ACopyWithoutXattrsKeepsItsRetentionThroughTheIndexAndIsSanitizedAtItsExpiry) {
    CommandOutput run = lethe("run" + config() + " --now 2026-11-26T12:00:00Z");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/d.odt"));
    ASSERT_TRUE(exists(m_dir / kCopy));
    expect_copy_decrypts();
    char value[64];
    EXPECT_LT(::getxattr((m_dir / kCopy).c_str(), "user.lethe.category", value, sizeof value), 0);
    auto certs = disposals();
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["action"], "encrypt");
    EXPECT_FALSE(certs[0]["method"]["encrypted_copy"]["retention_attributes"].get<bool>());

    auto lines = index_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["root"], "clients");
    EXPECT_EQ(lines[0]["path"], "acme/2010-001/d.odt.age");
    EXPECT_EQ(lines[0]["category"], "drafts");
    EXPECT_EQ(lines[0]["trigger_date"], "2010-05-01");
    EXPECT_EQ(lines[0]["expires"], "2015-05-01");
    EXPECT_EQ(lines[0]["encrypted"], "2026-11-26");
    EXPECT_EQ(lines[0]["size"], slurp(m_dir / kCopy).size());

    // explain: the original's category and trigger date, kept archive_for (3y) after it was
    // made, and says where that comes from.
    CommandOutput text = lethe("explain " + sh_quote(m_dir / kCopy) + config() + " --now 2026-11-27");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_EQ(text.out.find("matches no category"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("winner: 'drafts'"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("index of encrypted copies"), std::string::npos) << text.out;
    // The category's own line gives the copy's dates too, not those of a file modified on
    // the day it was encrypted.
    EXPECT_NE(text.out.find("    trigger modified 2010-05-01, copy kept 3y, expires 2029-11-26, "
                            "action sanitize"),
              std::string::npos) << text.out;
    CommandOutput json =
        lethe("explain --json " + sh_quote(m_dir / kCopy) + config() + " --now 2026-11-27");
    ASSERT_EQ(json.code, 0) << json.err;
    auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(j["winner"], "drafts");
    EXPECT_EQ(j["expires"], "2029-11-26");
    EXPECT_EQ(j["status"], "not-due");
    EXPECT_EQ(j["client"], "acme");
    ASSERT_EQ(j["matches"].size(), 1u);
    EXPECT_EQ(j["matches"][0]["trigger_date"], "2010-05-01");
    EXPECT_EQ(j["matches"][0]["expires"], "2029-11-26");
    EXPECT_EQ(j["matches"][0]["action"], "sanitize");
    EXPECT_EQ(j["matches"][0]["copy_kept"], "3y");
    EXPECT_TRUE(j["matches"][0]["encrypted_copy"].get<bool>());

    // plan: not due before its expiry, due (sanitize) on it; never encrypted again.
    CommandOutput before = lethe("plan --json" + config() + " --now 2029-11-25");
    ASSERT_EQ(before.code, 0) << before.err;
    EXPECT_EQ(before.out.find("d.odt.age"), std::string::npos) << before.out;
    CommandOutput due = lethe("plan --json" + config() + " --now 2029-11-26");
    ASSERT_EQ(due.code, 0) << due.err;
    auto first = nlohmann::json::parse(due.out.substr(0, due.out.find('\n')));
    EXPECT_EQ(first["path"], "acme/2010-001/d.odt.age");
    EXPECT_EQ(first["category"], "drafts");
    EXPECT_EQ(first["status"], "due");
    EXPECT_EQ(first["action"], "sanitize");
    EXPECT_EQ(first["trigger_date"], "2010-05-01");

    ASSERT_EQ(lethe("run" + config() + " --now 2028-01-01T12:00:00Z").code, 0);
    ASSERT_TRUE(exists(m_dir / kCopy));  // kept until its expiry
    EXPECT_EQ(disposals().size(), 1u);

    CommandOutput expired = lethe("run" + config() + " --now 2029-11-26T12:00:00Z");
    ASSERT_EQ(expired.code, 0) << expired.err;
    EXPECT_FALSE(exists(m_dir / kCopy));
    certs = disposals();
    ASSERT_EQ(certs.size(), 2u);
    EXPECT_EQ(certs[1]["path"], "acme/2010-001/d.odt.age");
    EXPECT_EQ(certs[1]["action"], "sanitize");
    EXPECT_EQ(certs[1]["category"], "drafts");
    EXPECT_TRUE(certs[1]["method"]["verified"].get<bool>());
    EXPECT_EQ(lethe("certs verify" + config()).code, 0);

    // A later file under the copy's name is not the copy: the old entry does not pin it.
    m_dir.write(kCopy, "someone else's file");
    CommandOutput other = lethe("explain " + sh_quote(m_dir / kCopy) + config() + " --now 2040-01-01");
    ASSERT_EQ(other.code, 0) << other.err;
    EXPECT_NE(other.out.find("matches no category"), std::string::npos) << other.out;
    ASSERT_EQ(lethe("run" + config() + " --now 2040-01-01T12:00:00Z").code, 0);
    EXPECT_EQ(slurp(m_dir / kCopy), "someone else's file");
}

TEST_F(EncryptedIndexE2E, ACorruptIndexStopsClassifyingWithAClearMessage) {
    ASSERT_EQ(lethe("run" + config() + " --now 2026-11-26T12:00:00Z").code, 0);
    std::ofstream(m_dir / "state/encrypted.jsonl", std::ios::app) << "{\"type\":\"encr\n";
    CommandOutput plan = lethe("plan" + config() + " --now 2030-01-01");
    EXPECT_EQ(plan.code, 2) << plan.err;
    EXPECT_NE(plan.err.find("encrypted.jsonl line 2"), std::string::npos) << plan.err;
    CommandOutput run = lethe("run" + config() + " --now 2030-01-01T12:00:00Z");
    EXPECT_NE(run.code, 0);
    EXPECT_TRUE(exists(m_dir / kCopy));  // nothing disposed of
    EXPECT_EQ(disposals().size(), 1u);
}

#ifdef LETHE_TEST_HOOKS
// Killed just after the copy was recorded in the index, or just after it took its final
// name (before the original was overwritten): with no xattrs, the next pass proves the copy
// lethe's through the index entry of that intent and completes the disposal honestly.
TEST_F(EncryptedIndexE2E, APassKilledAroundTheCopysRenameCompletesOnTheNextRun) {
    for (const char* step : {"encrypt-indexed:1", "encrypt-renamed:1"}) {
        SCOPED_TRACE(step);
        if (!exists(m_dir / "share/acme/2010-001/d.odt")) {
            ::unlink((m_dir / kCopy).c_str());
            ::unlink((m_dir / "state/encrypted.jsonl").c_str());
            m_dir.write("share/acme/2010-001/d.odt", kDraft, "2010-05-01");
        }
        size_t before = disposals().size();
        CommandOutput killed = lethe("run" + config() + " --now 2026-11-26T12:00:00Z",
                                     std::string("LETHE_FAULT_AT=") + step);
        ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.err;
        ASSERT_TRUE(exists(m_dir / "state/intent.json"));
        EXPECT_EQ(disposals().size(), before);  // nothing certified yet

        CommandOutput rerun = lethe("run" + config() + " --now 2026-11-26T13:00:00Z");
        ASSERT_EQ(rerun.code, 0) << rerun.err;
        EXPECT_FALSE(exists(m_dir / "state/intent.json"));
        EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/d.odt"));
        ASSERT_TRUE(exists(m_dir / kCopy));
        expect_copy_decrypts();
        auto certs = disposals();
        ASSERT_EQ(certs.size(), before + 1);
        EXPECT_EQ(certs.back()["action"], "encrypt");
        EXPECT_EQ(certs.back()["path"], "acme/2010-001/d.odt");
        EXPECT_EQ(certs.back()["subject"]["sha256"], util::sha256_hex(kDraft));
        EXPECT_EQ(certs.back()["method"]["encrypted_copy"]["sha256"],
                  util::sha256_hex(slurp(m_dir / kCopy)));
        EXPECT_TRUE(certs.back()["method"]["verified"].get<bool>());
        // Honest about where the copy's retention is kept: not in xattrs on ramfs.
        EXPECT_FALSE(certs.back()["method"]["encrypted_copy"]["retention_attributes"].get<bool>());
        EXPECT_EQ(lethe("certs verify" + config()).code, 0);
        // The copy is classified from the index after the recovery too.
        CommandOutput j = lethe("explain --json " + sh_quote(m_dir / kCopy) + config() +
                                " --now 2026-11-27");
        ASSERT_EQ(j.code, 0) << j.err;
        EXPECT_EQ(nlohmann::json::parse(j.out)["winner"], "drafts");
    }
}
#endif

}  // namespace
}  // namespace lethe
