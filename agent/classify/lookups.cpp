#include "agent/classify/lookups.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

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

std::optional<util::TimePoint> CachingMarkerLookups::nearest(const std::string& folder,
                                                             const std::string& marker) {
    std::string key = folder + '\0' + marker;
    if (auto it = m_nearest.find(key); it != m_nearest.end()) return it->second;
    std::optional<util::TimePoint> when;
    std::string in_key = key;
    if (auto it = m_markers.find(in_key); it != m_markers.end()) {
        when = it->second;
    } else {
        when = marker_in(folder, marker);
        m_markers.emplace(std::move(in_key), when);
    }
    if (!when && !folder.empty()) {
        auto slash = folder.rfind('/');
        when = nearest(slash == std::string::npos ? std::string() : folder.substr(0, slash), marker);
    }
    m_nearest.emplace(std::move(key), when);
    return when;
}

std::optional<util::TimePoint> CachingMarkerLookups::marker_time(std::string_view path,
                                                                 const std::string& marker) {
    // From the file's folder up to the root; the nearest marker wins. Each folder's answer
    // is remembered; the last folder asked for each marker is answered without a search.
    auto slash = path.rfind('/');
    std::string_view folder = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    Last* last = nullptr;
    for (auto& l : m_last) {
        if (l.marker == marker) last = &l;
    }
    if (last != nullptr && last->folder == folder) return last->when;
    if (last == nullptr) last = &m_last.emplace_back(Last{marker, {}, {}});
    last->folder.assign(folder);
    last->when = nearest(last->folder, marker);
    return last->when;
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

ContentType FsLookups::content_type(const scan::FileFacts& facts) {
    return sniff_file(m_root_fd, facts);
}

}  // namespace lethe::classify
