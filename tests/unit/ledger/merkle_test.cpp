#include "agent/ledger/merkle.hpp"

#include <gtest/gtest.h>

#include "agent/util/encoding.hpp"

namespace lethe::ledger {
namespace {

// The leaves and roots of the Certificate Transparency reference tests for RFC 6962.
std::vector<std::string> reference_leaves() {
    return {std::string(),
            std::string("\x00", 1),
            "\x10",
            "\x20\x21",
            "\x30\x31",
            "\x40\x41\x42\x43",
            "\x50\x51\x52\x53\x54\x55\x56\x57",
            "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
}

const char* const kReferenceRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

TEST(Merkle, RootsMatchTheRfc6962ReferenceVectors) {
    auto leaves = reference_leaves();
    MerkleFrontier frontier;
    EXPECT_EQ(util::hex_encode(frontier.root()),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    std::vector<std::string> hashes;
    for (size_t i = 0; i < leaves.size(); ++i) {
        frontier.append_line(leaves[i]);
        hashes.push_back(merkle_leaf_hash(leaves[i]));
        EXPECT_EQ(util::hex_encode(frontier.root()), kReferenceRoots[i]) << "size " << i + 1;
        EXPECT_EQ(util::hex_encode(merkle_root(hashes)), kReferenceRoots[i]) << "size " << i + 1;
    }
}

TEST(Merkle, EveryInclusionProofVerifiesAndATamperedOneDoesNot) {
    std::vector<std::string> hashes;
    MerkleFrontier frontier;
    for (int n = 1; n <= 33; ++n) {
        std::string line = "line " + std::to_string(n);
        hashes.push_back(merkle_leaf_hash(line));
        frontier.append_line(line);
        std::string root = frontier.root();
        ASSERT_EQ(root, merkle_root(hashes));
        for (uint64_t i = 0; i < hashes.size(); ++i) {
            auto path = merkle_inclusion_proof(hashes, i);
            EXPECT_TRUE(merkle_verify_inclusion(hashes[i], i, hashes.size(), path, root))
                << "leaf " << i << " of " << n;
            // The same proof must not pass for another leaf, index or root.
            if (hashes.size() > 1) {
                uint64_t other = (i + 1) % hashes.size();
                EXPECT_FALSE(merkle_verify_inclusion(hashes[other], i, hashes.size(), path, root));
                EXPECT_FALSE(merkle_verify_inclusion(hashes[i], other, hashes.size(), path, root));
            }
            if (hashes.size() > 1) {
                EXPECT_FALSE(merkle_verify_inclusion(hashes[i], i, hashes.size(), path, hashes[i]));
            }
            if (!path.empty()) {
                path[0][0] = static_cast<char>(path[0][0] ^ 1);
                EXPECT_FALSE(merkle_verify_inclusion(hashes[i], i, hashes.size(), path, root));
            }
        }
    }
}

}  // namespace
}  // namespace lethe::ledger
