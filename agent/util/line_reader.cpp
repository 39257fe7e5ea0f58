#include "agent/util/line_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace lethe::util {

Result<LineReader> LineReader::open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail(errno_error(fmt::format("open {}", path), errno));
    return LineReader(std::move(fd), path);
}

Result<bool> LineReader::next(std::string& line, bool& complete) {
    line.clear();
    for (;;) {
        size_t nl = m_buffer.find('\n', m_pos);
        if (nl != std::string::npos) {
            line.append(m_buffer, m_pos, nl - m_pos);
            m_pos = nl + 1;
            complete = true;
            return true;
        }
        line.append(m_buffer, m_pos, std::string::npos);
        m_buffer.clear();
        m_pos = 0;
        if (m_eof) {
            if (line.empty()) return false;  // `complete` keeps the last line's value
            complete = false;
            return true;
        }
        m_buffer.resize(1 << 16);
        ssize_t n = ::read(m_fd.get(), m_buffer.data(), m_buffer.size());
        if (n < 0) {
            m_buffer.clear();
            if (errno == EINTR) continue;
            return fail(errno_error(fmt::format("read {}", m_path), errno));
        }
        m_buffer.resize(static_cast<size_t>(n));
        if (n == 0) m_eof = true;
    }
}

}  // namespace lethe::util
