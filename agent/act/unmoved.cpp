#include "agent/act/unmoved.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/time.hpp"

namespace lethe::act {

Result<std::optional<UnmovedFile>> check_unmoved(int root_fd, const scan::FileFacts& planned,
                                                 const std::string& sha256_before,
                                                 const util::StopToken* stop) {
    auto now = scan::stat_beneath(root_fd, planned.path);
    if (!now || now->inode != planned.inode || now->device != planned.device) {
        return std::optional<UnmovedFile>();
    }
    UnmovedFile found;
    if (now->size != planned.size || now->mtime != planned.mtime) {
        found.change = fmt::format("now {} bytes (was {}), modified {}", now->size, planned.size,
                                   util::format_timestamp(now->mtime));
        return std::optional<UnmovedFile>(found);
    }
    found.unchanged = true;
    if (sha256_before.empty()) return std::optional<UnmovedFile>(found);
    // O_NONBLOCK: whatever took the name meanwhile, opening it never waits (a FIFO).
    auto fd = util::open_beneath(root_fd, planned.path, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (!fd || ::fstat(fd->get(), &st) != 0 || st.st_ino != planned.inode ||
        static_cast<uint64_t>(st.st_dev) != planned.device) {
        return std::optional<UnmovedFile>();
    }
    auto hash = util::sha256_fd_hex(fd->get(), planned.path, stop);
    if (!hash) return fail(hash.error());
    if (*hash != sha256_before) {
        found.unchanged = false;
        found.change = "same size and modification time, but its content is no longer what was "
                       "hashed";
    }
    return std::optional<UnmovedFile>(found);
}

}  // namespace lethe::act
