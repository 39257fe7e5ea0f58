#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"
#include "agent/util/glob.hpp"

namespace lethe::scan {

struct WalkOptions {
    bool one_filesystem = true;            // never cross a mount point (bind mounts included)
    std::vector<util::Glob> exclude;       // relative paths to leave out, files and folders
};

// What a walk saw, beside the files it reported.
struct WalkStats {
    uint64_t files = 0;
    uint64_t bytes = 0;
    uint64_t folders = 0;
    uint64_t symlinks = 0;      // never followed, never reported as files
    uint64_t special = 0;       // sockets, fifos, devices
    uint64_t excluded = 0;
    uint64_t mount_points = 0;  // folders on another filesystem, not entered
    uint64_t errors = 0;        // unreadable or vanished entries
};

// Walks the tree below `root_fd` without recursion on the C stack, never following a
// symlink and never leaving the root: every folder is opened relative to the root with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a folder swapped for a symlink during
// the walk fails to open instead of leading elsewhere. Calls `on_file` once per regular
// file and `on_problem` for each entry it could not read (and counts it); neither stops
// the walk. Fails only when the root itself cannot be read.
[[nodiscard]] Result<WalkStats> walk(
    int root_fd, const WalkOptions& options,
    const std::function<void(const FileFacts&)>& on_file,
    const std::function<void(std::string_view path, const Error&)>& on_problem);

}  // namespace lethe::scan
