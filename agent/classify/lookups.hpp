#pragma once

#include <functional>
#include <unordered_map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/classify/decision.hpp"
#include "agent/util/fd.hpp"

namespace lethe::classify {

// The marker side of FileLookups with its caches, over a `marker_in` that says whether one
// folder holds the marker: each folder's answer is remembered (so the disk is asked once per
// folder and marker), and the nearest marker of the last folder asked and of its ancestors
// is kept, so that the next folder of a walk is answered from the folders it shares with the
// last one (a walker thread reports a folder's files one after another, and the folders of a
// subtree together: a folder of 10,000 files costs one search, a new folder one search per
// new level).
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
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // One level of the last folder asked: the folder made of its first `end` bytes.
    struct Level {
        size_t end = 0;
        bool known = false;                  // `nearest` has been worked out
        std::optional<util::TimePoint> nearest;  // the marker in it or the nearest above
    };
    struct PerMarker {
        std::string marker;
        bool asked = false;
        std::string folder;         // the last folder asked
        std::vector<Level> levels;  // the root, then each folder down to `folder`
        // Whether each folder holds the marker (marker_in's answers).
        std::unordered_map<std::string, std::optional<util::TimePoint>, StringHash, std::equal_to<>> in_folder;
    };
    std::optional<util::TimePoint> in_folder(PerMarker& state, std::string_view folder);
    std::vector<PerMarker> m_markers;  // one per marker name asked for
};

// FileLookups on a real root: markers are found with openat2 beneath the root (never through
// a symlink), attributes are read from the file itself without following a symlink. Marker
// results are cached per folder, so a matter of 10,000 files costs one lookup per folder.
// Content types are read through the same safe open, beneath the root, with O_NOATIME.
// Borrows `root_fd`, which must outlive it. Not thread-safe.
// `copies` (may be null, else must outlive it) is the index of lethe's encrypted copies of
// this root, by path relative to it (service/encrypted_index.hpp: copies_by_root).
using IndexedCopies = std::unordered_map<std::string, std::vector<IndexedCopy>>;

class FsLookups final : public CachingMarkerLookups {
public:
    explicit FsLookups(int root_fd, const IndexedCopies* copies = nullptr)
        : m_root_fd(root_fd), m_copies(copies) {}

    std::optional<std::string> xattr(std::string_view path, const std::string& name) override;
    // Sniffed from the file's first bytes (classify/mime.hpp: sniff_file).
    ContentType content_type(const scan::FileFacts& facts) override;
    const IndexedCopy* indexed_copy(const scan::FileFacts& facts) override;

protected:
    std::optional<util::TimePoint> marker_in(const std::string& folder,
                                             const std::string& marker) override;

private:
    int m_root_fd;
    const IndexedCopies* m_copies;
    std::string m_folder;     // the folder of the last attribute lookup, and its descriptor
    bool m_folder_known = false;
    UniqueFd m_folder_fd;
};

}  // namespace lethe::classify
