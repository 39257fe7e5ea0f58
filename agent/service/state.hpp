#pragma once

#include <string>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::service {

// An exclusive flock on `state_dir/lock`, held for the life of the object: two passes never
// run at once. Move-only.
class StateLock {
public:
    // Creates state_dir (mode 0700) if needed. Fails with Refused when another lethe holds it,
    // or when state_dir is of a newer format than this lethe knows (check_state_format);
    // otherwise records this lethe's format in it (write_state_format).
    [[nodiscard]] static Result<StateLock> acquire(const std::string& state_dir);

private:
    explicit StateLock(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

// The layout of state_dir this lethe reads and writes, recorded in `state_dir/format` as
// {"format": 1, "written_by": "lethe 0.2.0"}. A state_dir without that file was written by
// lethe 0.1, whose layout is format 1. Raised only when an older lethe could no longer
// read a state_dir correctly.
inline constexpr int64_t kStateFormat = 1;

// Refuses (ErrorKind::Refused, exit 2) a state_dir whose format file names a newer format
// than kStateFormat, naming both versions, and a format file that cannot be read. A
// missing state_dir or format file is accepted (format 1, or nothing written yet).
[[nodiscard]] Status check_state_format(const std::string& state_dir);

// Checks, then writes `state_dir/format` atomically when it is missing or older (a state_dir
// lethe creates, or one an earlier release wrote). state_dir must exist.
[[nodiscard]] Status write_state_format(const std::string& state_dir);

}  // namespace lethe::service
