// The journal as IT reads it: a pass's events reach a real systemd-journald with their
// structured fields, and `journalctl -o json` shows them. CI runs as root without systemd
// as PID 1, so the test starts journald by hand when no journal socket exists and stops it
// afterwards.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/e2e/service_fixture.hpp"
#include "tests/support/hand_started_journald.hpp"

namespace lethe::testing {
namespace {

class JournalE2E : public ServiceFixture {};

TEST_F(JournalE2E, APassLogsStructuredFieldsThatJournalctlShows) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start systemd-journald by hand";
    if (::access("/lib/systemd/systemd-journald", X_OK) != 0) {
        GTEST_FAIL() << "systemd-journald is missing: run scripts/install-deps";
    }
    HandStartedJournald journald;
    ASSERT_TRUE(journald.ready()) << "systemd-journald did not start";

    std::string root = "clients-" + boost::filesystem::unique_path("%%%%%%%%").string();
    write_config("1h", "", root);
    keygen();
    auto since = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 1;
    // Default log target: stderr is a file here, so lines go to stderr and to the journal.
    auto run = lethe("run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("lethe: info: sanitized " + root + "/acme/2010-001/brief.pdf"),
              std::string::npos)
        << run.err;

    ASSERT_TRUE(run_capture("journalctl --sync 2>&1").empty());
    std::string json = run_capture(
        "journalctl -o json --no-pager SYSLOG_IDENTIFIER=lethe --since @" + std::to_string(since));
    std::vector<nlohmann::json> mine;  // this pass's records: they name our unique root
    std::vector<nlohmann::json> all;
    std::istringstream lines(json);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object()) continue;
        all.push_back(j);
        if (j.value("LETHE_ROOT", "") == root) mine.push_back(j);
    }
    ASSERT_EQ(mine.size(), 3u) << json;
    std::string pid = mine[0].value("_PID", "");
    bool saw_brief = false;
    for (const auto& j : mine) {
        EXPECT_EQ(j.value("MESSAGE_ID", ""), "0ddab0bc14d496526bfb5a49a09a06e8") << j;  // disposed
        EXPECT_EQ(j.value("PRIORITY", ""), "6") << j;
        EXPECT_FALSE(j.value("LETHE_CERT_SEQ", "").empty()) << j;
        if (j.value("LETHE_PATH", "") == "acme/2010-001/brief.pdf") {
            saw_brief = true;
            EXPECT_EQ(j.value("LETHE_CATEGORY", ""), "client-matter");
            EXPECT_EQ(j.value("LETHE_ACTION", ""), "sanitize");
        }
        if (j.value("LETHE_PATH", "") == "acme/2010-001/scratch.tmp") {
            EXPECT_EQ(j.value("LETHE_CATEGORY", ""), "scratch");
            EXPECT_EQ(j.value("LETHE_ACTION", ""), "delete");
        }
    }
    EXPECT_TRUE(saw_brief);
    // The same process logged the start and the end of the pass with their own ids.
    bool started = false;
    bool finished = false;
    for (const auto& j : all) {
        if (j.value("_PID", "") != pid) continue;
        if (j.value("MESSAGE_ID", "") == "1c6e8de360ca9a70b2c96bda37e48b6c") started = true;
        if (j.value("MESSAGE_ID", "") == "4bba0fb16eddbb8f66eb16fa5f9fa66f") {
            finished = true;
            EXPECT_EQ(j.value("LETHE_CERT_SEQ", ""), "4") << j;  // the checkpoint
            // The head is the hash of the ledger's last line, the checkpoint.
            std::string ledger = slurp(m_dir / "state/ledger.jsonl");
            ledger.pop_back();
            EXPECT_EQ(j.value("LETHE_LEDGER_HEAD", ""),
                      util::sha256_hex(ledger.substr(ledger.rfind('\n') + 1)))
                << j;
            EXPECT_NE(j.value("MESSAGE", "").find("3 disposed"), std::string::npos) << j;
        }
    }
    EXPECT_TRUE(started) << json;
    EXPECT_TRUE(finished) << json;
}

// A file name with a newline, a carriage return and an escape sequence cannot forge a journal
// line: MESSAGE shows it escaped on one line, LETHE_PATH keeps its exact bytes (journalctl
// shows a field with control characters as an array of byte values).
TEST_F(JournalE2E, AControlCharacterInANameIsEscapedInMessageAndExactInLethePath) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start systemd-journald by hand";
    if (::access("/lib/systemd/systemd-journald", X_OK) != 0) {
        GTEST_FAIL() << "systemd-journald is missing: run scripts/install-deps";
    }
    HandStartedJournald journald;
    ASSERT_TRUE(journald.ready()) << "systemd-journald did not start";

    std::string root = "clients-" + boost::filesystem::unique_path("%%%%%%%%").string();
    write_config("1h", "", root);
    keygen();
    const std::string name = "memo\nlethe: warning: forged line\r\x1b[31mred.pdf";
    m_dir.write("share/acme/2010-001/" + name, "privileged memo", "2010-05-01");
    auto since = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 1;
    auto run = lethe("--log-target journal run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 0) << run.err;

    ASSERT_TRUE(run_capture("journalctl --sync 2>&1").empty());
    std::string json = run_capture(
        "journalctl -o json --no-pager SYSLOG_IDENTIFIER=lethe --since @" + std::to_string(since));
    bool found = false;
    std::istringstream lines(json);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object() || j.value("LETHE_ROOT", "") != root) continue;
        ASSERT_TRUE(j["MESSAGE"].is_string()) << j;  // an array would mean raw control bytes
        std::string message = j["MESSAGE"].get<std::string>();
        EXPECT_EQ(message.find_first_of("\n\r\x1b"), std::string::npos) << j;
        if (message.find("memo\\x0alethe: warning: forged line\\x0d\\x1b[31mred.pdf") ==
            std::string::npos) {
            continue;
        }
        found = true;
        std::string path = "acme/2010-001/" + name;
        ASSERT_TRUE(j["LETHE_PATH"].is_array()) << j;
        EXPECT_EQ(j["LETHE_PATH"].get<std::vector<unsigned char>>(),
                  std::vector<unsigned char>(path.begin(), path.end()))
            << j;
    }
    EXPECT_TRUE(found) << json;
    // As journalctl shows it to a person: no line of its own for the forged text.
    std::string text = run_capture("journalctl -o cat --no-pager SYSLOG_IDENTIFIER=lethe --since @" +
                                   std::to_string(since));
    EXPECT_EQ(text.find("\nlethe: warning: forged"), std::string::npos) << text;
    EXPECT_NE(text.find("forged line"), std::string::npos) << text;
}

TEST_F(JournalE2E, ATerminalOrAMissingJournalGetsReadableLines) {
    // --log-target stderr is what a terminal gets; the lines are the readable form.
    keygen();
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("lethe: info: pass started over 1 root(s)"), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find("lethe: info: deleted clients/acme/2010-001/scratch.tmp"),
              std::string::npos)
        << run.err;
    auto quiet =
        lethe("--log-level warning --log-target stderr run --config " + shell_quote(config()));
    ASSERT_EQ(quiet.code, 0) << quiet.err;
    EXPECT_EQ(quiet.err.find("lethe: info:"), std::string::npos) << quiet.err;
    EXPECT_EQ(lethe("--log-target syslog status --config " + shell_quote(config())).code, 2);
}

}  // namespace
}  // namespace lethe::testing
