#include "tests/support/temp_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include "agent/util/time.hpp"

namespace lethe::testing {

namespace fs = boost::filesystem;

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/lethe-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        ADD_FAILURE() << "mkdtemp failed";
    }
    m_path = pattern;
}

TempDir::~TempDir() {
    boost::system::error_code ec;
    fs::remove_all(m_path, ec);
}

std::string TempDir::operator/(std::string_view relative) const {
    return m_path + "/" + std::string(relative);
}

void TempDir::mkdir(std::string_view relative) const {
    fs::create_directories(*this / relative);
}

std::string TempDir::write(std::string_view relative, std::string_view content,
                           std::string_view mtime_date) const {
    std::string path = *this / relative;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!mtime_date.empty()) set_mtime(path, mtime_date);
    return path;
}

void set_mtime(const std::string& path, std::string_view date) {
    auto d = util::parse_timestamp(date);
    ASSERT_TRUE(d) << d.error().message();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(d->time_since_epoch()).count();
    struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace lethe::testing
