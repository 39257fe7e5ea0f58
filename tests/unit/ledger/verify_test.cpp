// Tamper tests: each way of changing a ledger after the fact is caught, on the right line,
// with its own finding.

#include "agent/ledger/verify.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "agent/ledger/dsse.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::ledger {
namespace {

using lethe::testing::slurp;
using lethe::testing::TempDir;

class TamperTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_key.emplace(make_key("agent.pem"));
        auto ledger = Ledger::open(path(), *m_key);
        ASSERT_TRUE(ledger) << ledger.error().message();
        for (int i = 1; i <= 4; ++i) {
            ASSERT_TRUE(ledger->append({{"type", "disposal"}, {"path", "f" + std::to_string(i)}}));
        }
        nlohmann::json checkpoint = {{"type", "checkpoint"}};
        checkpoint.update(ledger->tree_head());
        ASSERT_TRUE(ledger->append(checkpoint));
        ASSERT_TRUE(ledger->append({{"type", "disposal"}, {"path", "f6"}}));
        m_lines = lines();
        ASSERT_EQ(m_lines.size(), 6u);
    }

    SigningKey make_key(const std::string& name) {
        EXPECT_TRUE(SigningKey::generate(m_dir / name));
        auto key = SigningKey::load(m_dir / name);
        EXPECT_TRUE(key) << key.error().message();
        return std::move(*key);
    }

    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        std::ifstream in(path());
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }

    void write_lines(const std::vector<std::string>& ls) const {
        std::string content;
        for (const auto& l : ls) content += l + "\n";
        write_raw(content);
    }
    void write_raw(const std::string& content) const {
        std::ofstream(path(), std::ios::trunc | std::ios::binary) << content;
    }

    static std::string sign_line(const nlohmann::json& payload, const SigningKey& key) {
        Envelope env;
        env.payload_type = std::string(kPayloadType);
        env.payload = payload.dump();
        env.signatures.push_back({key.keyid(), key.sign(pae(env.payload_type, env.payload))});
        return env.to_json();
    }

    VerifyReport verify(const std::vector<ExportedCheckpoint>& checkpoints = {},
                        std::vector<VerifyKey> keys = {}) const {
        if (keys.empty()) keys.push_back(m_key->public_key());
        auto r = verify_ledger(path(), keys, checkpoints);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : VerifyReport{};
    }

    ExportedCheckpoint export_line(uint64_t n) const {
        std::string file = m_dir / "exported.json";
        std::ofstream(file, std::ios::trunc | std::ios::binary) << m_lines[n - 1] << "\n";
        auto cp = load_checkpoint(file);
        EXPECT_TRUE(cp) << cp.error().message();
        return *cp;
    }

    std::string path() const { return m_dir / "ledger.jsonl"; }

    TempDir m_dir;
    std::optional<SigningKey> m_key;
    std::vector<std::string> m_lines;
};

#define EXPECT_FINDING(report, kind, line)                                         \
    do {                                                                           \
        ASSERT_FALSE((report).ok());                                               \
        EXPECT_EQ(*(report).finding, Finding::kind) << (report).problem;           \
        if ((line) > 0) {                                                          \
            ASSERT_TRUE((report).bad_line.has_value()) << (report).problem;        \
            EXPECT_EQ(*(report).bad_line, static_cast<uint64_t>(line)) << (report).problem; \
        }                                                                          \
    } while (0)

TEST_F(TamperTest, TheUntouchedLedgerVerifies) {
    VerifyReport r = verify({export_line(5)});
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 6u);
    EXPECT_EQ(r.by_type["checkpoint"], 1u);
    EXPECT_EQ(r.head, util::sha256_hex(m_lines[5]));
    EXPECT_EQ(r.checkpoints_matched, 1u);
    EXPECT_EQ(r.signers, std::vector<std::string>{m_key->keyid()});
}

TEST_F(TamperTest, FlippingAnyByteIsCaughtOnItsLine) {
    // The first three lines (a valid ledger by themselves) keep the test fast.
    std::string original;
    for (size_t i = 0; i < 3; ++i) original += m_lines[i] + "\n";
    uint64_t line = 1;
    for (size_t i = 0; i < original.size(); ++i) {
        // Every byte with its lowest bit flipped; every fifth also made non-ASCII.
        for (int mask : {0x01, 0x80}) {
            if (mask == 0x80 && i % 5 != 0) continue;
            std::string content = original;
            content[i] = static_cast<char>(static_cast<unsigned char>(content[i]) ^ static_cast<unsigned char>(mask));
            write_raw(content);
            VerifyReport r = verify();
            ASSERT_FALSE(r.ok()) << "byte " << i << " mask " << int(mask) << " went unnoticed";
            ASSERT_TRUE(r.bad_line.has_value());
            EXPECT_EQ(*r.bad_line, line) << "byte " << i << ": " << r.problem;
        }
        if (original[i] == '\n') ++line;
    }
}

TEST_F(TamperTest, ADeletedLineIsReportedAsMissing) {
    auto ls = m_lines;
    ls.erase(ls.begin() + 2);
    write_lines(ls);
    VerifyReport r = verify();
    EXPECT_FINDING(r, Missing, 3);
    EXPECT_NE(r.problem.find("seq 3 was deleted"), std::string::npos) << r.problem;

    ls = m_lines;
    ls.erase(ls.begin());
    write_lines(ls);
    EXPECT_FINDING(verify(), Missing, 1);
}

TEST_F(TamperTest, SwappedLinesAreReportedAsReordered) {
    auto ls = m_lines;
    std::swap(ls[1], ls[3]);
    write_lines(ls);
    VerifyReport r = verify();
    EXPECT_FINDING(r, Reordered, 2);
    EXPECT_NE(r.problem.find("seq 2 is at line 4"), std::string::npos) << r.problem;

    ls = m_lines;
    std::swap(ls[4], ls[5]);
    write_lines(ls);
    EXPECT_FINDING(verify(), Reordered, 5);
}

TEST_F(TamperTest, ADuplicatedLineIsReportedAsADuplicate) {
    auto ls = m_lines;
    ls.insert(ls.begin() + 2, m_lines[1]);  // line 2 again, as line 3
    write_lines(ls);
    VerifyReport r = verify();
    EXPECT_FINDING(r, Duplicate, 3);
    EXPECT_NE(r.problem.find("duplicate of line 2"), std::string::npos) << r.problem;

    ls = m_lines;
    ls.push_back(m_lines[0]);  // the first line again, at the end
    write_lines(ls);
    EXPECT_FINDING(verify(), Duplicate, 7);
}

TEST_F(TamperTest, ALineReSignedWithAnotherKeyIsUntrusted) {
    SigningKey other = make_key("other.pem");
    auto ls = m_lines;
    auto payload = decode_payload(ls[1]);
    ASSERT_TRUE(payload);
    (*payload)["path"] = "something-else";
    ls[1] = sign_line(*payload, other);
    write_lines(ls);
    VerifyReport r = verify();
    EXPECT_FINDING(r, UntrustedKey, 2);
    EXPECT_NE(r.problem.find(other.keyid()), std::string::npos) << r.problem;
}

TEST_F(TamperTest, ALedgerRewrittenWithAnotherKeyFailsOnTheFirstLine) {
    SigningKey other = make_key("other.pem");
    std::vector<std::string> ls;
    std::string prev = kGenesisPrev;
    for (const auto& l : m_lines) {
        auto payload = decode_payload(l);
        ASSERT_TRUE(payload);
        (*payload)["prev"] = prev;
        ls.push_back(sign_line(*payload, other));
        prev = util::sha256_hex(ls.back());
    }
    write_lines(ls);
    VerifyReport r = verify();
    EXPECT_FINDING(r, UntrustedKey, 1);
    EXPECT_NE(r.problem.find("not trusted"), std::string::npos) << r.problem;
}

TEST_F(TamperTest, AChangedLineReSignedWithTheAgentsOwnKeyBreaksTheChain) {
    auto ls = m_lines;
    auto payload = decode_payload(ls[1]);
    ASSERT_TRUE(payload);
    (*payload)["path"] = "something-else";
    ls[1] = sign_line(*payload, *m_key);
    write_lines(ls);
    EXPECT_FINDING(verify(), ChainBroken, 3);
}

TEST_F(TamperTest, ACutTailVerifiesAloneButIsCaughtAgainstAnExportedCheckpoint) {
    ExportedCheckpoint cp = export_line(5);
    auto ls = m_lines;
    ls.resize(3);
    write_lines(ls);
    EXPECT_TRUE(verify().ok());  // a shorter chain is still a chain
    VerifyReport r = verify({cp});
    EXPECT_FINDING(r, Cut, 0);
    EXPECT_FALSE(r.bad_line.has_value());
    EXPECT_NE(r.problem.find("ends at seq 3"), std::string::npos) << r.problem;
    EXPECT_NE(r.problem.find("taken at seq 5"), std::string::npos) << r.problem;
}

TEST_F(TamperTest, ALedgerRewrittenAndReSignedWithTheAgentsKeyIsCaughtAgainstACheckpoint) {
    ExportedCheckpoint cp = export_line(5);
    // Root on the host: change line 2 and re-sign and re-chain everything after it.
    std::vector<std::string> ls;
    std::string prev = kGenesisPrev;
    auto ledger_rewritten = [&] {
        for (size_t i = 0; i < m_lines.size(); ++i) {
            auto payload = decode_payload(m_lines[i]);
            ASSERT_TRUE(payload);
            if (i == 1) (*payload)["path"] = "something-else";
            (*payload)["prev"] = prev;
            if ((*payload)["type"] == "checkpoint") (*payload)["head"] = prev;
            ls.push_back(sign_line(*payload, *m_key));
            prev = util::sha256_hex(ls.back());
        }
    };
    ledger_rewritten();
    write_lines(ls);
    // Without the checkpoint only the stale Merkle root in the checkpoint entry gives it away.
    EXPECT_FINDING(verify(), BadCheckpoint, 5);
    VerifyReport r = verify({cp});
    EXPECT_FINDING(r, BadCheckpoint, 5);
    // With the Merkle root recomputed too, only the exported checkpoint catches it.
    ls.clear();
    prev = kGenesisPrev;
    MerkleFrontier frontier;
    for (size_t i = 0; i < m_lines.size(); ++i) {
        auto payload = decode_payload(m_lines[i]);
        ASSERT_TRUE(payload);
        if (i == 1) (*payload)["path"] = "something-else";
        (*payload)["prev"] = prev;
        if ((*payload)["type"] == "checkpoint") {
            (*payload)["head"] = prev;
            (*payload)["merkle_root"] = util::hex_encode(frontier.root());
        }
        ls.push_back(sign_line(*payload, *m_key));
        frontier.append_line(ls.back());
        prev = util::sha256_hex(ls.back());
    }
    write_lines(ls);
    EXPECT_TRUE(verify().ok());
    r = verify({cp});
    EXPECT_FINDING(r, Rewritten, 5);
}

TEST_F(TamperTest, ATornLastLineIsReportedAsTorn) {
    std::string content = slurp(path());
    write_raw(content.substr(0, content.size() - 10));
    EXPECT_FINDING(verify(), Torn, 6);
}

TEST_F(TamperTest, NonCanonicalEnvelopesAndPayloadsAreRefused) {
    auto ls = m_lines;
    ls[2].insert(1, " ");  // same JSON, other bytes
    write_lines(ls);
    EXPECT_FINDING(verify(), NotCanonical, 3);

    // A float, even signed by the agent's key, is not a canonical payload.
    ls = m_lines;
    auto payload = decode_payload(ls[5]);
    ASSERT_TRUE(payload);
    (*payload)["size"] = 1.5;
    ls[5] = sign_line(*payload, *m_key);
    write_lines(ls);
    EXPECT_FINDING(verify(), NotCanonical, 6);
}

TEST_F(TamperTest, ACheckpointWithAWrongCountIsABadCheckpoint) {
    auto ls = m_lines;
    auto payload = decode_payload(ls[4]);
    ASSERT_TRUE(payload);
    (*payload)["entries"] = 3;
    ls[4] = sign_line(*payload, *m_key);
    ls.resize(5);
    write_lines(ls);
    EXPECT_FINDING(verify(), BadCheckpoint, 5);
}

TEST_F(TamperTest, AnExportedCheckpointThatIsNotACheckpointIsBadInput) {
    std::string file = m_dir / "exported.json";
    std::ofstream(file, std::ios::trunc | std::ios::binary) << m_lines[0] << "\n";
    auto cp = load_checkpoint(file);
    ASSERT_FALSE(cp);
    EXPECT_EQ(cp.error().kind(), ErrorKind::BadInput);
    std::ofstream(file, std::ios::trunc | std::ios::binary) << "garbage\n";
    EXPECT_FALSE(load_checkpoint(file));
}

class RotationTest : public TamperTest {};

TEST_F(RotationTest, VerificationFollowsARotationSignedByTheOldKey) {
    SigningKey next = make_key("next.pem");
    auto old_ledger = Ledger::open(path(), *m_key);
    ASSERT_TRUE(old_ledger) << old_ledger.error().message();
    ASSERT_TRUE(old_ledger->append(
        {{"type", "key-rotated"},
         {"new_key", {{"keyid", next.keyid()}, {"public_key", next.public_key().public_pem()}}}}));
    // The old key may no longer continue this ledger; the new one may.
    auto refused = Ledger::open(path(), *m_key);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("rotated"), std::string::npos);
    auto new_ledger = Ledger::open(path(), next);
    ASSERT_TRUE(new_ledger) << new_ledger.error().message();
    ASSERT_TRUE(new_ledger->append({{"type", "disposal"}, {"path", "after"}}));

    VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 8u);
    EXPECT_EQ(r.signers, (std::vector<std::string>{m_key->keyid(), next.keyid()}));
    // Only the new key: the lines before the rotation are not trusted.
    EXPECT_FINDING(verify({}, {next.public_key()}), UntrustedKey, 1);

    // A line signed by the old key after the rotation is refused.
    auto ls = lines();
    auto payload = decode_payload(ls[7]);
    ASSERT_TRUE(payload);
    ls[7] = sign_line(*payload, *m_key);
    write_lines(ls);
    VerifyReport retired = verify();
    EXPECT_FINDING(retired, RetiredKey, 8);
    EXPECT_NE(retired.problem.find("rotated out at line 7"), std::string::npos) << retired.problem;
}

}  // namespace
}  // namespace lethe::ledger
