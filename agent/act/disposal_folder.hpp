#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::act {

// lethe's disposal folder (kDisposalFolder in disposal.hpp) of one filesystem inside a root,
// open and checked: a folder (never a symlink), owned by lethe's effective user, mode
// exactly 0700, on the expected device. `path` is where it is below the root.
struct DisposalFolder {
    UniqueFd fd;
    std::string path;
};

// Why a disposal folder could not be used, for the caller to report once per folder.
struct UnusableFolder {
    std::string path;      // below the root
    std::string why;       // "is not lethe's folder: it has mode 0755, not 0700", ...
    bool foreign = false;  // it exists and is not lethe's (not merely missing or unwritable)
};

// The disposal folder for a file on `device` at `planned_path` below `root_fd`: in the top
// folder of that filesystem inside the root (the root itself, or the deepest folder on the
// file's path whose device differs from its parent's: a mount or a btrfs subvolume).
// Created (mkdirat 0700, the parent fsynced) when `create` and missing. Refused
// (ErrorKind::Refused) with the folder's path and what is wrong with it.
// When refused and `unusable` is given, it says which folder and why.
[[nodiscard]] Result<DisposalFolder> find_disposal_folder(int root_fd, std::string_view planned_path,
                                                          dev_t device, bool create,
                                                          UnusableFolder* unusable = nullptr);

// Opens the disposal folder recorded as `path` below `root_fd` (never created), checked as
// above; `device` 0 accepts any device.
[[nodiscard]] Result<UniqueFd> open_disposal_folder(int root_fd, const std::string& path,
                                                    dev_t device);

// Whether the disposal folder recorded as `path` below `root_fd`, which lethe holds open as
// `dir_fd`, has been moved (renamed, or its name taken by a symlink or another folder) since
// it was opened: nullopt when `path` still leads to that folder, else where it is now as
// the kernel knows it (an absolute path), or what is known when that cannot be told.
[[nodiscard]] Result<std::optional<std::string>> moved_disposal_folder(int root_fd,
                                                                       const std::string& path,
                                                                       int dir_fd);

// The names in the open folder `dir_fd` (not "." and ".."), sorted; `dir_fd` is not moved.
[[nodiscard]] Result<std::vector<std::string>> entries_in(int dir_fd);

// Moves `from_name` in `from_dir` back to `to_name` in `to_dir` without ever replacing an
// entry there (RENAME_NOREPLACE): when the name is taken, to NAME.lethe-returned-XXXX
// beside it. Returns the name it got; an error when neither rename worked (the entry is
// then still at `from_name`).
[[nodiscard]] Result<std::string> return_entry(int from_dir, const std::string& from_name,
                                               int to_dir, const std::string& to_name);

}  // namespace lethe::act
