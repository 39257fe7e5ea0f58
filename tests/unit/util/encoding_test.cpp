#include "agent/util/encoding.hpp"

#include <gtest/gtest.h>

namespace lethe::util {
namespace {

TEST(Base64, MatchesRfc4648TestVectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryByteValue) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    auto decoded = base64_decode(base64_encode(all));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, all);
}

TEST(Base64, RejectsMalformedInput) {
    EXPECT_FALSE(base64_decode("Zg="));     // wrong length
    EXPECT_FALSE(base64_decode("Z*=="));    // outside the alphabet
    EXPECT_FALSE(base64_decode("Zg==Zg==")); // padding in the middle
    EXPECT_FALSE(base64_decode("Z-8="));    // URL alphabet is not accepted
}

TEST(Base64, DecodesEveryLengthAndRefusesPaddingInTheWrongPlace) {
    for (size_t n = 0; n < 40; ++n) {
        std::string bytes;
        for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>((i * 37 + n) & 0xff));
        auto text = base64_encode(bytes);
        ASSERT_EQ(base64_decode(text), bytes) << n;
        ASSERT_EQ(base64_decode_canonical(text), bytes) << n;
    }
    EXPECT_FALSE(base64_decode("Zg=a"));  // data after padding
    EXPECT_FALSE(base64_decode("Z==="));  // three padding characters
    EXPECT_FALSE(base64_decode("===="));
    EXPECT_FALSE(base64_decode("Zm9v=g=="));
}

TEST(Base64, CanonicalDecodingRefusesStrayBitsInTheLastCharacter) {
    // "Zh==" and "Zm9=" decode to "f" and "fo" too, but are not what encoding them gives:
    // a ledger line written that way was altered after signing.
    EXPECT_EQ(base64_decode("Zh=="), "f");
    EXPECT_FALSE(base64_decode_canonical("Zh=="));
    EXPECT_EQ(base64_decode("Zm9="), "fo");
    EXPECT_FALSE(base64_decode_canonical("Zm9="));
    EXPECT_EQ(base64_decode_canonical("Zg=="), "f");
    EXPECT_EQ(base64_decode_canonical("Zm8="), "fo");
    EXPECT_EQ(base64_decode_canonical(""), "");
}

TEST(Hex, IsLowercase) { EXPECT_EQ(hex_encode("\x01\xab\xff"), "01abff"); }

TEST(Utf8, ValidatesAndReplacesInvalidBytes) {
    EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9"));
    EXPECT_FALSE(is_valid_utf8("caf\xe9"));
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
    EXPECT_EQ(utf8_display("a\xffz"), "a\xef\xbf\xbdz");
}

TEST(DisplayName, ShowsEveryControlCharacterAsItsBytesOnOneLine) {
    EXPECT_EQ(display_name("acme/2010-001/brief.pdf"), "acme/2010-001/brief.pdf");
    EXPECT_EQ(display_name("caf\xc3\xa9.pdf"), "caf\xc3\xa9.pdf");  // printable UTF-8 stays
    EXPECT_EQ(display_name("a\nlethe: info: deleted x\r\x1b[31mb\t\x7f"),
              "a\\x0alethe: info: deleted x\\x0d\\x1b[31mb\\x09\\x7f");
    // C1 controls (U+009B is a one-character CSI on some terminals) as their UTF-8 bytes.
    EXPECT_EQ(display_name("x\xc2\x9b" "2Jy\xc2\x85"), "x\\xc2\\x9b2Jy\\xc2\\x85");
    EXPECT_EQ(display_name("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is not a control
    EXPECT_EQ(display_name("bad\xff\x9b"), "bad\xef\xbf\xbd\xef\xbf\xbd");
    std::string shown = display_name("a\n\x1b\xc2\x9b\xff");
    EXPECT_EQ(display_name(shown), shown);  // escaping twice changes nothing
}

TEST(JsonDisplay, EscapesWhatJsonLeavesRawAndKeepsTheValue) {
    EXPECT_EQ(json_display(R"({"path":"a\nb"})"), R"({"path":"a\nb"})");
    EXPECT_EQ(json_display("{\"path\":\"a\x7f\xc2\x9b\xc3\xa9\"}"),
              "{\"path\":\"a\\u007f\\u009b\xc3\xa9\"}");
}

}  // namespace
}  // namespace lethe::util
