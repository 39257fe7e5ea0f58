// systemd/lethe.service as IT installs it: systemd-analyze accepts it and rates its exposure
// at 1.5 or less, and the user and capabilities it grants are enough to dispose of files
// that other users own with mode 0600 — and the files are not disposable without them.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/e2e/service_fixture.hpp"
#include "tests/support/hand_started_journald.hpp"

namespace lethe::testing {
namespace {

const std::string kUnit = std::string(LETHE_SOURCE_DIR) + "/systemd/lethe.service";

struct Captured {
    int code = -1;
    std::string out;
};

Captured run_capture(const std::string& cmd) {
    Captured c;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return c;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) c.out.append(buf, n);
    int status = ::pclose(p);
    c.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return c;
}

// The values of `key=` lines in the unit, joined by spaces.
std::string unit_setting(const std::string& key) {
    std::ifstream in(kUnit);
    std::string value;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + "=", 0) == 0)
            value += (value.empty() ? "" : " ") + line.substr(key.size() + 1);
    }
    return value;
}

TEST(UnitFile, SystemdAnalyzeVerifiesItAndRatesExposureAtMostOnePointFive) {
    TempDir dir;
    // verify checks that ExecStart's binary exists: point it at the one just built.
    std::ifstream in(kUnit);
    std::stringstream text;
    text << in.rdbuf();
    std::string unit = std::regex_replace(text.str(), std::regex("/usr/bin/lethe"), LETHE_BINARY);
    std::string path = dir.write("lethe.service", unit);
    auto verify = run_capture("systemd-analyze verify " + shell_quote(path));
    EXPECT_EQ(verify.code, 0) << verify.out;
    EXPECT_EQ(verify.out, "") << verify.out;

    auto security =
        run_capture("systemd-analyze security --offline=true --no-pager " + shell_quote(kUnit));
    ASSERT_EQ(security.code, 0) << security.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        security.out, m, std::regex("Overall exposure level for lethe.service: ([0-9.]+)")))
        << security.out;
    double exposure = std::stod(m[1].str());
    EXPECT_LE(exposure, 1.5) << security.out;
    EXPECT_EQ(unit_setting("Type"), "notify");
    EXPECT_EQ(unit_setting("ProtectSystem"), "strict");
    EXPECT_EQ(unit_setting("PrivateNetwork"), "yes");
}

TEST(UnitFile, SysusersCreatesTheUnitsUserWithoutALoginShell) {
    TempDir root;
    root.mkdir("etc");
    auto r = run_capture("systemd-sysusers --root=" + shell_quote(root.path()) + " " +
                         shell_quote(std::string(LETHE_SOURCE_DIR) + "/systemd/lethe.sysusers"));
    ASSERT_EQ(r.code, 0) << r.out;
    std::string passwd = slurp(root / "etc/passwd");
    EXPECT_EQ(passwd.rfind(unit_setting("User") + ":x:", 0), 0u) << passwd;
    EXPECT_NE(passwd.find(":/var/lib/lethe:/usr/sbin/nologin"), std::string::npos) << passwd;
    EXPECT_NE(slurp(root / "etc/group").find(unit_setting("Group") + ":x:"), std::string::npos);
}

class UnitPrivileges : public ServiceFixture {
  protected:
    static constexpr uid_t kOwner = 61001;  // the lawyers who own the files
    static constexpr uid_t kAgent = 61002;  // the unit's User=lethe

    // setpriv arguments giving exactly the unit's identity and capabilities.
    static std::string as_unit(bool with_caps) {
        std::string caps;
        std::istringstream words(unit_setting("CapabilityBoundingSet"));
        for (std::string w; words >> w;) {
            std::string name = w.substr(4);  // CAP_DAC_OVERRIDE -> dac_override
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            caps += (caps.empty() ? "+" : ",+") + name;
        }
        std::string s = "setpriv --reuid=" + std::to_string(kAgent) +
                        " --regid=" + std::to_string(kAgent) + " " + supplementary_groups() +
                        " --no-new-privs";
        if (with_caps) {
            s += " --inh-caps=" + caps + " --ambient-caps=" + caps + " --bounding-set=-all," + caps;
        } else {
            s += " --inh-caps=-all --bounding-set=-all";
        }
        return s;
    }

    // The unit's SupplementaryGroups= as setpriv arguments (group names resolved here).
    static std::string supplementary_groups() {
        std::string gids;
        std::istringstream words(unit_setting("SupplementaryGroups"));
        for (std::string w; words >> w;) {
            std::string line = run_capture("getent group " + shell_quote(w)).out;
            auto first = line.find(':');
            auto second = line.find(':', first + 1);
            auto third = line.find(':', second + 1);
            if (third == std::string::npos) {
                ADD_FAILURE() << "group " << w << " of the unit does not exist here";
                continue;
            }
            gids += (gids.empty() ? "" : ",") + line.substr(second + 1, third - second - 1);
        }
        return gids.empty() ? "--clear-groups" : "--groups=" + gids;
    }

    void chown_tree(const std::string& rel, uid_t uid, mode_t dir_mode, mode_t file_mode) {
        auto r = run_capture("find " + shell_quote(m_dir / rel) + " -exec chown " +
                             std::to_string(uid) + ":" + std::to_string(uid) + " {} +");
        ASSERT_EQ(r.code, 0) << r.out;
        r = run_capture("find " + shell_quote(m_dir / rel) + " -type d -exec chmod " +
                        fmt_mode(dir_mode) + " {} + && find " + shell_quote(m_dir / rel) +
                        " -type f -exec chmod " + fmt_mode(file_mode) + " {} +");
        ASSERT_EQ(r.code, 0) << r.out;
    }
    static std::string fmt_mode(mode_t m) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(m));
        return buf;
    }
};

TEST_F(UnitPrivileges, TheUnitsUserAndCapabilitiesDisposeOfOtherUsersPrivateFiles) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch user and capabilities";
    if (unit_setting("User") != "lethe") GTEST_FAIL() << "the unit no longer runs as User=lethe";
    ASSERT_EQ(unit_setting("CapabilityBoundingSet"), unit_setting("AmbientCapabilities"));
    // The state folder belongs to the agent's user, as StateDirectory= makes it.
    m_dir.mkdir("state");
    ASSERT_EQ(::chown((m_dir / "state").c_str(), kAgent, kAgent), 0);
    ASSERT_EQ(::chmod((m_dir / "state").c_str(), 0700), 0);
    ASSERT_EQ(::chmod(m_dir.path().c_str(), 0755), 0);
    chown_tree("share", kOwner, 0700, 0600);

    auto key = run_capture(as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                           " --log-target stderr keygen --config " + shell_quote(config()));
    ASSERT_EQ(key.code, 0) << key.out;

    // Without the capabilities the agent's user cannot even read the share.
    auto denied = run_capture(as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                              " --log-target stderr run --config " + shell_quote(config()));
    EXPECT_NE(denied.code, 0) << denied.out;
    ASSERT_EQ(::access((m_dir / "share/acme/2010-001/brief.pdf").c_str(), F_OK), 0);

    auto run = run_capture(as_unit(true) + " " + shell_quote(LETHE_BINARY) +
                           " --log-target stderr run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 0) << run.out;
    EXPECT_NE(run.out.find("disposed 3 files"), std::string::npos) << run.out;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letter.docx"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_TRUE(exists(m_dir / "share/acme/2024-007/new.pdf"));
    auto verify = run_capture(as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                              " certs verify --config " + shell_quote(config()));
    EXPECT_EQ(verify.code, 0) << verify.out;
}

TEST_F(UnitPrivileges, ConfigCheckAsRootChecksTheKeyAsTheServiceUserWillLoadIt) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch user";
    m_dir.mkdir("state");
    ASSERT_EQ(::chown((m_dir / "state").c_str(), kAgent, kAgent), 0);
    ASSERT_EQ(::chmod((m_dir / "state").c_str(), 0700), 0);
    ASSERT_EQ(::chmod(m_dir.path().c_str(), 0755), 0);
    auto key = run_capture(as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                           " --log-target stderr keygen --config " + shell_quote(config()));
    ASSERT_EQ(key.code, 0) << key.out;

    // `sudo lethe config check` before `systemctl reload`: the key is the service's, so
    // root must not call it wrong for not being root's.
    auto ok = run_capture(shell_quote(LETHE_BINARY) + " config check --config " +
                          shell_quote(config()));
    EXPECT_EQ(ok.code, 0) << ok.out;
    EXPECT_NE(ok.out.find("ok: signing key " + (m_dir / "state/keys/signing.pem") +
                          " (keyid "),
              std::string::npos)
        << ok.out;
    EXPECT_NE(ok.out.find(", owned by uid 61002 like state_dir)"), std::string::npos) << ok.out;

    // A key the service user does not own would be refused by the service: say so.
    ASSERT_EQ(::chown((m_dir / "state/keys/signing.pem").c_str(), 0, 0), 0);
    auto bad = run_capture(shell_quote(LETHE_BINARY) + " config check --config " +
                           shell_quote(config()));
    EXPECT_EQ(bad.code, 2) << bad.out;
    EXPECT_NE(bad.out.find("FAILED: signing key: signing key " +
                           (m_dir / "state/keys/signing.pem") +
                           " is owned by uid 0, not by uid 61002 (the owner of state_dir, which "
                           "runs the passes)"),
              std::string::npos)
        << bad.out;
}

// The unit's user reads the system journal back (SupplementaryGroups=systemd-journal): a
// whole state_dir restored from an older copy stops its next pass.
TEST_F(UnitPrivileges, TheUnitsUserSeesAWholeStateDirRestoreInTheJournal) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch user and start journald";
    if (::access("/lib/systemd/systemd-journald", X_OK) != 0) {
        GTEST_FAIL() << "systemd-journald is missing: run scripts/install-deps";
    }
    HandStartedJournald journald;
    ASSERT_TRUE(journald.ready()) << "systemd-journald did not start";
    // What systemd-tmpfiles-setup.service does at boot: the journal files belong to the
    // group systemd-journal (journald started by hand leaves them root's).
    auto tmpfiles = run_capture(
        "systemd-tmpfiles --create --prefix=/run/log/journal --prefix=/var/log/journal");
    ASSERT_EQ(tmpfiles.code, 0) << tmpfiles.out;
    ASSERT_EQ(::chmod(m_dir.path().c_str(), 0755), 0);
    m_dir.mkdir("state");
    chown_tree("state", kAgent, 0700, 0600);
    chown_tree("share", kAgent, 0700, 0600);
    const std::string lethe = as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                              " --log-target journal ";
    const std::string cfg = " --config " + shell_quote(config());
    ASSERT_EQ(run_capture(lethe + "keygen" + cfg).code, 0);
    ASSERT_EQ(run_capture(lethe + "run" + cfg).code, 0);
    auto copy = run_capture("cp -a " + shell_quote(m_dir / "state") + " " +
                            shell_quote(m_dir / "state.old"));
    ASSERT_EQ(copy.code, 0) << copy.out;
    m_dir.write("share/acme/2010-001/a2.pdf", "acme a2", "2010-05-01");
    chown_tree("share", kAgent, 0700, 0600);
    ASSERT_EQ(run_capture(lethe + "run" + cfg).code, 0);
    ASSERT_FALSE(exists(m_dir / "share/acme/2010-001/a2.pdf"));
    ASSERT_TRUE(journal_synced());

    auto restore = run_capture("rm -rf " + shell_quote(m_dir / "state") + " && cp -a " +
                               shell_quote(m_dir / "state.old") + " " +
                               shell_quote(m_dir / "state"));
    ASSERT_EQ(restore.code, 0) << restore.out;
    m_dir.write("share/acme/2010-001/a3.pdf", "acme a3", "2010-05-01");
    chown_tree("share", kAgent, 0700, 0600);
    auto refused = run_capture(as_unit(false) + " " + shell_quote(LETHE_BINARY) +
                               " --log-target stderr run" + cfg);
    EXPECT_EQ(refused.code, 2) << refused.out;
    EXPECT_NE(refused.out.find("but the journal has a pass of this state_dir"),
              std::string::npos)
        << refused.out;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/a3.pdf"), "acme a3");
    // Root's `lethe status` counts the records of state_dir's owner, the service's user.
    auto status = run_capture(shell_quote(LETHE_BINARY) + " status" + cfg);
    EXPECT_NE(status.out.find("ROLLBACK: the ledger ends at entry 4, but the journal"),
              std::string::npos)
        << status.out;
}

}  // namespace
}  // namespace lethe::testing
