#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"

namespace lethe::service {

// A file whose disposal failed (a `disposal-failed` ledger entry), as it was just after: it
// is kept out of later passes while it stays that version (same device, inode, size and
// mtime), so that one file's trouble is not a pass that fails, or a ledger entry written,
// at every pass. A change to the file, or `lethe state retry`, lets passes try it again.
struct FailedFile {
    std::string root;
    std::string path;  // relative to the root, exact bytes
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    util::TimePoint mtime{};
    std::string reason;
    uint64_t seq = 0;  // the ledger entry of type disposal-failed
    std::string time;  // when it failed

    [[nodiscard]] bool same_version(const scan::FileFacts& f) const {
        return f.device == device && f.inode == inode && f.size == size && f.mtime == mtime;
    }
};

// The store `state_dir/failed.json`: {"files": [...]}, one entry per root and path. Missing
// means empty; anything else that does not parse is refused (ErrorKind::Refused), naming the
// file. Written atomically (temporary file, fsync, rename, fsync of state_dir). Callers
// serialize writes with the state_dir lock (StateLock).
struct FailedFiles {
    std::vector<FailedFile> files;

    [[nodiscard]] const FailedFile* find(const std::string& root, const std::string& path) const;
};

[[nodiscard]] Result<FailedFiles> load_failed(const std::string& state_dir);
[[nodiscard]] Status save_failed(const std::string& state_dir, const FailedFiles& failed);

// Adds (or replaces) the entry of file.root/file.path.
[[nodiscard]] Status add_failed(const std::string& state_dir, FailedFile file);

// After a `disposal-failed` entry (ledger entry `seq`) for root/path, planned as device and
// inode: the file is added as it is now at its name, so that passes leave it alone while it
// stays that version. Nothing is added when no file of that device and inode is there (it
// was removed or replaced, or put back beside its name): passes consider what is there.
[[nodiscard]] Status record_failed(const std::string& state_dir, int root_fd,
                                   const std::string& root, const std::string& path,
                                   uint64_t device, uint64_t inode, const std::string& reason,
                                   uint64_t seq, const std::string& time);

// The store as a pass uses it: entries whose file is gone or is no longer the version that
// failed (and those of roots no longer configured) are dropped, and the store rewritten when
// any was; each drop is logged. `root_fd` gives a root's folder descriptor, or an error when
// the root is not configured. With `only_root`, other roots' entries are kept unchecked.
[[nodiscard]] Result<FailedFiles> load_failed_for_pass(
    const std::string& state_dir, const std::function<Result<int>(const std::string&)>& root_fd,
    const std::optional<std::string>& only_root);

}  // namespace lethe::service
