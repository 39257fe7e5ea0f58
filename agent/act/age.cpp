#include "agent/act/age.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"

namespace lethe::act::age {

namespace {

using Key32 = std::array<unsigned char, 32>;

constexpr std::string_view kVersionLine = "age-encryption.org/v1";
constexpr std::string_view kX25519Info = "age-encryption.org/v1/X25519";
constexpr std::string_view kRecipientHrp = "age";
constexpr std::string_view kIdentityHrp = "age-secret-key-";
constexpr size_t kFileKeySize = 16;
constexpr size_t kChunkSize = size_t{64} * 1024;
constexpr size_t kTagSize = 16;
constexpr size_t kPayloadNonceSize = 16;
constexpr size_t kMaxHeaderSize = size_t{1} << 20;  // thousands of stanzas; a bound on junk
constexpr size_t kReadSize = size_t{1} << 20;       // what a Decryptor reads at a time

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    if (code == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

tl::unexpected<Error> crypto_failure(std::string_view what) {
    return fail(ErrorKind::Internal, fmt::format("age: {} failed: {}", what, openssl_error()));
}

// Owns secret bytes and wipes them on destruction.
class Secret {
public:
    explicit Secret(size_t size = 0) : m_bytes(size, '\0') {}
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    Secret(Secret&& other) noexcept : m_bytes(std::move(other.m_bytes)) { other.m_bytes.clear(); }
    Secret& operator=(Secret&& other) noexcept {
        if (this != &other) {
            wipe();
            m_bytes = std::move(other.m_bytes);
            other.m_bytes.clear();
        }
        return *this;
    }
    ~Secret() { wipe(); }

    unsigned char* data() { return reinterpret_cast<unsigned char*>(m_bytes.data()); }
    [[nodiscard]] const unsigned char* data() const {
        return reinterpret_cast<const unsigned char*>(m_bytes.data());
    }
    [[nodiscard]] size_t size() const { return m_bytes.size(); }
    [[nodiscard]] std::string_view view() const { return m_bytes; }

private:
    void wipe() {
        if (!m_bytes.empty()) OPENSSL_cleanse(m_bytes.data(), m_bytes.size());
    }
    std::string m_bytes;
};

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct KdfDeleter {
    void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct KdfCtxDeleter {
    void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}
std::string_view view(const unsigned char* p, size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

// ---- Base64 without padding (canonical only) -------------------------------------------

std::string b64_raw_encode(std::string_view data) {
    std::string s = util::base64_encode(data);
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

std::optional<std::string> b64_raw_decode(std::string_view text) {
    if (text.find('=') != std::string_view::npos || text.size() % 4 == 1) return std::nullopt;
    std::string padded(text);
    padded.append((4 - text.size() % 4) % 4, '=');
    auto decoded = util::base64_decode(padded);
    // Non-canonical encodings (stray bits in the last character) are refused by re-encoding.
    if (!decoded || b64_raw_encode(*decoded) != text) return std::nullopt;
    return decoded;
}

// ---- Bech32 (BIP 173 without the length limit) -----------------------------------------

constexpr std::string_view kBech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t bech32_polymod(const std::vector<uint8_t>& values) {
    constexpr std::array<uint32_t, 5> kGen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                              0x2a1462b3};
    uint32_t chk = 1;
    for (uint8_t v : values) {
        uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (size_t i = 0; i < 5; ++i) {
            if (((top >> i) & 1) != 0) chk ^= kGen[i];
        }
    }
    return chk;
}

std::vector<uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<uint8_t> out;
    for (char c : hrp) out.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) >> 5));
    out.push_back(0);
    for (char c : hrp) out.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) & 31));
    return out;
}

// Regroups bits: 8→5 with padding when encoding, 5→8 refusing non-zero padding when decoding.
std::optional<std::vector<uint8_t>> convert_bits(const std::vector<uint8_t>& in, int from, int to,
                                                 bool pad) {
    uint32_t acc = 0;
    int bits = 0;
    std::vector<uint8_t> out;
    const uint32_t maxv = (uint32_t{1} << to) - 1;
    for (uint8_t v : in) {
        if ((v >> from) != 0) return std::nullopt;
        acc = (acc << from) | v;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push_back(static_cast<uint8_t>((acc >> bits) & maxv));
        }
    }
    if (pad) {
        if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (to - bits)) & maxv));
    } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
        return std::nullopt;
    }
    return out;
}

std::string bech32_encode(std::string_view hrp, std::string_view data) {
    std::vector<uint8_t> raw(data.begin(), data.end());
    std::vector<uint8_t> values = *convert_bits(raw, 8, 5, true);
    std::vector<uint8_t> check = hrp_expand(hrp);
    check.insert(check.end(), values.begin(), values.end());
    check.insert(check.end(), 6, 0);
    uint32_t mod = bech32_polymod(check) ^ 1;
    std::string out(hrp);
    out.push_back('1');
    for (uint8_t v : values) out.push_back(kBech32Charset[v]);
    for (int i = 0; i < 6; ++i) out.push_back(kBech32Charset[(mod >> (5 * (5 - i))) & 31]);
    return out;
}

struct Bech32 {
    std::string hrp;  // lowercase
    std::string data;
};

std::optional<Bech32> bech32_decode(std::string_view text) {
    bool lower = false;
    bool upper = false;
    for (char c : text) {
        if (c < 33 || c > 126) return std::nullopt;
        if (c >= 'a' && c <= 'z') lower = true;
        if (c >= 'A' && c <= 'Z') upper = true;
    }
    if (lower && upper) return std::nullopt;
    size_t sep = text.rfind('1');
    if (sep == std::string_view::npos || sep == 0 || sep + 7 > text.size()) return std::nullopt;
    std::string s(text);
    std::transform(s.begin(), s.end(), s.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    Bech32 out;
    out.hrp = s.substr(0, sep);
    std::vector<uint8_t> values;
    for (size_t i = sep + 1; i < s.size(); ++i) {
        size_t pos = kBech32Charset.find(s[i]);
        if (pos == std::string_view::npos) return std::nullopt;
        values.push_back(static_cast<uint8_t>(pos));
    }
    std::vector<uint8_t> check = hrp_expand(out.hrp);
    check.insert(check.end(), values.begin(), values.end());
    if (bech32_polymod(check) != 1) return std::nullopt;
    values.resize(values.size() - 6);
    auto raw = convert_bits(values, 5, 8, false);
    if (!raw) return std::nullopt;
    out.data.assign(raw->begin(), raw->end());
    return out;
}

// ---- Primitives ------------------------------------------------------------------------

Result<Key32> x25519_public(const Key32& secret) {
    PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(),
                                             secret.size()));
    if (!key) return crypto_failure("X25519 key");
    Key32 pub{};
    size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != pub.size()) {
        return crypto_failure("X25519 public key");
    }
    return pub;
}

// X25519(secret, peer); refuses the all-zero result (a low-order peer point).
Result<Secret> x25519(const Key32& secret, const Key32& peer) {
    PkeyPtr own(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(),
                                             secret.size()));
    PkeyPtr other(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
    if (!own || !other) return crypto_failure("X25519 key");
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
    Secret shared(32);
    size_t len = shared.size();
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), other.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != 32) {
        ERR_clear_error();
        return fail(ErrorKind::Verification, "age: X25519 key agreement failed (invalid share)");
    }
    static const unsigned char kZero[32] = {};
    if (CRYPTO_memcmp(shared.data(), kZero, 32) == 0) {
        return fail(ErrorKind::Verification, "age: X25519 share gives an all-zero secret");
    }
    return shared;
}

Result<Secret> hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info) {
    std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) return crypto_failure("HKDF fetch");
    std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) return crypto_failure("HKDF context");
    char digest[] = "SHA256";
    std::vector<OSSL_PARAM> params;
    params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0));
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()));
    // An empty salt is, by RFC 5869, a string of HashLen zeros: OpenSSL's default.
    if (!salt.empty()) {
        params.push_back(OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()));
    }
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()));
    params.push_back(OSSL_PARAM_construct_end());
    Secret out(32);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
        return crypto_failure("HKDF");
    }
    return out;
}

Result<std::string> hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[32];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), mac,
             &len) == nullptr ||
        len != 32) {
        return crypto_failure("HMAC-SHA256");
    }
    return std::string(view(mac, len));
}

// ChaCha20-Poly1305 with one key and many nonces; the context is reused across chunks.
class Aead {
public:
    static Result<Aead> create(std::string_view key, bool encrypt) {
        Aead a;
        a.m_ctx.reset(EVP_CIPHER_CTX_new());
        if (!a.m_ctx || EVP_CipherInit_ex(a.m_ctx.get(), EVP_chacha20_poly1305(), nullptr,
                                          bytes(key), nullptr, encrypt ? 1 : 0) != 1) {
            return crypto_failure("ChaCha20-Poly1305 setup");
        }
        return a;
    }

    // Appends ciphertext||tag of `plain` to `out`.
    Status seal(const unsigned char* nonce, std::string_view plain, std::string& out) {
        size_t at = out.size();
        out.resize(at + plain.size() + kTagSize);
        auto* dst = reinterpret_cast<unsigned char*>(out.data() + at);
        int len = 0;
        int tail = 0;
        if (EVP_CipherInit_ex(m_ctx.get(), nullptr, nullptr, nullptr, nonce, 1) != 1 ||
            EVP_CipherUpdate(m_ctx.get(), dst, &len, bytes(plain),
                             static_cast<int>(plain.size())) != 1 ||
            EVP_CipherFinal_ex(m_ctx.get(), dst + len, &tail) != 1 ||
            EVP_CIPHER_CTX_ctrl(m_ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize),
                                dst + plain.size()) != 1) {
            return crypto_failure("ChaCha20-Poly1305 seal");
        }
        return {};
    }

    // Replaces `out` with the plaintext of ciphertext||tag `sealed`; false if it does not
    // authenticate.
    bool open(const unsigned char* nonce, std::string_view sealed, std::string& out) {
        if (sealed.size() < kTagSize) return false;
        size_t n = sealed.size() - kTagSize;
        out.resize(n);
        auto* dst = reinterpret_cast<unsigned char*>(out.data());
        int len = 0;
        int tail = 0;
        unsigned char tag[kTagSize];
        std::memcpy(tag, sealed.data() + n, kTagSize);
        bool ok = EVP_CipherInit_ex(m_ctx.get(), nullptr, nullptr, nullptr, nonce, 0) == 1 &&
                  EVP_CipherUpdate(m_ctx.get(), dst, &len, bytes(sealed),
                                   static_cast<int>(n)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(m_ctx.get(), EVP_CTRL_AEAD_SET_TAG,
                                      static_cast<int>(kTagSize), tag) == 1 &&
                  EVP_CipherFinal_ex(m_ctx.get(), dst + len, &tail) == 1;
        if (!ok) {
            ERR_clear_error();
            OPENSSL_cleanse(out.data(), out.size());
            out.clear();
        }
        return ok;
    }

private:
    CipherCtxPtr m_ctx;
};

constexpr unsigned char kZeroNonce[12] = {};

// The 12-byte STREAM nonce: 11-byte big-endian counter, then the final-chunk flag.
void stream_nonce(uint64_t counter, bool last, unsigned char* nonce) {
    std::memset(nonce, 0, 12);
    for (int i = 0; i < 8; ++i) {
        nonce[10 - i] = static_cast<unsigned char>((counter >> (8 * i)) & 0xff);
    }
    nonce[11] = last ? 1 : 0;
}

Result<Secret> random_secret(size_t n) {
    Secret s(n);
    if (RAND_bytes(s.data(), static_cast<int>(n)) != 1) return crypto_failure("RAND_bytes");
    return s;
}

struct Stanza {
    std::vector<std::string> args;
    std::string body;
};

Result<Stanza> wrap_x25519(const Recipient& recipient, const Secret& file_key) {
    auto eph = random_secret(32);
    if (!eph) return fail(eph.error());
    Key32 eph_key{};
    std::memcpy(eph_key.data(), eph->data(), 32);
    auto share = x25519_public(eph_key);
    auto shared = share ? x25519(eph_key, recipient.key()) : Result<Secret>(fail(share.error()));
    OPENSSL_cleanse(eph_key.data(), eph_key.size());
    if (!shared) return fail(shared.error());
    std::string salt(view(share->data(), 32));
    salt.append(view(recipient.key().data(), 32));
    auto wrap_key = hkdf_sha256(shared->view(), salt, kX25519Info);
    if (!wrap_key) return fail(wrap_key.error());
    auto aead = Aead::create(wrap_key->view(), true);
    if (!aead) return fail(aead.error());
    Stanza st;
    if (auto s = aead->seal(kZeroNonce, file_key.view(), st.body); !s) return fail(s.error());
    st.args = {"X25519", b64_raw_encode(view(share->data(), 32))};
    return st;
}

// The file key from a stanza addressed to `identity`, or nullopt if it is not for it.
Result<std::optional<Secret>> unwrap_x25519(const Stanza& st, const Identity& identity) {
    if (st.args.empty() || st.args[0] != "X25519") return std::optional<Secret>();
    if (st.args.size() != 2) {
        return fail(ErrorKind::Verification, "age: malformed X25519 stanza (argument count)");
    }
    auto share = b64_raw_decode(st.args[1]);
    if (!share || share->size() != 32) {
        return fail(ErrorKind::Verification, "age: malformed X25519 stanza (ephemeral share)");
    }
    if (st.body.size() != kFileKeySize + kTagSize) {
        return fail(ErrorKind::Verification, "age: malformed X25519 stanza (body length)");
    }
    Key32 share_key{};
    std::memcpy(share_key.data(), share->data(), 32);
    auto shared = x25519(identity.key(), share_key);
    if (!shared) return fail(shared.error());
    auto own = identity.recipient();
    if (!own) return fail(own.error());
    std::string salt = *share;
    salt.append(view(own->key().data(), 32));
    auto wrap_key = hkdf_sha256(shared->view(), salt, kX25519Info);
    if (!wrap_key) return fail(wrap_key.error());
    auto aead = Aead::create(wrap_key->view(), false);
    if (!aead) return fail(aead.error());
    std::string plain;
    if (!aead->open(kZeroNonce, st.body, plain)) return std::optional<Secret>();
    Secret key(kFileKeySize);
    std::memcpy(key.data(), plain.data(), kFileKeySize);
    OPENSSL_cleanse(plain.data(), plain.size());
    return std::optional<Secret>(std::move(key));
}

std::string encode_stanza(const Stanza& st) {
    std::string out = "->";
    for (const auto& a : st.args) {
        out += ' ';
        out += a;
    }
    out += '\n';
    std::string body = b64_raw_encode(st.body);
    size_t pos = 0;
    // Full 64-column lines, then a final shorter (possibly empty) line.
    while (body.size() - pos >= 64) {
        out.append(body, pos, 64);
        out += '\n';
        pos += 64;
    }
    out.append(body, pos, std::string::npos);
    out += '\n';
    return out;
}

Result<std::string> header_mac(const Secret& file_key, std::string_view header_to_dashes) {
    auto key = hkdf_sha256(file_key.view(), {}, "header");
    if (!key) return fail(key.error());
    return hmac_sha256(key->view(), header_to_dashes);
}

bool is_vchar_arg(std::string_view a) {
    if (a.empty()) return false;
    return std::all_of(a.begin(), a.end(), [](char c) { return c >= 33 && c <= 126; });
}

}  // namespace

struct FileKey::Impl {
    Secret key{kFileKeySize};
};

// ---- Keys -----------------------------------------------------------------------------

Result<Recipient> Recipient::parse(std::string_view text) {
    auto decoded = bech32_decode(text);
    if (!decoded || decoded->hrp != kRecipientHrp) {
        return fail(ErrorKind::BadInput,
                    fmt::format("not an age X25519 recipient (age1...): '{}'", text));
    }
    if (decoded->data.size() != 32) {
        return fail(ErrorKind::BadInput,
                    fmt::format("age recipient '{}' does not hold a 32-byte key", text));
    }
    Recipient r;
    std::memcpy(r.m_key.data(), decoded->data.data(), 32);
    return r;
}

std::string Recipient::to_string() const {
    return bech32_encode(kRecipientHrp, view(m_key.data(), m_key.size()));
}

Identity::~Identity() { OPENSSL_cleanse(m_key.data(), m_key.size()); }

Result<Identity> Identity::generate() {
    Identity id;
    if (RAND_priv_bytes(id.m_key.data(), static_cast<int>(id.m_key.size())) != 1) {
        return crypto_failure("RAND_priv_bytes");
    }
    return id;
}

Result<Identity> Identity::parse(std::string_view text) {
    auto decoded = bech32_decode(text);
    // Never echo the text back: it may be a mistyped secret key.
    if (!decoded || decoded->hrp != kIdentityHrp || decoded->data.size() != 32) {
        return fail(ErrorKind::BadInput, "not an age X25519 identity (AGE-SECRET-KEY-1...)");
    }
    Identity id;
    std::memcpy(id.m_key.data(), decoded->data.data(), 32);
    OPENSSL_cleanse(decoded->data.data(), decoded->data.size());
    return id;
}

Result<std::vector<Identity>> Identity::load_file(const std::string& path) {
    auto read = util::read_file(path);
    if (!read) return fail(read.error());
    std::string& text = *read;
    std::vector<Identity> out;
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        auto id = parse(line);
        if (!id) {
            OPENSSL_cleanse(text.data(), text.size());
            return fail(ErrorKind::BadInput, fmt::format("{}:{}: {}", path, line_no,
                                                         id.error().message()));
        }
        out.push_back(std::move(*id));
    }
    OPENSSL_cleanse(text.data(), text.size());
    if (out.empty()) {
        return fail(ErrorKind::BadInput, fmt::format("{}: no age identity in the file", path));
    }
    return out;
}

std::string Identity::to_string() const {
    std::string s = bech32_encode(kIdentityHrp, view(m_key.data(), m_key.size()));
    std::transform(s.begin(), s.end(), s.begin(),
                   [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; });
    return s;
}

Result<Recipient> Identity::recipient() const {
    auto pub = x25519_public(m_key);
    if (!pub) return fail(pub.error());
    Recipient r;
    r.m_key = *pub;
    return r;
}

// ---- Streams over descriptors ----------------------------------------------------------

Sink fd_sink(int fd, std::string what) {
    return [fd, what = std::move(what)](std::string_view data) {
        return util::write_all(fd, data, what);
    };
}

Source fd_source(int fd, std::string what) {
    return [fd, what = std::move(what)](char* buffer, size_t size) -> Result<size_t> {
        for (;;) {
            ssize_t n = ::read(fd, buffer, size);
            if (n >= 0) return static_cast<size_t>(n);
            if (errno != EINTR) return fail(errno_error(fmt::format("read {}", what), errno));
        }
    };
}

// ---- Encryption -----------------------------------------------------------------------

struct Encryptor::Impl {
    std::shared_ptr<FileKey::Impl> file_key;
    Sink sink;
    std::optional<Aead> aead;
    std::string pending;  // plaintext not yet sealed, at most one chunk
    std::string out;
    uint64_t counter = 0;
    bool finished = false;

    Status emit(bool last) {
        Status st = seal(pending, last);
        OPENSSL_cleanse(pending.data(), pending.size());
        pending.clear();
        return st;
    }

    Status seal(std::string_view plaintext, bool last) {
        unsigned char nonce[12];
        stream_nonce(counter, last, nonce);
        out.clear();
        if (auto s = aead->seal(nonce, plaintext, out); !s) return s;
        ++counter;
        return sink(out);
    }
};

Encryptor::Encryptor(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Encryptor::Encryptor(Encryptor&&) noexcept = default;
Encryptor& Encryptor::operator=(Encryptor&&) noexcept = default;
Encryptor::~Encryptor() = default;

Result<Encryptor> Encryptor::start(const std::vector<Recipient>& recipients, Sink sink) {
    if (recipients.empty()) {
        return fail(ErrorKind::BadInput, "age: at least one recipient is needed to encrypt");
    }
    auto file_key = random_secret(kFileKeySize);
    if (!file_key) return fail(file_key.error());
    std::string header(kVersionLine);
    header += '\n';
    for (const auto& r : recipients) {
        auto st = wrap_x25519(r, *file_key);
        if (!st) return fail(st.error());
        header += encode_stanza(*st);
    }
    header += "---";
    auto mac = header_mac(*file_key, header);
    if (!mac) return fail(mac.error());
    header += ' ';
    header += b64_raw_encode(*mac);
    header += '\n';
    auto nonce = random_secret(kPayloadNonceSize);
    if (!nonce) return fail(nonce.error());
    auto payload_key = hkdf_sha256(file_key->view(), nonce->view(), "payload");
    if (!payload_key) return fail(payload_key.error());
    auto aead = Aead::create(payload_key->view(), true);
    if (!aead) return fail(aead.error());
    header.append(nonce->view());
    if (auto s = sink(header); !s) return fail(s.error());
    auto impl = std::make_unique<Impl>();
    impl->file_key = std::make_shared<FileKey::Impl>();
    std::memcpy(impl->file_key->key.data(), file_key->data(), kFileKeySize);
    impl->sink = std::move(sink);
    impl->aead.emplace(std::move(*aead));
    impl->pending.reserve(kChunkSize);
    impl->out.reserve(kChunkSize + kTagSize);
    return Encryptor(std::move(impl));
}

Status Encryptor::write(std::string_view plaintext) {
    Impl& s = *m_impl;
    if (s.finished) return fail(ErrorKind::Internal, "age: write after finish");
    while (!plaintext.empty()) {
        // A full chunk is sealed as non-final only once more data proves it is not the last.
        if (s.pending.size() == kChunkSize) {
            if (auto st = s.emit(false); !st) return st;
        }
        // Nothing pending and more than a chunk given: that chunk is not the last one, and is
        // sealed straight from the input.
        if (s.pending.empty() && plaintext.size() > kChunkSize) {
            if (auto st = s.seal(plaintext.substr(0, kChunkSize), false); !st) return st;
            plaintext.remove_prefix(kChunkSize);
            continue;
        }
        size_t take = std::min(plaintext.size(), kChunkSize - s.pending.size());
        s.pending.append(plaintext.substr(0, take));
        plaintext.remove_prefix(take);
    }
    return {};
}

FileKey Encryptor::file_key() const { return FileKey(m_impl->file_key); }

Status Encryptor::finish() {
    Impl& s = *m_impl;
    if (s.finished) return fail(ErrorKind::Internal, "age: finish called twice");
    s.finished = true;
    return s.emit(true);
}

// ---- Decryption -----------------------------------------------------------------------

struct Decryptor::Impl {
    Source source;
    // Raw bytes read but not yet consumed are in[in_pos, in_len). Read in large blocks and
    // moved to the front only when less than a chunk is left, so bytes are rarely copied.
    std::unique_ptr<char[]> in;
    size_t in_cap = 0;
    size_t in_len = 0;
    size_t in_pos = 0;
    bool eof = false;
    std::optional<Aead> aead;
    std::string plain;  // the current authenticated chunk
    size_t plain_pos = 0;
    uint64_t counter = 0;
    bool done = false;

    [[nodiscard]] size_t buffered() const { return in_len - in_pos; }
    [[nodiscard]] const char* next() const { return in.get() + in_pos; }

    // Ensures at least `n` unconsumed bytes are buffered, unless the input ends first.
    Status fill(size_t n) {
        if (buffered() >= n || eof) return {};
        if (in_pos > 0) {
            std::memmove(in.get(), next(), buffered());
            in_len -= in_pos;
            in_pos = 0;
        }
        if (in_cap < std::max(n, kReadSize)) {
            size_t cap = std::max({n, kReadSize, 2 * in_cap});
            std::unique_ptr<char[]> bigger(new char[cap]);
            if (in_len > 0) std::memcpy(bigger.get(), in.get(), in_len);
            in = std::move(bigger);
            in_cap = cap;
        }
        while (!eof && in_len < n) {
            auto got = source(in.get() + in_len, in_cap - in_len);
            if (!got) return fail(got.error());
            in_len += *got;
            if (*got == 0) eof = true;
        }
        return {};
    }

    // One header line without its newline; fails at the header size bound or end of input.
    Result<std::string> header_line(size_t& header_size) {
        for (;;) {
            std::string_view rest(next(), buffered());
            size_t nl = rest.find('\n');
            if (nl != std::string_view::npos) {
                std::string line(rest.substr(0, nl));
                header_size += line.size() + 1;
                in_pos += nl + 1;
                if (header_size > kMaxHeaderSize) break;
                return line;
            }
            if (buffered() > kMaxHeaderSize || eof) break;
            if (auto s = fill(buffered() + 1); !s) return fail(s.error());
        }
        return fail(ErrorKind::Verification,
                    eof ? "age: the file ends inside its header (truncated or not an age file)"
                        : "age: header too large");
    }

    Status next_chunk() {
        if (auto s = fill(kChunkSize + kTagSize + 1); !s) return s;
        size_t avail = buffered();
        bool last = avail <= kChunkSize + kTagSize;
        size_t take = last ? avail : kChunkSize + kTagSize;
        if (take < kTagSize || (last && take == kTagSize && counter > 0)) {
            return fail(ErrorKind::Verification,
                        "age: the file is truncated (no authenticated final chunk)");
        }
        unsigned char nonce[12];
        stream_nonce(counter, last, nonce);
        if (!aead->open(nonce, std::string_view(next(), take), plain)) {
            return fail(ErrorKind::Verification,
                        last ? "age: the last chunk does not authenticate (file truncated or "
                               "tampered with)"
                             : "age: a chunk does not authenticate (file tampered with)");
        }
        in_pos += take;
        plain_pos = 0;
        ++counter;
        done = last;
        return {};
    }
};

Decryptor::Decryptor(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Decryptor::Decryptor(Decryptor&&) noexcept = default;
Decryptor& Decryptor::operator=(Decryptor&&) noexcept = default;
Decryptor::~Decryptor() {
    if (m_impl && !m_impl->plain.empty()) {
        OPENSSL_cleanse(m_impl->plain.data(), m_impl->plain.size());
    }
}

namespace {

using Unwrap = std::function<Result<Secret>(const std::vector<Stanza>&)>;

Result<std::unique_ptr<Decryptor::Impl>> open_stream(const Unwrap& unwrap, Source source);

}  // namespace

Result<Decryptor> Decryptor::start(const std::vector<Identity>& identities, Source source) {
    Unwrap unwrap = [&identities](const std::vector<Stanza>& stanzas) -> Result<Secret> {
        bool any_x25519 = false;
        for (const auto& st : stanzas) {
            if (st.args[0] == "scrypt" && stanzas.size() > 1) {
                return fail(ErrorKind::Verification, "age: scrypt stanza mixed with others");
            }
            if (st.args[0] == "X25519") any_x25519 = true;
            for (const auto& id : identities) {
                auto key = unwrap_x25519(st, id);
                if (!key) return fail(key.error());
                if (*key) return std::move(**key);
            }
        }
        return fail(ErrorKind::Verification,
                    any_x25519 ? "age: no identity matches this file's recipients"
                               : "age: the file has no X25519 recipient (passphrase or plugin "
                                 "files are not supported)");
    };
    auto impl = open_stream(unwrap, std::move(source));
    if (!impl) return fail(impl.error());
    return Decryptor(std::move(*impl));
}

Result<Decryptor> Decryptor::start_with_file_key(const FileKey& key, Source source) {
    Unwrap unwrap = [&key](const std::vector<Stanza>&) -> Result<Secret> {
        Secret copy(kFileKeySize);
        std::memcpy(copy.data(), key.impl().key.data(), kFileKeySize);
        return copy;
    };
    auto impl = open_stream(unwrap, std::move(source));
    if (!impl) return fail(impl.error());
    return Decryptor(std::move(*impl));
}

namespace {

// Reads and authenticates the header, then sets up the payload decryption.
Result<std::unique_ptr<Decryptor::Impl>> open_stream(const Unwrap& unwrap, Source source) {
    auto impl = std::make_unique<Decryptor::Impl>();
    impl->source = std::move(source);
    size_t header_size = 0;
    auto first = impl->header_line(header_size);
    if (!first) return fail(first.error());
    if (*first != kVersionLine) {
        if (first->rfind("-----BEGIN AGE ENCRYPTED FILE-----", 0) == 0) {
            return fail(ErrorKind::BadInput, "age: ASCII-armored files are not supported; "
                                             "use `age -d` or dearmor it first");
        }
        return fail(ErrorKind::BadInput, "age: not an age v1 file (no age-encryption.org/v1 line)");
    }
    std::string header(kVersionLine);
    header += '\n';
    std::vector<Stanza> stanzas;
    std::string mac_b64;
    auto line = impl->header_line(header_size);
    for (;;) {
        if (!line) return fail(line.error());
        if (line->rfind("--- ", 0) == 0) {
            header += "---";
            mac_b64 = line->substr(4);
            break;
        }
        if (line->rfind("-> ", 0) != 0) {
            return fail(ErrorKind::Verification, "age: malformed header line");
        }
        header += *line;
        header += '\n';
        Stanza st;
        std::string_view rest = std::string_view(*line).substr(3);
        while (true) {
            size_t sp = rest.find(' ');
            std::string_view arg = rest.substr(0, sp);
            if (!is_vchar_arg(arg)) {
                return fail(ErrorKind::Verification, "age: malformed stanza arguments");
            }
            st.args.emplace_back(arg);
            if (sp == std::string_view::npos) break;
            rest.remove_prefix(sp + 1);
        }
        std::string body_b64;
        for (;;) {
            auto body = impl->header_line(header_size);
            if (!body) return fail(body.error());
            if (body->size() > 64) {
                return fail(ErrorKind::Verification, "age: stanza body line longer than 64");
            }
            header += *body;
            header += '\n';
            body_b64 += *body;
            if (body->size() < 64) break;
        }
        auto body = b64_raw_decode(body_b64);
        if (!body) return fail(ErrorKind::Verification, "age: stanza body is not canonical base64");
        st.body = std::move(*body);
        stanzas.push_back(std::move(st));
        line = impl->header_line(header_size);
    }
    if (stanzas.empty()) return fail(ErrorKind::Verification, "age: header has no recipients");
    auto mac = b64_raw_decode(mac_b64);
    if (!mac || mac->size() != 32) {
        return fail(ErrorKind::Verification, "age: malformed header MAC");
    }

    auto file_key = unwrap(stanzas);
    if (!file_key) return fail(file_key.error());
    auto expected = header_mac(*file_key, header);
    if (!expected) return fail(expected.error());
    if (CRYPTO_memcmp(expected->data(), mac->data(), 32) != 0) {
        return fail(ErrorKind::Verification, "age: header MAC does not match (header tampered)");
    }
    if (auto s = impl->fill(kPayloadNonceSize); !s) return fail(s.error());
    if (impl->buffered() < kPayloadNonceSize) {
        return fail(ErrorKind::Verification, "age: the file ends before its payload nonce");
    }
    std::string_view nonce(impl->next(), kPayloadNonceSize);
    auto payload_key = hkdf_sha256(file_key->view(), nonce, "payload");
    if (!payload_key) return fail(payload_key.error());
    impl->in_pos += kPayloadNonceSize;
    auto aead = Aead::create(payload_key->view(), false);
    if (!aead) return fail(aead.error());
    impl->aead.emplace(std::move(*aead));
    return impl;
}

}  // namespace

Result<size_t> Decryptor::read(char* buffer, size_t size) {
    Impl& s = *m_impl;
    while (s.plain_pos == s.plain.size()) {
        if (s.done) return size_t{0};
        if (auto st = s.next_chunk(); !st) return fail(st.error());
    }
    size_t n = std::min(size, s.plain.size() - s.plain_pos);
    std::copy_n(s.plain.data() + s.plain_pos, n, buffer);
    s.plain_pos += n;
    return n;
}

Result<std::string_view> Decryptor::read_chunk() {
    Impl& s = *m_impl;
    while (s.plain_pos == s.plain.size()) {
        if (s.done) return std::string_view();
        if (auto st = s.next_chunk(); !st) return fail(st.error());
    }
    std::string_view rest(s.plain.data() + s.plain_pos, s.plain.size() - s.plain_pos);
    s.plain_pos = s.plain.size();
    return rest;
}

Status encrypt(const std::vector<Recipient>& recipients, const Source& source, Sink sink) {
    auto enc = Encryptor::start(recipients, std::move(sink));
    if (!enc) return fail(enc.error());
    std::string buf(kChunkSize, '\0');
    for (;;) {
        auto n = source(buf.data(), buf.size());
        if (!n) return fail(n.error());
        if (*n == 0) break;
        if (auto s = enc->write(std::string_view(buf.data(), *n)); !s) return s;
    }
    return enc->finish();
}

Status decrypt(const std::vector<Identity>& identities, Source source, const Sink& sink) {
    auto dec = Decryptor::start(identities, std::move(source));
    if (!dec) return fail(dec.error());
    std::string buf(kChunkSize, '\0');
    for (;;) {
        auto n = dec->read(buf.data(), buf.size());
        if (!n) return fail(n.error());
        if (*n == 0) return {};
        if (auto s = sink(std::string_view(buf.data(), *n)); !s) return s;
    }
}

}  // namespace lethe::act::age
