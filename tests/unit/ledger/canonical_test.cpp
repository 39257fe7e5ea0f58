#include "agent/ledger/canonical.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lethe::ledger
