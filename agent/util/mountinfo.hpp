#pragma once

// The kernel's table of mounts as this process sees them (/proc/self/mountinfo), and where a
// path really is: on which filesystem and at which folder of it, whatever mount shows it.
// A bind mount shows a folder of a filesystem at a second place; two paths are the same
// files when they are the same folder of the same filesystem, however they are reached.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"

namespace lethe::util {

// One line of mountinfo (see proc(5)), with the octal escapes (\040 for a space, \011, \012,
// \134) of its paths undone.
struct MountEntry {
    uint64_t id = 0;          // the mount id (statx STATX_MNT_ID gives a folder's)
    uint64_t parent = 0;      // the id of the mount it is mounted on
    unsigned major = 0;       // the filesystem's device
    unsigned minor = 0;
    std::string root;         // the folder of that filesystem shown at mount_point
    std::string mount_point;  // where, as this process sees it (no symlinks)
    std::string fs_type;
    std::string source;
};

// A folder or file of one filesystem: its device and its path from that filesystem's top.
struct FsPlace {
    unsigned major = 0;
    unsigned minor = 0;
    std::string path;  // absolute within the filesystem, e.g. "/var/lib/lethe/keys"

    [[nodiscard]] std::string device() const;  // "254:0"
};

// Parses the text of a mountinfo file; a line that does not have the format fails the whole
// table (BadInput, naming the line): a table read wrongly could hide a mount.
[[nodiscard]] Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text);

// Reads and parses /proc/self/mountinfo (or `path`). Fails (Io) when it cannot be read.
[[nodiscard]] Result<std::vector<MountEntry>> read_mountinfo(
    const std::string& path = "/proc/self/mountinfo");

// Whether `inner` is `outer` or inside it, by whole components ("/a/bc" is not in "/a/b").
// Both absolute and normalized.
[[nodiscard]] bool path_within(std::string_view inner, std::string_view outer);

// The mount through which `real_path` (absolute, symlinks resolved) is reached: the one with
// the longest mount point that holds it, the topmost where mounts are stacked. Null when
// none holds it (a table without `/`).
[[nodiscard]] const MountEntry* mount_showing(const std::vector<MountEntry>& mounts,
                                              std::string_view real_path);

// Where `real_path` is: the filesystem and folder of the mount that shows it.
[[nodiscard]] std::optional<FsPlace> fs_place(const std::vector<MountEntry>& mounts,
                                              std::string_view real_path);

// The folder a mount shows, as an FsPlace.
[[nodiscard]] FsPlace fs_place(const MountEntry& mount);

// Whether two places overlap: the same filesystem, and one path is the other or inside it.
[[nodiscard]] bool overlap(const FsPlace& a, const FsPlace& b);

}  // namespace lethe::util
