// End-to-end tests of the life of archived and encrypted copies: `archive_for` expiry of
// whole archives, holds on archived members, the inventory of archived copies, and a
// corrupt archive index (fail closed). Time is injected with the test build's --now.

#include <gtest/gtest.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>

#include "agent/util/sha256.hpp"
#include "tests/support/e2e.hpp"

namespace lethe {
namespace {

using testing::CommandOutput;
using testing::exists;
using testing::names_in;
using testing::payloads_of;
using testing::sh_quote;
using testing::slurp;
using testing::TempDir;

// A share whose closed matters a first pass archives (archive_for 3y) and an HR folder
// whose files are encrypted in place (archive_for 2y).
void prepare_share(const TempDir& m_dir) {
    {
        m_dir.write("policies/firm.toml",
                    testing::firm_schedule({.action = "archive",
                                            .client_matter_extra = "archive_for = \"3y\"\n",
                                            .scratch = false}) +
                        R"(
[[category]]
id = "hr-files"
paths = ["hr/**"]
extensions = ["xlsx"]
retain = "3y"
action = "encrypt"
archive_for = "2y"
)");
        CommandOutput k =
            testing::run_lethe(m_dir, "keygen --age-identity " + sh_quote(m_dir / "rm.key"));
        ASSERT_EQ(k.code, 0) << k.err;
        std::string recipient = k.out.substr(0, k.out.find('\n'));
        m_dir.write("lethe.toml",
                    testing::firm_config({.sections = "[archive]\ndestination = \"archive\"\n"
                                                      "recipients = [\"" +
                                                      recipient + "\"]\n"}));
        m_dir.mkdir("archive");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.docx", "letter", "2011-02-03");
        m_dir.write("share/acme/2012-004/memo.pdf", "closing memo", "2012-01-01");
        m_dir.write("share/acme/2025-001/new.pdf", "recent work", "2025-11-01");
        ASSERT_EQ(
            testing::run_lethe(m_dir, "keygen --config " + sh_quote(m_dir / "lethe.toml")).code, 0);
    }
}

class ArchiveLifecycleE2E : public ::testing::Test {
  protected:
    void SetUp() override { prepare_share(m_dir); }

    CommandOutput lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    [[nodiscard]] std::string config() const {
        return "--config " + sh_quote(m_dir / "lethe.toml");
    }
    CommandOutput run_at(const std::string& when) {
        return lethe("run " + config() + " --now " + when + "T12:00:00Z");
    }
    std::string archive_of(const std::string& matter) {
        for (const auto& n : names_in(m_dir / "archive")) {
            if (n.find(matter) != std::string::npos) return n;
        }
        return "";
    }
    std::vector<nlohmann::json> json_lines(const std::string& text) {
        std::vector<nlohmann::json> out;
        size_t pos = 0;
        while (pos < text.size()) {
            size_t end = text.find('\n', pos);
            out.push_back(nlohmann::json::parse(text.substr(pos, end - pos)));
            pos = end + 1;
        }
        return out;
    }

    TempDir m_dir;
};

TEST_F(ArchiveLifecycleE2E, ArchivesAreSanitizedWhenEveryCopyExpiredUnlessAHoldCoversAMember) {
    ASSERT_EQ(run_at("2026-11-26").code, 0);
    std::string a1 = archive_of("2010-001");
    std::string a2 = archive_of("2012-004");
    ASSERT_FALSE(a1.empty());
    ASSERT_FALSE(a2.empty());
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));

    // The access request sees the archived copies, with the day each one expires.
    CommandOutput inv = lethe("inventory --client acme --json --now 2026-11-27 " + config());
    ASSERT_EQ(inv.code, 0) << inv.err;
    std::vector<nlohmann::json> archived;
    for (auto& j : json_lines(inv.out)) {
        if (j.value("type", "") == "archived") archived.push_back(j);
        if (j.value("type", "") == "summary") {
            EXPECT_EQ(j["archived"]["copies"], 3);
            EXPECT_EQ(j["archived"]["archives"], 2);
        }
    }
    ASSERT_EQ(archived.size(), 3u) << inv.out;
    for (const auto& j : archived) {
        EXPECT_EQ(j["expires"], "2029-11-26");
        EXPECT_EQ(j["archived"], "2026-11-26");
        EXPECT_EQ(j["status"], "archived");
        EXPECT_EQ(j["client"], "acme");
    }
    EXPECT_EQ(
        archived[0]["archive"],
        archived[0]["path"].get<std::string>().find("2010-001") != std::string::npos ? a1 : a2);

    // A hold on one matter keeps that archive, and says so everywhere.
    ASSERT_EQ(
        lethe("hold add LIT-9 --reason 'Acme v Bolt' --matter 2012-004 --by alice " + config())
            .code,
        0);
    CommandOutput text_inv = lethe("inventory --client acme --now 2026-11-27 " + config());
    ASSERT_EQ(text_inv.code, 0) << text_inv.err;
    EXPECT_NE(text_inv.out.find("held LIT-9"), std::string::npos) << text_inv.out;
    EXPECT_NE(text_inv.out.find("acme/2012-004/memo.pdf"), std::string::npos) << text_inv.out;
    CommandOutput show = lethe("hold show LIT-9 " + config());
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("archived: 1 copy "), std::string::npos) << show.out;

    // The day before the copies expire nothing happens to the archives.
    ASSERT_EQ(run_at("2029-11-25").code, 0);
    EXPECT_TRUE(exists(m_dir / ("archive/" + a1)));
    EXPECT_TRUE(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").empty());

    CommandOutput due = run_at("2029-11-26");
    ASSERT_EQ(due.code, 0) << due.err;
    EXPECT_NE(due.out.find("1 expired archive sanitized, 1 kept by holds"), std::string::npos)
        << due.out;
    EXPECT_FALSE(exists(m_dir / ("archive/" + a1)));
    EXPECT_TRUE(exists(m_dir / ("archive/" + a2)));
    EXPECT_EQ(names_in(m_dir / "archive"), std::vector<std::string>{a2});  // no temp left
    auto certs = payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["reason"], "expired");
    EXPECT_EQ(certs[0]["archive"]["name"], a1);
    EXPECT_EQ(certs[0]["archive"]["members"].size(), 2u);
    EXPECT_EQ(certs[0]["action"], "sanitize");
    EXPECT_TRUE(certs[0]["method"]["verified"].get<bool>());
    EXPECT_EQ(certs[0]["subject"]["sha256"], certs[0]["archive"]["sha256"]);
    EXPECT_NE(slurp(m_dir / "state/archives.jsonl").find("\"archive-disposed\""),
              std::string::npos);

    // The inventory no longer lists the sanitized copies; the held one stays.
    CommandOutput after = lethe("inventory --client acme --json --now 2029-11-26 " + config());
    ASSERT_EQ(after.code, 0) << after.err;
    size_t listed = 0;
    for (auto& j : json_lines(after.out)) {
        if (j.value("type", "") != "archived") continue;
        ++listed;
        EXPECT_EQ(j["path"], "acme/2012-004/memo.pdf");
        EXPECT_EQ(j["status"], "held");
        EXPECT_EQ(j["holds"], nlohmann::json::array({"LIT-9"}));
    }
    EXPECT_EQ(listed, 1u);

    // Released, the held archive goes in the next pass.
    ASSERT_EQ(lethe("hold release LIT-9 --reason settled --by alice " + config()).code, 0);
    ASSERT_EQ(run_at("2029-11-27").code, 0);
    EXPECT_TRUE(names_in(m_dir / "archive").empty());
    EXPECT_EQ(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").size(), 2u);
    CommandOutput verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

TEST_F(ArchiveLifecycleE2E, ACorruptArchiveIndexStopsArchiveExpiryAndTheInventory) {
    ASSERT_EQ(run_at("2026-11-26").code, 0);
    auto before = names_in(m_dir / "archive");
    ASSERT_EQ(before.size(), 2u);
    std::string index = slurp(m_dir / "state/archives.jsonl");
    m_dir.write("state/archives.jsonl", index + "{\"type\":\"archive\",\"name\":");

    CommandOutput run = run_at("2030-01-01");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("archives.jsonl line 3"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("archive expiry and erasure stop"), std::string::npos) << run.err;
    EXPECT_EQ(names_in(m_dir / "archive"), before);
    EXPECT_TRUE(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").empty());

    CommandOutput inv = lethe("inventory --client acme " + config());
    EXPECT_EQ(inv.code, 2) << inv.out;
    EXPECT_NE(inv.err.find("archives.jsonl line 3"), std::string::npos) << inv.err;
}

TEST_F(ArchiveLifecycleE2E, MoreExpiredCopiesThanTheGuardAllowsKeepEveryArchive) {
    ASSERT_EQ(run_at("2026-11-26").code, 0);
    auto before = names_in(m_dir / "archive");
    ASSERT_EQ(before.size(), 2u);
    std::string cfg = slurp(m_dir / "lethe.toml");
    m_dir.write("lethe.toml",
                cfg.replace(cfg.find("[agent]\n"), 8, "[agent]\nmax_disposals_per_pass = 2\n"));
    CommandOutput run = run_at("2029-11-26");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("refusing archive expiry: 3 archived copies have expired, more than "
                           "max_disposals_per_pass = 2"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(names_in(m_dir / "archive"), before);
    EXPECT_NE(run.err.find("allow this one pass with `lethe run --confirm-large`"),
              std::string::npos)
        << run.err;

    // The operator confirms: that one pass sanitizes the expired archives.
    CommandOutput confirmed =
        lethe("run --confirm-large " + config() + " --now 2029-11-26T12:00:00Z");
    EXPECT_EQ(confirmed.code, 0) << confirmed.out << confirmed.err;
    EXPECT_NE(confirmed.err.find("allowed by --confirm-large for this pass: 3 archived copies "
                                 "have expired"),
              std::string::npos)
        << confirmed.err;
    EXPECT_TRUE(names_in(m_dir / "archive").empty());
    EXPECT_EQ(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").size(), 2u);
}

TEST_F(ArchiveLifecycleE2E, AnEncryptedCopyKeepsItsRetentionAndIsSanitizedAfterArchiveFor) {
    m_dir.write("share/hr/2019/salaries.xlsx", std::string(70000, 'S'), "2019-01-10");
    ASSERT_EQ(run_at("2026-11-26").code, 0);
    std::string copy = m_dir / "share/hr/2019/salaries.xlsx.age";
    ASSERT_TRUE(exists(copy));
    EXPECT_FALSE(exists(m_dir / "share/hr/2019/salaries.xlsx"));
    char value[32] = {};
    ssize_t n = ::getxattr(copy.c_str(), "user.lethe.trigger_date", value, sizeof value);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(value, static_cast<size_t>(n)), "2019-01-10");

    // The copy's retention runs on from the original's trigger date; the copy itself is
    // kept archive_for (2y) after it was made, then sanitized (never encrypted again).
    CommandOutput plan = lethe("plan --json --due-within 3y --now 2026-11-27 " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    bool listed = false;
    for (auto& j : json_lines(plan.out)) {
        if (j.value("path", "") != "hr/2019/salaries.xlsx.age") continue;
        listed = true;
        EXPECT_EQ(j["category"], "hr-files");
        EXPECT_EQ(j["trigger_date"], "2019-01-10");
        EXPECT_EQ(j["expires"], "2028-11-26");
        EXPECT_EQ(j["action"], "sanitize");
        EXPECT_EQ(j["status"], "not-due");
    }
    EXPECT_TRUE(listed) << plan.out;

    ASSERT_EQ(run_at("2028-11-25").code, 0);
    EXPECT_TRUE(exists(copy));
    std::string copy_sha = util::sha256_hex(slurp(copy));
    ASSERT_EQ(run_at("2028-11-26").code, 0);
    EXPECT_FALSE(exists(copy));
    EXPECT_TRUE(names_in(m_dir / "share/hr/2019").empty());
    auto certs = payloads_of(m_dir / "state/ledger.jsonl", "disposal");
    ASSERT_FALSE(certs.empty());
    const auto& last = certs.back();
    EXPECT_EQ(last["path"], "hr/2019/salaries.xlsx.age");
    EXPECT_EQ(last["action"], "sanitize");
    EXPECT_EQ(last["category"], "hr-files");
    EXPECT_EQ(last["subject"]["sha256"], copy_sha);
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

#ifdef LETHE_TEST_HOOKS
// The crash harness for archive expiry: the expiring pass is killed (SIGKILL) at every step
// of the archive's disposal, then passes run again; the archive is then gone with exactly
// one certificate, the index says so once, and nothing is left behind.
TEST(ArchiveExpiryCrash, AKillAtEveryStepCompletesTheDisposalAndCertifiesItOnce) {
    auto expiring_run = [](const TempDir& dir, const std::string& env) {
        return testing::run_shell(dir, "env " + env + " " + sh_quote(LETHE_BINARY) +
                                           " run --config " + sh_quote(dir / "lethe.toml") +
                                           " --now 2029-11-26T12:00:00Z");
    };
    auto archived = [](const TempDir& dir) {
        EXPECT_EQ(testing::run_lethe(dir, "run --config " + sh_quote(dir / "lethe.toml") +
                                              " --now 2026-11-26T12:00:00Z")
                      .code,
                  0);
        return names_in(dir / "archive");
    };
    std::vector<std::string> steps;
    {
        TempDir dir;
        prepare_share(dir);
        ASSERT_EQ(archived(dir).size(), 2u);
        std::string list = dir / "steps.txt";
        ASSERT_EQ(expiring_run(dir, "LETHE_FAULT_AT=" + sh_quote("list:" + list)).code, 0);
        size_t pos = 0;
        std::string text = slurp(list);
        while (pos < text.size()) {
            size_t end = text.find('\n', pos);
            steps.push_back(text.substr(pos, end - pos));
            pos = end + 1;
        }
    }
    for (const char* step : {"archive-intent-written", "archive-certified"}) {
        EXPECT_NE(std::find(steps.begin(), steps.end(), step), steps.end()) << step;
    }
    std::map<std::string, int> seen;
    for (const std::string& step : steps) {
        std::string label = step + ":" + std::to_string(++seen[step]);
        TempDir dir;
        prepare_share(dir);
        auto before = archived(dir);
        ASSERT_EQ(before.size(), 2u);
        CommandOutput crashed = expiring_run(dir, "LETHE_FAULT_AT=" + label);
        EXPECT_NE(crashed.code, 0) << label;
        CommandOutput again = expiring_run(dir, "");
        ASSERT_EQ(again.code, 0) << label << ": " << again.err;
        EXPECT_TRUE(names_in(dir / "archive").empty()) << label;
        auto certs = payloads_of(dir / "state/ledger.jsonl", "archive-disposal");
        ASSERT_EQ(certs.size(), 2u) << label;
        EXPECT_NE(certs[0]["archive"]["name"], certs[1]["archive"]["name"]) << label;
        for (const auto& c : certs) {
            EXPECT_TRUE(c["method"]["verified"].get<bool>()) << label;
            EXPECT_EQ(c["subject"]["sha256"], c["archive"]["sha256"]) << label;
        }
        std::string index = slurp(dir / "state/archives.jsonl");
        size_t disposed = 0;
        for (size_t p = index.find("archive-disposed"); p != std::string::npos;
             p = index.find("archive-disposed", p + 1)) {
            ++disposed;
        }
        EXPECT_EQ(disposed, 2u) << label << index;
        EXPECT_FALSE(exists(dir / "state/archive-intent.json")) << label;
        EXPECT_EQ(
            testing::run_lethe(dir, "certs verify --config " + sh_quote(dir / "lethe.toml")).code,
            0)
            << label;
    }
    EXPECT_GE(steps.size(), 6u);
}
#endif

}  // namespace
}  // namespace lethe
