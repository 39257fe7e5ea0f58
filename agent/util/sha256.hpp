#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::util {

// Incremental SHA-256 (OpenSSL EVP). Not thread safe; one hasher per stream.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(std::string_view bytes);
    void update(const void* data, size_t size);
    // Raw 32-byte digest; the hasher is reset afterwards.
    std::string finish();
    std::string finish_hex();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// One-shot digests: raw 32 bytes, or lowercase hex.
std::string sha256_raw(std::string_view bytes);
std::string sha256_hex(std::string_view bytes);

// SHA-256 of everything readable from `fd` from its current offset to the end.
[[nodiscard]] Result<std::string> sha256_fd_hex(int fd, std::string_view what);

}  // namespace lethe::util
