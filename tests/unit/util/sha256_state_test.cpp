#include "agent/util/sha256_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "agent/util/sha256.hpp"

namespace lethe::util {
namespace {

std::string digest(std::string_view bytes) {
    Sha256State s;
    s.update(bytes);
    return s.finish_hex();
}

TEST(Sha256State, MatchesFips180TestVectors) {
    EXPECT_EQ(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(digest(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// A checkpoint taken after one million 'a's (a multiple of 64) and resumed in a fresh object
// gives the FIPS 180 digest of one million 'a's followed by the rest.
TEST(Sha256State, ResumesFromAnExportedStateAtABlockBoundary) {
    Sha256State first;
    first.update(std::string(999936, 'a'));  // 15624 blocks
    auto state = first.export_state();
    ASSERT_TRUE(state) << state.error().message();
    EXPECT_EQ(state->size(), 64u);
    auto resumed = Sha256State::import_state(*state, 999936);
    ASSERT_TRUE(resumed) << resumed.error().message();
    resumed->update(std::string(64, 'a'));
    EXPECT_EQ(resumed->bytes(), 1000000u);
    EXPECT_EQ(resumed->finish_hex(),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Random data, split at random block-aligned points, the state exported and imported into a
// new object at every split (as a checkpointed hash resumed after a crash would be), gives the
// digest util::Sha256 (EVP) computes over the whole.
TEST(Sha256State, ExportImportRoundTripsAtRandomSplitsMatchEvp) {
    std::mt19937_64 rng(20261126);
    for (int round = 0; round < 40; ++round) {
        const size_t size = std::uniform_int_distribution<size_t>(0, 300000)(rng);
        std::string data(size, '\0');
        for (auto& c : data) c = static_cast<char>(rng() & 0xff);
        std::vector<size_t> cuts;
        const int n = std::uniform_int_distribution<int>(0, 6)(rng);
        for (int i = 0; i < n; ++i) {
            cuts.push_back(std::uniform_int_distribution<size_t>(0, size / 64)(rng) * 64);
        }
        std::sort(cuts.begin(), cuts.end());
        Sha256State s;
        size_t at = 0;
        for (size_t cut : cuts) {
            s.update(data.data() + at, cut - at);
            at = cut;
            auto state = s.export_state();
            ASSERT_TRUE(state) << state.error().message();
            auto resumed = Sha256State::import_state(*state, at);
            ASSERT_TRUE(resumed) << resumed.error().message();
            s = *resumed;
            EXPECT_EQ(s.bytes(), at);
        }
        s.update(data.data() + at, size - at);
        EXPECT_EQ(s.finish_hex(), sha256_hex(data)) << "round " << round << ", size " << size;
    }
}

TEST(Sha256State, ExportsOnlyAtABlockBoundary) {
    Sha256State s;
    s.update(std::string(100, 'x'));
    EXPECT_FALSE(s.export_state());
    s.update(std::string(28, 'x'));
    EXPECT_TRUE(s.export_state());
}

TEST(Sha256State, RefusesAMalformedCheckpoint) {
    const std::string good(64, '0');
    EXPECT_TRUE(Sha256State::import_state(good, 128));
    EXPECT_FALSE(Sha256State::import_state(good, 100));                   // not a block boundary
    EXPECT_FALSE(Sha256State::import_state(good.substr(1), 128));         // too short
    EXPECT_FALSE(Sha256State::import_state(std::string(64, 'g'), 128));   // not hex
    EXPECT_FALSE(Sha256State::import_state(std::string(64, 'A'), 128));   // not lowercase
}

}  // namespace
}  // namespace lethe::util
