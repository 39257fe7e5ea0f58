#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::util {

// Writes all of `data` to `fd`, retrying short writes and EINTR.
[[nodiscard]] Status write_all(int fd, std::string_view data, std::string_view what);

// Reads a whole regular file (no symlink followed at the last component).
[[nodiscard]] Result<std::string> read_file(const std::string& path);

// Replaces `path` with `data` durably: writes a temporary file in the same folder, fsyncs
// it, renames it over `path` and fsyncs the folder. A crash leaves either the old or the new
// content, never a mix. The file gets permissions `mode`.
[[nodiscard]] Status write_file_atomic(const std::string& path, std::string_view data,
                                       mode_t mode);

// Like write_file_atomic, but refuses to replace an existing file (O_EXCL semantics on the
// final name, via link()).
[[nodiscard]] Status create_file_exclusive(const std::string& path, std::string_view data,
                                           mode_t mode);

// fsyncs the folder that holds directory entries, so renames and unlinks in it are durable.
[[nodiscard]] Status fsync_dir(const std::string& dir_path);
[[nodiscard]] Status fsync_fd(int fd, std::string_view what);

// Creates `path` and its missing parents with `mode`; an existing folder is accepted, a
// symlink or a non-folder at `path` is refused.
[[nodiscard]] Status make_dirs(const std::string& path, mode_t mode);

// Opens `relative` below the folder `dir_fd` with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): fails with ELOOP/EXDEV rather than follow a
// symlink or leave the folder. `flags` always gain O_CLOEXEC | O_NOFOLLOW. With
// `same_mount`, crossing a mount point (bind mounts included) fails with EXDEV. A path of
// PATH_MAX bytes or more (a file hundreds of folders deep) is opened in steps of whole
// components from `dir_fd`, each under the same rules, so the guarantees hold at any depth;
// a ".." that would climb above the start of its step fails there (EXDEV).
[[nodiscard]] Result<UniqueFd> open_beneath(int dir_fd, std::string_view relative, int flags,
                                            mode_t mode = 0, bool same_mount = false);

// The value of the extended attribute `attribute` of the entry `name` in the open folder
// `dir_fd` (O_PATH is enough), never following `name` if it is a symlink; nullopt when the
// entry or the attribute does not exist, or the value is longer than `max_size`. `name` is
// one path component. Uses getxattrat(2) (Linux 6.13) where the kernel has it, else
// lgetxattr(2) through the folder's /proc/self/fd magic link; `force_proc` takes the
// second way on any kernel (for tests).
[[nodiscard]] std::optional<std::string> read_xattr_at(int dir_fd, std::string_view name,
                                                       const std::string& attribute,
                                                       size_t max_size = 255,
                                                       bool force_proc = false);

// The folder holding `path` ("." for a bare name, "/" for a top-level entry).
std::string folder_of(const std::string& path);

// Folder part and last component of a relative path with '/' separators.
std::string_view parent_of(std::string_view path);
std::string_view name_of(std::string_view path);

// A short random hex string from the kernel's CSPRNG, for temporary names.
std::string random_suffix(size_t bytes = 8);

}  // namespace lethe::util
