#pragma once

// Mounts that would put lethe's own files, or another root, inside a root (issue B4). The
// checks by path and by inode (config_safety) see a root and lethe's paths only where they
// are written; a bind mount of a folder BELOW state_dir (or below another root) onto a folder
// inside a root shows those files inside the root all the same. So each mount at or inside a
// root is judged by what it shows: its filesystem (device) and the folder of that filesystem
// at its top, against the same of every guarded path. Two places overlap when they are on
// the same filesystem and one folder is the other or inside it.
//
// Twice: when the config is loaded (config_safety: refused, exit 2), and while a walk enters
// each mount (MountGuard: that folder is not walked, the pass exits 1), because mounts can
// change after the config was checked.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/service/config_safety.hpp"
#include "agent/util/error.hpp"
#include "agent/util/mountinfo.hpp"

namespace lethe::service {

// The refusals of mounts, given the guarded paths (state_dir first, see guarded_paths) and
// the mount table: each mount at or inside a root that shows another guarded path (or a
// folder holding one, or inside one), and each mount at or inside state_dir that shows a
// root. `already(guarded, root)` (indexes into `guarded`) says a pair the checks by path and
// inode refused already; it is not said again.
[[nodiscard]] std::vector<ConfigRefusal> mount_refusals(
    const std::vector<GuardedPath>& guarded, const std::vector<util::MountEntry>& mounts,
    const std::function<bool(size_t guarded, size_t root)>& already);

// The check of a walk: whether a mount the walk is entering shows a guarded path. Thread
// safe (walker threads call it concurrently). The guarded paths are placed once, when it is
// made; the mount table is read again whenever a folder's mount is not in it (a mount made
// since).
class MountGuard {
public:
    // Reads the mount table; fails (Refused) when it cannot be read: nothing is walked
    // rather than a mount missed.
    [[nodiscard]] static Result<std::unique_ptr<MountGuard>> make(
        std::vector<GuardedPath> guarded);

    // Why the folder open at `folder_fd`, the top of a mount met in the walk of root
    // `root_name` (at `path` in it), must not be walked; nullopt when it may. The root's own
    // guarded entry is not compared with it. A folder whose mount cannot be found (no
    // STATX_MNT_ID, a table that cannot be read) is refused.
    [[nodiscard]] std::optional<std::string> refuse(int folder_fd, const std::string& root_name);

private:
    struct Entry {
        GuardedPath path;
        std::optional<util::FsPlace> place;  // none when no mount holds it
    };
    MountGuard(std::vector<Entry> guarded, std::vector<util::MountEntry> mounts)
        : m_guarded(std::move(guarded)), m_mounts(std::move(mounts)) {}

    [[nodiscard]] std::optional<util::MountEntry> find_mount(uint64_t id, std::string& why);

    const std::vector<Entry> m_guarded;
    std::mutex m_mutex;
    std::vector<util::MountEntry> m_mounts;  // guarded by m_mutex
};

}  // namespace lethe::service
