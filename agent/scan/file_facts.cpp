#include "agent/scan/file_facts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::scan {

namespace {
util::TimePoint to_time(const struct statx_timestamp& ts) {
    return util::from_timespec(ts.tv_sec, ts.tv_nsec);
}
}  // namespace

FileFacts facts_from_statx(const struct ::statx& stx, std::string path) {
    FileFacts f;
    f.path = std::move(path);
    f.size = stx.stx_size;
    f.inode = stx.stx_ino;
    f.device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    f.nlink = stx.stx_nlink;
    f.uid = stx.stx_uid;
    f.gid = stx.stx_gid;
    f.mode = stx.stx_mode;
    f.mtime = to_time(stx.stx_mtime);
    f.atime = to_time(stx.stx_atime);
    f.ctime = to_time(stx.stx_ctime);
    if ((stx.stx_mask & STATX_BTIME) != 0) {
        f.btime = to_time(stx.stx_btime);
    }
    return f;
}

Result<UniqueFd> open_root(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ELOOP || errno == ENOTDIR) {
            return fail(ErrorKind::BadInput,
                        fmt::format("root {}: not a folder (a symlink is never followed)", path));
        }
        return fail(errno_error(fmt::format("open root {}", path), errno));
    }
    return fd;
}

Result<FileFacts> stat_at(int dir_fd, const std::string& name, const std::string& relative_path) {
    struct statx stx {};
    unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
    if (::statx(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, mask, &stx) != 0) {
        return fail(errno_error(fmt::format("stat {}", relative_path), errno));
    }
    return facts_from_statx(stx, relative_path);
}

Result<FileFacts> stat_beneath(int root_fd, const std::string& relative) {
    std::string parent(util::parent_of(relative));
    auto dir = util::open_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY | O_PATH);
    if (!dir) return fail(dir.error());
    return stat_at(dir->get(), std::string(util::name_of(relative)), relative);
}

}  // namespace lethe::scan
