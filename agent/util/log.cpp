#include "agent/util/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace lethe::util {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::Debug: return "debug";
        case LogLevel::Info: return "info";
        case LogLevel::Warning: return "warning";
        case LogLevel::Error: return "error";
    }
    return "info";
}
}  // namespace

void set_log_level(LogLevel level) { g_level.store(level); }
LogLevel log_level() { return g_level.load(); }

void log_line(LogLevel level, std::string_view message) {
    if (level < g_level.load()) return;
    std::string line = fmt::format("lethe: {}: {}\n", level_name(level), message);
    // One write() per line so concurrent lines never interleave.
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lethe::util
