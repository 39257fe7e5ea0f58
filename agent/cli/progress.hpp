#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "agent/scan/walker.hpp"

namespace lethe::cli {

// A one-line walk progress report on stderr ("clients: 120,431 files, 38.2 GiB, 212,000
// files/s"), redrawn at most five times a second, only when stderr is a terminal. Not
// thread safe: call it from the thread that receives the walk's results.
class WalkProgress {
public:
    WalkProgress();
    ~WalkProgress();
    WalkProgress(const WalkProgress&) = delete;
    WalkProgress& operator=(const WalkProgress&) = delete;

    [[nodiscard]] bool enabled() const { return m_enabled; }
    void update(const std::string& root, const scan::WalkStats& stats);
    // Erases the line, so what follows on stderr starts clean.
    void finish();

private:
    bool m_enabled;
    bool m_drawn = false;
    std::string m_root;
    std::chrono::steady_clock::time_point m_root_start{};
    std::chrono::steady_clock::time_point m_last_draw{};
};

}  // namespace lethe::cli
