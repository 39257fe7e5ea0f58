#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"
#include "agent/util/glob.hpp"

namespace lethe::scan {

// What a walk saw, beside the files it reported. Every entry the walk met is counted in
// exactly one of files, folders, symlinks, special, excluded, mount_points, unreadable,
// vanished; names are counted again in non_utf8_names / newline_names when odd.
struct WalkStats {
    uint64_t files = 0;
    uint64_t bytes = 0;
    uint64_t folders = 0;       // folders listed (the root included)
    uint64_t symlinks = 0;      // never followed, never reported as files
    uint64_t special = 0;       // sockets, fifos, devices: sum of the three below
    uint64_t sockets = 0;
    uint64_t fifos = 0;
    uint64_t devices = 0;       // block and character devices
    uint64_t excluded = 0;      // files and folders left out by an `exclude` glob
    uint64_t mount_points = 0;  // with one_filesystem: not entered; without: entered
    // Of mount_points (and the root, when it is one): not entered, check_mount refused them.
    uint64_t refused_mounts = 0;
    uint64_t unreadable = 0;    // folders or files that could not be opened, listed or stat'ed
    uint64_t vanished = 0;      // removed, or replaced by a symlink/non-folder, mid-walk
    uint64_t errors = 0;        // unreadable + vanished
    uint64_t non_utf8_names = 0;
    uint64_t newline_names = 0;
    uint64_t largest_folder = 0;  // most entries met in one folder

    void add(const WalkStats& other);
};

// lethe's disposal folder (see act/disposal.hpp), at the top of a root and of each other
// filesystem or btrfs subvolume inside it: every walk leaves it out there (and only there),
// and only when it is lethe's (a folder of mode 0700 owned by the walking process's
// effective user); one of that name that is not is walked like any other folder.
inline constexpr std::string_view kDisposalFolder = ".lethe-disposal";

struct WalkOptions {
    bool one_filesystem = true;            // never cross a mount point (bind mounts included)
    std::vector<util::Glob> exclude;       // relative paths to leave out, files and folders
    unsigned threads = 0;                  // walker threads; 0 = one per CPU, 2 to 4
    // Folders kept open for their subfolders to be opened from; beyond it a folder is
    // reopened from its nearest open ancestor (still RESOLVE_BENEATH | NO_SYMLINKS, one
    // component at a time in the kernel). 0 = a quarter of RLIMIT_NOFILE, at most 4096.
    unsigned max_open_folders = 0;
    // Called on the caller's thread after each batch of results, with the totals so far.
    std::function<void(const WalkStats&)> on_progress;
    // When set and true (SIGTERM; may be set from another thread), the walk stops: every
    // walker checks it before each folder and between two chunks of a long folder listing
    // (one atomic load), lists nothing more, and the walk fails with ErrorKind::Stopped.
    // Files already reported stay reported; the caller must treat what it has as partial.
    // Not owned; must outlive the walk.
    const std::atomic<bool>* stop = nullptr;
    // When set, called before the walk lists a folder that is the top of a mount (statx
    // STATX_ATTR_MOUNT_ROOT; where the kernel does not say, a device that is not its
    // parent's): each mount it enters without one_filesystem, and the root itself when it is
    // one. Called on walker threads, concurrently: must be thread safe. With the folder open
    // and its path relative to the root; a reason returned means nothing below it is
    // listed: it is counted in refused_mounts and given to on_problem (ErrorKind::Refused).
    std::function<std::optional<std::string>(int folder_fd, std::string_view path)>
        check_mount;
};

// Walks the tree below `root_fd` with a small pool of threads, never following a symlink
// and never leaving the root.
//
// Safety: each folder is opened relative to its already-open parent with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, O_NOFOLLOW |
// O_DIRECTORY) (+ RESOLVE_NO_XDEV with one_filesystem), so a folder swapped for a symlink
// between being listed and being opened fails to open (counted as vanished) instead of
// leading elsewhere; entries are stat'ed with statx(AT_SYMLINK_NOFOLLOW) on the open parent.
// A folder renamed away while the walk holds it open keeps being read from its descriptor:
// its files are reported under the path they had when it was opened. Anything that acts on
// a reported file must re-resolve it from the root (stat_beneath), as `lethe run` does.
//
// Memory and threads: no recursion on the C stack; results stream to the caller through a
// bounded queue, so memory grows with the number of folders waiting to be listed, never
// with the number of files (a folder with millions of entries is read in fixed-size
// chunks). `on_file` and `on_problem` are always called on the caller's thread, one at a
// time, in no particular order; they need not be thread safe. If either throws, the walk
// stops, its threads are joined and the exception propagates.
//
// Calls `on_file` once per regular file and `on_problem` for each entry it could not read
// or that vanished (and counts it); neither stops the walk. Fails only when the root itself
// cannot be listed, or (ErrorKind::Stopped) when options.stop asked it to stop.
[[nodiscard]] Result<WalkStats> walk(
    int root_fd, const WalkOptions& options,
    const std::function<void(const FileFacts&)>& on_file,
    const std::function<void(std::string_view path, const Error&)>& on_problem);

// Where one walker thread of walk_concurrently() puts its files. Each walker thread has
// its own sink and is the only thread that calls it, so file() needs no lock; flush() is
// where a sink hands what it holds to shared state (under the caller's lock), called when
// its thread runs out of work and before it ends.
class FileSink {
public:
    virtual ~FileSink() = default;
    virtual void file(const FileFacts& facts) = 0;
    virtual void flush() = 0;
};

// Like walk(), but each file goes to the sink of the walker thread that found it, so
// per-file work (classification) runs on all walker threads and shared state is touched
// once per batch, not once per file. `make_sink` is called on the caller's thread, once
// per walker thread, before the walk starts. `on_problem` and `on_progress` are still
// called on the caller's thread. If a sink throws, the walk stops and the first exception
// is rethrown on the caller's thread (after every thread has ended).
[[nodiscard]] Result<WalkStats> walk_concurrently(
    int root_fd, const WalkOptions& options,
    const std::function<std::unique_ptr<FileSink>()>& make_sink,
    const std::function<void(std::string_view path, const Error&)>& on_problem);

#ifdef LETHE_TEST_HOOKS
// Test-only: called by a walker thread after it has listed a folder and before it opens the
// subfolder `relative` from it, so a test can swap that subfolder for a symlink exactly in
// the window the walk must survive. Set before a walk starts; nullptr to clear.
void set_before_open_folder_hook(std::function<void(std::string_view relative)> hook);
#endif

}  // namespace lethe::scan
