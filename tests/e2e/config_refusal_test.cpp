// Issue 16, cases 4, 5, 6 (config half) and 9 (interval and window): configurations that
// cannot be safe are refused, with the setting, both paths and what to do, by `config
// check`, `run`, `plan` and `agent` (exit 2, nothing touched); and upgrades: a state_dir
// written by lethe 0.1.0 is read, upgraded and passed over; a newer one is refused.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "tests/e2e/service_fixture.hpp"

namespace lethe::testing {
namespace {

namespace fs = std::filesystem;

class ConfigRefusalE2E : public ServiceFixture {
  protected:
    // lethe.toml with `agent` lines in [agent] (state_dir is "state" unless they say
    // otherwise), `top` lines before it and `rest` (sections, roots) after it; `roots`
    // replaces the one root "clients" at "share".
    void write_lethe_toml(const std::string& agent, const std::string& top = "",
                          const std::string& rest = "",
                          const std::string& roots =
                              "[[root]]\nname = \"clients\"\npath = \"share\"\n") {
        std::string state = agent.find("state_dir") == std::string::npos
                                 ? "state_dir = \"state\"\n"
                                 : std::string();
        m_dir.write("lethe.toml", "policies = \"policies\"\n" + top + "[agent]\n" + state +
                                      "max_fraction_per_root = 1.0\n" + agent + rest + roots);
    }

    // Every command that acts on the share refuses, with exit 2 and `message`, and nothing in
    // the share changes.
    void expect_refused(const std::string& message) {
        SCOPED_TRACE(message);
        auto check = lethe("config check --config " + shell_quote(config()));
        EXPECT_EQ(check.code, 2) << check.out;
        EXPECT_NE(check.out.find("FAILED: "), std::string::npos) << check.out;
        EXPECT_NE(check.out.find(message), std::string::npos) << check.out;
        for (const char* cmd : {"run", "agent --once", "agent", "plan"}) {
            // `agent` would run on if it did not refuse: bounded, so the test fails instead.
            auto r = lethe(std::string("--log-target stderr ") + cmd + " --config " +
                               shell_quote(config()),
                           "timeout 60");
            EXPECT_EQ(r.code, 2) << cmd << ": " << r.out << r.err;
            EXPECT_NE(r.err.find(message), std::string::npos) << cmd << ": " << r.err;
        }
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/scratch.tmp"), "temp");
        EXPECT_FALSE(exists(m_dir / "state/ledger.jsonl"));
    }

    std::string p(const std::string& relative) const { return m_dir / relative; }
};

TEST_F(ConfigRefusalE2E, StateDirInsideARootIsRefusedAndNotCreated) {
    write_lethe_toml("state_dir = \"share/.lethe\"\n");
    expect_refused("state_dir " + p("share/.lethe") + " is inside root 'clients' " + p("share") +
                   ": a category could dispose of lethe's own ledger and key; move state_dir "
                   "outside every root");
    // erase acts on the share too; status, which changes nothing, says why no pass runs.
    auto erase = lethe("--log-target stderr erase --client acme --request E-1 --by rm --config " +
                       shell_quote(config()));
    EXPECT_EQ(erase.code, 2) << erase.err;
    EXPECT_NE(erase.err.find("state_dir " + p("share/.lethe") + " is inside root 'clients'"),
              std::string::npos)
        << erase.err;
    auto status = lethe("status --config " + shell_quote(config()));
    EXPECT_NE(status.out.find("config refused (no pass runs until it is fixed): state_dir " +
                              p("share/.lethe") + " is inside root 'clients'"),
              std::string::npos)
        << status.out << status.err;
    EXPECT_FALSE(exists(p("share/.lethe")));
    EXPECT_EQ(slurp(p("share/acme/2010-001/brief.pdf")), "privileged brief");
}

TEST_F(ConfigRefusalE2E, LethesOwnFilesInsideARootAreRefused) {
    m_dir.write("share/rules/firm.toml", firm_schedule({.version = 3}));
    struct Case {
        std::string top, agent, rest, message;
    };
    const std::vector<Case> cases = {
        {"", "", "[signing]\nkey = \"share/signing.pem\"\n",
         "[signing] key " + p("share/signing.pem") + " is inside root 'clients' " + p("share") +
             ": a category could dispose of the signing key; move [signing] key outside every "
             "root"},
        {"", "", "[archive]\ndestination = \"share/archive\"\n",
         "[archive] destination " + p("share/archive") + " is inside root 'clients' " +
             p("share")},
        {"metrics_file = \"share/lethe.prom\"\n", "", "",
         "metrics_file " + p("share/lethe.prom") + " is inside root 'clients' " + p("share")},
    };
    for (const auto& c : cases) {
        write_lethe_toml(c.agent, c.top, c.rest);
        expect_refused(c.message);
    }
    // policies, given before [agent]: a second `policies` line would be a TOML error.
    m_dir.write("lethe.toml",
                "policies = \"share/rules\"\n[agent]\nstate_dir = \"state\"\n"
                "[[root]]\nname = \"clients\"\npath = \"share\"\n");
    expect_refused("policies " + p("share/rules") + " is inside root 'clients' " + p("share") +
                   ": a category could dispose of the retention schedules");
    // The config itself.
    m_dir.write("share/lethe.toml", "policies = \"../policies\"\n[agent]\nstate_dir = "
                                    "\"../state\"\n[[root]]\nname = \"clients\"\npath = \".\"\n");
    auto r = lethe("--log-target stderr run --config " + shell_quote(p("share/lethe.toml")));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("the config " + p("share/lethe.toml") + " is inside root 'clients'"),
              std::string::npos)
        << r.err;
}

TEST_F(ConfigRefusalE2E, RootsInsideStateDirAndArchiveOrMetricsInStateDirAreRefused) {
    m_dir.mkdir("state/inner");
    write_lethe_toml("", "", "", "[[root]]\nname = \"clients\"\npath = \"state/inner\"\n");
    expect_refused("root 'clients' " + p("state/inner") + " is inside state_dir " + p("state"));
    write_lethe_toml("", "", "[archive]\ndestination = \"state/archive\"\n");
    expect_refused("[archive] destination " + p("state/archive") + " is inside state_dir " +
                   p("state") + ": archives would live among lethe's private state");
    write_lethe_toml("", "metrics_file = \"state/lethe.prom\"\n");
    expect_refused("metrics_file " + p("state/lethe.prom") + " is inside state_dir " + p("state"));
}

TEST_F(ConfigRefusalE2E, OverlappingDuplicateAndSymlinkedRootsAreRefused) {
    write_lethe_toml("", "", "",
                     "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                     "[[root]]\nname = \"acme\"\npath = \"share/acme\"\n");
    expect_refused("root 'acme' " + p("share/acme") + " is inside root 'clients' " + p("share") +
                   ": a file held through one root could be disposed of through the other");
    write_lethe_toml("", "", "",
                     "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                     "[[root]]\nname = \"again\"\npath = \"share/\"\n");
    expect_refused("root 'again' " + p("share") + " is the same folder as root 'clients' " +
                   p("share") + ": a hold through one root would not protect a file");
    ASSERT_EQ(::symlink(p("share").c_str(), p("alias").c_str()), 0);
    write_lethe_toml("", "", "",
                     "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                     "[[root]]\nname = \"alias\"\npath = \"alias\"\n");
    expect_refused("root 'alias' " + p("alias") + " is the same folder as root 'clients' " +
                   p("share") + " (by its real path");
    // A state_dir spelled through the symlink, not created yet: judged by its parent.
    write_lethe_toml("state_dir = \"alias/.lethe\"\n");
    expect_refused("state_dir " + p("alias/.lethe") + " is inside root 'clients' " + p("share") +
                   " (by its real path " + p("share/.lethe"));
}

TEST_F(ConfigRefusalE2E, ABindMountOfARootIsTheSameRoot) {
    m_dir.mkdir("bind");
    if (::geteuid() != 0 ||
        ::mount(p("share").c_str(), p("bind").c_str(), nullptr, MS_BIND, nullptr) != 0) {
        GTEST_SKIP() << "needs root to bind-mount (CI runs as root)";
    }
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{p("bind")};
    write_lethe_toml("", "", "",
                     "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                     "[[root]]\nname = \"bound\"\npath = \"bind/acme\"\n");
    expect_refused("root 'bound' " + p("bind/acme") + " is inside root 'clients' " + p("share") +
                   " (the same folder by device and inode");
    write_lethe_toml("state_dir = \"bind/.lethe\"\n");
    expect_refused("state_dir " + p("bind/.lethe") + " is inside root 'clients' " + p("share") +
                   " (the same folder by device and inode");
}

TEST_F(ConfigRefusalE2E, BadValuesAreRefusedWithTheirLocation) {
    struct Case {
        std::string agent, top, rest, roots, message;
    };
    const std::string share = "[[root]]\nname = \"clients\"\npath = \"share\"\n";
    const std::vector<Case> cases = {
        {"max_disposals_per_pass = 0\n", "", "", share, "lethe.toml:5:26: [agent]: must be at least 1"},
        {"state_dir = \"\"\n", "", "", share, "lethe.toml:4:13: [agent]: state_dir must not be empty"},
        {"", "", "", "[[root]]\nname = \"all\"\npath = \"/\"\n",
         "lethe.toml:7:8: [[root]] #1: root 'all' is / (the whole filesystem)"},
        {"", "", "", "[[root]]\nname = \"none\"\npath = \"\"\n",
         "lethe.toml:7:8: [[root]] #1: 'path' is required"},
    };
    for (const auto& c : cases) {
        write_lethe_toml(c.agent, c.top, c.rest, c.roots);
        expect_refused(c.message);
    }
    // nan would have switched the guard off: every comparison with it is false.
    m_dir.write("lethe.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                              "max_fraction_per_root = nan\n" + share);
    expect_refused("lethe.toml:4:25: [agent]: must be a number above 0 and at most 1");
}

TEST_F(ConfigRefusalE2E, RecipientsThatDoNotParseAndArchivingWithoutADestinationAreRefused) {
    write_lethe_toml("", "", "[archive]\ndestination = \"archive\"\nrecipients = [\"age1notvalid\"]\n");
    expect_refused("[archive] recipients entry 1: not an age X25519 recipient");
    m_dir.write("policies/firm.toml", firm_schedule({.version = 3, .action = "archive"}));
    write_lethe_toml("");
    expect_refused("category 'client-matter' of schedule 'firm-2026' (" + p("policies/firm.toml") +
                   ":6) archives files, but the config has no [archive] destination");
}

// Case 9: interval and window errors carry file:line:column like every other config error.
TEST_F(ConfigRefusalE2E, IntervalAndWindowErrorsNameFileLineAndColumn) {
    write_lethe_toml("interval = \"5x\"\n");
    auto check = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(check.code, 2);
    EXPECT_NE(check.out.find("FAILED: timing: " + config() + ":5:12: [agent]: interval '5x'"),
              std::string::npos)
        << check.out;
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find(config() + ":5:12: [agent]: interval '5x': unknown unit 'x'"),
              std::string::npos)
        << run.err;
    write_lethe_toml("window = \"25:00-06:00\"\n");
    auto agent = lethe("--log-target stderr agent --once --config " + shell_quote(config()));
    EXPECT_EQ(agent.code, 2);
    EXPECT_NE(agent.err.find(config() + ":5:10: [agent]: window '25:00-06:00'"), std::string::npos)
        << agent.err;
    auto status = lethe("status --config " + shell_quote(config()));
    EXPECT_EQ(status.code, 2);
    EXPECT_NE(status.err.find(config() + ":5:10"), std::string::npos) << status.err;
}

TEST_F(ConfigRefusalE2E, AStateDirLetheWouldCreateIsNotFailed) {
    write_lethe_toml("state_dir = \"var/lib/lethe\"\n", "", "[signing]\nkey = \"keys/signing.pem\"\n");
    keygen();
    auto check = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(check.code, 0) << check.out;
    EXPECT_NE(check.out.find("ok: state_dir " + p("var/lib/lethe") +
                             " (does not exist yet: the first pass creates it, mode 0700, in " +
                             m_dir.path() + ")"),
              std::string::npos)
        << check.out;
    EXPECT_EQ(check.out.find("FAILED"), std::string::npos) << check.out;
}

// A reload into a refused config keeps the config in force, like a failed reload of nginx
// or sshd: the running agent was checked with the same rules when it started.
TEST_F(ConfigRefusalE2E, AReloadIntoARefusedConfigKeepsTheOldOne) {
    write_lethe_toml("");
    keygen();
    NotifySocket sock(m_dir / "notify");
    pid_t pid = start({"--log-target", "stderr", "agent", "--config", config()},
                      {{"NOTIFY_SOCKET", sock.path()}});
    ASSERT_TRUE(sock.wait_for("STATUS=idle")) << sock.seen() << agent_output();
    write_lethe_toml("state_dir = \"share/.lethe\"\n");
    ASSERT_EQ(::kill(pid, SIGHUP), 0);
    ASSERT_TRUE(sock.wait_for("STATUS=reload rejected")) << sock.seen();
    ASSERT_TRUE(sock.wait_for("STATUS=idle; next pass at")) << sock.seen();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_EQ(wait_exit(pid), 0);
    EXPECT_NE(agent_output().find("reload rejected, keeping schedules firm-2026 v3 in force"),
              std::string::npos)
        << agent_output();
    EXPECT_NE(agent_output().find("state_dir " + p("share/.lethe") + " is inside root 'clients'"),
              std::string::npos)
        << agent_output();
    EXPECT_FALSE(exists(p("share/.lethe")));
}

class UpgradeE2E : public ServiceFixture {
  protected:
    static constexpr const char* kMadeIn = "/tmp/lethe-0.1.0-fixture";

    // The frozen state_dir and archive of lethe 0.1.0 (tests/data/state-0.1.0), the share as
    // that pass left it, and its config and schedule.
    void install_fixture() {
        const fs::path data = fs::path(LETHE_SOURCE_DIR) / "tests/data/state-0.1.0";
        fs::remove_all(p("share"));
        fs::remove_all(p("policies"));
        for (const char* sub : {"state", "archive", "policies"}) {
            fs::copy(data / sub, p(sub), fs::copy_options::recursive);
        }
        fs::copy_file(data / "lethe.toml", p("lethe.toml"), fs::copy_options::overwrite_existing);
        // git keeps no modes: the key and state_dir as lethe made them.
        ::chmod(p("state").c_str(), 0700);
        ::chmod(p("state/keys").c_str(), 0700);
        ::chmod(p("state/keys/signing.pem").c_str(), 0600);
        // The archive index names the folder the fixture was made in.
        std::string index = slurp(p("state/archives.jsonl"));
        for (size_t at; (at = index.find(kMadeIn)) != std::string::npos;) {
            index.replace(at, std::string(kMadeIn).size(), m_dir.path());
        }
        m_dir.write("state/archives.jsonl", index);
        // What 0.1.0's pass left in the share (tests/data/state-0.1.0/make-fixture.sh).
        m_dir.write("share/acme/2010-002/held.pdf", "held brief", "2010-06-01");
        m_dir.write("share/hr/old-review.txt", "an old appraisal", "2015-01-01");
        m_dir.mkdir("share/closed/m1");
        m_dir.mkdir("share/acme/2010-001");
    }
    std::string p(const std::string& relative) const { return m_dir / relative; }
    std::string cfg() const { return " --config " + shell_quote(config()); }
};

TEST_F(UpgradeE2E, AStateDirOfTheLastReleaseIsReadUpgradedVerifiedAndPassedOver) {
    install_fixture();
    ASSERT_FALSE(exists(p("state/format")));
    auto verify = lethe("certs verify" + cfg());
    ASSERT_EQ(verify.code, 0) << verify.out << verify.err;
    auto check = lethe("config check" + cfg());
    EXPECT_EQ(check.code, 0) << check.out;

    m_dir.write("share/acme/2010-003/memo.docx", "a memo", "2011-03-04");
    auto run = lethe("--log-target stderr run --now 2026-11-26T12:00:00Z" + cfg());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("was written by an earlier lethe: recorded format 1"),
              std::string::npos)
        << run.err;
    EXPECT_NE(run.out.find("disposed 1 file"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("1 held, 1 awaiting review"), std::string::npos) << run.out;
    EXPECT_FALSE(exists(p("share/acme/2010-003/memo.docx")));
    EXPECT_EQ(slurp(p("share/acme/2010-002/held.pdf")), "held brief");  // 0.1.0's hold holds

    auto format = nlohmann::json::parse(slurp(p("state/format")));
    EXPECT_EQ(format["format"], 1);
    EXPECT_EQ(format["written_by"], std::string("lethe ") + LETHE_VERSION);
    struct stat st {};
    ASSERT_EQ(::stat(p("state/format").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // One chain across the releases: 0.1.0's six entries, then this pass's.
    auto again = lethe("certs verify" + cfg());
    EXPECT_EQ(again.code, 0) << again.out << again.err;
    std::ifstream in(p("state/ledger.jsonl"));
    std::vector<std::string> agents;
    for (std::string line; std::getline(in, line);) {
        auto env = nlohmann::json::parse(line);
        auto payload = nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>()));
        agents.push_back(payload.value("agent", ""));
    }
    ASSERT_GE(agents.size(), 8u);
    EXPECT_EQ(agents[1], "lethe 0.1.0");
    EXPECT_EQ(agents.back(), std::string("lethe ") + LETHE_VERSION);

    auto status = lethe("status" + cfg());
    EXPECT_EQ(status.code, 0) << status.out << status.err;
    EXPECT_NE(status.out.find("holds:      1 active"), std::string::npos) << status.out;
    // The review item 0.1.0 queued can still be approved and disposed of.
    auto approve = lethe("review approve R-1 --by rm --now 2026-11-26T13:00:00Z" + cfg());
    ASSERT_EQ(approve.code, 0) << approve.out << approve.err;
    auto second = lethe("--log-target stderr run --now 2026-11-26T14:00:00Z" + cfg());
    ASSERT_EQ(second.code, 0) << second.out << second.err;
    EXPECT_FALSE(exists(p("share/hr/old-review.txt")));
}

// lethe 0.1.0 wrote a change to its store first and entered it in the ledger later, so its
// state_dir may carry changes the ledger never saw. Protective ones (a hold) stay in force;
// the ones that reduce protection (a release, an approval) are undone and reported, and the
// records manager redoes them with the commands of this release.
TEST_F(UpgradeE2E, ChangesA010StoreNeverEnteredInTheLedgerKeepEveryFile) {
    install_fixture();
    auto holds = nlohmann::json::parse(slurp(p("state/holds.json")));
    holds["version"] = 3;
    holds["holds"][0]["released"] = true;  // released with 0.1.0, the entry still pending
    holds["holds"][0]["released_by"] = "tester";
    holds["holds"][0]["released_at"] = "2026-11-25T13:00:00Z";
    holds["holds"][0]["release_reason"] = "settled";
    holds["holds"].push_back({{"id", "lit-2"},
                              {"reason", "new claim"},
                              {"placed_by", "tester"},
                              {"placed_at", "2026-11-25T13:05:00Z"},
                              {"released", false},
                              {"paths", nlohmann::json::array({{{"glob", "acme/2010-003"}}})}});
    m_dir.write("state/holds.json", holds.dump(2));
    auto review = nlohmann::json::parse(slurp(p("state/review.json")));
    review["version"] = 2;
    review["items"][0]["state"] = "approved";
    review["items"][0]["decisions"].push_back({{"decision", "approved"},
                                               {"by", "tester"},
                                               {"at", "2026-11-25T13:10:00Z"},
                                               {"sha256", review["items"][0]["sha256"]}});
    m_dir.write("state/review.json", review.dump(2));
    auto entries = [&] {
        std::ifstream in(p("state/ledger.jsonl"));
        std::vector<std::string> types;
        for (std::string line; std::getline(in, line);) {
            auto env = nlohmann::json::parse(line);
            auto payload =
                nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>()));
            types.push_back(payload.value("type", ""));
        }
        return types;
    };
    auto count = [&](const std::string& type) {
        auto types = entries();
        return std::count(types.begin(), types.end(), type);
    };
    ASSERT_EQ(count("hold-placed"), 1);

    m_dir.write("share/acme/2010-003/memo.docx", "a memo", "2011-03-04");
    auto status = lethe("status" + cfg());
    EXPECT_NE(status.out.find("hold lit-1 is released in holds.json, but the ledger has no "
                              "release; it is in force again"),
              std::string::npos)
        << status.out;
    auto run = lethe("--log-target stderr run --now 2026-11-26T12:00:00Z" + cfg());
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    for (const char* said :
         {"hold lit-1 is released in holds.json, but the ledger has no release; it is in force "
          "again",
          "lethe hold release lit-1", "hold lit-2 is in holds.json but not in the ledger",
          "lethe hold add lit-2",
          "review R-1: the approval by tester at 2026-11-25T13:10:00Z in review.json is not in "
          "the ledger; undone",
          "lethe review approve R-1"}) {
        EXPECT_NE(run.err.find(said), std::string::npos) << said << "\n" << run.err;
    }
    EXPECT_EQ(slurp(p("share/acme/2010-002/held.pdf")), "held brief");
    EXPECT_EQ(slurp(p("share/acme/2010-003/memo.docx")), "a memo");
    EXPECT_EQ(slurp(p("share/hr/old-review.txt")), "an old appraisal");
    EXPECT_EQ(count("hold-placed"), 1);
    EXPECT_EQ(count("hold-released"), 0);
    EXPECT_EQ(count("review-approved"), 0);

    // Redone with this release's commands, each change is the ledger's and takes effect.
    ASSERT_EQ(lethe("hold release lit-1 --by tester --reason settled" + cfg()).code, 0);
    ASSERT_EQ(lethe("hold add lit-2 --by tester --reason 'new claim' --path acme/2010-003" +
                    cfg())
                  .code,
              0);
    ASSERT_EQ(lethe("review approve R-1 --by tester --now 2026-11-26T13:00:00Z" + cfg()).code, 0);
    auto second = lethe("--log-target stderr run --now 2026-11-26T14:00:00Z" + cfg());
    ASSERT_EQ(second.code, 0) << second.out << second.err;
    EXPECT_EQ(second.err.find("differs from the ledger"), std::string::npos) << second.err;
    EXPECT_EQ(second.err.find("not in the ledger"), std::string::npos) << second.err;
    EXPECT_FALSE(exists(p("share/acme/2010-002/held.pdf")));
    EXPECT_FALSE(exists(p("share/hr/old-review.txt")));
    EXPECT_EQ(slurp(p("share/acme/2010-003/memo.docx")), "a memo");
    EXPECT_EQ(lethe("certs verify" + cfg()).code, 0);
}

TEST_F(UpgradeE2E, ANewerStateDirIsRefusedByEveryCommandThatReadsIt) {
    install_fixture();
    m_dir.write("state/format", "{\"format\": 2, \"written_by\": \"lethe 9.0.0\"}\n");
    const std::string ledger = slurp(p("state/ledger.jsonl"));
    const std::string message = "state_dir " + p("state") +
                                " has format 2 (written by lethe 9.0.0), newer than format 1 "
                                "that lethe " + LETHE_VERSION + " knows";
    m_dir.write("share/acme/2010-003/memo.docx", "a memo", "2011-03-04");
    for (const char* cmd :
         {"run", "agent --once", "agent", "plan", "status", "certs verify", "certs list",
          "hold list", "review list", "keygen --rotate", "inventory --client acme", "explain", "hold add h2 --reason r --path acme"}) {
        std::string args = cmd == std::string("explain") ? " " + shell_quote(p("share/acme/2010-003/memo.docx")) : "";
        auto r = lethe(std::string("--log-target stderr ") + cmd + args + cfg(), "timeout 60");
        EXPECT_EQ(r.code, 2) << cmd << ": " << r.out << r.err;
        EXPECT_NE(r.err.find(message), std::string::npos) << cmd << ": " << r.err;
    }
    auto check = lethe("config check" + cfg());
    EXPECT_EQ(check.code, 2);
    EXPECT_NE(check.out.find("FAILED: state_dir: " + message), std::string::npos) << check.out;
    EXPECT_EQ(slurp(p("share/acme/2010-003/memo.docx")), "a memo");
    EXPECT_EQ(slurp(p("state/ledger.jsonl")), ledger);
}

}  // namespace
}  // namespace lethe::testing
