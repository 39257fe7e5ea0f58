#include "agent/ledger/merkle.hpp"

#include <bit>

#include "agent/util/sha256.hpp"

namespace lethe::ledger {

std::string merkle_leaf_hash(std::string_view line) {
    std::string buf;
    buf.reserve(line.size() + 1);
    buf.push_back('\x00');
    buf.append(line);
    return util::sha256_raw(buf);
}

std::string merkle_node_hash(std::string_view left, std::string_view right) {
    std::string buf;
    buf.reserve(1 + left.size() + right.size());
    buf.push_back('\x01');
    buf.append(left);
    buf.append(right);
    return util::sha256_raw(buf);
}

std::string merkle_empty_root() { return util::sha256_raw({}); }

void MerkleFrontier::append_leaf_hash(std::string leaf_hash) {
    // Merge equal-sized subtrees, as binary addition carries: one merge per trailing 1 bit.
    std::string node = std::move(leaf_hash);
    for (uint64_t n = m_size; (n & 1) != 0; n >>= 1) {
        node = merkle_node_hash(m_subtrees.back(), node);
        m_subtrees.pop_back();
    }
    m_subtrees.push_back(std::move(node));
    ++m_size;
}

std::string MerkleFrontier::root() const {
    if (m_subtrees.empty()) return merkle_empty_root();
    // The tree over n leaves is the perfect subtrees of n's binary form, joined right to left.
    std::string acc = m_subtrees.back();
    for (size_t i = m_subtrees.size() - 1; i-- > 0;) acc = merkle_node_hash(m_subtrees[i], acc);
    return acc;
}

namespace {

uint64_t split_point(uint64_t n) {  // the largest power of two smaller than n (n >= 2)
    return std::bit_floor(n - 1);
}

std::string subtree_root(const std::vector<std::string>& leaves, uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    if (n == 0) return merkle_empty_root();
    if (n == 1) return leaves[begin];
    uint64_t k = split_point(n);
    return merkle_node_hash(subtree_root(leaves, begin, begin + k),
                            subtree_root(leaves, begin + k, end));
}

void audit_path(const std::vector<std::string>& leaves, uint64_t index, uint64_t begin,
                uint64_t end, std::vector<std::string>& out) {
    uint64_t n = end - begin;
    if (n <= 1) return;
    uint64_t k = split_point(n);
    if (index < k) {
        audit_path(leaves, index, begin, begin + k, out);
        out.push_back(subtree_root(leaves, begin + k, end));
    } else {
        audit_path(leaves, index - k, begin + k, end, out);
        out.push_back(subtree_root(leaves, begin, begin + k));
    }
}

}  // namespace

std::string merkle_root(const std::vector<std::string>& leaf_hashes) {
    return subtree_root(leaf_hashes, 0, leaf_hashes.size());
}

std::vector<std::string> merkle_inclusion_proof(const std::vector<std::string>& leaf_hashes,
                                                uint64_t index) {
    std::vector<std::string> path;
    if (index < leaf_hashes.size()) audit_path(leaf_hashes, index, 0, leaf_hashes.size(), path);
    return path;
}

bool merkle_verify_inclusion(std::string_view leaf_hash, uint64_t index, uint64_t tree_size,
                             const std::vector<std::string>& path, std::string_view root) {
    if (index >= tree_size) return false;
    uint64_t fn = index;
    uint64_t sn = tree_size - 1;
    std::string r(leaf_hash);
    for (const auto& p : path) {
        if (sn == 0) return false;
        if ((fn & 1) != 0 || fn == sn) {
            r = merkle_node_hash(p, r);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = merkle_node_hash(r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && r == root;
}

}  // namespace lethe::ledger
