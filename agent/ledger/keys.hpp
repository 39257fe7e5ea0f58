#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::ledger {

struct PkeyDeleter {
    void operator()(void* pkey) const;
};
using PkeyPtr = std::unique_ptr<void, PkeyDeleter>;  // EVP_PKEY*, kept opaque here

// A public Ed25519 key that certificates are checked against. Immutable; thread safe.
class VerifyKey {
public:
    // Reads a PEM public key (SubjectPublicKeyInfo) or derives it from a PEM private key.
    [[nodiscard]] static Result<VerifyKey> load(const std::string& path);
    [[nodiscard]] static Result<VerifyKey> from_pem(std::string_view pem, const std::string& name);

    // Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo, as
    // `openssl pkey -pubin -outform DER | sha256sum` prints it.
    [[nodiscard]] const std::string& keyid() const { return m_keyid; }
    [[nodiscard]] bool verify(std::string_view message, std::string_view signature) const;
    [[nodiscard]] std::string public_pem() const;

private:
    VerifyKey(std::shared_ptr<void> pkey, std::string keyid)
        : m_pkey(std::move(pkey)), m_keyid(std::move(keyid)) {}
    std::shared_ptr<void> m_pkey;
    std::string m_keyid;
    friend class SigningKey;
    friend class SignatureChecker;
};

// Checks many signatures by one key with one OpenSSL context, prepared once (as `openssl
// speed` does); for verifying whole ledgers. Borrows the key, which must outlive it. Not
// thread safe: one per thread.
class SignatureChecker {
public:
    explicit SignatureChecker(const VerifyKey& key);
    [[nodiscard]] bool verify(std::string_view message, std::string_view signature);

private:
    const VerifyKey* m_key;
    std::shared_ptr<void> m_ctx;  // EVP_MD_CTX*, prepared for verification; null if that failed
};

// The agent's Ed25519 signing key. Loading refuses a key file that is not a regular file
// owned by the user that will sign with it (by default the current user) or that group or
// others can read (it must be mode 0600 or stricter). Not copyable; signing is thread safe.
class SigningKey {
public:
    [[nodiscard]] static Result<SigningKey> load(const std::string& path);
    // As load(), but the key must belong to `owner`: `lethe config check` run by root checks
    // the key the way the service user (the owner of state_dir) will load it.
    [[nodiscard]] static Result<SigningKey> load_owned_by(const std::string& path, unsigned owner);

    // Creates a new key at `path` (mode 0600, folder 0700 created as needed) and its public
    // key at `path + ".pub"`. Refuses to overwrite an existing key.
    [[nodiscard]] static Status generate(const std::string& path);

    [[nodiscard]] std::string sign(std::string_view message) const;
    [[nodiscard]] const VerifyKey& public_key() const { return m_public; }
    [[nodiscard]] const std::string& keyid() const { return m_public.keyid(); }

private:
    friend class SigningContext;
    SigningKey(PkeyPtr pkey, VerifyKey pub) : m_pkey(std::move(pkey)), m_public(std::move(pub)) {}
    PkeyPtr m_pkey;
    VerifyKey m_public;
};

// Signs many messages with one key and one OpenSSL context, prepared once; for appending
// many certificates. Borrows the key, which must outlive it. Not thread safe.
class SigningContext {
public:
    explicit SigningContext(const SigningKey& key);
    [[nodiscard]] std::string sign(std::string_view message);

private:
    const SigningKey* m_key;
    std::shared_ptr<void> m_ctx;  // EVP_MD_CTX*; null if preparing it failed
};

}  // namespace lethe::ledger
