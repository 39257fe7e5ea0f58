#include "agent/act/age.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe::act::age {
namespace {

using lethe::testing::slurp;
using lethe::testing::TempDir;

// The example keys of the age specification (c2sp.org/age, "The X25519 recipient type").
constexpr const char* kSpecIdentity =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
constexpr const char* kSpecRecipient =
    "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen() & 0xff);
    return s;
}

Result<std::string> encrypt_string(const std::vector<Recipient>& to, const std::string& plain) {
    std::string out;
    auto enc = Encryptor::start(to, [&out](std::string_view d) -> Status {
        out.append(d);
        return {};
    });
    if (!enc) return fail(enc.error());
    // Uneven writes exercise the chunk boundary logic.
    size_t pos = 0;
    size_t step = 1;
    while (pos < plain.size()) {
        size_t n = std::min(step, plain.size() - pos);
        if (auto s = enc->write(std::string_view(plain).substr(pos, n)); !s) return fail(s.error());
        pos += n;
        step = step * 3 + 7;
    }
    if (auto s = enc->finish(); !s) return fail(s.error());
    return out;
}

Source string_source(const std::string& data) {
    auto pos = std::make_shared<size_t>(0);
    return [&data, pos](char* buf, size_t n) -> Result<size_t> {
        size_t k = std::min(n, data.size() - *pos);
        std::copy_n(data.data() + *pos, k, buf);
        *pos += k;
        return k;
    };
}

Result<std::string> decrypt_string(const std::vector<Identity>& ids, const std::string& cipher) {
    std::string out;
    auto s = decrypt(ids, string_source(cipher), [&out](std::string_view d) -> Status {
        out.append(d);
        return {};
    });
    if (!s) return fail(s.error());
    return out;
}

int run(const std::string& cmd) {
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

Identity spec_identity() { return *Identity::parse(kSpecIdentity); }

TEST(AgeKeys, TheSpecificationExampleIdentityGivesItsRecipient) {
    auto id = Identity::parse(kSpecIdentity);
    ASSERT_TRUE(id) << id.error().message();
    auto r = id->recipient();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->to_string(), kSpecRecipient);
    EXPECT_EQ(id->to_string(), kSpecIdentity);
    auto parsed = Recipient::parse(kSpecRecipient);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->key(), r->key());
}

TEST(AgeKeys, BadRecipientsAreRefusedWithAClearMessage) {
    std::string broken = kSpecRecipient;
    broken.back() = broken.back() == 'j' ? 'k' : 'j';  // checksum no longer matches
    for (const std::string& bad :
         {broken, std::string("age1"), std::string("not a key"), std::string(kSpecIdentity),
          std::string("AGE1ZVKYG2LQZRAA2LNJVQEJ32NKUU0UES2S82HZRYE869XEEXVN73EQUNujwj")}) {
        auto r = Recipient::parse(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind(), ErrorKind::BadInput);
        EXPECT_NE(r.error().message().find("age"), std::string::npos);
    }
    auto secret_as_recipient = Identity::parse(kSpecRecipient);
    EXPECT_FALSE(secret_as_recipient);
}

TEST(AgeKeys, AMistypedIdentityIsNotEchoedInTheError) {
    std::string typo = kSpecIdentity;
    typo[20] = typo[20] == 'Q' ? 'P' : 'Q';
    auto id = Identity::parse(typo);
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().message().find(typo.substr(15)), std::string::npos);
}

TEST(AgeStream, RoundTripsEverySizeAroundTheChunkBoundary) {
    auto id = Identity::generate();
    ASSERT_TRUE(id);
    auto to = id->recipient();
    ASSERT_TRUE(to);
    for (size_t size : {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{65537},
                        size_t{3} * 65536, size_t{200000}}) {
        std::string plain = random_bytes(size, static_cast<unsigned>(size));
        auto cipher = encrypt_string({*to}, plain);
        ASSERT_TRUE(cipher) << cipher.error().message();
        // Header + 16-byte nonce + one 16-byte tag per chunk (at least one chunk).
        size_t chunks = size == 0 ? 1 : (size + 65535) / 65536;
        size_t header = cipher->find("\n--- ") + 5 + 43 + 1;
        EXPECT_EQ(cipher->size(), header + 16 + size + 16 * chunks) << size;
        auto back = decrypt_string({*id}, *cipher);
        ASSERT_TRUE(back) << size << ": " << back.error().message();
        EXPECT_EQ(*back, plain) << size;
    }
}

TEST(AgeStream, AnyOfSeveralRecipientsCanDecrypt) {
    auto a = *Identity::generate();
    auto b = *Identity::generate();
    auto cipher = encrypt_string({*a.recipient(), *b.recipient()}, "matter 2019-044 pleadings");
    ASSERT_TRUE(cipher);
    EXPECT_EQ(*decrypt_string({b}, *cipher), "matter 2019-044 pleadings");
    EXPECT_EQ(*decrypt_string({a}, *cipher), "matter 2019-044 pleadings");
}

TEST(AgeStream, TheWrongIdentityCannotDecrypt) {
    auto a = *Identity::generate();
    auto cipher = encrypt_string({*a.recipient()}, "secret");
    auto back = decrypt_string({spec_identity()}, *cipher);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().kind(), ErrorKind::Verification);
    EXPECT_NE(back.error().message().find("no identity matches"), std::string::npos);
}

TEST(AgeStream, TamperingAndTruncationAreDetected) {
    auto id = *Identity::generate();
    std::string plain = random_bytes(150000, 7);
    std::string cipher = *encrypt_string({*id.recipient()}, plain);
    size_t header_end = cipher.find("\n--- ") + 5 + 43 + 1;

    std::string payload_flip = cipher;
    payload_flip[header_end + 16 + 70000] ^= 1;
    EXPECT_FALSE(decrypt_string({id}, payload_flip));

    std::string header_flip = cipher;
    header_flip[cipher.find("-> X25519 ") + 12] ^= 1;
    EXPECT_FALSE(decrypt_string({id}, header_flip));

    // Cut at a chunk boundary: the remaining chunks all authenticate, but none is final.
    std::string cut = cipher.substr(0, header_end + 16 + 65536 + 16);
    auto truncated = decrypt_string({id}, cut);
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error().kind(), ErrorKind::Verification);

    EXPECT_FALSE(decrypt_string({id}, cipher + "x"));
    EXPECT_FALSE(decrypt_string({id}, cipher.substr(0, header_end + 8)));
    EXPECT_FALSE(decrypt_string({id}, "age-encryption.org/v1\n-> X25519 abc\n"));
    EXPECT_FALSE(decrypt_string({id}, "hello, not age at all\n"));
}

TEST(AgeStream, AReaderSeesPlaintextOnlyFromAuthenticatedChunks) {
    auto id = *Identity::generate();
    std::string plain = random_bytes(3 * 65536 + 5, 3);
    std::string cipher = *encrypt_string({*id.recipient()}, plain);
    cipher.back() ^= 1;  // the last chunk is bad; the first ones are fine
    auto dec = Decryptor::start({id}, string_source(cipher));
    ASSERT_TRUE(dec);
    std::string got;
    char buf[4096];
    Result<size_t> n = size_t{0};
    while ((n = dec->read(buf, sizeof buf)) && *n > 0) got.append(buf, *n);
    ASSERT_FALSE(n);  // it never reports a clean end
    EXPECT_EQ(n.error().kind(), ErrorKind::Verification);
    EXPECT_EQ(got, plain.substr(0, size_t{3} * 65536));
}

TEST(AgeStream, ChunkReadsAndLargeWritesGiveTheSamePlaintext) {
    auto id = *Identity::generate();
    for (size_t size : {size_t{0}, size_t{65536}, size_t{65537}, size_t{5} * 65536 + 123}) {
        std::string plain = random_bytes(size, static_cast<unsigned>(size) + 1);
        // One write of everything: whole chunks are sealed straight from the input.
        std::string cipher;
        auto enc = Encryptor::start({*id.recipient()}, [&cipher](std::string_view d) -> Status {
            cipher.append(d);
            return {};
        });
        ASSERT_TRUE(enc);
        ASSERT_TRUE(enc->write(plain));
        ASSERT_TRUE(enc->finish());
        size_t chunks = size == 0 ? 1 : (size + 65535) / 65536;
        EXPECT_EQ(cipher.size(), cipher.find("\n--- ") + 5 + 43 + 1 + 16 + size + 16 * chunks)
            << size;
        auto dec = Decryptor::start({id}, string_source(cipher));
        ASSERT_TRUE(dec) << size;
        std::string got;
        for (;;) {
            auto chunk = dec->read_chunk();
            ASSERT_TRUE(chunk) << size << ": " << chunk.error().message();
            if (chunk->empty()) break;
            EXPECT_LE(chunk->size(), size_t{65536});
            got.append(*chunk);
        }
        EXPECT_EQ(got, plain) << size;
        EXPECT_EQ(*decrypt_string({id}, cipher), plain) << size;

        if (size == 0) continue;
        std::string bad = cipher;
        bad.back() ^= 1;
        auto tampered = Decryptor::start({id}, string_source(bad));
        ASSERT_TRUE(tampered);
        Result<std::string_view> chunk = std::string_view();
        while ((chunk = tampered->read_chunk()) && !chunk->empty()) {
        }
        ASSERT_FALSE(chunk) << size;  // never a clean end
        EXPECT_EQ(chunk.error().kind(), ErrorKind::Verification);
    }
}

// ---- Interoperability with Debian's `age` (the reference implementation) ----------------

class AgeInterop : public ::testing::Test {
protected:
    void SetUp() override {
        if (run("command -v age >/dev/null && command -v age-keygen >/dev/null") != 0) {
            FAIL() << "the `age` package is required (scripts/install-deps installs it)";
        }
    }
    TempDir m_dir;
};

TEST_F(AgeInterop, TheAgeToolDecryptsWhatLetheWrites) {
    std::string idfile = m_dir / "id.txt";
    ASSERT_EQ(run("age-keygen -o " + idfile + " 2>/dev/null"), 0);
    auto ids = Identity::load_file(idfile);
    ASSERT_TRUE(ids) << ids.error().message();
    // The recipient lethe derives is the one age-keygen printed in its comment.
    std::string text = slurp(idfile);
    std::string recipient = ids->front().recipient()->to_string();
    EXPECT_NE(text.find("# public key: " + recipient), std::string::npos) << text;

    for (size_t size : {size_t{0}, size_t{65536}, size_t{300001}}) {
        std::string plain = random_bytes(size, 11);
        std::vector<Recipient> to = {*Recipient::parse(recipient), *spec_identity().recipient()};
        auto cipher = encrypt_string(to, plain);
        ASSERT_TRUE(cipher);
        write_file(m_dir / "f.age", *cipher);
        ASSERT_EQ(run("age -d -i " + idfile + " " + (m_dir / "f.age") + " > " + (m_dir / "f.out")),
                  0)
            << size;
        EXPECT_EQ(slurp(m_dir / "f.out"), plain) << size;
    }
}

TEST_F(AgeInterop, LetheDecryptsWhatTheAgeToolWrites) {
    auto id = *Identity::generate();
    auto other = *Identity::generate();
    std::string recipients = "-r " + other.recipient()->to_string() + " -r " +
                             id.recipient()->to_string();
    for (size_t size : {size_t{0}, size_t{5}, size_t{65536}, size_t{65536 * 2 + 100}}) {
        std::string plain = random_bytes(size, 13);
        write_file(m_dir / "p", plain);
        ASSERT_EQ(run("age " + recipients + " -o " + (m_dir / "p.age") + " " + (m_dir / "p")), 0);
        auto back = decrypt_string({id}, slurp(m_dir / "p.age"));
        ASSERT_TRUE(back) << size << ": " << back.error().message();
        EXPECT_EQ(*back, plain) << size;
    }
}

TEST_F(AgeInterop, LetheReadsIdentityFilesWrittenByAgeKeygen) {
    std::string idfile = m_dir / "keys.txt";
    ASSERT_EQ(run("age-keygen 2>/dev/null > " + idfile + " && age-keygen 2>/dev/null >> " + idfile),
              0);
    auto ids = Identity::load_file(idfile);
    ASSERT_TRUE(ids) << ids.error().message();
    EXPECT_EQ(ids->size(), 2u);
    write_file(m_dir / "bad.txt", "# only a comment\n");
    auto none = Identity::load_file(m_dir / "bad.txt");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind(), ErrorKind::BadInput);
}

}  // namespace
}  // namespace lethe::act::age
