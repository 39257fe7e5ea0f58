#include "agent/ledger/ledger.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "agent/ledger/dsse.hpp"
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
    EXPECT_NE(r.problem.find("sequence"), std::string::npos) << r.problem;
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

TEST_F(LedgerTest, ATornLastLineIsReportedAndBlocksAppending) {
    append_entries(2);
    std::string content = slurp(path());
    rewrite(content.substr(0, content.size() - 30));
    VerifyReport r = verify();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(*r.bad_line, 2u);
    auto reopened = Ledger::open(path(), *m_key);
    ASSERT_FALSE(reopened);
    EXPECT_NE(reopened.error().message().find("torn"), std::string::npos);
}

TEST_F(LedgerTest, AnUnreadableLedgerIsAnErrorNotAFinding) {
    auto r = verify_ledger(m_dir / "missing.jsonl", {m_key->public_key()});
    EXPECT_FALSE(r);
}

}  // namespace
}  // namespace lethe::ledger
