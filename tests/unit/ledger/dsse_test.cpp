#include "agent/ledger/dsse.hpp"

#include <sys/stat.h>

#include <cstdio>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/util/encoding.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::ledger {
namespace {

using lethe::testing::TempDir;

TEST(Pae, MatchesTheDsseSpecificationExample) {
    EXPECT_EQ(pae("http://example.com/HelloWorld", "hello world"),
              "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(Envelope, RoundTripsThroughJson) {
    Envelope env{std::string(kPayloadType), "{\"a\":1}", {{"abc", std::string("\x00\x01\xff", 3)}}};
    auto parsed = Envelope::parse(env.to_json());
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->payload, env.payload);
    EXPECT_EQ(parsed->signatures[0].sig, env.signatures[0].sig);
    EXPECT_FALSE(Envelope::parse("{\"payload\":\"!!\",\"payloadType\":\"x\",\"signatures\":[]}"));
    EXPECT_FALSE(Envelope::parse("not json"));
}

TEST(Envelope, WritesTheSameBytesAsTheJsonLibrary) {
    for (const Envelope& env :
         {Envelope{std::string(kPayloadType), "{\"a\":1}", {{"0123abcd", std::string(64, 'x')}}},
          Envelope{"type/with\"quote", "\xc3\xa9", {{"key\\id", "s"}, {"k2", ""}}},
          Envelope{std::string(kPayloadType), "", {}}}) {
        nlohmann::json sigs = nlohmann::json::array();
        for (const auto& s : env.signatures) {
            sigs.push_back({{"keyid", s.keyid}, {"sig", util::base64_encode(s.sig)}});
        }
        nlohmann::json j = {{"payload", util::base64_encode(env.payload)},
                            {"payloadType", env.payload_type},
                            {"signatures", sigs}};
        EXPECT_EQ(env.to_json(), j.dump());
    }
}

TEST(Envelope, TheFastParserTakesOnlyCanonicalLines) {
    Envelope env{std::string(kPayloadType), "{\"a\":1}", {{"0123abcd", std::string("\x00\x01\xff", 3)}}};
    std::string line = env.to_json();
    auto fast = Envelope::parse_canonical(line);
    ASSERT_TRUE(fast);
    EXPECT_EQ(fast->payload, env.payload);
    EXPECT_EQ(fast->payload_type, env.payload_type);
    ASSERT_EQ(fast->signatures.size(), 1u);
    EXPECT_EQ(fast->signatures[0].keyid, "0123abcd");
    EXPECT_EQ(fast->signatures[0].sig, env.signatures[0].sig);
    // Same JSON, other bytes: left to the full parser.
    EXPECT_FALSE(Envelope::parse_canonical(" " + line));
    std::string spaced = line;
    spaced.insert(spaced.find("\"payloadType\""), " ");
    EXPECT_FALSE(Envelope::parse_canonical(spaced));
    // Base64 with stray bits in its last character decodes to the same bytes: not canonical.
    std::string stray = line;
    size_t end = stray.find("==\"");
    ASSERT_NE(end, std::string::npos);
    ASSERT_EQ(stray[end - 1], 'Q');
    stray[end - 1] = 'R';
    EXPECT_FALSE(Envelope::parse_canonical(stray));
    Envelope two = env;
    two.signatures.push_back({"ff", "x"});
    EXPECT_FALSE(Envelope::parse_canonical(two.to_json()));
    EXPECT_TRUE(Envelope::parse(two.to_json()));
}

TEST(Keys, SignAndVerifyWithEd25519) {
    TempDir dir;
    std::string path = dir / "keys/signing.pem";
    ASSERT_TRUE(SigningKey::generate(path));
    auto key = SigningKey::load(path);
    ASSERT_TRUE(key) << key.error().message();
    std::string sig = key->sign("message");
    EXPECT_EQ(sig.size(), 64u);
    EXPECT_TRUE(key->public_key().verify("message", sig));
    EXPECT_FALSE(key->public_key().verify("messagE", sig));
    auto pub = VerifyKey::load(path + ".pub");
    ASSERT_TRUE(pub) << pub.error().message();
    EXPECT_EQ(pub->keyid(), key->keyid());
    EXPECT_TRUE(pub->verify("message", sig));
}

TEST(Keys, KeyidIsWhatOpensslAndSha256sumPrint) {
    TempDir dir;
    std::string path = dir / "signing.pem";
    ASSERT_TRUE(SigningKey::generate(path));
    auto key = SigningKey::load(path);
    ASSERT_TRUE(key);
    std::string cmd = "openssl pkey -pubin -in '" + path + ".pub' -outform DER | sha256sum";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[65] = {};
    ASSERT_EQ(std::fread(buf, 1, 64, p), 64u);
    ::pclose(p);
    EXPECT_EQ(key->keyid(), std::string(buf, 64));
}

TEST(Keys, GenerateRefusesToOverwriteAKey) {
    TempDir dir;
    std::string path = dir / "signing.pem";
    ASSERT_TRUE(SigningKey::generate(path));
    std::string before = lethe::testing::slurp(path);
    auto again = SigningKey::generate(path);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message().find("already exists"), std::string::npos);
    EXPECT_EQ(lethe::testing::slurp(path), before);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Keys, LoadRefusesAKeyOthersCanRead) {
    TempDir dir;
    std::string path = dir / "signing.pem";
    ASSERT_TRUE(SigningKey::generate(path));
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    auto key = SigningKey::load(path);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().kind(), ErrorKind::Refused);
    EXPECT_NE(key.error().message().find("readable by group or others"), std::string::npos);
}

TEST(Keys, LoadExplainsAMissingKey) {
    TempDir dir;
    auto key = SigningKey::load(dir / "none.pem");
    ASSERT_FALSE(key);
    EXPECT_NE(key.error().message().find("lethe keygen"), std::string::npos);
}

}  // namespace
}  // namespace lethe::ledger
