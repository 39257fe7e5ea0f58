// `lethe agent` as systemd runs it: a notify socket owned by the test stands in for
// systemd; signals stand in for systemctl reload and stop. No test waits for an interval:
// the agent runs its first pass at once and the test signals it afterwards.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "agent/util/encoding.hpp"
#include "tests/e2e/service_fixture.hpp"

namespace lethe::testing {
namespace {

class AgentE2E : public ServiceFixture {
  protected:
    std::map<std::string, std::string> notify_env(NotifySocket& sock) {
        return {{"NOTIFY_SOCKET", sock.path()}, {"TZ", "UTC"}};
    }
    std::vector<std::string> agent_args(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--log-target", "stderr", "agent", "--config", config()};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }
    std::vector<nlohmann::json> payloads() {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir / "state/ledger.jsonl");
        for (std::string line; std::getline(in, line);) {
            auto env = nlohmann::json::parse(line);
            out.push_back(
                nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>())));
        }
        return out;
    }
};

TEST_F(AgentE2E, ReportsReadyProgressWatchdogAndStoppingAndStopsOnSigterm) {
    keygen();
    NotifySocket sock(m_dir / "notify");
    auto env = notify_env(sock);
    env["WATCHDOG_USEC"] = "200000";
    pid_t pid = start(agent_args(), env);
    ASSERT_TRUE(sock.wait_for("READY=1")) << sock.seen() << agent_output();
    ASSERT_TRUE(sock.wait_for("STATUS=pass: root clients, file 1 of 3")) << sock.seen();
    ASSERT_TRUE(sock.wait_for("STATUS=idle; next pass at")) << sock.seen() << agent_output();
    ASSERT_TRUE(sock.wait_for("WATCHDOG=1")) << sock.seen();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    ASSERT_TRUE(sock.wait_for("STOPPING=1")) << sock.seen();
    EXPECT_EQ(wait_exit(pid), 0) << agent_output();

    // The first pass ran: due files disposed and certified, the recent one kept.
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2024-007/new.pdf"), "recent work");
    auto entries = payloads();
    ASSERT_EQ(entries.size(), 4u);
    EXPECT_EQ(entries.back()["type"], "checkpoint");

    auto status = lethe("status --config " + shell_quote(config()));
    ASSERT_EQ(status.code, 0) << status.err;
    EXPECT_NE(status.out.find("ok: 3 disposed"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("checkpoint certificate 4"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("ledger:     4 entries, head "), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("warnings:   none"), std::string::npos) << status.out;
}

TEST_F(AgentE2E, SighupReloadsAGoodScheduleAndKeepsTheOldOneWhenTheNewOneIsBroken) {
    keygen();
    NotifySocket sock(m_dir / "notify");
    pid_t pid = start(agent_args(), notify_env(sock));
    ASSERT_TRUE(sock.wait_for("STATUS=idle")) << sock.seen() << agent_output();

    write_policy(4);
    ASSERT_EQ(::kill(pid, SIGHUP), 0);
    ASSERT_TRUE(sock.wait_for("RELOADING=1")) << sock.seen();
    ASSERT_TRUE(sock.wait_for("STATUS=reloaded; schedules firm-2026 v4 in force")) << sock.seen();

    m_dir.write("policies/firm.toml",
                "[schedule]\nid = \"firm-2026\"\nversion = 5\n[[category]]\nretain = \n");
    ASSERT_EQ(::kill(pid, SIGHUP), 0);
    ASSERT_TRUE(sock.wait_for("STATUS=reload rejected")) << sock.seen();
    EXPECT_NE(sock.seen().find("schedules firm-2026 v4 stay in force"), std::string::npos)
        << sock.seen();
    ASSERT_TRUE(sock.wait_for("STATUS=idle; next pass at")) << sock.seen();
    EXPECT_NE(sock.seen().rfind("firm-2026 v4 in force"), std::string::npos);

    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_EQ(wait_exit(pid), 0);
    std::string log = agent_output();
    EXPECT_NE(log.find("reload rejected, keeping schedules firm-2026 v4 in force"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("firm.toml:5"), std::string::npos) << log;  // names file and line
}

TEST_F(AgentE2E, SigtermInTheMiddleOfAPassStopsBetweenFilesAndLeavesNoHalfState) {
    const std::string big(1 << 20, 'x');
    for (int i = 0; i < 6; ++i) {
        m_dir.write("share/acme/2010-002/big" + std::to_string(i) + ".pdf", big, "2010-01-01");
    }
    keygen();
    NotifySocket sock(m_dir / "notify");
    pid_t pid = start(agent_args({"--test-hold-after", "2"}), notify_env(sock));
    ASSERT_TRUE(sock.wait_for("STATUS=test hold after 2 files")) << sock.seen() << agent_output();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    ASSERT_TRUE(sock.wait_for("STOPPING=1")) << sock.seen();
    EXPECT_EQ(wait_exit(pid), 0) << agent_output();

    // Two of nine due files disposed and certified; the rest untouched; no intent left.
    int kept = 0;
    for (int i = 0; i < 6; ++i) {
        std::string p = m_dir / ("share/acme/2010-002/big" + std::to_string(i) + ".pdf");
        if (exists(p)) {
            ++kept;
            EXPECT_EQ(slurp(p), big) << p;
        }
    }
    for (const char* p : {"share/acme/2010-001/brief.pdf", "share/acme/2010-001/letter.docx",
                          "share/acme/2010-001/scratch.tmp"}) {
        if (exists(m_dir / p)) ++kept;
    }
    EXPECT_EQ(kept, 7);
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    auto entries = payloads();
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0]["type"], "disposal");
    EXPECT_EQ(entries[1]["type"], "disposal");
    EXPECT_EQ(entries[2]["type"], "checkpoint");
    EXPECT_EQ(entries[2]["pass"]["stopped"], true);
    auto verify = lethe("certs verify --config " + shell_quote(config()));
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    auto status = lethe("status --config " + shell_quote(config()));
    EXPECT_NE(status.out.find("stopped: 2 disposed"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("stopped before it handled every due file"), std::string::npos);

    // The next pass picks up where this one stopped.
    auto once = lethe("--log-target stderr agent --once --config " + shell_quote(config()));
    EXPECT_EQ(once.code, 0) << once.err;
    for (int i = 0; i < 6; ++i) {
        EXPECT_FALSE(exists(m_dir / ("share/acme/2010-002/big" + std::to_string(i) + ".pdf")));
    }
}

TEST_F(AgentE2E, AFatalConfigErrorAtStartExitsNonZeroWithOneLineAndNeverReportsReady) {
    keygen();
    write_config("5x", "");
    NotifySocket sock(m_dir / "notify");
    pid_t pid = start(agent_args(), notify_env(sock));
    EXPECT_EQ(wait_exit(pid), 2);
    std::string log = agent_output();
    EXPECT_NE(log.find("interval '5x': unknown unit 'x'"), std::string::npos) << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    ASSERT_TRUE(sock.wait_for("STATUS=failed to start")) << sock.seen();
    EXPECT_EQ(sock.seen().find("READY=1"), std::string::npos) << sock.seen();

    write_config("1h", "25:00-06:00");
    auto r = lethe("--log-target stderr agent --once --config " + shell_quote(config()));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("window '25:00-06:00': expected local times"), std::string::npos) << r.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
}

TEST_F(AgentE2E, OnceActsOnlyInsideTheWindow) {
    keygen();
    write_config("1h", "20:00-06:00");
    auto outside = lethe("--log-target stderr agent --once --now 2026-11-25T12:00:00Z --config " +
                             shell_quote(config()),
                         "TZ=UTC");
    EXPECT_EQ(outside.code, 0) << outside.err;
    EXPECT_NE(outside.err.find("outside the window 20:00-06:00"), std::string::npos) << outside.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "state/ledger.jsonl"));

    auto inside = lethe("--log-target stderr agent --once --now 2026-11-25T23:30:00Z --config " +
                            shell_quote(config()),
                        "TZ=UTC");
    EXPECT_EQ(inside.code, 0) << inside.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_EQ(payloads().size(), 4u);
}

TEST_F(AgentE2E, APassStopsBetweenFilesWhenTheWindowCloses) {
    keygen();
    write_config("1h", "20:00-06:00");
    // The clock reads 05:59:00 when the pass starts, 05:59:30 before the first file and
    // 06:00:00, outside the window, before the second.
    auto r = lethe(
        "--log-target stderr agent --once --now 2026-11-26T05:59:00Z "
        "--test-clock-step 30 --config " +
            shell_quote(config()),
        "TZ=UTC");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("the window 20:00-06:00 closed: the pass stopped between two files"),
              std::string::npos)
        << r.err;
    auto entries = payloads();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0]["type"], "disposal");
    EXPECT_EQ(entries[1]["pass"]["stopped"], true);
    int kept = 0;
    for (const char* p : {"share/acme/2010-001/brief.pdf", "share/acme/2010-001/letter.docx",
                          "share/acme/2010-001/scratch.tmp"}) {
        if (exists(m_dir / p)) ++kept;
    }
    EXPECT_EQ(kept, 2);
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
}

TEST_F(AgentE2E, ConfigCheckListsEveryProblemAndPassesWhenAllIsWell) {
    auto bad = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.out.find("ok: schedule 'firm-2026' version 3"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("FAILED: signing key"), std::string::npos) << bad.out;
    keygen();
    auto good = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(good.code, 0) << good.out;
    EXPECT_NE(good.out.find("ok: root 'clients' at " + (m_dir / "share")), std::string::npos)
        << good.out;
    EXPECT_EQ(good.out.find("FAILED"), std::string::npos) << good.out;

    ::rename((m_dir / "share").c_str(), (m_dir / "moved").c_str());
    write_config("0m", "");
    auto two = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(two.code, 2);
    EXPECT_NE(two.out.find("FAILED: timing: " + config() +
                           ":5:12: [agent]: interval '0m': must be at least one minute"),
              std::string::npos)
        << two.out;
    EXPECT_NE(two.out.find("FAILED: root 'clients'"), std::string::npos) << two.out;
}

TEST_F(AgentE2E, UnitDropinMakesExactlyTheRootsWritable) {
    auto r = lethe("config unit-dropin --config " + shell_quote(config()));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("[Service]\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ReadWritePaths=\"" + (m_dir / "share") + "\"\n"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("ReadWritePaths=\"" + (m_dir / "state") + "\"\n"), std::string::npos)
        << r.out;
    // The temporary folder lies in /tmp, which the unit would otherwise hide.
    if (m_dir.path().rfind("/tmp/", 0) == 0) {
        EXPECT_NE(r.out.find("PrivateTmp=no\n"), std::string::npos) << r.out;
    }
    EXPECT_EQ(r.out.find("ProtectHome"), std::string::npos) << r.out;
}

TEST_F(AgentE2E, StatusShowsAFailedPassAndItsReason) {
    keygen();
    std::string cfg = slurp(config());
    m_dir.write("lethe.toml", std::regex_replace(cfg, std::regex("max_fraction_per_root = 1.0"),
                                                 "max_fraction_per_root = 0.1"));
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 2) << run.err;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    auto status = lethe("status --config " + shell_quote(config()));
    ASSERT_EQ(status.code, 0) << status.err;
    EXPECT_NE(status.out.find("FAILED: refusing the pass: 3 of 4 files in root 'clients'"),
              std::string::npos)
        << status.out;
    EXPECT_NE(status.out.find("warning:    the last pass failed"), std::string::npos) << status.out;
}

TEST_F(AgentE2E, StatusBeforeAnyPassSaysSo) {
    auto r = lethe("status --config " + shell_quote(config()));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("last pass:  none recorded yet"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("next pass:  due now (`lethe agent`: every 1h, window any time)"),
              std::string::npos)
        << r.out;
}

}  // namespace
}  // namespace lethe::testing
