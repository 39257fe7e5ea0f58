#include "agent/util/fs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <string>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"

namespace lethe::util {

Status write_all(int fd, std::string_view data, std::string_view what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(errno_error(fmt::format("write {}", what), errno));
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        return fail(errno_error(fmt::format("open {}", path), errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(errno_error(fmt::format("stat {}", path), errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorKind::BadInput, fmt::format("{}: not a regular file", path));
    }
    std::string out;
    std::array<char, 65536> buf{};
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(errno_error(fmt::format("read {}", path), errno));
        }
        if (n == 0) {
            break;
        }
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

Status fsync_fd(int fd, std::string_view what) {
    if (::fsync(fd) != 0) {
        return fail(errno_error(fmt::format("fsync {}", what), errno));
    }
    return {};
}

Status fsync_dir(const std::string& dir_path) {
    UniqueFd fd(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        return fail(errno_error(fmt::format("open folder {}", dir_path), errno));
    }
    return fsync_fd(fd.get(), dir_path);
}

namespace {

// Writes data to a fresh temporary file beside `path`, fsynced; returns its name.
Result<std::string> write_temp_beside(const std::string& path, std::string_view data,
                                      mode_t mode) {
    std::string tmp = fmt::format("{}.tmp-{}", path, random_suffix());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd) {
        return fail(errno_error(fmt::format("create {}", tmp), errno));
    }
    auto cleanup_on_error = [&](Error e) {
        ::unlink(tmp.c_str());
        return fail(std::move(e));
    };
    if (::fchmod(fd.get(), mode) != 0) {
        return cleanup_on_error(errno_error(fmt::format("chmod {}", tmp), errno));
    }
    if (auto st = write_all(fd.get(), data, tmp); !st) {
        return cleanup_on_error(st.error());
    }
    if (auto st = fsync_fd(fd.get(), tmp); !st) {
        return cleanup_on_error(st.error());
    }
    return tmp;
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    auto tmp = write_temp_beside(path, data, mode);
    if (!tmp) {
        return fail(tmp.error());
    }
    if (::rename(tmp->c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp->c_str());
        return fail(errno_error(fmt::format("rename {} to {}", *tmp, path), err));
    }
    return fsync_dir(folder_of(path));
}

Status create_file_exclusive(const std::string& path, std::string_view data, mode_t mode) {
    auto tmp = write_temp_beside(path, data, mode);
    if (!tmp) {
        return fail(tmp.error());
    }
    // link() fails with EEXIST instead of replacing, unlike rename().
    int rc = ::link(tmp->c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp->c_str());
    if (rc != 0) {
        return fail(errno_error(fmt::format("create {}", path), err));
    }
    return fsync_dir(folder_of(path));
}

Status make_dirs(const std::string& path, mode_t mode) {
    if (path.empty()) {
        return fail(ErrorKind::BadInput, "empty folder path");
    }
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
        size_t next = path.find('/', pos + 1);
        partial = path.substr(0, next);
        pos = next;
        if (partial.empty() || partial == "/") {
            continue;
        }
        struct stat st {};
        if (::lstat(partial.c_str(), &st) == 0) {
            if (S_ISLNK(st.st_mode) && next != std::string::npos) {
                // A symlinked ancestor set up by the administrator (e.g. /var -> /data/var)
                // is followed; only the final folder must be real.
                continue;
            }
            if (!S_ISDIR(st.st_mode)) {
                return fail(ErrorKind::BadInput,
                            fmt::format("{}: exists and is not a folder", partial));
            }
            continue;
        }
        if (errno != ENOENT) {
            return fail(errno_error(fmt::format("stat {}", partial), errno));
        }
        if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
            return fail(errno_error(fmt::format("create folder {}", partial), errno));
        }
    }
    return {};
}

namespace {

constexpr size_t kPathMax = PATH_MAX;  // bytes with the terminating NUL

// One openat2 of `rel` (shorter than PATH_MAX) beneath `dir_fd`.
Result<UniqueFd> open_step(int dir_fd, const std::string& rel, const struct open_how& how) {
    for (;;) {
        long fd = ::syscall(SYS_openat2, dir_fd, rel.c_str(), &how, sizeof(how));
        if (fd >= 0) {
            return UniqueFd(static_cast<int>(fd));
        }
        if (errno == EINTR || errno == EAGAIN) {
            continue;
        }
        return fail(errno_error(fmt::format("open {}", rel), errno));
    }
}

// Where the first step of `path` ends: the last '/' at or before `max_step`, so that the step
// is a run of whole components the kernel accepts; npos when one component alone is too long.
size_t step_end(std::string_view path, size_t max_step) {
    size_t slash = path.rfind('/', max_step);
    return slash == 0 ? std::string_view::npos : slash;
}

}  // namespace

Result<UniqueFd> open_beneath(int dir_fd, std::string_view relative, int flags, mode_t mode,
                              bool same_mount) {
    struct open_how how {};
    how.flags = static_cast<unsigned>(flags | O_CLOEXEC | O_NOFOLLOW);
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    if (same_mount) {
        how.resolve |= RESOLVE_NO_XDEV;
    }
    std::string_view rest = relative.empty() ? std::string_view(".") : relative;
    if (rest.size() < kPathMax) {
        return open_step(dir_fd, std::string(rest), how);
    }
    // A path the kernel refuses whole (ENAMETOOLONG) is opened in steps, each a run of whole
    // components shorter than PATH_MAX, each step's folder opened O_PATH from the one before
    // with the same resolve flags: no step follows a symlink or leaves the folder it starts
    // from, so the whole walk neither follows one nor leaves `dir_fd`. A leading '/' stays in
    // the first step, where RESOLVE_BENEATH refuses it.
    struct open_how folder_how = how;
    folder_how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
    folder_how.mode = 0;
    UniqueFd folder;
    int from = dir_fd;
    while (rest.size() >= kPathMax) {
        size_t end = step_end(rest, kPathMax - 1);
        if (end == std::string_view::npos) {
            return fail(errno_error(fmt::format("open {}", relative), ENAMETOOLONG));
        }
        auto next = open_step(from, std::string(rest.substr(0, end)), folder_how);
        if (!next) {
            return fail(errno_error(fmt::format("open {}", relative), next.error().sys_errno()));
        }
        folder = std::move(*next);
        from = folder.get();
        rest = rest.substr(end);
        // "a//b" split between the slashes must not leave an absolute-looking rest.
        while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    }
    if (rest.empty()) rest = ".";
    auto last = open_step(from, std::string(rest), how);
    if (!last) {
        return fail(errno_error(fmt::format("open {}", relative), last.error().sys_errno()));
    }
    return last;
}

std::string folder_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

namespace {

// getxattrat(2), Linux 6.13; one number on every architecture (the unified syscall table).
// glibc 2.36 has no wrapper and its headers no number.
constexpr long kSysGetxattrat = 464;

struct XattrArgs {  // struct xattr_args of <linux/xattr.h>
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

std::atomic<bool> g_no_getxattrat{false};

}  // namespace

std::optional<std::string> read_xattr_at(int dir_fd, std::string_view name,
                                         const std::string& attribute, size_t max_size,
                                         bool force_proc) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
        return std::nullopt;
    }
    std::string value(max_size, '\0');
    std::string leaf(name);
    ssize_t n = -1;
    bool done = false;
    if (!force_proc && !g_no_getxattrat.load(std::memory_order_relaxed)) {
        XattrArgs args{reinterpret_cast<uintptr_t>(value.data()), static_cast<uint32_t>(value.size()), 0};
        n = ::syscall(kSysGetxattrat, dir_fd, leaf.c_str(), AT_SYMLINK_NOFOLLOW, attribute.c_str(),
                      &args, sizeof args);
        if (n < 0 && errno == ENOSYS) {
            g_no_getxattrat.store(true, std::memory_order_relaxed);
        } else {
            done = true;
        }
    }
    if (!done) {
        // The magic link names exactly the open folder; lgetxattr does not follow `name`.
        std::string proc = fmt::format("/proc/self/fd/{}/{}", dir_fd, leaf);
        n = ::lgetxattr(proc.c_str(), attribute.c_str(), value.data(), value.size());
    }
    if (n < 0) return std::nullopt;
    value.resize(static_cast<size_t>(n));
    return value;
}

std::string_view parent_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

std::string_view name_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string random_suffix(size_t bytes) {
    std::string raw(bytes, '\0');
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;  // cannot happen on Linux >= 3.17 once the pool is initialised
        }
        got += static_cast<size_t>(n);
    }
    return hex_encode(raw);
}

}  // namespace lethe::util
