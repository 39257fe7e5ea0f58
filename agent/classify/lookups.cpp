#include "agent/classify/lookups.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::classify {

std::optional<util::TimePoint> FsLookups::marker_in(const std::string& folder,
                                                    const std::string& marker) {
    std::optional<util::TimePoint> when;
    std::string relative = folder.empty() ? marker : folder + "/" + marker;
    if (auto fd = util::open_beneath(m_root_fd, relative, O_PATH)) {
        struct statx st {};
        if (::statx(fd->get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MTIME | STATX_TYPE, &st) == 0 &&
            S_ISREG(st.stx_mode)) {
            when = util::from_timespec(st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
        }
    }
    return when;
}

std::optional<util::TimePoint> CachingMarkerLookups::in_folder(PerMarker& state,
                                                                std::string_view folder) {
    if (auto it = state.in_folder.find(folder); it != state.in_folder.end()) return it->second;
    std::string key(folder);
    auto when = marker_in(key, state.marker);
    state.in_folder.emplace(std::move(key), when);
    return when;
}

std::optional<util::TimePoint> CachingMarkerLookups::marker_time(std::string_view path,
                                                                 const std::string& marker) {
    // From the file's folder up to the root; the nearest marker wins.
    const void* slash = path.empty() ? nullptr : ::memrchr(path.data(), '/', path.size());
    std::string_view folder =
        slash == nullptr ? std::string_view() : path.substr(0, static_cast<size_t>(static_cast<const char*>(slash) - path.data()));
    PerMarker* state = nullptr;
    for (auto& m : m_markers) {
        if (m.marker == marker) {
            state = &m;
            break;
        }
    }
    if (state == nullptr) {
        state = &m_markers.emplace_back();
        state->marker = marker;
    }
    std::vector<Level>& levels = state->levels;
    if (state->asked && folder == state->folder) return levels.back().nearest;

    // Keep the levels the new folder shares with the last one (the root at least), then add
    // its own, not yet worked out.
    size_t common = 0;
    if (state->asked) {
        size_t limit = std::min(folder.size(), state->folder.size());
        while (common < limit && folder[common] == state->folder[common]) ++common;
    }
    size_t keep = 1;
    while (keep < levels.size() && levels[keep].end <= common &&
           (levels[keep].end == folder.size() || folder[levels[keep].end] == '/')) {
        ++keep;
    }
    levels.resize(state->asked ? keep : 0);
    if (levels.empty()) levels.push_back(Level{});
    for (size_t end = levels.back().end; end < folder.size();) {
        size_t next = folder.find('/', end + (levels.size() == 1 ? 0 : 1));
        end = next == std::string_view::npos ? folder.size() : next;
        levels.push_back(Level{end, false, std::nullopt});
    }
    state->folder.assign(folder);
    state->asked = true;

    // Upwards until a folder holds the marker or its answer is known (each folder's own
    // answer comes from the disk once), then down again: every level on the way has the
    // answer of the one above it.
    size_t i = levels.size() - 1;
    while (!levels[i].known) {
        auto here = in_folder(*state, folder.substr(0, levels[i].end));
        if (here || i == 0) {
            levels[i].known = true;
            levels[i].nearest = here;
            break;
        }
        --i;
    }
    for (size_t j = i + 1; j < levels.size(); ++j) {
        levels[j].known = true;
        levels[j].nearest = levels[j - 1].nearest;
    }
    return levels.back().nearest;
}

std::optional<std::string> FsLookups::xattr(std::string_view path, const std::string& name) {
    // The files of one folder reach a walker thread one after another, so the folder is
    // opened once (O_PATH, beneath the root, no symlinks) and each file costs one
    // attribute read relative to it that never follows the file's name if it is a symlink,
    // and resolves nothing above the folder again.
    std::string_view folder = util::parent_of(path);
    std::string_view leaf = util::name_of(path);
    if (!m_folder_known || folder != m_folder) {
        m_folder.assign(folder);
        m_folder_known = true;
        m_folder_fd.reset();
        if (!folder.empty()) {
            if (auto fd = util::open_beneath(m_root_fd, folder, O_PATH | O_DIRECTORY)) {
                m_folder_fd = std::move(*fd);
            }
        }
    }
    int dir_fd = folder.empty() ? m_root_fd : m_folder_fd.get();
    if (dir_fd < 0) return std::nullopt;
    return util::read_xattr_at(dir_fd, leaf, name);
}

const IndexedCopy* FsLookups::indexed_copy(const scan::FileFacts& facts) {
    if (m_copies == nullptr) return nullptr;
    auto it = m_copies->find(facts.path);
    if (it == m_copies->end()) return nullptr;
    // The latest entry first: a path may have had several copies, all but one gone.
    for (auto e = it->second.rbegin(); e != it->second.rend(); ++e) {
        if (e->is(facts)) return &*e;
    }
    return nullptr;
}

ContentType FsLookups::content_type(const scan::FileFacts& facts) {
    return sniff_file(m_root_fd, facts);
}

}  // namespace lethe::classify
