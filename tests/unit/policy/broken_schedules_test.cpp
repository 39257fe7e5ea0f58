// Runs every schedule in tests/data/broken-schedules/ through the checker and compares what
// a records manager would read with NAME.expected beside it, exactly.

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include "agent/policy/schedule.hpp"

namespace lethe::policy {
namespace {

std::string slurp(const boost::filesystem::path& p) {
    std::ifstream in(p.string(), std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

TEST(BrokenSchedules, EachFileProducesExactlyItsExpectedMessages) {
    namespace fs = boost::filesystem;
    fs::path dir = fs::path(LETHE_TEST_DATA) / "broken-schedules";
    std::vector<fs::path> cases;
    for (fs::directory_iterator it(dir), end; it != end; ++it) {
        if (it->path().extension() == ".toml") cases.push_back(it->path());
    }
    std::sort(cases.begin(), cases.end());
    ASSERT_GE(cases.size(), 20u) << "the broken-schedule folder is missing cases";
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

}  // namespace
}  // namespace lethe::policy
