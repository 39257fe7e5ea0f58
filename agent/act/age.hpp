#pragma once

// The age v1 file format (c2sp.org/age) for X25519 recipients, implemented with OpenSSL 3:
// what lethe writes, Debian's `age -d -i` decrypts, and what `age -r` writes, lethe
// decrypts. Only the binary format and X25519 stanzas; the ASCII armor, scrypt and plugin
// recipients are refused with a clear message. The agent itself only ever holds recipients
// (public keys); identities are for records managers (`lethe keygen --age-identity`,
// `lethe restore --identity`).

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"

namespace lethe::act::age {

// An X25519 public key, written "age1..." (Bech32, HRP "age"). Immutable.
class Recipient {
public:
    // Refuses anything but a lowercase-or-uppercase Bech32 string with HRP "age" and a
    // 32-byte key, naming the problem (ErrorKind::BadInput).
    [[nodiscard]] static Result<Recipient> parse(std::string_view text);
    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] const std::array<unsigned char, 32>& key() const { return m_key; }

private:
    std::array<unsigned char, 32> m_key{};
    friend class Identity;
};

// An X25519 private key, written "AGE-SECRET-KEY-1..." (Bech32, HRP "AGE-SECRET-KEY-").
// The key bytes are wiped when the object is destroyed. Copyable (copies are wiped too).
class Identity {
public:
    [[nodiscard]] static Result<Identity> generate();
    [[nodiscard]] static Result<Identity> parse(std::string_view text);
    // Reads an identity file as `age-keygen` writes it: one key per line, blank lines and
    // lines starting with '#' ignored. At least one key is required.
    [[nodiscard]] static Result<std::vector<Identity>> load_file(const std::string& path);

    Identity(const Identity&) = default;
    Identity& operator=(const Identity&) = default;
    ~Identity();

    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] Result<Recipient> recipient() const;
    [[nodiscard]] const std::array<unsigned char, 32>& key() const { return m_key; }

private:
    Identity() = default;
    std::array<unsigned char, 32> m_key{};
};

// Receives bytes produced by an Encryptor or a decrypting copy; an error stops the stream.
using Sink = std::function<Status(std::string_view)>;
// Fills up to `size` bytes of `buffer`; returns 0 at the end of the input.
using Source = std::function<Result<size_t>(char* buffer, size_t size)>;

// Sink and Source over a file descriptor (writes retried until complete, EINTR retried).
// The descriptor stays owned by the caller.
[[nodiscard]] Sink fd_sink(int fd, std::string what);
[[nodiscard]] Source fd_source(int fd, std::string what);

// The 128-bit file key of one encrypted stream, wiped on destruction. The agent keeps it in
// memory only while it re-reads and checks what it has just written, since it holds no
// identity that could decrypt it later. Copies share the key.
class FileKey {
public:
    struct Impl;
    explicit FileKey(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}
    [[nodiscard]] const Impl& impl() const { return *m_impl; }

private:
    std::shared_ptr<const Impl> m_impl;
};

// Encrypts one stream to one or more recipients: a fresh 128-bit file key, one X25519
// stanza per recipient, the header MAC, a fresh payload nonce, then the payload in 64 KiB
// ChaCha20-Poly1305 STREAM chunks. The header is written by start(); write() emits every
// chunk it can; finish() emits the final chunk and must be called once, last. Nothing is
// buffered beyond one chunk. Move-only; not thread safe.
class Encryptor {
public:
    [[nodiscard]] static Result<Encryptor> start(const std::vector<Recipient>& recipients,
                                                 Sink sink);
    [[nodiscard]] Status write(std::string_view plaintext);
    [[nodiscard]] Status finish();
    // The file key, for a Decryptor::start_with_file_key() re-read of the output.
    [[nodiscard]] FileKey file_key() const;

    Encryptor(Encryptor&&) noexcept;
    Encryptor& operator=(Encryptor&&) noexcept;
    ~Encryptor();

private:
    struct Impl;
    explicit Encryptor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Decrypts one stream: start() reads the header, unwraps the file key with the first
// identity that matches a stanza and checks the header MAC; read() then returns plaintext
// one authenticated chunk at a time. A wrong key, a tampered or truncated file, or trailing
// bytes after the final chunk are errors (ErrorKind::Verification), never silent: read()
// returns 0 only after the final chunk has been authenticated. Move-only; not thread safe.
class Decryptor {
public:
    [[nodiscard]] static Result<Decryptor> start(const std::vector<Identity>& identities,
                                                 Source source);
    // Decrypts with a known file key instead of an identity (the header MAC is still checked).
    [[nodiscard]] static Result<Decryptor> start_with_file_key(const FileKey& key, Source source);
    [[nodiscard]] Result<size_t> read(char* buffer, size_t size);
    // The rest of the current authenticated chunk, or the next one, without a copy: valid
    // until the next call. Empty only after the final chunk has been authenticated.
    [[nodiscard]] Result<std::string_view> read_chunk();

    Decryptor(Decryptor&&) noexcept;
    Decryptor& operator=(Decryptor&&) noexcept;
    ~Decryptor();

    struct Impl;  // opaque

private:
    explicit Decryptor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Whole-stream helpers: encrypt everything `source` yields to `sink`, or decrypt it.
[[nodiscard]] Status encrypt(const std::vector<Recipient>& recipients, const Source& source,
                             Sink sink);
[[nodiscard]] Status decrypt(const std::vector<Identity>& identities, Source source,
                             const Sink& sink);

}  // namespace lethe::act::age
