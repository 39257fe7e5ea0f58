#pragma once

#include <openssl/sha.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::util {

// Incremental SHA-256 whose state can be saved and resumed: the digest of a file that is
// being overwritten is checkpointed (the midstate of the bytes hashed so far) so that it can
// be finished after a crash from the bytes not yet overwritten. OpenSSL 3's EVP interface
// cannot export a digest's state, so this one uses the low-level SHA256_CTX (the same
// assembly). States are exported only at 64-byte block boundaries, where SHA256_CTX holds
// nothing but the eight chaining words and the byte count. Not thread safe.
class Sha256State {
public:
    Sha256State();

    void update(const void* data, size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    // The bytes hashed so far.
    [[nodiscard]] uint64_t bytes() const { return m_bytes; }
    // The midstate as 64 lowercase hex digits (the eight chaining words, big-endian), for a
    // checkpoint at bytes(). Only at a block boundary: fails (Internal) when bytes() is not a
    // multiple of 64.
    [[nodiscard]] Result<std::string> export_state() const;
    // Resumes from an exported state after `bytes` bytes (a multiple of 64). Refuses
    // (BadInput) a malformed state or count.
    [[nodiscard]] static Result<Sha256State> import_state(std::string_view state_hex, uint64_t bytes);
    // The digest as 64 lowercase hex digits. The object is spent afterwards.
    std::string finish_hex();

private:
    SHA256_CTX m_ctx{};
    uint64_t m_bytes = 0;
};

}  // namespace lethe::util
