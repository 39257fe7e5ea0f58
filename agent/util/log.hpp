#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace lethe::util {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

// Process-wide log threshold; messages below it are dropped. Default Info.
void set_log_level(LogLevel level);
LogLevel log_level();

// Parses "debug", "info", "warning" or "error".
[[nodiscard]] bool parse_log_level(std::string_view text, LogLevel& level);

// One structured field of a log record, e.g. {"MESSAGE_ID", "..."}. Names follow the
// journal's rules (upper case, digits, underscore); a sink that has no use for a field
// ignores it.
struct LogField {
    std::string name;
    std::string value;
};

// `message` is free text and may quote file names with any bytes: every sink shows it on one
// line with control characters escaped. Fields keep their exact bytes.
struct LogRecord {
    LogLevel level = LogLevel::Info;
    std::string message;
    std::vector<LogField> fields;
};

// Where log records go. Implementations must be thread safe: records may come from any
// thread.
class LogSink {
public:
    virtual ~LogSink() = default;
    virtual void write(const LogRecord& record) = 0;
};

// The readable form of a record on stderr: "lethe: <level>: <message>", one write per line.
// The message is shown as display_name() shows it (control characters, newlines included, as
// \xNN), so a record is always one line and a file name inside it cannot forge another.
void write_stderr_line(LogLevel level, std::string_view message);

// Replaces the process-wide sink; nullptr restores the default (stderr lines). Thread safe.
void set_log_sink(std::shared_ptr<LogSink> sink);

// Sends a record to the current sink if its level passes the threshold.
void log_record(const LogRecord& record);

// Writes one unstructured line at `level`.
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
    if (log_level() <= LogLevel::Info) log_line(LogLevel::Info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warning(fmt::format_string<Args...> format, Args&&... args) {
    if (log_level() <= LogLevel::Warning) log_line(LogLevel::Warning, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log_line(LogLevel::Error, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    if (log_level() <= LogLevel::Debug) log_line(LogLevel::Debug, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace lethe::util
