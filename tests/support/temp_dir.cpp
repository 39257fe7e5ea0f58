#include "tests/support/temp_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

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

namespace {

// Removes everything inside the open folder `dir_fd` by *at() calls, without following
// symlinks: what remove_all cannot do below PATH_MAX.
void remove_contents(int dir_fd) {
    int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
    if (d == nullptr) {
        if (dup >= 0) ::close(dup);
        return;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : names) {
        struct stat st {};
        if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            int child = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0) {
                remove_contents(child);
                ::close(child);
            }
            ::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR);
        } else {
            ::unlinkat(dir_fd, name.c_str(), 0);
        }
    }
}

}  // namespace

TempDir::~TempDir() {
    boost::system::error_code ec;
    fs::remove_all(m_path, ec);
    if (!ec || !exists(m_path)) return;
    // A tree deeper than PATH_MAX: remove it by descriptors.
    int fd = ::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    remove_contents(fd);
    ::close(fd);
    ::rmdir(m_path.c_str());
}

int TempDir::open_folder(std::string_view relative) const {
    int fd = ::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    std::string_view rest = relative;
    while (fd >= 0 && !rest.empty()) {
        size_t slash = rest.find('/');
        std::string name(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (name.empty()) continue;
        if (::mkdirat(fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
            ::close(fd);
            fd = -1;
            break;
        }
        int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ::close(fd);
        fd = next;
    }
    EXPECT_GE(fd, 0) << "cannot open or create the folder " << relative << " in " << m_path;
    return fd;
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
