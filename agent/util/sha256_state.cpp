#include "agent/util/sha256_state.hpp"

#include <openssl/crypto.h>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 (in favour of EVP, which cannot
// export a state) but present, and use the same assembly. Allowed in this file only.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace lethe::util {

namespace {

constexpr uint64_t kBlockBytes = 64;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

Sha256State::Sha256State() { SHA256_Init(&m_ctx); }

void Sha256State::update(const void* data, size_t size) {
    SHA256_Update(&m_ctx, data, size);
    m_bytes += size;
}

Result<std::string> Sha256State::export_state() const {
    if (m_bytes % kBlockBytes != 0 || m_ctx.num != 0) {
        return fail(ErrorKind::Internal,
                    fmt::format("SHA-256 state after {} bytes is not at a 64-byte block boundary",
                                m_bytes));
    }
    std::string out;
    out.reserve(64);
    for (SHA_LONG word : m_ctx.h) out += fmt::format("{:08x}", static_cast<uint32_t>(word));
    return out;
}

Result<Sha256State> Sha256State::import_state(std::string_view state_hex, uint64_t bytes) {
    if (bytes % kBlockBytes != 0) {
        return fail(ErrorKind::BadInput,
                    fmt::format("SHA-256 checkpoint after {} bytes: not a multiple of 64", bytes));
    }
    if (bytes > (UINT64_MAX >> 3)) {
        return fail(ErrorKind::BadInput, "SHA-256 checkpoint: byte count out of range");
    }
    if (state_hex.size() != 64) {
        return fail(ErrorKind::BadInput, "SHA-256 checkpoint: the state is not 64 hex digits");
    }
    Sha256State s;
    for (size_t i = 0; i < 8; ++i) {
        uint32_t w = 0;
        for (size_t j = 0; j < 8; ++j) {
            int d = hex_digit(state_hex[i * 8 + j]);
            if (d < 0) {
                return fail(ErrorKind::BadInput,
                            "SHA-256 checkpoint: the state is not 64 lowercase hex digits");
            }
            w = (w << 4) | static_cast<uint32_t>(d);
        }
        s.m_ctx.h[i] = w;
    }
    // The message length in bits, as a 64-bit count split in two 32-bit halves.
    const uint64_t bits = bytes << 3;
    s.m_ctx.Nl = static_cast<SHA_LONG>(bits & 0xffffffffU);
    s.m_ctx.Nh = static_cast<SHA_LONG>(bits >> 32);
    s.m_ctx.num = 0;
    s.m_bytes = bytes;
    return s;
}

std::string Sha256State::finish_hex() {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_Final(md, &m_ctx);
    std::string raw(reinterpret_cast<const char*>(md), sizeof md);
    OPENSSL_cleanse(&m_ctx, sizeof m_ctx);
    return hex_encode(raw);
}

}  // namespace lethe::util
