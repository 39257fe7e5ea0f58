#pragma once

#include <string_view>

#include <fmt/format.h>

namespace lethe::util {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

// Process-wide log threshold; messages below it are dropped. Default Info.
void set_log_level(LogLevel level);
LogLevel log_level();

// Writes one line "lethe: <level>: <message>" to stderr. Thread safe (one write per line).
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
