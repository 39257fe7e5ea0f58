#include "agent/cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "agent/cli/common.hpp"
#include "agent/util/encoding.hpp"

namespace lethe::cli {

WalkProgress::WalkProgress() : m_enabled(::isatty(STDERR_FILENO) == 1) {}

WalkProgress::~WalkProgress() { finish(); }

void WalkProgress::update(const std::string& root, const scan::WalkStats& stats) {
    if (!m_enabled) return;
    auto now = std::chrono::steady_clock::now();
    if (root != m_root) {
        m_root = root;
        m_root_start = now;
    } else if (now - m_last_draw < std::chrono::milliseconds(200)) {
        return;
    }
    m_last_draw = now;
    double seconds = std::chrono::duration<double>(now - m_root_start).count();
    double rate = seconds > 0.0 ? static_cast<double>(stats.files) / seconds : 0.0;
    std::string line = fmt::format("{}: {} files, {}, {:.0f} files/s, {} unreadable",
                                   util::utf8_display(root), stats.files,
                                   human_bytes(stats.bytes), rate, stats.errors);
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    m_drawn = true;
}

void WalkProgress::finish() {
    if (!m_drawn) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    m_drawn = false;
}

}  // namespace lethe::cli
