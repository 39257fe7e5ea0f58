// End-to-end tests of `lethe certs` and `lethe keygen --rotate`: what an auditor sees when
// a ledger is intact, tampered with, cut, torn by a crash, or signed across a key rotation.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/ledger/dsse.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::firm_schedule;
using testing::shell_quote;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class CertsE2E : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", firm_schedule({.version = 3}));
        write_config("lethe.toml", "state");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.docx", "letter to client", "2011-02-03");
        m_dir.write("share/beta/2012-004/scratch.tmp", "temp", "2012-01-01");
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
    }

    void write_config(const std::string& name, const std::string& state) {
        m_dir.write(name, "policies = \"policies\"\n[agent]\nstate_dir = \"" + state +
                              "\"\nmax_fraction_per_root = 1.0\n[[root]]\nname = \"clients\"\n"
                              "path = \"share\"\n");
    }

    Output lethe(const std::string& args) {
        Output o;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        std::string cmd = "cd " + shell_quote(m_dir.path()) + " && " +
                          shell_quote(LETHE_BINARY) + " " + args + " >" + shell_quote(out) +
                          " 2>" + shell_quote(err);
        int status = std::system(cmd.c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }

    // keygen, then one pass that disposes of three files: ledger lines 1-3 are disposals,
    // line 4 the checkpoint.
    void first_pass() {
        Output k = lethe("keygen -c lethe.toml");
        ASSERT_EQ(k.code, 0) << k.err;
        Output r = lethe("run -c lethe.toml --now 2026-01-15");
        ASSERT_EQ(r.code, 0) << r.err;
        ASSERT_EQ(lines().size(), 4u);
    }

    std::string ledger() const { return m_dir / "state/ledger.jsonl"; }

    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        std::ifstream in(ledger());
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }
    void write_lines(const std::vector<std::string>& ls) const {
        std::string content;
        for (const auto& l : ls) content += l + "\n";
        std::ofstream(ledger(), std::ios::trunc | std::ios::binary) << content;
    }

    Output verify(const std::string& extra = "") { return lethe("certs verify -c lethe.toml " + extra); }

    TempDir m_dir;
};

TEST_F(CertsE2E, AnIntactLedgerVerifiesWithEveryCountAndTheMerkleRoot) {
    first_pass();
    Output v = verify();
    EXPECT_EQ(v.code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("verified 4 certificates (3 disposals, 1 checkpoint)"), std::string::npos)
        << v.out;
    EXPECT_NE(v.out.find("merkle root "), std::string::npos) << v.out;
    // The checkpoint carries the tree head of the lines before it.
    auto cp = ledger::decode_payload(lines()[3]);
    ASSERT_TRUE(cp);
    EXPECT_EQ((*cp)["entries"], 3);
    EXPECT_EQ((*cp)["head"], util::sha256_hex(lines()[2]));
    EXPECT_EQ((*cp)["merkle_root"].get<std::string>().size(), 64u);
}

TEST_F(CertsE2E, EachTamperCaseFailsWithItsOwnReason) {
    first_pass();
    const auto original = lines();
    struct Case {
        const char* name;
        std::vector<std::string> ledger;
        const char* expected;
    };
    auto without = [&](size_t i) {
        auto ls = original;
        ls.erase(ls.begin() + static_cast<long>(i));
        return ls;
    };
    auto swapped = [&](size_t a, size_t b) {
        auto ls = original;
        std::swap(ls[a], ls[b]);
        return ls;
    };
    auto duplicated = [&](size_t i) {
        auto ls = original;
        ls.insert(ls.begin() + static_cast<long>(i) + 1, ls[i]);
        return ls;
    };
    auto flipped = [&](size_t i, size_t at) {
        auto ls = original;
        ls[i][at] = ls[i][at] == 'A' ? 'B' : 'A';
        return ls;
    };
    ASSERT_TRUE(ledger::SigningKey::generate(m_dir / "forger.pem"));
    auto forger = ledger::SigningKey::load(m_dir / "forger.pem");
    ASSERT_TRUE(forger);
    auto resigned = [&](size_t i) {
        auto ls = original;
        auto env = ledger::Envelope::parse(ls[i]);
        env->signatures = {{forger->keyid(), forger->sign(ledger::pae(env->payload_type, env->payload))}};
        ls[i] = env->to_json();
        return ls;
    };
    std::vector<Case> cases = {
        {"flipped byte in a payload", flipped(1, 40), "line 2: the signature by trusted key"},
        {"deleted line", without(1), "line 2 holds seq 3: the entry with seq 2 was deleted [missing]"},
        {"swapped lines", swapped(0, 2), "line 1 holds seq 3, and seq 1 is at line 3"},
        {"duplicated line", duplicated(1), "line 3 is a duplicate of line 2"},
        {"re-signed by another key", resigned(2), "line 3: no valid signature by a trusted key"},
    };
    for (const auto& c : cases) {
        write_lines(c.ledger);
        Output v = verify();
        EXPECT_EQ(v.code, 1) << c.name << ": " << v.out << v.err;
        EXPECT_NE(v.out.find(c.expected), std::string::npos) << c.name << ": " << v.out;
    }
    write_lines(resigned(2));
    EXPECT_NE(verify().out.find("[untrusted-key]"), std::string::npos);
    write_lines(swapped(0, 2));
    EXPECT_NE(verify().out.find("[reordered]"), std::string::npos);
    write_lines(duplicated(1));
    EXPECT_NE(verify().out.find("[duplicate]"), std::string::npos);
    write_lines(flipped(1, 40));
    EXPECT_NE(verify().out.find("[bad-signature]"), std::string::npos);
}

TEST_F(CertsE2E, ACutTailIsCaughtAgainstAnExportedCheckpoint) {
    first_pass();
    Output exported = lethe("certs checkpoint -c lethe.toml --out custody/cp-1.json");
    ASSERT_NE(exported.code, 0);  // the folder does not exist: a clear error, no crash
    m_dir.mkdir("custody");
    exported = lethe("certs checkpoint -c lethe.toml --out custody/cp-1.json");
    ASSERT_EQ(exported.code, 0) << exported.err;
    EXPECT_EQ(slurp(m_dir / "custody/cp-1.json"), lines()[3] + "\n");

    Output ok = verify("--checkpoint custody/cp-1.json");
    EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("checkpoint custody/cp-1.json (seq 4) found intact"), std::string::npos)
        << ok.out;

    auto ls = lines();
    ls.resize(2);
    write_lines(ls);
    EXPECT_EQ(verify().code, 0);  // alone, a shorter chain still verifies
    Output cut = verify("--checkpoint custody/cp-1.json");
    EXPECT_EQ(cut.code, 1) << cut.out;
    EXPECT_NE(cut.out.find("the ledger ends at seq 2, but the exported checkpoint "
                           "custody/cp-1.json was taken at seq 4: entries 3 to 4 were cut"),
              std::string::npos)
        << cut.out;
    EXPECT_NE(cut.out.find("[cut]"), std::string::npos) << cut.out;

    Output unreadable = verify("--checkpoint custody/none.json");
    EXPECT_EQ(unreadable.code, 2);
}

TEST_F(CertsE2E, ATornLastLineIsRepairedOnTheNextRunAndRecorded) {
    first_pass();
    // A crash in the middle of appending a certificate leaves half a line.
    std::string torn = lines()[0].substr(0, 100);
    std::ofstream(ledger(), std::ios::app | std::ios::binary) << torn;
    Output v = verify();
    EXPECT_EQ(v.code, 1);
    EXPECT_NE(v.out.find("line 5: torn line"), std::string::npos) << v.out;

    Output run = lethe("run -c lethe.toml --now 2026-01-16");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.err.find("was torn; moved it to"), std::string::npos) << run.err;
    auto ls = lines();
    ASSERT_EQ(ls.size(), 6u);  // the repair entry and the new pass's checkpoint
    auto repaired = ledger::decode_payload(ls[4]);
    ASSERT_TRUE(repaired);
    EXPECT_EQ((*repaired)["type"], "ledger-repaired");
    EXPECT_EQ((*repaired)["cut"]["bytes"], 100);
    EXPECT_EQ((*repaired)["cut"]["sha256"], util::sha256_hex(torn));
    EXPECT_EQ(slurp(m_dir / ("state/" + (*repaired)["cut"]["saved_as"].get<std::string>())), torn);

    Output after = verify();
    EXPECT_EQ(after.code, 0) << after.out;
    EXPECT_NE(after.out.find("1 ledger-repaired entries"), std::string::npos) << after.out;
    Output listed = lethe("certs list -c lethe.toml --type ledger-repaired");
    EXPECT_NE(listed.out.find("100 torn bytes moved to ledger.jsonl.torn-5-"), std::string::npos)
        << listed.out;
}

TEST_F(CertsE2E, SeveralHostsLedgersAreVerifiedAtOnce) {
    first_pass();
    write_config("other.toml", "other-state");
    ASSERT_EQ(lethe("keygen -c other.toml").code, 0);
    m_dir.write("share/beta/2012-004/old.pdf", "old", "2012-01-01");
    ASSERT_EQ(lethe("run -c other.toml --now 2026-01-15").code, 0);
    std::string both = "certs verify --ledger state/ledger.jsonl --ledger other-state/ledger.jsonl "
                       "--pubkey state/keys/signing.pem.pub --pubkey other-state/keys/signing.pem.pub";
    Output v = lethe(both);
    EXPECT_EQ(v.code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("in state/ledger.jsonl"), std::string::npos) << v.out;
    EXPECT_NE(v.out.find("in other-state/ledger.jsonl"), std::string::npos) << v.out;

    // Each host's key signs only its own ledger: a line of one copied into the other fails.
    auto ls = lines();
    std::ifstream other(m_dir / "other-state/ledger.jsonl");
    std::string first_other;
    std::getline(other, first_other);
    ls[0] = first_other;
    write_lines(ls);
    Output bad = lethe(both);
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.out.find("FAILED: state/ledger.jsonl line 2"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("in other-state/ledger.jsonl"), std::string::npos) << bad.out;

    Output missing = lethe("certs verify --ledger nowhere.jsonl --key state/keys/signing.pem.pub");
    EXPECT_EQ(missing.code, 2);
    EXPECT_NE(missing.err.find("cannot read the ledger"), std::string::npos) << missing.err;
}

TEST_F(CertsE2E, ListFiltersByDateClientCategoryAndAction) {
    first_pass();
    ASSERT_EQ(lethe("run -c lethe.toml --now 2026-02-20").code, 0);  // a checkpoint only
    Output all = lethe("certs list -c lethe.toml");
    EXPECT_EQ(all.code, 0) << all.err;
    EXPECT_NE(all.out.find("sanitize clients/acme/2010-001/brief.pdf (client-matter, client acme)"),
              std::string::npos) << all.out;
    EXPECT_NE(all.out.find("delete clients/beta/2012-004/scratch.tmp"), std::string::npos) << all.out;

    auto count_json = [&](const std::string& filters) {
        Output o = lethe("certs list -c lethe.toml --json " + filters);
        EXPECT_EQ(o.code, 0) << o.err;
        std::istringstream in(o.out);
        size_t n = 0;
        for (std::string l; std::getline(in, l);) {
            EXPECT_TRUE(nlohmann::json::parse(l).is_object());
            ++n;
        }
        return n;
    };
    EXPECT_EQ(count_json(""), 5u);
    EXPECT_EQ(count_json("--action sanitize"), 2u);
    EXPECT_EQ(count_json("--action delete"), 1u);
    EXPECT_EQ(count_json("--category scratch"), 1u);
    EXPECT_EQ(count_json("--client acme"), 2u);
    EXPECT_EQ(count_json("--client nobody"), 0u);
    EXPECT_EQ(count_json("--since 2026-02-01"), 1u);
    EXPECT_EQ(count_json("--until 2026-01-15"), 4u);
    EXPECT_EQ(count_json("--since 2026-01-15 --until 2026-01-15 --type checkpoint"), 1u);
    EXPECT_EQ(lethe("certs list -c lethe.toml --since 2026-02-30").code, 2);
}

TEST_F(CertsE2E, ExportWritesJsonLinesCsvAndHtmlWithTheListFilters) {
    first_pass();
    Output j = lethe("certs export -c lethe.toml --format json --out certs.jsonl --client acme");
    ASSERT_EQ(j.code, 0) << j.out << j.err;
    EXPECT_NE(j.out.find("exported 2 certificate(s) as json"), std::string::npos) << j.out;
    std::istringstream in(slurp(m_dir / "certs.jsonl"));
    std::vector<nlohmann::json> rows;
    for (std::string l; std::getline(in, l);) rows.push_back(nlohmann::json::parse(l));
    ASSERT_EQ(rows.size(), 2u);
    for (const auto& r : rows) {
        uint64_t line = r["line"].get<uint64_t>();
        ASSERT_GE(line, 1u);
        ASSERT_LE(line, lines().size());
        // The hash is the certificate's id: the SHA-256 of its ledger line.
        EXPECT_EQ(r["hash"], util::sha256_hex(lines()[line - 1]));
        EXPECT_EQ(r["payload"], *ledger::decode_payload(lines()[line - 1]));
        EXPECT_EQ(r["seq"], r["payload"]["seq"]);
        EXPECT_EQ(r["payload"]["client"], "acme");
    }

    Output c = lethe("certs export -c lethe.toml --format csv --out certs.csv --action delete");
    ASSERT_EQ(c.code, 0) << c.out << c.err;
    std::string csv = slurp(m_dir / "certs.csv");
    EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
              "ledger,line,seq,type,time,host,root,path,path_b64,client,matter,category,action,"
              "size,sha256,schedule,schedule_version,trigger_date,expires,method,verified,intent,"
              "hash");
    EXPECT_NE(csv.find(",clients,beta/2012-004/scratch.tmp,,,,scratch,delete,4,"),
              std::string::npos) << csv;
    size_t rows_csv = 0;
    for (size_t at = 0; (at = csv.find("\r\n", at)) != std::string::npos; at += 2) ++rows_csv;
    EXPECT_EQ(rows_csv, 2u);  // the header and the one deletion

    Output h = lethe("certs export -c lethe.toml --format html --out report.html --since 2026-01-15");
    ASSERT_EQ(h.code, 0) << h.out << h.err;
    std::string html = slurp(m_dir / "report.html");
    EXPECT_NE(html.find("data-status=\"passed\""), std::string::npos);
    EXPECT_NE(html.find("id=\"total-disposals\" data-value=\"3\""), std::string::npos);
    EXPECT_NE(html.find("Filters: --since 2026-01-15."), std::string::npos);

    EXPECT_EQ(lethe("certs export -c lethe.toml --format pdf --out x").code, 2);
    EXPECT_EQ(lethe("certs export -c lethe.toml --format csv --out x --until 2026-13-01").code, 2);
    EXPECT_FALSE(exists(m_dir / "x"));
    // A ledger that fails verification is still exported, and the export says so with exit 1.
    auto ls = lines();
    ls[1][ls[1].size() - 5] = ls[1][ls[1].size() - 5] == 'A' ? 'B' : 'A';
    write_lines(ls);
    Output bad = lethe("certs export -c lethe.toml --format csv --out tampered.csv");
    EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.out.find("FAILED: "), std::string::npos) << bad.out;
    EXPECT_TRUE(exists(m_dir / "tampered.csv"));
}

TEST_F(CertsE2E, ShowPrintsOneCertificateBySeqOrId) {
    first_pass();
    Output by_seq = lethe("certs show 4 -c lethe.toml");
    EXPECT_EQ(by_seq.code, 0) << by_seq.err;
    EXPECT_NE(by_seq.out.find("certificate seq 4"), std::string::npos) << by_seq.out;
    EXPECT_NE(by_seq.out.find("signature valid"), std::string::npos) << by_seq.out;
    EXPECT_NE(by_seq.out.find("\"type\": \"checkpoint\""), std::string::npos) << by_seq.out;

    std::string id = util::sha256_hex(lines()[1]).substr(0, 12);
    Output by_id = lethe("certs show " + id + " -c lethe.toml");
    EXPECT_EQ(by_id.code, 0) << by_id.err;
    EXPECT_NE(by_id.out.find("certificate seq 2"), std::string::npos) << by_id.out;

    EXPECT_EQ(lethe("certs show 99 -c lethe.toml").code, 2);
    EXPECT_EQ(lethe("certs show abc -c lethe.toml").code, 2);

    // A forged line is shown, but flagged and with a non-zero exit.
    auto ls = lines();
    auto env = ledger::Envelope::parse(ls[1]);
    ASSERT_TRUE(env);
    size_t at = env->payload.find("\"path\":\"");
    ASSERT_NE(at, std::string::npos);
    env->payload[at + 8] = 'X';  // the first letter of the file's path
    ls[1] = env->to_json();
    write_lines(ls);
    Output forged = lethe("certs show 2 -c lethe.toml");
    EXPECT_EQ(forged.code, 1);
    EXPECT_NE(forged.out.find("signature NOT valid"), std::string::npos) << forged.out;
    EXPECT_NE(forged.out.find("\"path\": \"X"), std::string::npos) << forged.out;
    // A line that is not even an envelope is named, not skipped.
    ls[1] = "garbage";
    write_lines(ls);
    Output garbage = lethe("certs show 2 -c lethe.toml");
    EXPECT_EQ(garbage.code, 1);
    EXPECT_NE(garbage.out.find("line 2 of"), std::string::npos) << garbage.out;
}

TEST_F(CertsE2E, PubkeyPrintsThePemAuditorsNeed) {
    first_pass();
    Output pub = lethe("certs pubkey -c lethe.toml");
    EXPECT_EQ(pub.code, 0) << pub.err;
    EXPECT_EQ(pub.out, slurp(m_dir / "state/keys/signing.pem.pub"));
    EXPECT_EQ(pub.out.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << pub.out;
}

TEST_F(CertsE2E, ProveGivesAnInclusionProofThatChecksWithoutTheLedger) {
    first_pass();
    ASSERT_EQ(lethe("run -c lethe.toml --now 2026-01-16").code, 0);
    Output proof = lethe("certs prove 2 -c lethe.toml");
    ASSERT_EQ(proof.code, 0) << proof.err;
    auto j = nlohmann::json::parse(proof.out);
    EXPECT_EQ(j["seq"], 2);
    EXPECT_EQ(j["checkpoint_seq"], 4);
    EXPECT_EQ(j["tree_size"], 3);
    EXPECT_EQ(j["audit_path"].size(), 2u);
    m_dir.write("proof.json", proof.out);
    m_dir.mkdir("auditor");
    ASSERT_EQ(::rename((m_dir / "state/ledger.jsonl").c_str(), (m_dir / "auditor/moved.jsonl").c_str()), 0);
    Output checked = lethe("certs prove --check proof.json --pubkey state/keys/signing.pem.pub");
    EXPECT_EQ(checked.code, 0) << checked.out << checked.err;
    EXPECT_NE(checked.out.find("proof verified: certificate 2"), std::string::npos) << checked.out;

    j["audit_path"][0] = std::string(64, 'a');
    m_dir.write("bad-proof.json", j.dump());
    Output bad = lethe("certs prove --check bad-proof.json --pubkey state/keys/signing.pem.pub");
    EXPECT_EQ(bad.code, 1) << bad.out;
    EXPECT_NE(bad.out.find("does not lead from certificate 2"), std::string::npos) << bad.out;

    ASSERT_EQ(::rename((m_dir / "auditor/moved.jsonl").c_str(), (m_dir / "state/ledger.jsonl").c_str()), 0);
    // Against the exported checkpoint of a later pass.
    m_dir.mkdir("custody");
    ASSERT_EQ(lethe("certs checkpoint -c lethe.toml --out custody/cp.json").code, 0);
    Output later = lethe("certs prove 1 -c lethe.toml --checkpoint custody/cp.json");
    ASSERT_EQ(later.code, 0) << later.err;
    EXPECT_EQ(nlohmann::json::parse(later.out)["checkpoint_seq"], 5);
    EXPECT_EQ(lethe("certs prove 9 -c lethe.toml").code, 2);
}

TEST_F(CertsE2E, KeyRotationIsRecordedAndFollowedByVerification) {
    first_pass();
    std::string first_key = slurp(m_dir / "state/keys/signing.pem.pub");
    m_dir.write("auditor/first.pub", first_key);
    Output rotated = lethe("keygen --rotate -c lethe.toml");
    ASSERT_EQ(rotated.code, 0) << rotated.err;
    EXPECT_NE(rotated.out.find("rotated the signing key"), std::string::npos) << rotated.out;
    EXPECT_NE(slurp(m_dir / "state/keys/signing.pem.pub"), first_key);
    m_dir.write("share/acme/2010-001/later.pdf", "later", "2010-01-01");
    ASSERT_EQ(lethe("run -c lethe.toml --now 2026-01-16").code, 0);

    auto ls = lines();
    ASSERT_EQ(ls.size(), 7u);
    auto rotation = ledger::decode_payload(ls[4]);
    ASSERT_TRUE(rotation);
    EXPECT_EQ((*rotation)["type"], "key-rotated");

    // The agent's own keys (current and retired), and the auditor's first key alone, which
    // the ledger's rotation certificate leads to the new one.
    Output own = verify();
    EXPECT_EQ(own.code, 0) << own.out << own.err;
    EXPECT_NE(own.out.find("1 key rotation(s)"), std::string::npos) << own.out;
    Output anchored = lethe("certs verify --ledger state/ledger.jsonl --pubkey auditor/first.pub");
    EXPECT_EQ(anchored.code, 0) << anchored.out << anchored.err;
    Output only_new = lethe("certs verify --ledger state/ledger.jsonl --pubkey state/keys/signing.pem.pub");
    EXPECT_EQ(only_new.code, 1) << only_new.out;

    // The retired key cannot continue the ledger.
    std::string retired;
    for (const auto& l : {ls[0]}) retired = ledger::Envelope::parse(l)->signatures[0].keyid;
    ASSERT_TRUE(exists(m_dir / "state/keys/retired/" + retired + ".pem"));
    ASSERT_EQ(::rename((m_dir / "state/keys/retired/" + retired + ".pem").c_str(),
                       (m_dir / "state/keys/signing.pem").c_str()), 0);
    Output refused = lethe("run -c lethe.toml --now 2026-01-17");
    EXPECT_EQ(refused.code, 2);
    EXPECT_NE(refused.err.find("rotated to"), std::string::npos) << refused.err;
}

TEST_F(CertsE2E, AnInterruptedRotationIsFinishedByRunningItAgain) {
    first_pass();
    // The state a crash leaves after the rotation was recorded but before the keys moved.
    std::string key = m_dir / "state/keys/signing.pem";
    ASSERT_TRUE(ledger::SigningKey::generate(key + ".next"));
    auto old = ledger::SigningKey::load(key);
    auto next = ledger::SigningKey::load(key + ".next");
    ASSERT_TRUE(old && next);
    {
        auto l = ledger::Ledger::open(ledger(), *old);
        ASSERT_TRUE(l) << l.error().message();
        ASSERT_TRUE(l->append({{"type", "key-rotated"},
                               {"old_key", {{"keyid", old->keyid()}}},
                               {"new_key", {{"keyid", next->keyid()},
                                            {"public_key", next->public_key().public_pem()}}}}));
    }
    Output refused = lethe("run -c lethe.toml --now 2026-01-16");
    EXPECT_EQ(refused.code, 2);  // the old key may not continue the ledger

    Output resumed = lethe("keygen --rotate -c lethe.toml");
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_EQ(lines().size(), 5u);  // no second key-rotated entry
    auto now_key = ledger::SigningKey::load(key);
    ASSERT_TRUE(now_key);
    EXPECT_EQ(now_key->keyid(), next->keyid());
    EXPECT_FALSE(exists(key + ".next"));
    EXPECT_TRUE(exists(m_dir / ("state/keys/retired/" + old->keyid() + ".pem")));
    ASSERT_EQ(lethe("run -c lethe.toml --now 2026-01-16").code, 0);
    Output v = verify();
    EXPECT_EQ(v.code, 0) << v.out << v.err;
}

}  // namespace
}  // namespace lethe
