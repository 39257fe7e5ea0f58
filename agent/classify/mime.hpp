#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"

namespace lethe::classify {

// The content type of one file as libmagic sniffs it from the file's first bytes.
struct ContentType {
    std::optional<std::string> mime;  // e.g. "application/pdf"; none when it could not be sniffed
    std::string problem;              // why it could not be sniffed (unreadable, changed, ...)
};

// How much of a file is read to sniff it: enough for every signature the libmagic database
// keeps near the start (ISO 9660 at 32 KiB, the member names of an OOXML zip).
inline constexpr size_t kSniffBytes = size_t{64} * 1024;

// The MIME type libmagic gives `prefix`, a file's first bytes. Uses a libmagic handle owned
// by the calling thread (libmagic handles are not thread-safe): the database is loaded on a
// thread's first call and freed when the thread ends. Compressed files are named as such
// (application/gzip), never decompressed. Fails when the database cannot be loaded.
[[nodiscard]] Result<std::string> sniff_mime(std::string_view prefix);

// Reads the first kSniffBytes of the regular file `facts.path` beneath `root_fd` and sniffs
// them. Never follows a symlink or leaves the root (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS); opens with O_NOATIME where the kernel permits it, so the access time
// a schedule may judge by is not refreshed; refuses anything but the regular file the walk
// saw (same device and inode), without blocking on a FIFO put in its place.
[[nodiscard]] ContentType sniff_file(int root_fd, const scan::FileFacts& facts);

}  // namespace lethe::classify
