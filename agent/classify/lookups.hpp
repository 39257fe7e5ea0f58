#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/classify/decision.hpp"
#include "agent/util/fd.hpp"

namespace lethe::classify {

// FileLookups on a real root: markers are found with openat2 beneath the root (never through
// a symlink), attributes are read from the file itself without following a symlink. Marker
// results are cached per folder, so a matter of 10,000 files costs one lookup per folder.
// Content types are read through the same safe open, beneath the root, with O_NOATIME.
// Borrows `root_fd`, which must outlive it. Not thread-safe.
class FsLookups final : public FileLookups {
public:
    explicit FsLookups(int root_fd) : m_root_fd(root_fd) {}

    std::optional<util::TimePoint> marker_time(std::string_view path,
                                               const std::string& marker) override;
    std::optional<std::string> xattr(std::string_view path, const std::string& name) override;
    // Sniffed from the file's first bytes (classify/mime.hpp: sniff_file).
    ContentType content_type(const scan::FileFacts& facts) override;

private:
    std::optional<util::TimePoint> marker_in(const std::string& folder, const std::string& marker);
    std::optional<util::TimePoint> nearest(const std::string& folder, const std::string& marker);

    int m_root_fd;
    std::string m_folder;     // the folder of the last attribute lookup, and its descriptor
    bool m_folder_known = false;
    UniqueFd m_folder_fd;
    std::map<std::string, std::optional<util::TimePoint>, std::less<>> m_markers;  // in the folder
    std::map<std::string, std::optional<util::TimePoint>, std::less<>> m_nearest;  // at or above
};

}  // namespace lethe::classify
