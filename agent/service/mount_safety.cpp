#include "agent/service/mount_safety.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace lethe::service {

namespace {

// What a mount shows, in the words of the guarded path it overlaps: "/var/lib/lethe/keys
// (folder /keys of device 0:39, tmpfs), inside state_dir /var/lib/lethe"; or, when it shows
// a folder above the guarded path, "folder / of device 8:1 (/dev/sda1), which holds ...".
std::string shown(const util::MountEntry& m, const util::FsPlace& guarded_place,
                  const GuardedPath& guarded) {
    const util::FsPlace place = util::fs_place(m);
    const std::string folder =
        fmt::format("folder {} of device {}, {}", place.path, place.device(), m.source);
    if (!util::path_within(place.path, guarded_place.path)) {
        return fmt::format("{}, which holds {} {}", folder, guarded.setting, guarded.path);
    }
    std::string_view below = std::string_view(place.path).substr(
        guarded_place.path == "/" ? 0 : guarded_place.path.size());
    const bool same = below.empty() || below == "/";
    std::string real = guarded.real;
    if (!same) real += real == "/" ? std::string(below.substr(1)) : std::string(below);
    return fmt::format("{} ({}), {} {} {}", real, folder, same ? "which is" : "inside",
                       guarded.setting, guarded.path);
}

std::vector<std::optional<util::FsPlace>> places_of(const std::vector<GuardedPath>& guarded,
                                                    const std::vector<util::MountEntry>& mounts) {
    std::vector<std::optional<util::FsPlace>> out;
    out.reserve(guarded.size());
    for (const auto& g : guarded) out.push_back(util::fs_place(mounts, g.real));
    return out;
}

// The mounts at or inside `folder` (a real path); none for `/`, which is refused apart.
std::vector<const util::MountEntry*> mounts_in(const std::vector<util::MountEntry>& mounts,
                                               const std::string& folder) {
    std::vector<const util::MountEntry*> out;
    if (folder == "/") return out;
    for (const auto& m : mounts) {
        if (util::path_within(m.mount_point, folder)) out.push_back(&m);
    }
    return out;
}

}  // namespace

std::vector<ConfigRefusal> mount_refusals(
    const std::vector<GuardedPath>& guarded, const std::vector<util::MountEntry>& mounts,
    const std::function<bool(size_t guarded, size_t root)>& already) {
    std::vector<ConfigRefusal> out;
    const auto places = places_of(guarded, mounts);
    for (size_t r = 0; r < guarded.size(); ++r) {
        const GuardedPath& root = guarded[r];
        if (root.root.empty()) continue;
        for (const auto* m : mounts_in(mounts, root.real)) {
            for (size_t g = 0; g < guarded.size(); ++g) {
                if (g == r || !places[g] || !util::overlap(util::fs_place(*m), *places[g]) ||
                    already(g, r)) {
                    continue;
                }
                out.push_back({root.setting, fmt::format(
                    "the mount at {} inside root '{}' {} shows {}: {}; unmount it, or mount it "
                    "outside every root",
                    m->mount_point, root.root, root.path, shown(*m, *places[g], guarded[g]),
                    guarded[g].harm)});
            }
        }
    }
    if (guarded.empty() || guarded.front().setting != "state_dir") return out;
    const GuardedPath& state = guarded.front();
    for (const auto* m : mounts_in(mounts, state.real)) {
        for (size_t r = 0; r < guarded.size(); ++r) {
            if (guarded[r].root.empty() || !places[r] ||
                !util::overlap(util::fs_place(*m), *places[r]) || already(0, r)) {
                continue;
            }
            out.push_back({"state_dir", fmt::format(
                "the mount at {} inside state_dir {} shows {}: lethe's private state and a "
                "share would be the same files; unmount it, or mount it outside state_dir",
                m->mount_point, state.path, shown(*m, *places[r], guarded[r]))});
        }
    }
    return out;
}

Result<std::unique_ptr<MountGuard>> MountGuard::make(std::vector<GuardedPath> guarded) {
    auto mounts = util::read_mountinfo();
    if (!mounts) {
        return fail(ErrorKind::Refused,
                    fmt::format("cannot read the mount table ({}): lethe cannot tell whether a "
                                "mount inside a root shows its own files or another root, so "
                                "nothing is walked; make /proc/self/mountinfo readable",
                                mounts.error().message()));
    }
    auto places = places_of(guarded, *mounts);
    std::vector<Entry> entries;
    entries.reserve(guarded.size());
    for (size_t i = 0; i < guarded.size(); ++i) {
        entries.push_back({std::move(guarded[i]), std::move(places[i])});
    }
    return std::unique_ptr<MountGuard>(new MountGuard(std::move(entries), std::move(*mounts)));
}

std::optional<util::MountEntry> MountGuard::find_mount(uint64_t id, std::string& why) {
    std::lock_guard lock(m_mutex);
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (const auto& m : m_mounts) {
            if (m.id == id) return m;
        }
        if (attempt == 1) break;
        // Mounted since the table was read: read it again.
        auto mounts = util::read_mountinfo();
        if (!mounts) {
            why = fmt::format("cannot read the mount table ({})", mounts.error().message());
            return std::nullopt;
        }
        m_mounts = std::move(*mounts);
    }
    why = fmt::format("its mount (id {}) is not in the mount table", id);
    return std::nullopt;
}

std::optional<std::string> MountGuard::refuse(int folder_fd, const std::string& root_name) {
    struct statx stx {};
    const int rc = ::statx(folder_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx);
    const int err = errno;
    if (rc != 0 || (stx.stx_mask & STATX_MNT_ID) == 0) {
        return fmt::format("a mount lethe cannot identify ({}): it could show lethe's own files "
                           "or another root; not walked",
                           rc != 0 ? std::string(std::strerror(err))
                                   : std::string("the kernel does not give its mount id"));
    }
    std::string why;
    auto mount = find_mount(stx.stx_mnt_id, why);
    if (!mount) {
        return fmt::format("a mount lethe cannot identify ({}): it could show lethe's own files "
                           "or another root; not walked",
                           why);
    }
    for (const auto& g : m_guarded) {
        if (g.path.root == root_name || !g.place ||
            !util::overlap(util::fs_place(*mount), *g.place)) {
            continue;
        }
        return fmt::format("the mount at {} shows {}: {}; not walked: unmount it, or mount it "
                           "outside every root",
                           mount->mount_point, shown(*mount, *g.place, g.path), g.path.harm);
    }
    return std::nullopt;
}

}  // namespace lethe::service
