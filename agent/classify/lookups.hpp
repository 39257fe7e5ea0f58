#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/classify/decision.hpp"
#include "agent/util/fd.hpp"

namespace lethe::classify {

// The marker side of FileLookups with its caches, over a `marker_in` that says whether one
// folder holds the marker: each folder's answer is remembered, and the last folder asked is
// answered again without building a key or searching a map (a walker thread reports a
// folder's files one after another, so a folder of 10,000 files costs one search).
class CachingMarkerLookups : public FileLookups {
public:
    std::optional<util::TimePoint> marker_time(std::string_view path,
                                               const std::string& marker) final;

protected:
    // The mtime of the regular file `marker` in `folder` (relative to the root, "" for the
    // root itself); none when there is none.
    virtual std::optional<util::TimePoint> marker_in(const std::string& folder,
                                                     const std::string& marker) = 0;

private:
    std::optional<util::TimePoint> nearest(const std::string& folder, const std::string& marker);

    struct Last {
        std::string marker;
        std::string folder;
        std::optional<util::TimePoint> when;
    };
    std::vector<Last> m_last;  // one per marker name asked for
    std::map<std::string, std::optional<util::TimePoint>, std::less<>> m_markers;  // in the folder
    std::map<std::string, std::optional<util::TimePoint>, std::less<>> m_nearest;  // at or above
};

// FileLookups on a real root: markers are found with openat2 beneath the root (never through
// a symlink), attributes are read from the file itself without following a symlink. Marker
// results are cached per folder, so a matter of 10,000 files costs one lookup per folder.
// Content types are read through the same safe open, beneath the root, with O_NOATIME.
// Borrows `root_fd`, which must outlive it. Not thread-safe.
class FsLookups final : public CachingMarkerLookups {
public:
    explicit FsLookups(int root_fd) : m_root_fd(root_fd) {}

    std::optional<std::string> xattr(std::string_view path, const std::string& name) override;
    // Sniffed from the file's first bytes (classify/mime.hpp: sniff_file).
    ContentType content_type(const scan::FileFacts& facts) override;

protected:
    std::optional<util::TimePoint> marker_in(const std::string& folder,
                                             const std::string& marker) override;

private:
    int m_root_fd;
    std::string m_folder;     // the folder of the last attribute lookup, and its descriptor
    bool m_folder_known = false;
    UniqueFd m_folder_fd;
};

}  // namespace lethe::classify
