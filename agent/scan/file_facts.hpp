#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"
#include "agent/util/time.hpp"

struct statx;

namespace lethe::scan {

// What the walk learned about one regular file, from one statx on it (never through a
// symlink). `path` is relative to the root, '/'-separated, exact bytes (may be invalid UTF-8).
struct FileFacts {
    std::string path;
    uint64_t size = 0;
    uint64_t inode = 0;
    uint64_t device = 0;  // makedev(major, minor) of the filesystem
    uint32_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    mode_t mode = 0;
    util::TimePoint mtime{};
    util::TimePoint atime{};
    util::TimePoint ctime{};
    std::optional<util::TimePoint> btime;  // when the filesystem records it

    // Same file, unchanged since it was planned: device, inode, size and mtime all equal.
    [[nodiscard]] bool same_identity(const FileFacts& other) const {
        return device == other.device && inode == other.inode && size == other.size &&
               mtime == other.mtime;
    }
};

// The facts of a statx result (STATX_BASIC_STATS | STATX_BTIME) for the file at `path`.
[[nodiscard]] FileFacts facts_from_statx(const struct ::statx& stx, std::string path);

// Opens a root folder by absolute path; refuses a symlink or a non-folder.
[[nodiscard]] Result<UniqueFd> open_root(const std::string& path);

// statx of `relative` below `root_fd`, never following a symlink anywhere on the way
// (the parent is opened with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
[[nodiscard]] Result<FileFacts> stat_beneath(int root_fd, const std::string& relative);

// statx of `name` in the open folder `dir_fd`, without following it if it is a symlink.
[[nodiscard]] Result<FileFacts> stat_at(int dir_fd, const std::string& name,
                                        const std::string& relative_path);

}  // namespace lethe::scan
