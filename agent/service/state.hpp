#pragma once

#include <string>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::service {

// An exclusive flock on `state_dir/lock`, held for the life of the object: two passes never
// run at once. Move-only.
class StateLock {
public:
    // Creates state_dir (mode 0700) if needed. Fails with Refused when another lethe holds it.
    [[nodiscard]] static Result<StateLock> acquire(const std::string& state_dir);

private:
    explicit StateLock(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

}  // namespace lethe::service
