#include "agent/util/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"

namespace lethe::util {

struct Sha256::Impl {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {
    if (!m_impl->ctx || EVP_DigestInit_ex(m_impl->ctx.get(), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
    }
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

void Sha256::update(const void* data, size_t size) {
    EVP_DigestUpdate(m_impl->ctx.get(), data, size);
}

std::string Sha256::finish() {
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_impl->ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len);
    out.resize(len);
    EVP_DigestInit_ex(m_impl->ctx.get(), EVP_sha256(), nullptr);
    return out;
}

std::string Sha256::finish_hex() { return hex_encode(finish()); }

namespace {

// Fetched once: an implicit fetch by name on every digest costs more than hashing a line.
const EVP_MD* sha256_md() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md != nullptr ? md : EVP_sha256();
}

}  // namespace

std::string sha256_raw(std::string_view bytes) {
    std::string out(32, '\0');
    unsigned int len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                   sha256_md(), nullptr) != 1 ||
        len != out.size()) {
        throw std::runtime_error("OpenSSL: SHA-256 failed");
    }
    return out;
}

std::string sha256_hex(std::string_view bytes) { return hex_encode(sha256_raw(bytes)); }

Result<std::string> sha256_fd_hex(int fd, std::string_view what, const StopToken* stop) {
    constexpr uint64_t kBlock = uint64_t{4} << 20;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(errno_error(fmt::format("fstat {}", what), errno));
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    // A small file gets a small buffer (one read, then the one that finds the end).
    const uint64_t size = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
    const size_t capacity = static_cast<size_t>(std::min<uint64_t>(kBlock, size + 4096));
    std::unique_ptr<char[]> block(new (std::nothrow) char[capacity]);
    if (!block) return fail(ErrorKind::Internal, "out of memory for the hash buffer");
    Sha256 hash;
    uint64_t offset = 0;
    for (;;) {
        ssize_t n = ::pread(fd, block.get(), capacity, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errno_error(fmt::format("read {}", what), errno));
        }
        if (n == 0) break;
        hash.update(block.get(), static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
        if (stop != nullptr && stop->stop_requested()) {
            return fail(stopped(fmt::format("hash {}", what)));
        }
    }
    return hash.finish_hex();
}

}  // namespace lethe::util
