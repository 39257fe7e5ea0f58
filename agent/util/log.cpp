#include "agent/util/log.hpp"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

#include "agent/util/encoding.hpp"

namespace lethe::util {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_sink_mutex;
std::shared_ptr<LogSink> g_sink;  // guarded by g_sink_mutex; null means stderr

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

bool parse_log_level(std::string_view text, LogLevel& level) {
    for (LogLevel l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error}) {
        if (text == level_name(l)) {
            level = l;
            return true;
        }
    }
    return false;
}

void write_stderr_line(LogLevel level, std::string_view message) {
    std::string line = fmt::format("lethe: {}: {}\n", level_name(level), display_name(message));
    // One write() per line so concurrent lines never interleave.
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

void set_log_sink(std::shared_ptr<LogSink> sink) {
    std::lock_guard lock(g_sink_mutex);
    g_sink = std::move(sink);
}

void log_record(const LogRecord& record) {
    if (record.level < g_level.load()) return;
    std::shared_ptr<LogSink> sink;
    {
        std::lock_guard lock(g_sink_mutex);
        sink = g_sink;
    }
    if (sink) {
        sink->write(record);
    } else {
        write_stderr_line(record.level, record.message);
    }
}

void log_line(LogLevel level, std::string_view message) {
    if (level < g_level.load()) return;
    log_record(LogRecord{level, std::string(message), {}});
}

}  // namespace lethe::util
