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

std::optional<util::TimePoint> FsLookups::marker_time(std::string_view path,
                                                      const std::string& marker) {
    // From the file's folder up to the root; the nearest marker wins.
    std::string folder(path);
    while (true) {
        auto slash = folder.rfind('/');
        folder.resize(slash == std::string::npos ? 0 : slash);
        if (auto when = marker_in(folder, marker)) return when;
        if (folder.empty()) return std::nullopt;
    }
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
