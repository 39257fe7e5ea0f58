#include "agent/util/jsonl_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace lethe::util {
namespace {

using lethe::testing::slurp;
using lethe::testing::TempDir;

constexpr JsonlFormat kStrict{.what = "test index",
                              .stops = "tests stop until it is repaired",
                              .risk = "(nothing is lost)",
                              .torn_tail = TornTail::Refuse,
                              .sync = AppendSync::Fsync};
constexpr JsonlFormat kLenient{.what = "test index",
                               .stops = "tests stop until it is repaired",
                               .risk = "(nothing is lost)",
                               .torn_tail = TornTail::Ignore,
                               .sync = AppendSync::Fdatasync};

// The "n" of every line, in order; the error's message on a refused read.
struct Read {
    std::vector<int> ns;
    std::string error;
};

Read read(std::string_view text, const JsonlFormat& format) {
    Read r;
    auto st = parse_jsonl(text, "/state/test.jsonl", format, [&](const nlohmann::json& j) {
        if (!j.contains("n")) return Status(fail(ErrorKind::BadInput, "no 'n'"));
        r.ns.push_back(j.at("n").get<int>());
        return Status();
    });
    if (!st) {
        EXPECT_EQ(st.error().kind(), ErrorKind::Refused);
        r.error = st.error().message();
    }
    return r;
}

TEST(JsonlFile, EveryCompleteLineIsReadInOrder) {
    Read r = read("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", kStrict);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.ns, (std::vector<int>{1, 2, 3}));
}

TEST(JsonlFile, EmptyTextHasNoLines) {
    for (const JsonlFormat* format : {&kStrict, &kLenient}) {
        Read r = read("", *format);
        EXPECT_EQ(r.error, "");
        EXPECT_TRUE(r.ns.empty());
    }
}

TEST(JsonlFile, ACorruptMiddleLineIsRefusedWithItsLineNumberAndTheFilesWords) {
    for (const JsonlFormat* format : {&kStrict, &kLenient}) {
        Read garbage = read("{\"n\":1}\nnot json\n{\"n\":3}\n", *format);
        EXPECT_EQ(garbage.error,
                  "test index /state/test.jsonl line 2: not a JSON object; tests stop until it "
                  "is repaired (nothing is lost)");
        // A refused read hands over no line past the bad one.
        EXPECT_EQ(garbage.ns, (std::vector<int>{1}));

        Read array = read("{\"n\":1}\n{\"n\":2}\n[3]\n{\"n\":4}\n", *format);
        EXPECT_NE(array.error.find("line 3: not a JSON object"), std::string::npos) << array.error;

        Read refused = read("{\"n\":1}\n{\"m\":2}\n{\"n\":3}\n", *format);
        EXPECT_NE(refused.error.find("/state/test.jsonl line 2: no 'n';"), std::string::npos)
            << refused.error;
    }
}

TEST(JsonlFile, ATornTailIsRefusedOrIgnoredAsTheFormatSays) {
    const std::string torn = "{\"n\":1}\n{\"n\":2}\n{\"n\":";
    Read strict = read(torn, kStrict);
    EXPECT_NE(strict.error.find("line 3: the last line is incomplete"), std::string::npos)
        << strict.error;

    Read lenient = read(torn, kLenient);
    EXPECT_EQ(lenient.error, "");
    EXPECT_EQ(lenient.ns, (std::vector<int>{1, 2}));

    // A complete object without its newline is still an append that was cut short.
    Read whole = read("{\"n\":1}\n{\"n\":2}", kLenient);
    EXPECT_EQ(whole.error, "");
    EXPECT_EQ(whole.ns, (std::vector<int>{1}));
}

TEST(JsonlFile, AMissingFileIsEmptyAndAnUnreadableOneIsRefused) {
    TempDir dir;
    auto missing = read_jsonl_text(dir / "absent.jsonl", kStrict);
    ASSERT_TRUE(missing) << missing.error().message();
    EXPECT_EQ(*missing, "");

    dir.mkdir("folder.jsonl");  // a folder where the file should be
    auto unreadable = read_jsonl_text(dir / "folder.jsonl", kStrict);
    ASSERT_FALSE(unreadable);
    EXPECT_EQ(unreadable.error().kind(), ErrorKind::Refused);
    EXPECT_NE(unreadable.error().message().find("test index " + (dir / "folder.jsonl") +
                                                " cannot be read ("),
              std::string::npos)
        << unreadable.error().message();
    EXPECT_NE(unreadable.error().message().find("; tests stop until it is repaired"),
              std::string::npos);
}

TEST(JsonlFile, AnEmptyFileHasNoLines) {
    TempDir dir;
    dir.write("empty.jsonl", "");
    auto text = read_jsonl_text(dir / "empty.jsonl", kStrict);
    ASSERT_TRUE(text) << text.error().message();
    EXPECT_EQ(*text, "");
    EXPECT_TRUE(read(*text, kStrict).ns.empty());
}

TEST(JsonlFile, AppendsCreateTheFileAndAddOneLineEach) {
    TempDir dir;
    std::string path = dir / "state/test.jsonl";
    dir.mkdir("state");
    ASSERT_TRUE(append_jsonl(path, kStrict, {{"n", 1}}));
    ASSERT_TRUE(append_jsonl(path, kStrict, {{"n", 2}}));
    EXPECT_EQ(slurp(path), "{\"n\":1}\n{\"n\":2}\n");
}

TEST(JsonlFile, AnAppendDropsATornTailOnlyWhenTheFormatIgnoresIt) {
    TempDir dir;
    std::string lenient = dir.write("lenient.jsonl", "{\"n\":1}\n{\"n\":");
    ASSERT_TRUE(append_jsonl(lenient, kLenient, {{"n", 2}}));
    EXPECT_EQ(slurp(lenient), "{\"n\":1}\n{\"n\":2}\n");
    EXPECT_EQ(read(slurp(lenient), kLenient).ns, (std::vector<int>{1, 2}));

    // Only a torn tail goes: a file of one unterminated line keeps nothing of it.
    std::string only = dir.write("only.jsonl", "{\"n\":");
    ASSERT_TRUE(append_jsonl(only, kLenient, {{"n", 7}}));
    EXPECT_EQ(slurp(only), "{\"n\":7}\n");

    // A torn tail longer than one read-back step.
    std::string long_tail =
        dir.write("long.jsonl", "{\"n\":1}\n{\"s\":\"" + std::string(150 * 1024, 'x'));
    ASSERT_TRUE(append_jsonl(long_tail, kLenient, {{"n", 2}}));
    EXPECT_EQ(slurp(long_tail), "{\"n\":1}\n{\"n\":2}\n");

    // A strict file keeps the damage for someone to see; readers go on refusing it.
    std::string strict = dir.write("strict.jsonl", "{\"n\":1}\n{\"n\":");
    ASSERT_TRUE(append_jsonl(strict, kStrict, {{"n", 2}}));
    EXPECT_EQ(slurp(strict), "{\"n\":1}\n{\"n\":{\"n\":2}\n");
    EXPECT_NE(read(slurp(strict), kStrict).error.find("line 2: not a JSON object"),
              std::string::npos);
}

}  // namespace
}  // namespace lethe::util
