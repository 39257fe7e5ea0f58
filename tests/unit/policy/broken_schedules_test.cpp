// Runs every schedule in tests/data/broken-schedules/ through the checker and compares what
// a records manager would read with NAME.expected beside it, exactly; checks that every
// message of the loader, for one file or across files, says file:line:column.

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include "agent/policy/schedule.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::policy {
namespace {

std::string slurp(const boost::filesystem::path& p) {
    std::ifstream in(p.string(), std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::vector<boost::filesystem::path> broken_schedules() {
    namespace fs = boost::filesystem;
    fs::path dir = fs::path(LETHE_TEST_DATA) / "broken-schedules";
    std::vector<fs::path> cases;
    for (fs::directory_iterator it(dir), end; it != end; ++it) {
        if (it->path().extension() == ".toml") cases.push_back(it->path());
    }
    std::sort(cases.begin(), cases.end());
    return cases;
}

// Whether every line of `messages` starts with "<file>:<line>:<column>: " (line and column
// from 1).
::testing::AssertionResult each_line_located(const std::string& messages, const std::string& file) {
    std::regex located("^" + std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                       R"(:[1-9][0-9]*:[1-9][0-9]*: .+)");
    std::istringstream lines(messages);
    std::string line;
    size_t count = 0;
    while (std::getline(lines, line)) {
        ++count;
        if (!std::regex_match(line, located)) {
            return ::testing::AssertionFailure() << "not file:line:column: " << line;
        }
    }
    if (count == 0) return ::testing::AssertionFailure() << "no message";
    return ::testing::AssertionSuccess();
}

TEST(BrokenSchedules, EachFileProducesExactlyItsExpectedMessages) {
    namespace fs = boost::filesystem;
    std::vector<fs::path> cases = broken_schedules();
    ASSERT_GE(cases.size(), 30u) << "the broken-schedule folder is missing cases";
    for (const auto& path : cases) {
        fs::path expected_path = path;
        expected_path.replace_extension(".expected");
        ASSERT_TRUE(fs::exists(expected_path)) << path << " has no .expected file";
        std::string expected = slurp(expected_path);
        while (!expected.empty() && expected.back() == '\n') expected.pop_back();

        ScheduleReport report = check_schedule(slurp(path), path.filename().string());
        std::string actual;
        for (const auto& e : report.errors) actual += e + "\n";
        for (const auto& w : report.warnings) actual += "warning: " + w + "\n";
        while (!actual.empty() && actual.back() == '\n') actual.pop_back();
        EXPECT_EQ(actual, expected) << "case " << path.filename();
        // Every case is a mistake: it fails to load, or (warnings only) check --strict fails.
        EXPECT_TRUE(!report.errors.empty() || !report.warnings.empty()) << path.filename();
        EXPECT_EQ(static_cast<bool>(parse_schedule(slurp(path), "x.toml")), report.errors.empty());
    }
}

// Loading is what `run`, `plan` and `agent` do: each broken file refuses to load, and the
// error names the file, the line and the column, line by line. Warnings too.
TEST(BrokenSchedules, EveryMessageNamesFileLineAndColumnWhereverItIsLoaded) {
    for (const auto& path : broken_schedules()) {
        ScheduleReport report = check_schedule(slurp(path), path.filename().string());
        for (const auto& e : report.errors) {
            EXPECT_TRUE(each_line_located(e, path.filename().string())) << path.filename();
        }
        for (const auto& w : report.warnings) {
            EXPECT_TRUE(each_line_located(w, path.filename().string())) << path.filename();
        }
        if (report.errors.empty()) continue;  // warnings only: loading is allowed
        auto loaded = load_schedules({path.string()});
        ASSERT_FALSE(loaded) << path.filename();
        EXPECT_EQ(loaded.error().kind(), ErrorKind::BadInput);
        EXPECT_TRUE(each_line_located(loaded.error().message(), path.string())) << path.filename();
    }
}

constexpr std::string_view kOne = R"([schedule]
id = "firm"
version = 1

[[category]]
id = "billing"
retain = "6y"
action = "sanitize"
)";

constexpr std::string_view kSameIds = R"([schedule]
id = "firm"
version = 2

[[category]]
id = "scratch"
retain = "30d"
action = "delete"

[[category]]
  id = "billing"
retain = "1y"
action = "delete"
)";

// Ids must be unique across every file in force: both places of a clash are named.
TEST(BrokenSchedules, IdsUsedTwiceAcrossFilesNameBothPlaces) {
    lethe::testing::TempDir dir;
    std::string first = dir.write("p/1-firm.toml", kOne);
    std::string second = dir.write("p/2-other.toml", kSameIds);
    auto loaded = load_schedules({dir / "p"});
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().kind(), ErrorKind::BadInput);
    // One line (the journal would escape a newline), each problem after "; ".
    EXPECT_EQ(loaded.error().message(),
              second + ":2:6: schedule id 'firm' is already used by " + first + ":2:6; " +
                  second + ":11:8: category id 'billing' is already defined by " + first + ":6:6");
    std::vector<std::string> problems;
    ASSERT_FALSE(load_schedules({dir / "p"}, &problems));
    ASSERT_EQ(problems.size(), 2u);
    for (const auto& p : problems) EXPECT_TRUE(each_line_located(p, second));

    // `policy check` registers each good file in turn and reports the same lines.
    IdRegister ids;
    EXPECT_TRUE(ids.add(*parse_schedule(kOne, "1.toml")).empty());
    std::vector<std::string> clashes = ids.add(*parse_schedule(kSameIds, "2.toml"));
    EXPECT_EQ(clashes, (std::vector<std::string>{
                           "2.toml:2:6: schedule id 'firm' is already used by 1.toml:2:6",
                           "2.toml:11:8: category id 'billing' is already defined by 1.toml:6:6"}));
}

}  // namespace
}  // namespace lethe::policy
