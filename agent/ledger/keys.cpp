#include "agent/ledger/keys.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <fmt/format.h>

#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::ledger {

void PkeyDeleter::operator()(void* pkey) const { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey)); }

namespace {

EVP_PKEY* raw(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }
EVP_PKEY* raw(const PkeyPtr& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    if (code == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(len));
}

Result<std::string> keyid_of(EVP_PKEY* pkey) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0) {
        return fail(ErrorKind::Internal, "cannot encode public key: " + openssl_error());
    }
    std::string id = util::sha256_hex(std::string_view(reinterpret_cast<char*>(der),
                                                       static_cast<size_t>(len)));
    OPENSSL_free(der);
    return id;
}

}  // namespace

Result<VerifyKey> VerifyKey::from_pem(std::string_view pem, const std::string& name) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr) {
        ERR_clear_error();
        BioPtr again(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        key = PEM_read_bio_PrivateKey(again.get(), nullptr, nullptr, nullptr);
    }
    if (key == nullptr) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{}: not a PEM public or private key ({})", name, openssl_error()));
    }
    std::shared_ptr<void> owned(key, PkeyDeleter{});
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        return fail(ErrorKind::BadInput, fmt::format("{}: not an Ed25519 key", name));
    }
    // Keep only the public half, so a VerifyKey never holds private material.
    BioPtr out(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PUBKEY(out.get(), key) != 1) {
        return fail(ErrorKind::Internal, "cannot encode public key: " + openssl_error());
    }
    std::string pub_pem = bio_contents(out.get());
    EVP_PKEY* pub = PEM_read_bio_PUBKEY(out.get(), nullptr, nullptr, nullptr);
    if (pub == nullptr) {
        return fail(ErrorKind::Internal, "cannot re-read public key: " + openssl_error());
    }
    std::shared_ptr<void> pub_owned(pub, PkeyDeleter{});
    auto id = keyid_of(pub);
    if (!id) return fail(id.error());
    return VerifyKey(std::move(pub_owned), std::move(*id));
}

Result<VerifyKey> VerifyKey::load(const std::string& path) {
    auto text = util::read_file(path);
    if (!text) return fail(text.error());
    return from_pem(*text, path);
}

bool VerifyKey::verify(std::string_view message, std::string_view signature) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, raw(m_pkey)) != 1) {
        ERR_clear_error();
        return false;
    }
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(),
                              reinterpret_cast<const unsigned char*>(message.data()),
                              message.size());
    ERR_clear_error();
    return rc == 1;
}

SignatureChecker::SignatureChecker(const VerifyKey& key) : m_key(&key) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return;
    m_ctx = std::shared_ptr<void>(ctx, [](void* c) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(c)); });
    if (EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, raw(key.m_pkey)) != 1) {
        ERR_clear_error();
        m_ctx.reset();
    }
}

bool SignatureChecker::verify(std::string_view message, std::string_view signature) {
    if (!m_ctx) return m_key->verify(message, signature);
    // Ed25519 is one-shot: EVP_DigestVerify may be called again on the same context.
    int rc = EVP_DigestVerify(static_cast<EVP_MD_CTX*>(m_ctx.get()),
                              reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(),
                              reinterpret_cast<const unsigned char*>(message.data()),
                              message.size());
    ERR_clear_error();
    return rc == 1;
}

std::string VerifyKey::public_pem() const {
    BioPtr out(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(out.get(), raw(m_pkey));
    return bio_contents(out.get());
}

Result<SigningKey> SigningKey::load(const std::string& path) {
    return load_owned_by(path, ::geteuid());
}

Result<SigningKey> SigningKey::load_owned_by(const std::string& path, unsigned owner) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return fail(ErrorKind::Refused,
                        fmt::format("no signing key at {}: create one with `lethe keygen`", path));
        }
        return fail(errno_error(fmt::format("open signing key {}", path), errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(errno_error(fmt::format("stat signing key {}", path), errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorKind::Refused, fmt::format("signing key {}: not a regular file", path));
    }
    if ((st.st_mode & 077) != 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("signing key {} is readable by group or others (mode {:04o}); "
                                "refusing to use it: chmod 600 it, or rotate it if it leaked",
                                path, st.st_mode & 07777));
    }
    if (st.st_uid != owner) {
        return fail(ErrorKind::Refused,
                    owner == ::geteuid()
                        ? fmt::format("signing key {} is not owned by the user running lethe", path)
                        : fmt::format("signing key {} is owned by uid {}, not by uid {} (the owner "
                                      "of state_dir, which runs the passes)",
                                      path, st.st_uid, owner));
    }
    auto read = util::read_file(path);
    if (!read) return fail(read.error());
    std::string& text = *read;
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    OPENSSL_cleanse(text.data(), text.size());
    if (key == nullptr) {
        return fail(ErrorKind::BadInput,
                    fmt::format("signing key {}: not a PEM private key ({})", path, openssl_error()));
    }
    PkeyPtr owned(key);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        return fail(ErrorKind::BadInput, fmt::format("signing key {}: not an Ed25519 key", path));
    }
    BioPtr out(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(out.get(), key);
    auto pub = VerifyKey::from_pem(bio_contents(out.get()), path);
    if (!pub) return fail(pub.error());
    return SigningKey(std::move(owned), std::move(*pub));
}

Status SigningKey::generate(const std::string& path) {
    namespace fs = boost::filesystem;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("a signing key already exists at {}; refusing to overwrite it", path));
    }
    std::string dir = fs::path(path).parent_path().string();
    if (!dir.empty()) {
        if (auto made = util::make_dirs(dir, 0700); !made) return made;
    }
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) {
        return fail(ErrorKind::Internal, "cannot generate an Ed25519 key: " + openssl_error());
    }
    BioPtr priv(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(priv.get(), raw(key), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return fail(ErrorKind::Internal, "cannot encode the private key: " + openssl_error());
    }
    std::string priv_pem = bio_contents(priv.get());
    auto written = util::create_file_exclusive(path, priv_pem, 0600);
    OPENSSL_cleanse(priv_pem.data(), priv_pem.size());
    if (!written) return written;
    BioPtr pub(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(pub.get(), raw(key));
    return util::write_file_atomic(path + ".pub", bio_contents(pub.get()), 0644);
}

std::string SigningKey::sign(std::string_view message) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::string sig(64, '\0');
    size_t len = sig.size();
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, raw(m_pkey)) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
        throw std::runtime_error("OpenSSL: Ed25519 signing failed: " + openssl_error());
    }
    sig.resize(len);
    return sig;
}

SigningContext::SigningContext(const SigningKey& key) : m_key(&key) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return;
    m_ctx = std::shared_ptr<void>(ctx, [](void* c) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(c)); });
    if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, raw(key.m_pkey)) != 1) {
        ERR_clear_error();
        m_ctx.reset();
    }
}

std::string SigningContext::sign(std::string_view message) {
    if (!m_ctx) return m_key->sign(message);
    std::string sig(64, '\0');
    size_t len = sig.size();
    // Ed25519 is one-shot: EVP_DigestSign may be called again on the same context.
    if (EVP_DigestSign(static_cast<EVP_MD_CTX*>(m_ctx.get()),
                       reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
        throw std::runtime_error("OpenSSL: Ed25519 signing failed: " + openssl_error());
    }
    sig.resize(len);
    return sig;
}

}  // namespace lethe::ledger
