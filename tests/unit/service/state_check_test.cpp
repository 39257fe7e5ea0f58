#include "agent/service/state_check.hpp"

#include <gtest/gtest.h>

namespace lethe::service {
namespace {

ReplayedLedger ledger_at(uint64_t last_seq, uint64_t anchor_seq, const std::string& hash) {
    ReplayedLedger r;
    r.present = true;
    r.last_seq = last_seq;
    r.hashes[anchor_seq] = hash;
    return r;
}

TEST(LedgerBehind, NothingRecordedMeansNothingToReach) {
    EXPECT_EQ(ledger_behind(std::nullopt, ReplayedLedger{}), "");
}

TEST(LedgerBehind, AMissingShorterOrDifferentLedgerIsBehind) {
    LedgerAnchor anchor{5, "aaaa"};
    EXPECT_NE(ledger_behind(anchor, ReplayedLedger{}).find("missing or empty"), std::string::npos);
    EXPECT_NE(ledger_behind(anchor, ledger_at(3, 3, "x")).find("ends at entry 3"),
              std::string::npos);
    EXPECT_NE(ledger_behind(anchor, ledger_at(9, 5, "bbbb")).find("was replaced"),
              std::string::npos);
    EXPECT_EQ(ledger_behind(anchor, ledger_at(9, 5, "aaaa")), "");
    // A record from before lethe kept the head: the length alone is checked.
    EXPECT_EQ(ledger_behind(LedgerAnchor{5, ""}, ledger_at(5, 5, "bbbb")), "");
}

TEST(LedgerBehind, AnAcceptanceCoversExactlyTheAnchorItNames) {
    LedgerAnchor anchor{5, "aaaa"};
    ReplayedLedger r = ledger_at(1, 5, "");
    r.accepted.push_back({{"recorded", {{"seq", 5}, {"head", "aaaa"}}}});
    EXPECT_EQ(ledger_behind(anchor, r), "");
    EXPECT_NE(ledger_behind(LedgerAnchor{6, "cccc"}, r), "");
}

}  // namespace
}  // namespace lethe::service
