#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

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

// The SHA-256 (lowercase hex) of the whole content of the file open as `fd`, read from
// offset 0 to its end (the fd's own offset is neither used nor moved) in sequential blocks
// of up to 4 MiB, the read-ahead told so. When `stop` is given it is asked after each block
// (which reports the block to the watchdog); once it says stop, returns stopped("hash
// <what>") without reading further. Read errors name `what`.
[[nodiscard]] Result<std::string> sha256_fd_hex(int fd, std::string_view what,
                                                const StopToken* stop = nullptr);

}  // namespace lethe::util
