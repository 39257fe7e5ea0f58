#pragma once

#include <optional>
#include <string>

#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

namespace lethe::act {

// A planned file found at its own name by the recovery of an interrupted disposal whose
// entry is not in the disposal folder: the interrupted pass never moved it, so nothing of it
// was overwritten or removed (every destructive step happens in the disposal folder).
struct UnmovedFile {
    // Same device, inode, size and modification time as planned, and the same SHA-256 as
    // hashed before its intent was recorded (or no hash was taken yet).
    bool unchanged = false;
    // How it differs from what was checked, for the record ("" when unchanged), e.g.
    // "now 41 bytes (was 16), modified 2026-12-07T22:50:01Z".
    std::string change;
};

// Looks at `planned.path` below `root_fd` (never through a symlink): nullopt when no entry
// there is the inode `planned` names (gone, replaced, or not readable as that inode), else
// whether it is unchanged. Its content is hashed (ErrorKind::Stopped when `stop` asks) only
// when its size and mtime are still those planned and `sha256_before` is not empty. Nothing
// is changed.
[[nodiscard]] Result<std::optional<UnmovedFile>> check_unmoved(int root_fd,
                                                                const scan::FileFacts& planned,
                                                                const std::string& sha256_before,
                                                                const util::StopToken* stop);

}  // namespace lethe::act
