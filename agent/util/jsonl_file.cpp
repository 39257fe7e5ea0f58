#include "agent/util/jsonl_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "agent/util/fd.hpp"
#include "agent/util/fs.hpp"

namespace lethe::util {

Status parse_jsonl(std::string_view text, const std::string& source, const JsonlFormat& format,
                   const JsonlVisitor& each) {
    size_t line_no = 0;
    size_t pos = 0;
    auto refuse = [&](std::string_view why) {
        return fail(ErrorKind::Refused, fmt::format("{} {} line {}: {}; {} {}", format.what, source,
                                                    line_no, why, format.stops, format.risk));
    };
    while (pos < text.size()) {
        ++line_no;
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            // An append cut short by a crash: whether its writer had acted on it yet is the
            // format's rule.
            if (format.torn_tail == TornTail::Ignore) break;
            return refuse("the last line is incomplete (an interrupted append?)");
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return refuse("not a JSON object");
        if (auto st = each(j); !st) return refuse(st.error().message());
    }
    return {};
}

Result<std::string> read_jsonl_text(const std::string& path, const JsonlFormat& format) {
    auto text = read_file(path);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return std::string();
        return fail(ErrorKind::Refused, fmt::format("{} {} cannot be read ({}); {}", format.what,
                                                    path, text.error().message(), format.stops));
    }
    return text;
}

namespace {

// The length of the file up to and including its last newline: what is left of an append
// cut short by a crash (a line without its newline) is not counted.
Result<uint64_t> complete_length(int fd, uint64_t size, const std::string& path) {
    constexpr uint64_t kStep = uint64_t{64} << 10;
    std::string buf;
    uint64_t end = size;
    while (end > 0) {
        uint64_t start = end > kStep ? end - kStep : 0;
        buf.resize(static_cast<size_t>(end - start));
        ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(start));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(fmt::format("read {}", path), errno));
        if (static_cast<size_t>(n) != buf.size()) {
            return fail(ErrorKind::Io, fmt::format("read {}: the file shrank", path));
        }
        size_t nl = buf.rfind('\n');
        if (nl != std::string::npos) return start + nl + 1;
        end = start;
    }
    return uint64_t{0};
}

// Opens the file for an append that may first drop an unterminated last line, and places
// the offset where the line goes.
Result<UniqueFd> open_dropping_torn_tail(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open {}", path), errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    auto size = static_cast<uint64_t>(st.st_size);
    auto keep = complete_length(fd.get(), size, path);
    if (!keep) return fail(keep.error());
    if (*keep != size && ::ftruncate(fd.get(), static_cast<off_t>(*keep)) != 0) {
        return fail(errno_error(fmt::format("drop the incomplete last line of {}", path), errno));
    }
    if (::lseek(fd.get(), static_cast<off_t>(*keep), SEEK_SET) < 0) {
        return fail(errno_error(fmt::format("seek {}", path), errno));
    }
    return fd;
}

}  // namespace

Status append_jsonl(const std::string& path, const JsonlFormat& format,
                    const nlohmann::json& line) {
    struct stat st {};
    bool created = ::lstat(path.c_str(), &st) != 0;
    UniqueFd fd;
    if (format.torn_tail == TornTail::Ignore) {
        auto opened = open_dropping_torn_tail(path);
        if (!opened) return fail(opened.error());
        fd = std::move(*opened);
    } else {
        fd = UniqueFd(
            ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) return fail(errno_error(fmt::format("open {}", path), errno));
    }
    if (auto w = write_all(fd.get(), line.dump() + "\n", path); !w) return w;
    if (format.sync == AppendSync::Fsync) {
        if (auto s = fsync_fd(fd.get(), path); !s) return s;
    } else if (::fdatasync(fd.get()) != 0) {
        return fail(errno_error(fmt::format("fdatasync {}", path), errno));
    }
    if (created) return fsync_dir(folder_of(path));
    return {};
}

}  // namespace lethe::util
