#include "agent/service/state.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::service {

Result<StateLock> StateLock::acquire(const std::string& state_dir) {
    if (auto st = util::make_dirs(state_dir, 0700); !st) return fail(st.error());
    std::string path = state_dir + "/lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open lock {}", path), errno));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return fail(ErrorKind::Refused,
                        fmt::format("another lethe pass holds {}; try again when it ends", path));
        }
        return fail(errno_error(fmt::format("lock {}", path), errno));
    }
    return StateLock(std::move(fd));
}

}  // namespace lethe::service
