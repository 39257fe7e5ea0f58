#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"

namespace lethe::ledger {

// A Merkle tree over ledger lines as RFC 6962 §2.1 defines it, with SHA-256: the leaves are
// the lines' bytes (without the newline), leaf hash = SHA-256(0x00 || line), interior node
// = SHA-256(0x01 || left || right), and the tree over n leaves splits at the largest power
// of two below n. Hashes here are raw 32-byte strings unless a name says hex.

[[nodiscard]] std::string merkle_leaf_hash(std::string_view line);
[[nodiscard]] std::string merkle_node_hash(std::string_view left, std::string_view right);
// The root of the empty tree: SHA-256 of nothing.
[[nodiscard]] std::string merkle_empty_root();

// The tree's right edge: enough to append leaves one by one and compute the root at any
// size, in O(log n) memory. Not thread safe.
class MerkleFrontier {
public:
    void append_leaf_hash(std::string leaf_hash);
    void append_line(std::string_view line) { append_leaf_hash(merkle_leaf_hash(line)); }
    [[nodiscard]] uint64_t size() const { return m_size; }
    [[nodiscard]] std::string root() const;

private:
    // One perfect subtree per set bit of m_size, largest (leftmost) first.
    std::vector<std::string> m_subtrees;
    uint64_t m_size = 0;
};

// The root of the tree over all of `leaf_hashes`.
[[nodiscard]] std::string merkle_root(const std::vector<std::string>& leaf_hashes);

// The audit path of leaf `index` in the tree over `leaf_hashes` (RFC 6962 §2.1.1), nearest
// sibling first. Requires index < leaf_hashes.size().
[[nodiscard]] std::vector<std::string> merkle_inclusion_proof(
    const std::vector<std::string>& leaf_hashes, uint64_t index);

// Checks an audit path (RFC 9162 §2.1.3.2): true when `path` proves that `leaf_hash` is leaf
// `index` of a tree of `tree_size` leaves whose root is `root`.
[[nodiscard]] bool merkle_verify_inclusion(std::string_view leaf_hash, uint64_t index,
                                           uint64_t tree_size,
                                           const std::vector<std::string>& path,
                                           std::string_view root);

}  // namespace lethe::ledger
