// End-to-end tests of disposition review: the built `lethe` binary on a temporary share,
// checked the way a records manager and an auditor would (the share, the queue, the ledger).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <sstream>

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

class ReviewE2E : public ::testing::Test {
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
review = true

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"
)");
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "max_fraction_per_root = 1.0\n"
                    "[[root]]\nname = \"clients\"\npath = \"share\"\n");
        m_dir.write("share/acme/2010-001/brief.pdf", "brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.pdf", "letter", "2010-05-01");
        m_dir.write("share/bolt/2010-009/d.pdf", "bolt d", "2010-05-01");
        m_dir.write("share/bolt/2024-001/new.pdf", "recent", "2024-05-01");
        m_dir.write("share/old.tmp", "scratch", "2012-01-01");
        CliResult k = lethe("keygen " + config());
        EXPECT_EQ(k.code, 0) << k.err;
    }

    CliResult lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    std::string config() const { return "--config " + shell_word(m_dir / "lethe.toml"); }

    std::vector<nlohmann::json> of_type(const std::string& type) {
        std::vector<nlohmann::json> out;
        for (auto& p : testing::ledger_payloads(m_dir / "state/ledger.jsonl")) {
            if (p["type"] == type) out.push_back(p);
        }
        return out;
    }

    // The queue as `lethe review list --json --all` prints it, by path.
    std::map<std::string, nlohmann::json> queue() {
        CliResult list = lethe("review list --json --all " + config());
        EXPECT_EQ(list.code, 0) << list.err;
        std::map<std::string, nlohmann::json> items;
        std::istringstream lines(list.out);
        for (std::string line; std::getline(lines, line);) {
            auto j = nlohmann::json::parse(line);
            items[j["path"].get<std::string>()] = j;
        }
        return items;
    }

    std::string id_of(const std::string& path) { return queue()[path]["id"].get<std::string>(); }

    std::optional<nlohmann::json> disposal_of(const std::string& path) {
        for (auto& d : of_type("disposal")) {
            if (d["path"] == path) return d;
        }
        return std::nullopt;
    }

    void expect_ledger_verifies() {
        CliResult v = lethe("certs verify " + config());
        EXPECT_EQ(v.code, 0) << v.out << v.err;
        EXPECT_NE(v.out.find("intact"), std::string::npos) << v.out;
    }

    TempDir m_dir;
};

TEST_F(ReviewE2E, ADueReviewFileIsQueuedAndKeptByEveryPass) {
    std::map<std::string, std::string> ids;
    for (int pass = 0; pass < 3; ++pass) {
        CliResult run = lethe("run " + config());
        ASSERT_EQ(run.code, 0) << run.err;
        EXPECT_NE(run.out.find("3 awaiting review"), std::string::npos) << run.out;
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "brief");
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.pdf"), "letter");
        EXPECT_EQ(slurp(m_dir / "share/bolt/2010-009/d.pdf"), "bolt d");
        auto items = queue();
        ASSERT_EQ(items.size(), 3u);
        for (const auto& [path, item] : items) {
            EXPECT_EQ(item["state"], "pending") << item.dump();
            if (pass == 0) ids[path] = item["id"];
            EXPECT_EQ(item["id"], ids[path]) << "the id of an item never changes";
        }
    }
    EXPECT_FALSE(exists(m_dir / "share/old.tmp"));  // no review needed: disposed at once

    auto brief = queue()["acme/2010-001/brief.pdf"];
    EXPECT_EQ(brief["root"], "clients");
    EXPECT_EQ(brief["category"], "client-matter");
    EXPECT_EQ(brief["client"], "acme");
    EXPECT_EQ(brief["matter"], "2010-001");
    EXPECT_EQ(brief["size"], 5);
    EXPECT_EQ(brief["action"], "sanitize");
    EXPECT_EQ(brief["expires"], "2017-05-01");
    EXPECT_EQ(brief["sha256"], util::sha256_hex("brief"));
    EXPECT_TRUE(brief["inode"].is_number());
    EXPECT_EQ(brief["mtime"], "2010-05-01T00:00:00Z");

    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("review:     3 pending"), std::string::npos) << status.out;

    CliResult plan = lethe("plan --json " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    int in_review = 0;
    std::istringstream lines(plan.out);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        if (j.value("type", "") == "summary") {
            EXPECT_EQ(j["by_status"]["review"]["files"], 3) << line;
            continue;
        }
        EXPECT_EQ(j["status"], "review") << line;
        EXPECT_EQ(j["review"]["state"], "pending") << line;
        EXPECT_EQ(j["review"]["id"], ids[j["path"].get<std::string>()]) << line;
        ++in_review;
    }
    EXPECT_EQ(in_review, 3);
    CliResult text = lethe("plan " + config());
    EXPECT_NE(text.out.find("(review " + ids["acme/2010-001/brief.pdf"] + ": pending since"),
              std::string::npos)
        << text.out;

    EXPECT_EQ(of_type("disposal").size(), 1u);
    EXPECT_TRUE(of_type("review-approved").empty());
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, AnApprovedFileIsDisposedOfByTheNextPassAndItsCertificateCarriesTheApproval) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string id = id_of("acme/2010-001/brief.pdf");
    CliResult approve = lethe("review approve " + id +
                              " --by 'J. Doe' --note 'client consent of "
                              "2026-11-01' " +
                              config());
    ASSERT_EQ(approve.code, 0) << approve.err;
    EXPECT_NE(approve.out.find(id + " approved"), std::string::npos) << approve.out;
    EXPECT_NE(approve.out.find("ledger entry"), std::string::npos) << approve.out;
    EXPECT_TRUE(exists(m_dir / "share/acme/2010-001/brief.pdf"));  // nothing happens until a pass

    auto approvals = of_type("review-approved");
    ASSERT_EQ(approvals.size(), 1u);
    EXPECT_EQ(approvals[0]["approved_by"], "J. Doe");
    EXPECT_EQ(approvals[0]["note"], "client consent of 2026-11-01");
    EXPECT_EQ(approvals[0]["review"]["id"], id);
    EXPECT_EQ(approvals[0]["review"]["path"], "acme/2010-001/brief.pdf");
    EXPECT_EQ(approvals[0]["review"]["sha256"], util::sha256_hex("brief"));

    CliResult plan = lethe("plan " + config());
    EXPECT_NE(plan.out.find("approved by J. Doe"), std::string::npos) << plan.out;

    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 1 file "), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("2 awaiting review"), std::string::npos) << run.out;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.pdf"), "letter");
    EXPECT_EQ(slurp(m_dir / "share/bolt/2010-009/d.pdf"), "bolt d");

    auto cert = disposal_of("acme/2010-001/brief.pdf");
    ASSERT_TRUE(cert);
    const nlohmann::json& c = *cert;
    EXPECT_EQ(c["action"], "sanitize");
    EXPECT_EQ(c["review"]["id"], id);
    EXPECT_EQ(c["review"]["approved_by"], "J. Doe");
    EXPECT_EQ(c["review"]["approved_at"], approvals[0]["time"]);
    EXPECT_EQ(c["review"]["note"], "client consent of 2026-11-01");
    EXPECT_EQ(c["review"]["approval_seq"], approvals[0]["seq"]);
    EXPECT_EQ(c["review"]["sha256"], c["subject"]["sha256"]);  // the version approved went
    EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex("brief"));

    auto item = queue()["acme/2010-001/brief.pdf"];
    EXPECT_EQ(item["state"], "disposed");
    EXPECT_EQ(item["disposal_seq"], c["seq"]);
    CliResult open_items = lethe("review list " + config());
    EXPECT_EQ(open_items.out.find("brief.pdf"), std::string::npos) << open_items.out;
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("review:     2 pending"), std::string::npos) << status.out;
    // Disposed once: a further pass has nothing more to do with it.
    ASSERT_EQ(lethe("run " + config()).code, 0);
    EXPECT_EQ(of_type("disposal").size(), 2u);  // old.tmp and brief.pdf
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, ARejectedFileIsKeptAndComesBackForReviewAfterTheExtension) {
    ASSERT_EQ(lethe("run --now 2026-01-10 " + config()).code, 0);
    std::string brief = id_of("acme/2010-001/brief.pdf");
    std::string letter = id_of("acme/2010-001/letter.pdf");
    CliResult reject = lethe("review reject " + brief +
                             " --by bob --reason 'client disputes the bill' --extend 6m "
                             "--now 2026-01-10T09:00:00Z " +
                             config());
    ASSERT_EQ(reject.code, 0) << reject.err;
    EXPECT_NE(reject.out.find("is kept; back in review on 2026-07-10"), std::string::npos)
        << reject.out;
    CliResult by_default =
        lethe("review reject " + letter +
              " --by bob --reason 'not yet' --now 2026-01-10T09:05:00Z " + config());
    ASSERT_EQ(by_default.code, 0) << by_default.err;
    EXPECT_NE(by_default.out.find("back in review on 2027-01-10"), std::string::npos)
        << by_default.out;  // the default extension is one year

    auto rejections = of_type("review-rejected");
    ASSERT_EQ(rejections.size(), 2u);
    EXPECT_EQ(rejections[0]["rejected_by"], "bob");
    EXPECT_EQ(rejections[0]["reason"], "client disputes the bill");
    EXPECT_EQ(rejections[0]["extend"], "6m");
    EXPECT_EQ(rejections[0]["until"], "2026-07-10");
    EXPECT_EQ(rejections[0]["review"]["id"], brief);
    EXPECT_EQ(rejections[1]["extend"], "1y");

    ASSERT_EQ(lethe("run --now 2026-07-09 " + config()).code, 0);
    EXPECT_EQ(queue()["acme/2010-001/brief.pdf"]["state"], "rejected");
    CliResult run = lethe("run --now 2026-07-10 " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "brief");  // back in review, kept
    auto item = queue()["acme/2010-001/brief.pdf"];
    EXPECT_EQ(item["state"], "pending");
    EXPECT_EQ(item["id"], brief);
    EXPECT_EQ(item["queued_at"], "2026-07-10T00:00:00Z");
    EXPECT_NE(item["note"].get<std::string>().find("extension"), std::string::npos) << item.dump();
    EXPECT_EQ(queue()["acme/2010-001/letter.pdf"]["state"], "rejected");

    // Now it can be approved, and goes at the next pass.
    ASSERT_EQ(
        lethe("review approve " + brief + " --by bob --now 2026-07-10T10:00:00Z " + config()).code,
        0);
    ASSERT_EQ(lethe("run --now 2026-07-11 " + config()).code, 0);
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.pdf"), "letter");
    auto cert = disposal_of("acme/2010-001/brief.pdf");
    ASSERT_TRUE(cert);
    EXPECT_EQ((*cert)["review"]["approved_at"], "2026-07-10T10:00:00Z");
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, AFileChangedAfterItsApprovalGoesBackToReviewAndIsNotDisposedOf) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string id = id_of("acme/2010-001/brief.pdf");
    ASSERT_EQ(lethe("review approve " + id + " --by alice " + config()).code, 0);
    m_dir.write("share/acme/2010-001/brief.pdf", "brief, amended", "2010-06-01");  // still due

    CliResult plan = lethe("plan " + config());
    EXPECT_NE(plan.out.find("but the file changed since; back in review at the next pass"),
              std::string::npos)
        << plan.out;
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "brief, amended");
    EXPECT_FALSE(disposal_of("acme/2010-001/brief.pdf"));
    auto item = queue()["acme/2010-001/brief.pdf"];
    EXPECT_EQ(item["state"], "pending");
    EXPECT_EQ(item["id"], id);
    EXPECT_EQ(item["sha256"], util::sha256_hex("brief, amended"));
    EXPECT_NE(item["note"].get<std::string>().find("the approval by alice"), std::string::npos)
        << item.dump();

    // Approved again, this version goes; the certificate names the second approval.
    ASSERT_EQ(
        lethe("review approve " + id + " --by alice --note 'amended version' " + config()).code, 0);
    auto approvals = of_type("review-approved");
    ASSERT_EQ(approvals.size(), 2u);
    ASSERT_EQ(lethe("run " + config()).code, 0);
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    auto cert = disposal_of("acme/2010-001/brief.pdf");
    ASSERT_TRUE(cert);
    EXPECT_EQ((*cert)["subject"]["sha256"], util::sha256_hex("brief, amended"));
    EXPECT_EQ((*cert)["review"]["approval_seq"], approvals[1]["seq"]);
    EXPECT_EQ((*cert)["review"]["note"], "amended version");
    expect_ledger_verifies();
}

// Same size, same modification time: only the content hash taken just before acting shows it.
TEST_F(ReviewE2E, ContentChangedBehindAnUnchangedMtimeIsCaughtJustBeforeActing) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string id = id_of("acme/2010-001/brief.pdf");
    ASSERT_EQ(lethe("review approve " + id + " --by alice " + config()).code, 0);
    m_dir.write("share/acme/2010-001/brief.pdf", "BRIEF", "2010-05-01");
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("not the version approved in review " + id), std::string::npos)
        << run.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "BRIEF");
    EXPECT_FALSE(disposal_of("acme/2010-001/brief.pdf"));
    auto item = queue()["acme/2010-001/brief.pdf"];
    EXPECT_EQ(item["state"], "pending");
    EXPECT_EQ(item["sha256"], util::sha256_hex("BRIEF"));
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, AHoldWinsOverAnApproval) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string id = id_of("acme/2010-001/brief.pdf");
    ASSERT_EQ(lethe("review approve " + id + " --by alice " + config()).code, 0);
    ASSERT_EQ(
        lethe("hold add LIT-1 --reason 'Smith v Acme' --client acme --by carol " + config()).code,
        0);
    CliResult plan = lethe("plan " + config());
    EXPECT_NE(plan.out.find("legal hold LIT-1"), std::string::npos) << plan.out;
    for (int pass = 0; pass < 2; ++pass) {
        CliResult run = lethe("run " + config());
        ASSERT_EQ(run.code, 0) << run.err;
        EXPECT_NE(run.out.find("disposed 0 files"), std::string::npos) << run.out;
        EXPECT_NE(run.out.find("2 held"), std::string::npos) << run.out;
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "brief");
    }
    EXPECT_EQ(queue()["acme/2010-001/brief.pdf"]["state"], "approved");  // kept for after the hold
    ASSERT_EQ(lethe("hold release LIT-1 --reason settled --by carol " + config()).code, 0);
    CliResult run = lethe("run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.pdf"), "letter");  // never approved
    auto cert = disposal_of("acme/2010-001/brief.pdf");
    ASSERT_TRUE(cert);
    EXPECT_EQ((*cert)["review"]["approved_by"], "alice");
    EXPECT_EQ((*cert)["holds_checked"]["applied"], "none");
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, ACorruptReviewQueueStopsAllDisposal) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    ASSERT_EQ(
        lethe("review approve " + id_of("acme/2010-001/brief.pdf") + " --by alice " + config())
            .code,
        0);
    m_dir.write("share/later.tmp", "scratch", "2012-01-01");  // due, needs no review
    std::string store = slurp(m_dir / "state/review.json");
    m_dir.write("state/review.json", store.substr(0, store.size() / 2));  // a torn write
    CliResult run = lethe("run " + config());
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("review queue"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("no file will be disposed of"), std::string::npos) << run.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "brief");
    EXPECT_TRUE(exists(m_dir / "share/later.tmp"));
    EXPECT_EQ(lethe("plan " + config()).code, 2);
    EXPECT_EQ(lethe("review list " + config()).code, 2);
    // Nor may a review command paper over it with a fresh queue.
    EXPECT_EQ(lethe("review approve R-2 --by alice " + config()).code, 2);
    CliResult status = lethe("status " + config());
    EXPECT_NE(status.out.find("warning:    review queue"), std::string::npos) << status.out;

    // A deleted queue is rebuilt from the ledger: the approval recorded there stands, the
    // items never decided on are queued again.
    ASSERT_EQ(::unlink((m_dir / "state/review.json").c_str()), 0);
    CliResult deleted = lethe("run " + config());
    EXPECT_EQ(deleted.code, 0) << deleted.err;
    EXPECT_NE(deleted.err.find("was not in review.json; restored from the ledger (approved)"),
              std::string::npos)
        << deleted.err;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.pdf"), "letter");  // never approved
    auto cert = disposal_of("acme/2010-001/brief.pdf");
    ASSERT_TRUE(cert);
    EXPECT_EQ((*cert)["review"]["approval_seq"], of_type("review-approved").at(0)["seq"]);
}

// Runs `lethe run` in a child that pauses between two files (LETHE_TEST_HOOKS) and, while it
// holds the pass lock, rejects the approved file it has not reached yet.
TEST_F(ReviewE2E, ARejectionWhileAPassRunsKeepsTheFileAndThePassEntersIt) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string brief = id_of("acme/2010-001/brief.pdf");
    std::string letter = id_of("acme/2010-001/letter.pdf");
    ASSERT_EQ(lethe("review approve " + brief + " " + letter + " --by alice " + config()).code, 0);

    std::string hooks = m_dir / "hooks";
    m_dir.mkdir("hooks");
    ASSERT_EQ(::mkfifo((hooks + "/paused").c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((hooks + "/resume").c_str(), 0600), 0);
    int paused = ::open((hooks + "/paused").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(paused, 0);
    std::string config_path = m_dir / "lethe.toml";
    std::string out_path = m_dir / "run.out";
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setenv("LETHE_TEST_PAUSE_AFTER", "1", 1);
        ::setenv("LETHE_TEST_PAUSE_DIR", hooks.c_str(), 1);
        int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execl(LETHE_BINARY, "lethe", "run", "--config", config_path.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    pollfd p{paused, POLLIN, 0};
    bool reached = false;
    for (int i = 0; i < 600 && !reached; ++i) {
        if (::poll(&p, 1, 100) > 0 && (p.revents & POLLIN) != 0) reached = true;
        int status = 0;
        if (!reached && ::waitpid(child, &status, WNOHANG) == child) {
            ::close(paused);
            FAIL() << "the pass ended before the pause: " << slurp(out_path);
        }
    }
    ::close(paused);
    ASSERT_TRUE(reached) << slurp(out_path);

    // One approved file is gone; reject the other before the pass reaches it.
    bool brief_left = exists(m_dir / "share/acme/2010-001/brief.pdf");
    bool letter_left = exists(m_dir / "share/acme/2010-001/letter.pdf");
    ASSERT_NE(brief_left, letter_left) << slurp(out_path);
    std::string second = brief_left ? brief : letter;
    std::string second_path = brief_left ? "acme/2010-001/brief.pdf" : "acme/2010-001/letter.pdf";
    CliResult reject =
        lethe("review reject " + second + " --by bob --reason 'new claim' " + config());
    EXPECT_EQ(reject.code, 0) << reject.err;
    EXPECT_NE(reject.out.find("ledger entry"), std::string::npos) << reject.out;

    int resume = -1;
    for (int i = 0; i < 600 && resume < 0; ++i) {
        resume = ::open((hooks + "/resume").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (resume >= 0) break;
        ASSERT_EQ(errno, ENXIO);
        int early = 0;
        ASSERT_NE(::waitpid(child, &early, WNOHANG), child) << slurp(out_path);
        ::poll(nullptr, 0, 100);
    }
    ASSERT_GE(resume, 0) << slurp(out_path);
    ASSERT_EQ(::write(resume, "\n", 1), 1);
    ::close(resume);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::string run_out = slurp(out_path);
    ASSERT_TRUE(WIFEXITED(status)) << run_out;
    EXPECT_EQ(WEXITSTATUS(status), 0) << run_out;
    EXPECT_NE(run_out.find("disposed 1 file "), std::string::npos) << run_out;

    EXPECT_TRUE(exists(m_dir / ("share/" + second_path)));
    EXPECT_EQ(queue()[second_path]["state"], "rejected");
    // The pass, as the ledger's writer, entered the rejection before acting on the file it
    // would otherwise have disposed of, and before its checkpoint.
    auto entries = testing::ledger_payloads(m_dir / "state/ledger.jsonl");
    ASSERT_GE(entries.size(), 4u);
    const auto& last = entries.back();
    const auto& rejection = entries[entries.size() - 2];
    const auto& disposal = entries[entries.size() - 3];
    EXPECT_EQ(disposal["type"], "disposal");
    EXPECT_EQ(rejection["type"], "review-rejected");
    EXPECT_EQ(rejection["review"]["id"], second);
    EXPECT_EQ(last["type"], "checkpoint");
    EXPECT_EQ(last["pass"]["in_review"], 2);  // the rejected one and bolt's, never approved
    EXPECT_FALSE(disposal_of(second_path));
    expect_ledger_verifies();
}

TEST_F(ReviewE2E, BadReviewCommandsAreRefusedAndChangeNothing) {
    ASSERT_EQ(lethe("run " + config()).code, 0);
    std::string id = id_of("acme/2010-001/brief.pdf");
    CliResult unknown = lethe("review approve " + id + " R-99 --by alice " + config());
    EXPECT_EQ(unknown.code, 2);
    EXPECT_NE(unknown.err.find("R-99: no such item"), std::string::npos) << unknown.err;
    EXPECT_EQ(queue()["acme/2010-001/brief.pdf"]["state"], "pending");  // all or nothing
    EXPECT_EQ(lethe("review approve " + id + " " + config()).code, 2);  // --by is required
    EXPECT_EQ(lethe("review approve " + id + " --by '' " + config()).code, 2);
    EXPECT_EQ(lethe("review reject " + id + " --by bob " + config()).code, 2);  // no --reason
    EXPECT_EQ(
        lethe("review reject " + id + " --by bob --reason x --extend permanent " + config()).code,
        2);
    EXPECT_EQ(lethe("review reject " + id + " --by bob --reason x --extend 7 " + config()).code, 2);
    EXPECT_TRUE(of_type("review-approved").empty());
    EXPECT_TRUE(of_type("review-rejected").empty());
    ASSERT_EQ(lethe("review approve " + id + " --by alice " + config()).code, 0);
    CliResult twice = lethe("review approve " + id + " --by alice " + config());
    EXPECT_EQ(twice.code, 2);
    EXPECT_NE(twice.err.find("already approved"), std::string::npos) << twice.err;
    EXPECT_EQ(of_type("review-approved").size(), 1u);
}

}  // namespace
}  // namespace lethe
