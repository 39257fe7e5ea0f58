#pragma once

#include <string>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::util {

// Reads a file line by line through a fixed buffer, so memory does not grow with the file.
// Reports whether each line ended with '\n' (a torn last line does not). Not thread safe.
class LineReader {
public:
    [[nodiscard]] static Result<LineReader> open(const std::string& path);

    // Next line without its '\n'. Returns false at end of file (leaving `complete` as it
    // was for the last line). `complete` is false for a last line that has no newline.
    [[nodiscard]] Result<bool> next(std::string& line, bool& complete);

private:
    LineReader(UniqueFd fd, std::string path) : m_fd(std::move(fd)), m_path(std::move(path)) {}
    UniqueFd m_fd;
    std::string m_path;
    std::string m_buffer;
    size_t m_pos = 0;
    bool m_eof = false;
};

}  // namespace lethe::util
