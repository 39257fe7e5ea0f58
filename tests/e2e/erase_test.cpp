// End-to-end tests of `lethe erase`: a client's erasure request reaches the shares and
// lethe's archives, keeps what holds and mandates keep, says why, and certifies all of it.

#include <gtest/gtest.h>

#include <algorithm>

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

class EraseE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "billing"
paths = ["{client}/{matter}/billing/**"]
retain = "6y"
action = "sanitize"
erasable = false
mandate = "Tax Code s.147: six years"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx"]
retain = "7y"
action = "archive"
archive_for = "10y"

[[category]]
id = "scratch"
paths = ["{client}/{matter}/**"]
extensions = ["tmp"]
retain = "30d"
action = "delete"
)");
        m_dir.write("lethe.toml",
                    "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                    "max_fraction_per_root = 1.0\nmax_disposals_per_pass = 5\n"
                    "[archive]\ndestination = \"archive\"\n"
                    "[[root]]\nname = \"clients\"\npath = \"share\"\n");
        m_dir.mkdir("archive");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.docx", "letter", "2011-02-03");
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
        m_dir.write("share/acme/2024-007/notes.tmp", "scratch", "2026-11-20");
        m_dir.write("share/acme/2024-007/billing/invoice.xlsx", "invoice 42", "2024-07-01");
        m_dir.write("share/acme/2025-002/deposition.pdf", "held work", "2025-03-01");
        m_dir.write("share/bolt/2024-001/other.pdf", "another client", "2024-01-01");
        ASSERT_EQ(lethe("keygen " + config()).code, 0);
        // The closed matter goes to an archive first.
        ASSERT_EQ(lethe("run " + config() + " --now 2026-11-26T10:00:00Z").code, 0);
        ASSERT_EQ(names_in(m_dir / "archive").size(), 1u);
        ASSERT_EQ(
            lethe("hold add LIT-4 --reason 'Acme v Bolt' --matter 2025-002 --by alice " + config())
                .code,
            0);
    }

    CommandOutput lethe(const std::string& args) { return testing::run_lethe(m_dir, args); }
    [[nodiscard]] std::string config() const {
        return "--config " + sh_quote(m_dir / "lethe.toml");
    }
    CommandOutput erase(const std::string& extra) {
        return lethe("erase --client acme --request ER-2026-17 --by 'R. Manager' " + config() +
                     " --now 2026-11-27T09:00:00Z " + extra);
    }
    std::string snapshot() {
        std::string all;
        for (const char* f : {"state/ledger.jsonl", "state/archives.jsonl"})
            all += slurp(m_dir / f);
        for (const auto& n : names_in(m_dir / "archive")) all += n;
        for (const char* f :
             {"share/acme/2024-007/new.pdf", "share/acme/2024-007/notes.tmp",
              "share/acme/2024-007/billing/invoice.xlsx", "share/acme/2025-002/deposition.pdf",
              "share/bolt/2024-001/other.pdf"}) {
            all += exists(m_dir / f) ? slurp(m_dir / f) : std::string("(gone)");
        }
        return all;
    }

    TempDir m_dir;
};

TEST_F(EraseE2E, ADryRunListsWhatWouldBeErasedAndKeptAndChangesNothing) {
    std::string before = snapshot();
    CommandOutput dry = erase("--dry-run");
    ASSERT_EQ(dry.code, 0) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("would-erase  clients/acme/2024-007/new.pdf  (sanitize)"),
              std::string::npos)
        << dry.out;
    EXPECT_NE(dry.out.find("would-erase  clients/acme/2024-007/notes.tmp  (delete)"),
              std::string::npos)
        << dry.out;
    EXPECT_NE(dry.out.find("would-erase  archive "), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("kept         clients/acme/2025-002/deposition.pdf  (legal hold LIT-4)"),
              std::string::npos)
        << dry.out;
    EXPECT_NE(dry.out.find("kept         clients/acme/2024-007/billing/invoice.xlsx  (category "
                           "billing is not erasable (Tax Code s.147: six years))"),
              std::string::npos)
        << dry.out;
    EXPECT_EQ(dry.out.find("bolt"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("dry run: would erase 2 files (18 B) and 1 archive; would keep 1 by "
                           "holds and 1 for other reasons; nothing was changed"),
              std::string::npos)
        << dry.out;
    EXPECT_EQ(snapshot(), before);
}

// An install where no pass has run yet: state_dir holds only the keys. A dry run must not
// leave a ledger, a lock or a plan behind.
TEST_F(EraseE2E, ADryRunCreatesNothingInStateDir) {
    m_dir.write("fresh.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"fresh\"\n"
                              "[archive]\ndestination = \"archive\"\n"
                              "[[root]]\nname = \"clients\"\npath = \"share\"\n");
    const std::string config = "--config " + sh_quote(m_dir / "fresh.toml");
    ASSERT_EQ(lethe("keygen " + config).code, 0);
    const auto state_before = names_in(m_dir / "fresh");
    const auto keys_before = names_in(m_dir / "fresh/keys");
    ASSERT_EQ(state_before, std::vector<std::string>{"keys"});

    CommandOutput dry = lethe("erase --client acme --request ER-1 --by 'R. Manager' --dry-run " +
                              config + " --now 2026-11-27T09:00:00Z");
    ASSERT_EQ(dry.code, 0) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("would-erase  clients/acme/2024-007/new.pdf"), std::string::npos)
        << dry.out;
    EXPECT_EQ(names_in(m_dir / "fresh"), state_before);
    EXPECT_EQ(names_in(m_dir / "fresh/keys"), keys_before);
}

TEST_F(EraseE2E, ErasesTheClientsFilesAndArchivesKeepsHeldAndMandatedDataAndCertifiesIt) {
    std::string archive = names_in(m_dir / "archive").at(0);
    CommandOutput run = erase("");
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("erased 2 files"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("and 1 archive; kept 1 by holds and 1 for other reasons; 0 failed"),
              std::string::npos)
        << run.out;

    // Gone: not yet due files, the scratch file and the archive of the closed matter.
    EXPECT_FALSE(exists(m_dir / "share/acme/2024-007/new.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2024-007/notes.tmp"));
    EXPECT_TRUE(names_in(m_dir / "archive").empty());
    // Kept: the held matter, the mandated billing record, the other client.
    EXPECT_EQ(slurp(m_dir / "share/acme/2025-002/deposition.pdf"), "held work");
    EXPECT_EQ(slurp(m_dir / "share/acme/2024-007/billing/invoice.xlsx"), "invoice 42");
    EXPECT_EQ(slurp(m_dir / "share/bolt/2024-001/other.pdf"), "another client");
    // The erased files left no new archived or encrypted copy behind.
    EXPECT_TRUE(names_in(m_dir / "share/acme/2024-007").size() == 1u);  // billing/

    std::string ledger = m_dir / "state/ledger.jsonl";
    auto files = payloads_of(ledger, "disposal");
    std::vector<nlohmann::json> erased;
    for (const auto& p : files) {
        if (p.contains("request")) erased.push_back(p);
    }
    ASSERT_EQ(erased.size(), 2u);
    for (const auto& p : erased) {
        EXPECT_EQ(p["request"]["reference"], "ER-2026-17");
        EXPECT_EQ(p["request"]["by"], "R. Manager");
        EXPECT_EQ(p["request"]["client"], "acme");
        EXPECT_EQ(p["reason"], "erasure request");
    }
    auto archives = payloads_of(ledger, "archive-disposal");
    ASSERT_EQ(archives.size(), 1u);
    EXPECT_EQ(archives[0]["archive"]["name"], archive);
    EXPECT_EQ(archives[0]["reason"], "erasure request");
    EXPECT_EQ(archives[0]["request"]["reference"], "ER-2026-17");
    EXPECT_EQ(archives[0]["archive"]["members"].size(), 2u);

    auto summary = payloads_of(ledger, "erasure-request");
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0]["request"]["reference"], "ER-2026-17");
    EXPECT_EQ(summary[0]["erased"]["files"], 2);
    EXPECT_EQ(summary[0]["erased"]["archives"], 1);
    EXPECT_EQ(summary[0]["erased"]["certificates"].size(), 3u);
    EXPECT_TRUE(summary[0]["complete"].get<bool>());
    const auto& kept = summary[0]["kept"]["items"];
    ASSERT_EQ(kept.size(), 2u);
    bool hold_seen = false;
    bool mandate_seen = false;
    for (const auto& k : kept) {
        if (k["path"] == "acme/2025-002/deposition.pdf") {
            hold_seen = true;
            EXPECT_EQ(k["holds"], nlohmann::json::array({"LIT-4"}));
        }
        if (k["path"] == "acme/2024-007/billing/invoice.xlsx") {
            mandate_seen = true;
            EXPECT_EQ(k["mandate"], "Tax Code s.147: six years");
        }
    }
    EXPECT_TRUE(hold_seen && mandate_seen) << kept.dump();

    // The archive index records the archive as disposed of by this request.
    EXPECT_NE(slurp(m_dir / "state/archives.jsonl").find("\"request\":\"ER-2026-17\""),
              std::string::npos);
    CommandOutput verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    CommandOutput certs = lethe("certs list " + config());
    ASSERT_EQ(certs.code, 0) << certs.err;
    EXPECT_NE(certs.out.find("erasure-request  ER-2026-17 by R. Manager, client acme: erased 2 "
                             "files and 1 archive, kept 1 held"),
              std::string::npos)
        << certs.out;
    EXPECT_NE(certs.out.find("archive-disposal  sanitize archive "), std::string::npos)
        << certs.out;

    // The access request afterwards shows only what was kept.
    CommandOutput inv = lethe("inventory --client acme --json " + config());
    ASSERT_EQ(inv.code, 0) << inv.err;
    EXPECT_EQ(inv.out.find("\"type\":\"archived\""), std::string::npos) << inv.out;
    EXPECT_NE(inv.out.find("deposition.pdf"), std::string::npos);
}

TEST_F(EraseE2E, AHeldArchiveMemberKeepsTheWholeArchive) {
    std::string archive = names_in(m_dir / "archive").at(0);
    ASSERT_EQ(lethe("hold add LIT-5 --reason audit --path acme/2010-001/letter.docx --by alice " +
                    config())
                  .code,
              0);
    CommandOutput run = erase("");
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("kept         archive " + archive +
                           " (2 archived copies)  (legal hold LIT-5)"),
              std::string::npos)
        << run.out;
    EXPECT_EQ(names_in(m_dir / "archive"), std::vector<std::string>{archive});
    EXPECT_TRUE(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").empty());
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}

TEST_F(EraseE2E, MoreThanTheGuardAllowsNeedsConfirmLarge) {
    for (int i = 0; i < 5; ++i) {
        m_dir.write("share/acme/2024-009/f" + std::to_string(i) + ".pdf", "x", "2024-09-01");
    }
    std::string before = snapshot();
    // The dry run lists everything, and says the erasure will need --confirm-large.
    CommandOutput dry = erase("--dry-run");
    EXPECT_EQ(dry.code, 0) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("would-erase  clients/acme/2024-009/f4.pdf  (sanitize)"),
              std::string::npos)
        << dry.out;
    EXPECT_NE(dry.out.find("more than max_disposals_per_pass = 5: the erasure needs "
                           "--confirm-large; nothing was changed"),
              std::string::npos)
        << dry.out;
    EXPECT_EQ(snapshot(), before);
    CommandOutput refused = erase("");
    EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("max_disposals_per_pass = 5"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--confirm-large"), std::string::npos) << refused.err;
    EXPECT_EQ(snapshot(), before);
    CommandOutput run = erase("--confirm-large");
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_TRUE(names_in(m_dir / "share/acme/2024-009").empty());
}

TEST_F(EraseE2E, AnUnreadableArchiveIndexStopsTheErasureBeforeAnything) {
    std::string before = snapshot();
    m_dir.write("state/archives.jsonl", slurp(m_dir / "state/archives.jsonl") + "not json\n");
    before = snapshot();
    CommandOutput run = erase("");
    EXPECT_EQ(run.code, 2) << run.out << run.err;
    EXPECT_NE(run.err.find("archives.jsonl line 2"), std::string::npos) << run.err;
    EXPECT_EQ(snapshot(), before);
}

TEST_F(EraseE2E, AnArchiveThatAlsoHoldsOtherClientsDataIsKeptWholeAndReported) {
    // A category that does not capture the client archives two clients' files together.
    m_dir.write("policies/loose.toml", R"([schedule]
id = "loose"
version = 1
mode = "enforce"

[[category]]
id = "drafts"
paths = ["**/drafts/**"]
retain = "1y"
action = "archive"
)");
    m_dir.write("share/acme/2019-003/drafts/a.txt", "acme draft", "2019-01-01");
    m_dir.write("share/bolt/2019-004/drafts/b.txt", "bolt draft", "2019-01-01");
    auto before = names_in(m_dir / "archive");
    ASSERT_EQ(lethe("run " + config() + " --now 2026-11-26T11:00:00Z").code, 0);
    auto after = names_in(m_dir / "archive");
    ASSERT_EQ(after.size(), before.size() + 1);
    std::string mixed;
    for (const auto& n : after) {
        if (std::find(before.begin(), before.end(), n) == before.end()) mixed = n;
    }
    CommandOutput run = erase("");
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("kept         archive " + mixed +
                           " (2 archived copies)  (the archive also holds 1 copy of other data"),
              std::string::npos)
        << run.out;
    EXPECT_TRUE(exists(m_dir / ("archive/" + mixed)));
    auto summary = payloads_of(m_dir / "state/ledger.jsonl", "erasure-request");
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_NE(summary[0]["kept"]["items"].dump().find(mixed), std::string::npos);
}

TEST_F(EraseE2E, AMatterRequestKeepsAClientArchiveThatHoldsOtherMattersToo) {
    // A category that captures the client but not the matter: one archive per client.
    m_dir.write("policies/notes.toml", R"([schedule]
id = "notes"
version = 1
mode = "enforce"

[[category]]
id = "notes"
paths = ["{client}/**"]
extensions = ["txt"]
retain = "1y"
action = "archive"
)");
    m_dir.write("share/acme/2011-001/a.txt", "note a", "2019-01-01");
    m_dir.write("share/acme/2011-002/b.txt", "note b", "2019-01-01");
    auto before = names_in(m_dir / "archive");
    ASSERT_EQ(lethe("run " + config() + " --now 2026-11-26T11:00:00Z").code, 0);
    auto after = names_in(m_dir / "archive");
    ASSERT_EQ(after.size(), before.size() + 1);
    CommandOutput run = lethe("erase --client acme --matter 2011-001 --request ER-3 --by rm " +
                              config() + " --now 2026-11-27T09:00:00Z");
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("(the archive also holds 1 copy of other data"), std::string::npos)
        << run.out;
    EXPECT_EQ(names_in(m_dir / "archive"), after);
}

TEST_F(EraseE2E, BadArgumentsAreRefused) {
    CommandOutput no_request = lethe("erase --client acme --by x " + config());
    EXPECT_EQ(no_request.code, 2) << no_request.err;
    CommandOutput empty = lethe("erase --client '' --request R --by x " + config());
    EXPECT_EQ(empty.code, 2) << empty.err;
}

#ifdef LETHE_TEST_HOOKS
TEST_F(EraseE2E, AnInterruptedErasureIsCompletedByTheNextPassWithTheRequestInItsCertificate) {
    CommandOutput killed =
        testing::run_shell(m_dir, "env LETHE_FAULT_AT=intent-written:1 " + sh_quote(LETHE_BINARY) +
                                      " erase --client acme --request ER-9 --by rm " + config() +
                                      " --now 2026-11-27T09:00:00Z");
    ASSERT_NE(killed.code, 0) << killed.out;
    ASSERT_TRUE(exists(m_dir / "state/intent.json"));
    CommandOutput pass = lethe("run " + config() + " --now 2026-11-27T10:00:00Z");
    ASSERT_EQ(pass.code, 0) << pass.err;
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    std::vector<nlohmann::json> erased;
    for (const auto& p : payloads_of(m_dir / "state/ledger.jsonl", "disposal")) {
        if (p.contains("request")) erased.push_back(p);
    }
    ASSERT_EQ(erased.size(), 1u);
    EXPECT_EQ(erased[0]["request"]["reference"], "ER-9");
    EXPECT_FALSE(exists(m_dir / ("share/" + erased[0]["path"].get<std::string>())));
    // Run again, the erasure finishes the rest and closes the request.
    CommandOutput rest = lethe("erase --client acme --request ER-9 --by rm " + config() +
                               " --now 2026-11-27T11:00:00Z");
    ASSERT_EQ(rest.code, 0) << rest.out << rest.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2024-007/new.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2024-007/notes.tmp"));
    EXPECT_TRUE(names_in(m_dir / "archive").empty());
    ASSERT_EQ(payloads_of(m_dir / "state/ledger.jsonl", "erasure-request").size(), 1u);
    EXPECT_EQ(lethe("certs verify " + config()).code, 0);
}
#endif

}  // namespace
}  // namespace lethe
