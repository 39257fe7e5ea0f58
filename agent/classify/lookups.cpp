#include "agent/classify/lookups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::classify {

std::optional<util::TimePoint> FsLookups::marker_in(const std::string& folder,
                                                    const std::string& marker) {
    std::string key = folder + '\0' + marker;
    if (auto it = m_markers.find(key); it != m_markers.end()) return it->second;
    std::optional<util::TimePoint> when;
    std::string relative = folder.empty() ? marker : folder + "/" + marker;
    if (auto fd = util::open_beneath(m_root_fd, relative, O_PATH)) {
        struct statx st {};
        if (::statx(fd->get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MTIME | STATX_TYPE, &st) == 0 &&
            S_ISREG(st.stx_mode)) {
            when = util::from_timespec(st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
        }
    }
    m_markers.emplace(std::move(key), when);
    return when;
}

std::optional<util::TimePoint> FsLookups::nearest(const std::string& folder,
                                                  const std::string& marker) {
    std::string key = folder + '\0' + marker;
    if (auto it = m_nearest.find(key); it != m_nearest.end()) return it->second;
    std::optional<util::TimePoint> when = marker_in(folder, marker);
    if (!when && !folder.empty()) {
        auto slash = folder.rfind('/');
        when = nearest(slash == std::string::npos ? std::string() : folder.substr(0, slash), marker);
    }
    m_nearest.emplace(std::move(key), when);
    return when;
}

std::optional<util::TimePoint> FsLookups::marker_time(std::string_view path,
                                                      const std::string& marker) {
    // From the file's folder up to the root; the nearest marker wins. Each folder's answer
    // is remembered, so the files of one folder cost one map lookup each.
    auto slash = path.rfind('/');
    return nearest(std::string(slash == std::string_view::npos ? std::string_view() : path.substr(0, slash)),
                   marker);
}

std::optional<std::string> FsLookups::xattr(std::string_view path, const std::string& name) {
    auto fd = util::open_beneath(m_root_fd, path, O_PATH);
    if (!fd) return std::nullopt;
    // An O_PATH descriptor cannot be read by fgetxattr; its /proc magic link names exactly
    // this inode, so no path is resolved again.
    std::string proc = fmt::format("/proc/self/fd/{}", fd->get());
    char buffer[256];
    ssize_t n = ::getxattr(proc.c_str(), name.c_str(), buffer, sizeof buffer);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
}

}  // namespace lethe::classify
