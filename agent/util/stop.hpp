#pragma once

#include <atomic>
#include <functional>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::util {

// Lets a long operation (an overwrite, an archive, an encryption) stop between two blocks
// when asked (SIGTERM), and report that it is still making progress (the watchdog).
// The operation calls stop_requested() after each block it finished; when it returns true
// the operation undoes nothing, leaves what it touched in a state its caller can resume or
// discard, and returns stopped(). A default token never stops and reports to nobody.
//
// The flag is owned by the caller and must outlive the token; it may be set from another
// thread. `on_block` runs on the operation's thread.
class StopToken {
public:
    StopToken() = default;
    StopToken(const std::atomic<bool>* flag, std::function<void()> on_block)
        : m_flag(flag), m_on_block(std::move(on_block)) {}

    // Reports one more block done, then tells whether the operation must stop now.
    [[nodiscard]] bool stop_requested() const {
        if (m_on_block) m_on_block();
        return m_flag != nullptr && m_flag->load();
    }

private:
    const std::atomic<bool>* m_flag = nullptr;
    std::function<void()> m_on_block;
};

// The error a stopped operation returns (ErrorKind::Stopped): "<what>: stopped ...".
[[nodiscard]] inline Error stopped(std::string_view what) {
    return Error(ErrorKind::Stopped, std::string(what) + ": stopped between two blocks on request");
}

}  // namespace lethe::util
