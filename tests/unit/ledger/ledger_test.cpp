#include "agent/ledger/ledger.hpp"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "agent/ledger/dsse.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::ledger {
namespace {

using lethe::testing::slurp;
using lethe::testing::TempDir;

class LedgerTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(SigningKey::generate(m_dir / "k.pem"));
        auto key = SigningKey::load(m_dir / "k.pem");
        ASSERT_TRUE(key);
        m_key.emplace(std::move(*key));
    }

    void append_entries(int n) {
        auto ledger = Ledger::open(path(), *m_key);
        ASSERT_TRUE(ledger) << ledger.error().message();
        for (int i = 0; i < n; ++i) {
            auto seq = ledger->append({{"type", "disposal"}, {"path", "f" + std::to_string(i)}});
            ASSERT_TRUE(seq) << seq.error().message();
        }
    }

    std::vector<std::string> lines() {
        std::vector<std::string> out;
        std::ifstream in(path());
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }

    void rewrite(const std::string& content) {
        std::ofstream out(path(), std::ios::trunc | std::ios::binary);
        out << content;
    }

    VerifyReport verify() {
        auto r = verify_ledger(path(), {m_key->public_key()});
        EXPECT_TRUE(r) << r.error().message();
        return *r;
    }

    std::string path() const { return m_dir / "ledger.jsonl"; }

    TempDir m_dir;
    std::optional<SigningKey> m_key;
};

TEST_F(LedgerTest, EntriesChainFromGenesisAndVerify) {
    append_entries(3);
    append_entries(2);  // reopening continues the chain
    auto all = lines();
    ASSERT_EQ(all.size(), 5u);
    auto first = open_envelope(all[0], {m_key->public_key()});
    ASSERT_TRUE(first);
    EXPECT_EQ((*first)["seq"], 1);
    EXPECT_EQ((*first)["prev"], std::string(64, '0'));
    auto second = open_envelope(all[1], {m_key->public_key()});
    EXPECT_EQ((*second)["prev"], util::sha256_hex(all[0]));
    VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 5u);
    EXPECT_EQ(r.head, util::sha256_hex(all[4]));
}

TEST_F(LedgerTest, AFlippedByteIsFoundAndItsLineNamed) {
    append_entries(3);
    std::string content = slurp(path());
    size_t second_line = content.find('\n') + 1;
    content[second_line + 20] ^= 0x01;
    rewrite(content);
    VerifyReport r = verify();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(*r.bad_line, 2u);
}

TEST_F(LedgerTest, ARemovedEntryBreaksTheChain) {
    append_entries(3);
    auto all = lines();
    rewrite(all[0] + "\n" + all[2] + "\n");
    VerifyReport r = verify();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(*r.bad_line, 2u);
    EXPECT_EQ(*r.finding, Finding::Missing);
    EXPECT_NE(r.problem.find("deleted"), std::string::npos) << r.problem;
}

TEST_F(LedgerTest, AnUntrustedKeyFailsVerification) {
    append_entries(1);
    ASSERT_TRUE(SigningKey::generate(m_dir / "other.pem"));
    auto other = VerifyKey::load(m_dir / "other.pem.pub");
    ASSERT_TRUE(other);
    auto r = verify_ledger(path(), {*other});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok());
    EXPECT_NE(r->problem.find("trusted"), std::string::npos);
}

TEST_F(LedgerTest, ATornLastLineIsMovedAsideAndTheRepairIsRecorded) {
    append_entries(2);
    std::string content = slurp(path());
    std::string cut = content.substr(0, content.size() - 30);
    std::string torn = cut.substr(cut.find('\n') + 1);
    rewrite(cut);
    VerifyReport before = verify();
    ASSERT_FALSE(before.ok());
    EXPECT_EQ(*before.finding, Finding::Torn);
    EXPECT_EQ(*before.bad_line, 2u);

    util::TimePoint when{};
    auto parsed = util::parse_timestamp("2026-03-04T05:06:07Z");
    ASSERT_TRUE(parsed);
    when = *parsed;
    auto reopened = Ledger::open(path(), *m_key, {when, true});
    ASSERT_TRUE(reopened) << reopened.error().message();
    ASSERT_TRUE(reopened->repair().has_value());
    EXPECT_EQ(reopened->repair()->line, 2u);
    EXPECT_EQ(reopened->repair()->bytes, torn.size());
    // The torn bytes are kept, not thrown away.
    EXPECT_EQ(slurp(reopened->repair()->saved_as), torn);

    auto all = lines();
    ASSERT_EQ(all.size(), 2u);
    auto repaired = open_envelope(all[1], {m_key->public_key()});
    ASSERT_TRUE(repaired) << repaired.error().message();
    EXPECT_EQ((*repaired)["type"], "ledger-repaired");
    EXPECT_EQ((*repaired)["seq"], 2);
    EXPECT_EQ((*repaired)["time"], "2026-03-04T05:06:07Z");
    EXPECT_EQ((*repaired)["clock"], "injected (test build)");
    EXPECT_EQ((*repaired)["cut"]["line"], 2);
    EXPECT_EQ((*repaired)["cut"]["bytes"], torn.size());
    EXPECT_EQ((*repaired)["cut"]["offset"], all[0].size() + 1);
    EXPECT_EQ((*repaired)["cut"]["sha256"], util::sha256_hex(torn));
    EXPECT_EQ(m_dir / (*repaired)["cut"]["saved_as"].get<std::string>(),
              reopened->repair()->saved_as);

    ASSERT_TRUE(reopened->append({{"type", "disposal"}, {"path", "after"}}));
    VerifyReport after = verify();
    EXPECT_TRUE(after.ok()) << after.problem;
    EXPECT_EQ(after.entries, 3u);
    EXPECT_EQ(after.by_type["ledger-repaired"], 1u);
}

TEST_F(LedgerTest, ATornFirstLineIsRepairedToo) {
    rewrite("{\"payload\":\"eyJ");
    auto ledger = Ledger::open(path(), *m_key);
    ASSERT_TRUE(ledger) << ledger.error().message();
    EXPECT_EQ(ledger->last_seq(), 1u);
    EXPECT_EQ(ledger->last_payload()["type"], "ledger-repaired");
    EXPECT_TRUE(verify().ok());
}

TEST_F(LedgerTest, ABrokenLastWholeLineBlocksAppending) {
    append_entries(2);
    rewrite(slurp(path()) + "not an envelope\n");
    auto reopened = Ledger::open(path(), *m_key);
    ASSERT_FALSE(reopened);
    EXPECT_EQ(reopened.error().kind(), ErrorKind::Refused);
    EXPECT_NE(reopened.error().message().find("line 3 is not an envelope"), std::string::npos)
        << reopened.error().message();
}

TEST_F(LedgerTest, AnotherKeyCannotContinueTheLedger) {
    append_entries(1);
    ASSERT_TRUE(SigningKey::generate(m_dir / "other.pem"));
    auto other = SigningKey::load(m_dir / "other.pem");
    ASSERT_TRUE(other);
    auto ledger = Ledger::open(path(), *other);
    ASSERT_FALSE(ledger);
    EXPECT_EQ(ledger.error().kind(), ErrorKind::Refused);
    EXPECT_NE(ledger.error().message().find(m_key->keyid()), std::string::npos);
}

TEST_F(LedgerTest, PayloadsAreCanonicalAndFloatsAreRefused) {
    auto ledger = Ledger::open(path(), *m_key);
    ASSERT_TRUE(ledger);
    auto refused = ledger->append({{"type", "disposal"}, {"fraction", 0.5}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(ledger->last_seq(), 0u);
    EXPECT_TRUE(slurp(path()).empty());
    ASSERT_TRUE(ledger->append({{"type", "disposal"}, {"b", 1}, {"a", "\xc3\xa9"}}));
    auto env = Envelope::parse(lines()[0]);
    ASSERT_TRUE(env);
    EXPECT_EQ(env->payload,
              "{\"a\":\"\xc3\xa9\",\"b\":1,\"prev\":\"" + std::string(64, '0') +
                  "\",\"schema\":1,\"seq\":1,\"type\":\"disposal\"}");
}

TEST_F(LedgerTest, TheTreeHeadIsTheMerkleRootOfTheLines) {
    append_entries(5);
    auto ledger = Ledger::open(path(), *m_key);
    ASSERT_TRUE(ledger);
    std::vector<std::string> leaves;
    for (const auto& l : lines()) leaves.push_back(merkle_leaf_hash(l));
    nlohmann::json head = ledger->tree_head();
    EXPECT_EQ(head["entries"], 5);
    EXPECT_EQ(head["head"], util::sha256_hex(lines().back()));
    EXPECT_EQ(head["merkle_root"], util::hex_encode(merkle_root(leaves)));
}

TEST_F(LedgerTest, ABatchIsChainedLikeSingleAppendsAndAllOrNothing) {
    append_entries(1);
    auto ledger = Ledger::open(path(), *m_key);
    ASSERT_TRUE(ledger);
    std::vector<nlohmann::json> batch;
    for (int i = 0; i < 50; ++i) batch.push_back({{"type", "disposal"}, {"n", i}});
    auto last = ledger->append_batch(std::move(batch));
    ASSERT_TRUE(last) << last.error().message();
    EXPECT_EQ(*last, 51u);
    EXPECT_EQ(ledger->head(), util::sha256_hex(lines().back()));
    VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 51u);
    // One bad payload: nothing of the batch is written.
    std::string before = slurp(path());
    auto refused = ledger->append_batch({{{"type", "disposal"}}, {{"type", "disposal"}, {"x", 0.5}}});
    EXPECT_FALSE(refused);
    EXPECT_EQ(slurp(path()), before);
    EXPECT_EQ(ledger->last_seq(), 51u);
}

TEST_F(LedgerTest, AnUnreadableLedgerIsAnErrorNotAFinding) {
    auto r = verify_ledger(m_dir / "missing.jsonl", {m_key->public_key()});
    EXPECT_FALSE(r);
}

// Two writers on one ledger (a pass and `lethe hold`): each append follows the other's.
TEST_F(LedgerTest, TwoWritersInterleaveIntoOneChain) {
    auto pass = Ledger::open(path(), *m_key);
    ASSERT_TRUE(pass) << pass.error().message();
    auto command = Ledger::open(path(), *m_key);
    ASSERT_TRUE(command) << command.error().message();
    for (int i = 0; i < 5; ++i) {
        auto a = pass->append({{"type", "disposal"}, {"i", i}});
        ASSERT_TRUE(a) << a.error().message();
        auto b = command->append({{"type", "hold-placed"}, {"i", i}});
        ASSERT_TRUE(b) << b.error().message();
        EXPECT_EQ(*b, *a + 1);
    }
    std::vector<nlohmann::json> group;
    group.push_back({{"type", "disposal"}});
    group.push_back({{"type", "disposal"}});
    auto last = pass->append_batch(std::move(group));
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, 12u);
    // The checkpoint describes the ledger as it is, including the other writer's lines.
    ASSERT_TRUE(command->append({{"type", "review-approved"}}));
    auto cp = pass->append_checkpoint({{"type", "checkpoint"}});
    ASSERT_TRUE(cp);
    EXPECT_EQ(*cp, 14u);
    EXPECT_EQ(pass->last_payload()["entries"], 13);
    EXPECT_EQ(pass->last_payload()["head"], util::sha256_hex(lines()[12]));
    VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 14u);
    auto reopened = Ledger::open(path(), *m_key);
    ASSERT_TRUE(reopened);
    EXPECT_EQ(reopened->merkle_root(), pass->merkle_root());
}

// Another writer died in the middle of its append: the next writer repairs it on catch-up.
TEST_F(LedgerTest, ATornLineLeftByAnotherWriterIsRepairedBeforeTheNextAppend) {
    auto pass = Ledger::open(path(), *m_key);
    ASSERT_TRUE(pass);
    ASSERT_TRUE(pass->append({{"type", "disposal"}}));
    {
        std::ofstream out(path(), std::ios::app | std::ios::binary);
        out << "{\"payload\":\"half a li";
    }
    auto seq = pass->append({{"type", "disposal"}});
    ASSERT_TRUE(seq) << seq.error().message();
    EXPECT_EQ(*seq, 3u);  // 2 is the ledger-repaired entry
    ASSERT_TRUE(pass->repair());
    EXPECT_EQ(pass->repair()->line, 2u);
    VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << r.problem;
    EXPECT_EQ(r.entries, 3u);
}

// A ledger replaced or cut while a writer has it open receives nothing more.
TEST_F(LedgerTest, ALedgerReplacedOrCutWhileOpenIsRefused) {
    auto pass = Ledger::open(path(), *m_key);
    ASSERT_TRUE(pass);
    ASSERT_TRUE(pass->append({{"type", "disposal"}}));
    ASSERT_TRUE(pass->append({{"type", "disposal"}}));
    std::string first = lines()[0] + "\n";
    std::ofstream(path(), std::ios::trunc | std::ios::binary) << first;  // same file, cut
    auto cut = pass->append({{"type", "disposal"}});
    ASSERT_FALSE(cut);
    EXPECT_NE(cut.error().message().find("shrank"), std::string::npos);
    ASSERT_EQ(std::rename(path().c_str(), (m_dir / "old.jsonl").c_str()), 0);
    rewrite(first);  // a new file at the ledger's name
    auto replaced = pass->append({{"type", "disposal"}});
    ASSERT_FALSE(replaced);
    EXPECT_NE(replaced.error().message().find("replaced or removed"), std::string::npos);
}

}  // namespace
}  // namespace lethe::ledger
