#include "agent/service/marked_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "agent/util/fs.hpp"

namespace lethe::service {

Error corrupt_store(const MarkedStore& store, const std::string& source, std::string_view what) {
    return Error(ErrorKind::Refused,
                 fmt::format("{} {} is unreadable or corrupt ({}); no file will be disposed of "
                             "until it is repaired or restored",
                             store.corrupt, source, what));
}

Result<std::optional<std::string>> read_marked_store(const MarkedStore& store) {
    auto text = util::read_file(store.path);
    if (text) return std::optional<std::string>(std::move(*text));
    if (text.error().sys_errno() != ENOENT) {
        return fail(corrupt_store(store, store.path, text.error().message()));
    }
    struct stat st {};
    if (::lstat(store.lock_path.c_str(), &st) == 0 && st.st_size > 0) {
        return fail(corrupt_store(store, store.path,
                                  fmt::format("missing, though {} shows that {}; restore it "
                                              "from backup",
                                              store.lock_path, store.was_there)));
    }
    return std::optional<std::string>();
}

Status write_marked_store(const MarkedStore& store, std::string_view text) {
    if (auto st = util::write_file_atomic(store.path, text, 0600); !st) return st;
    struct stat lock_st {};
    if (::lstat(store.lock_path.c_str(), &lock_st) == 0 && lock_st.st_size > 0) return {};
    UniqueFd fd(::open(store.lock_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open {}", store.lock_path), errno));
    if (auto st = util::write_all(fd.get(), store.mark + "\n", store.lock_path); !st) return st;
    return util::fsync_fd(fd.get(), store.lock_path);
}

Result<UniqueFd> lock_marked_store(const std::string& state_dir, const MarkedStore& store) {
    if (auto st = util::make_dirs(state_dir, 0700); !st) return fail(st.error());
    UniqueFd fd(::open(store.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open lock {}", store.lock_path), errno));
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return fail(errno_error(fmt::format("lock {}", store.lock_path), errno));
    }
    return fd;
}

}  // namespace lethe::service
