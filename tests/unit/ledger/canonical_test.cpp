#include "agent/ledger/canonical.hpp"

#include <gtest/gtest.h>

#include <random>

namespace lethe::ledger {
namespace {

TEST(CanonicalJson, SortsKeysByBytesAndWritesCompactUtf8) {
    nlohmann::json j = {{"zeta", 1}, {"Alpha", -2}, {"alpha", {{"b", "é\n\"x\""}, {"a", true}}},
                        {"list", {3, 2, 1}}};
    auto text = canonical_json(j);
    ASSERT_TRUE(text) << text.error().message();
    EXPECT_EQ(*text,
              "{\"Alpha\":-2,\"alpha\":{\"a\":true,\"b\":\"\xc3\xa9\\n\\\"x\\\"\"},"
              "\"list\":[3,2,1],\"zeta\":1}");
    EXPECT_TRUE(is_canonical_json(*text));
}

TEST(CanonicalJson, RefusesFloatsAnywhereAndNamesWhere) {
    auto top = canonical_json({{"size", 1.5}});
    ASSERT_FALSE(top);
    EXPECT_NE(top.error().message().find("/size"), std::string::npos) << top.error().message();
    auto nested = canonical_json({{"pass", {{"ratio", {1, 0.25}}}}});
    ASSERT_FALSE(nested);
    EXPECT_NE(nested.error().message().find("/pass/ratio/1"), std::string::npos)
        << nested.error().message();
}

TEST(CanonicalJson, RefusesInvalidUtf8) {
    EXPECT_FALSE(canonical_json({{"path", std::string("a\xff")}}));
}

TEST(CanonicalJson, RecognisesNonCanonicalText) {
    EXPECT_FALSE(is_canonical_json("{\"b\":1,\"a\":2}"));    // unsorted
    EXPECT_FALSE(is_canonical_json("{\"a\": 2}"));           // whitespace
    EXPECT_FALSE(is_canonical_json("{\"a\":2.0}"));          // float
    EXPECT_FALSE(is_canonical_json("{\"a\":1,\"a\":2}"));    // duplicate key
    EXPECT_FALSE(is_canonical_json("{\"a\":\"\\u00e9\"}"));  // needless escape
    EXPECT_FALSE(is_canonical_json("not json"));
    EXPECT_TRUE(is_canonical_json("{\"a\":[1,{\"b\":null}]}"));
}

// canonical_json writes payloads itself, for speed; the bytes must be exactly those of
// nlohmann::json::dump() (which wrote every ledger so far), and it must refuse exactly the
// strings dump() refuses. Random documents with every ASCII byte, valid multi-byte UTF-8 and
// byte sequences that are not UTF-8.
class RandomDocuments {
  public:
    explicit RandomDocuments(uint32_t seed) : m_rng(seed) {}

    std::string text(bool allow_invalid) {
        std::string s;
        int n = pick(0, 12);
        for (int i = 0; i < n; ++i) {
            switch (pick(0, allow_invalid ? 5 : 4)) {
                case 0: s += static_cast<char>(pick(0, 0x7f)); break;  // every ASCII byte
                case 1: s += "\xc3\xa9"; break;                          // e acute
                case 2: s += "\xe2\x82\xac"; break;                     // euro sign
                case 3: s += "\xf0\x9f\x93\x84"; break;                 // U+1F4C4
                case 4: s += "plain"; break;
                default: {
                    // Lead or continuation bytes in random order: often not UTF-8.
                    static const unsigned char kBytes[] = {0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0,
                                                           0xed, 0xa0, 0xf0, 0xf4, 0x90, 0xf5, 0xff};
                    s += static_cast<char>(kBytes[pick(0, sizeof(kBytes) - 1)]);
                }
            }
        }
        return s;
    }

    nlohmann::json value(int depth, bool allow_invalid) {
        switch (pick(0, depth > 3 ? 4 : 6)) {
            case 0: return nullptr;
            case 1: return pick(0, 1) == 1;
            case 2: return static_cast<int64_t>(m_rng()) - (int64_t{1} << 31);
            case 3: return uint64_t{m_rng()} << 32 | m_rng();
            case 4: return text(allow_invalid);
            case 5: {
                nlohmann::json a = nlohmann::json::array();
                for (int i = pick(0, 4); i > 0; --i) a.push_back(value(depth + 1, allow_invalid));
                return a;
            }
            default: {
                nlohmann::json o = nlohmann::json::object();
                for (int i = pick(0, 5); i > 0; --i) {
                    o[text(allow_invalid)] = value(depth + 1, allow_invalid);
                }
                return o;
            }
        }
    }

  private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(m_rng); }
    std::mt19937 m_rng;
};

TEST(CanonicalJson, WritesExactlyTheBytesOfTheJsonLibraryAndRefusesWhatItRefuses) {
    RandomDocuments docs(20261126);
    int valid = 0;
    int invalid = 0;
    for (int i = 0; i < 5000; ++i) {
        nlohmann::json doc = docs.value(0, i % 2 == 1);
        std::optional<std::string> expected;
        try {
            expected = doc.dump();
        } catch (const nlohmann::json::exception&) {
        }
        auto got = canonical_json(doc);
        ASSERT_EQ(got.has_value(), expected.has_value())
            << "document " << i << ": " << (got ? *got : got.error().message());
        if (expected) {
            ASSERT_EQ(*got, *expected) << "document " << i;
            ++valid;
        } else {
            ++invalid;
        }
    }
    // Both kinds were exercised in earnest.
    EXPECT_GT(valid, 2500);
    EXPECT_GT(invalid, 500);
}

TEST(CanonicalJson, EscapesControlCharactersInLowerCaseHexAndKeepsDelRaw) {
    auto text = canonical_json({{"k", std::string("\x01\x1f\x7f\b\f", 5)}});
    ASSERT_TRUE(text) << text.error().message();
    EXPECT_EQ(*text, "{\"k\":\"\\u0001\\u001f\x7f\\b\\f\"}");
}

}  // namespace
}  // namespace lethe::ledger
