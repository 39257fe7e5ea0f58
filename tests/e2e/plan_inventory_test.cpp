// End-to-end tests of `lethe plan` (client filter, horizon, walk counts, odd names) and
// `lethe inventory` (a client access request), on a temporary share with two clients.

#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::firm_schedule;
using testing::shell_quote;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class PlanInventoryE2E : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", firm_schedule({.scratch = false}));
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                    "[[root]]\nname = \"archive-share\"\npath = \"old\"\n");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/notes.txt", "in no category", "2005-01-01");
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
        m_dir.write("share/globex/2011-002/memo.docx", "other client", "2011-01-01");
        m_dir.write("old/acme/1999-001/deed.pdf", "old deed", "1999-03-01");
        m_dir.write("outside/secret.pdf", "never listed", "2001-01-01");
        EXPECT_EQ(::symlink((m_dir / "outside").c_str(), (m_dir / "share/acme/escape").c_str()),
                  0);
    }

    Output lethe(const std::string& args) {
        Output o;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        std::string cmd = shell_quote(LETHE_BINARY) + " " + args + " --config " +
                          shell_quote(m_dir / "lethe.toml") + " >" + shell_quote(out) + " 2>" +
                          shell_quote(err);
        int status = std::system(cmd.c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }

    static std::vector<nlohmann::json> lines(const std::string& out) {
        std::vector<nlohmann::json> objects;
        std::istringstream in(out);
        for (std::string line; std::getline(in, line);) objects.push_back(nlohmann::json::parse(line));
        return objects;
    }

    TempDir m_dir;
};

TEST_F(PlanInventoryE2E, PlanForOneClientListsOnlyThatClientsFiles) {
    Output o = lethe("plan --json --client acme --now 2026-11-25");
    ASSERT_EQ(o.code, 0) << o.err;
    auto objects = lines(o.out);
    ASSERT_FALSE(objects.empty());
    std::set<std::string> paths;
    for (size_t i = 0; i + 1 < objects.size(); ++i) {
        EXPECT_EQ(objects[i]["client"], "acme");
        paths.insert(objects[i]["root"].get<std::string>() + ":" +
                     objects[i]["path"].get<std::string>());
    }
    EXPECT_EQ(paths, (std::set<std::string>{"clients:acme/2010-001/brief.pdf",
                                             "archive-share:acme/1999-001/deed.pdf"}));
    const auto& summary = objects.back();
    EXPECT_EQ(summary["type"], "summary");
    EXPECT_EQ(summary["client"], "acme");
    EXPECT_EQ(summary["by_status"]["due"]["files"], 2);
    EXPECT_EQ(summary["roots"]["clients"]["symlinks"], 1);  // counted, never followed
}

TEST_F(PlanInventoryE2E, PlanDueWithinCountsWhatFallsDueByTheHorizon) {
    Output o = lethe("plan --json --root clients --now 2031-01-01 --due-within 1y");
    ASSERT_EQ(o.code, 0) << o.err;
    auto objects = lines(o.out);
    ASSERT_FALSE(objects.empty());
    const auto& summary = objects.back();
    EXPECT_EQ(summary["due_within"]["until"], "2032-01-01");
    EXPECT_EQ(summary["due_within"]["files"], 1);  // new.pdf expires 2031-06-01
    EXPECT_EQ(summary["roots"].size(), 1u);
    Output unknown = lethe("plan --root nowhere");
    EXPECT_EQ(unknown.code, 2);
    EXPECT_NE(unknown.err.find("nowhere"), std::string::npos) << unknown.err;
}

TEST_F(PlanInventoryE2E, OddNamesStayExactInJsonAndOnOneLineOnTheTerminal) {
    std::string newline_name = "acme/2010-001/two\nlines.pdf";
    std::string latin1_name = "acme/2010-001/caf\xe9.pdf";
    m_dir.write("share/" + newline_name, "x", "2010-01-01");
    m_dir.write("share/" + latin1_name, "y", "2010-01-01");
    ASSERT_EQ(::mkfifo((m_dir / "share/acme/pipe").c_str(), 0600), 0);

    Output json = lethe("plan --json --root clients --now 2026-11-25");
    ASSERT_EQ(json.code, 0) << json.err;
    auto objects = lines(json.out);
    std::set<std::string> exact;
    for (size_t i = 0; i + 1 < objects.size(); ++i) {
        if (objects[i].contains("path_b64")) {
            exact.insert(*util::base64_decode(objects[i]["path_b64"].get<std::string>()));
        } else {
            exact.insert(objects[i]["path"].get<std::string>());
        }
    }
    EXPECT_EQ(exact.count(newline_name), 1u);
    EXPECT_EQ(exact.count(latin1_name), 1u);
    const auto& root = objects.back()["roots"]["clients"];
    EXPECT_EQ(root["newline_names"], 1);
    EXPECT_EQ(root["non_utf8_names"], 1);
    EXPECT_EQ(root["fifos"], 1);

    Output text = lethe("plan --root clients --now 2026-11-25");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("acme/2010-001/two\\x0alines.pdf"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("1 name with a newline"), std::string::npos) << text.out;
}

TEST_F(PlanInventoryE2E, InventoryListsEverythingKeptAboutAClientAcrossRoots) {
    Output o = lethe("inventory --json --client acme --now 2026-11-25");
    ASSERT_EQ(o.code, 0) << o.err;
    auto objects = lines(o.out);
    ASSERT_EQ(objects.size(), 5u) << o.out;
    std::map<std::string, nlohmann::json> by_path;
    for (size_t i = 0; i + 1 < objects.size(); ++i) {
        by_path[objects[i]["root"].get<std::string>() + ":" +
                objects[i]["path"].get<std::string>()] = objects[i];
    }
    ASSERT_EQ(by_path.size(), 4u);
    const auto& brief = by_path["clients:acme/2010-001/brief.pdf"];
    EXPECT_EQ(brief["category"], "client-matter");
    EXPECT_EQ(brief["matter"], "2010-001");
    EXPECT_EQ(brief["size"], 16);
    EXPECT_EQ(brief["expires"], "2017-05-01");
    EXPECT_EQ(brief["action"], "sanitize");
    EXPECT_EQ(brief["status"], "due");
    EXPECT_EQ(by_path["clients:acme/2024-007/new.pdf"]["status"], "not-due");
    EXPECT_EQ(by_path["archive-share:acme/1999-001/deed.pdf"]["expires"], "2006-03-01");
    // Not in any category, but still the client's: listed, and marked as never disposed of.
    const auto& notes = by_path["clients:acme/2010-001/notes.txt"];
    EXPECT_TRUE(notes["category"].is_null());
    EXPECT_EQ(notes["status"], "in-no-category");
    EXPECT_EQ(notes["matter"], "2010-001");
    const auto& summary = objects.back();
    EXPECT_EQ(summary["type"], "summary");
    EXPECT_EQ(summary["files"], 4);
    EXPECT_EQ(summary["by_root"]["archive-share"]["files"], 1);

    Output matter = lethe("inventory --client acme --matter 2010-001 --now 2026-11-25");
    ASSERT_EQ(matter.code, 0) << matter.err;
    EXPECT_NE(matter.out.find("brief.pdf"), std::string::npos) << matter.out;
    EXPECT_NE(matter.out.find("notes.txt"), std::string::npos) << matter.out;
    EXPECT_EQ(matter.out.find("new.pdf"), std::string::npos) << matter.out;
    EXPECT_EQ(matter.out.find("memo.docx"), std::string::npos) << matter.out;
    EXPECT_EQ(matter.out.find("secret"), std::string::npos) << matter.out;
    EXPECT_NE(matter.out.find("2 files"), std::string::npos) << matter.out;
}

// A file pinned to a category with the user.lethe.category attribute belongs to that
// category only. The inventory and `lethe hold show` read the attribute as the plan does, so
// all three agree on where the file stands.
TEST_F(PlanInventoryE2E, InventoryAndHoldShowReadThePinAsThePlanDoes) {
    m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx"]
retain = "7y"
action = "sanitize"

[[category]]
id = "scratch"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "tmp"]
retain = "30d"
action = "delete"
)");
    // Without the pin, client-matter keeps new.pdf longest (until 2031); pinned, it is
    // scratch, due since 2024-07-01.
    const std::string pinned = m_dir / "share/acme/2024-007/new.pdf";
    ASSERT_EQ(::setxattr(pinned.c_str(), "user.lethe.category", "scratch", 7, 0), 0)
        << "user xattrs on the test folder";

    Output plan = lethe("plan --json --client acme --now 2026-11-25");
    ASSERT_EQ(plan.code, 0) << plan.err;
    nlohmann::json planned;
    for (const auto& j : lines(plan.out)) {
        if (j.value("path", "") == "acme/2024-007/new.pdf") planned = j;
    }
    ASSERT_TRUE(planned.is_object()) << plan.out;
    EXPECT_EQ(planned["category"], "scratch");
    EXPECT_EQ(planned["status"], "due");

    Output inv = lethe("inventory --json --client acme --now 2026-11-25");
    ASSERT_EQ(inv.code, 0) << inv.err;
    nlohmann::json listed;
    for (const auto& j : lines(inv.out)) {
        if (j.value("path", "") == "acme/2024-007/new.pdf") listed = j;
    }
    ASSERT_TRUE(listed.is_object()) << inv.out;
    for (const char* key : {"category", "status", "expires", "action", "trigger_date"}) {
        EXPECT_EQ(listed[key], planned[key]) << key << ": " << inv.out;
    }
    EXPECT_EQ(listed["expires"], "2024-07-01");

    // A hold is recorded in the ledger before it applies: the agent needs its signing key.
    ASSERT_EQ(lethe("keygen").code, 0);
    ASSERT_EQ(lethe("hold add LIT-1 --reason 'Acme v Bolt' --matter 2024-007 --by alice").code,
              0);
    Output show = lethe("hold show LIT-1");
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("now:     1 file (11 B, 11 bytes), 1 of them due and kept only by "
                            "holds"),
              std::string::npos)
        << show.out;
}

TEST_F(PlanInventoryE2E, InventoryWithoutAClientIsRefused) {
    Output o = lethe("inventory");
    EXPECT_EQ(o.code, 2);
    Output empty = lethe("inventory --client ''");
    EXPECT_EQ(empty.code, 2);
    EXPECT_NE(empty.err.find("--client"), std::string::npos) << empty.err;
}

}  // namespace
}  // namespace lethe
