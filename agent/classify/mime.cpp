#include "agent/classify/mime.hpp"

#include <fcntl.h>
#include <magic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::classify {

namespace {

struct MagicClose {
    void operator()(magic_set* cookie) const { magic_close(cookie); }
};

// One thread's libmagic handle with the database loaded, or why it could not be loaded.
class MagicCookie {
public:
    MagicCookie() {
        // NO_CHECK_COMPRESS: name a compressed file, never decompress it (libmagic may run
        // external decompressors to look inside).
        m_cookie.reset(magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS));
        if (!m_cookie) {
            m_problem = fmt::format("libmagic: cannot open a handle: {}", std::strerror(errno));
            return;
        }
        if (magic_load(m_cookie.get(), nullptr) != 0) {
            const char* why = magic_error(m_cookie.get());
            m_problem = fmt::format("libmagic: cannot load the magic database: {}",
                                    why != nullptr ? why : "unknown error");
            m_cookie.reset();
        }
    }

    [[nodiscard]] Result<std::string> sniff(std::string_view prefix) {
        if (!m_cookie) return fail(ErrorKind::Io, m_problem);
        const char* type = magic_buffer(m_cookie.get(), prefix.data(), prefix.size());
        if (type == nullptr) {
            const char* why = magic_error(m_cookie.get());
            return fail(ErrorKind::Io,
                        fmt::format("libmagic: {}", why != nullptr ? why : "no answer"));
        }
        return std::string(type);
    }

private:
    std::unique_ptr<magic_set, MagicClose> m_cookie;
    std::string m_problem;
};

}  // namespace

Result<std::string> sniff_mime(std::string_view prefix) {
    // Classification runs on every walker thread; a handle must never be shared.
    thread_local MagicCookie cookie;
    return cookie.sniff(prefix);
}

ContentType sniff_file(int root_fd, const scan::FileFacts& facts) {
    ContentType out;
    // O_NONBLOCK: a FIFO swapped in after the walk must not hang the pass.
    constexpr int kFlags = O_RDONLY | O_NONBLOCK;
    auto fd = util::open_beneath(root_fd, facts.path, kFlags | O_NOATIME);
    // O_NOATIME is allowed only to the file's owner (or CAP_FOWNER).
    if (!fd && fd.error().sys_errno() == EPERM) fd = util::open_beneath(root_fd, facts.path, kFlags);
    if (!fd) {
        out.problem = fmt::format("cannot read the content to sniff its type: {}", fd.error().message());
        return out;
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != facts.inode ||
        st.st_dev != facts.device) {
        out.problem = "cannot sniff its type: the file was replaced since the walk saw it";
        return out;
    }
    std::string prefix(kSniffBytes, '\0');
    size_t have = 0;
    while (have < prefix.size()) {
        ssize_t n = ::read(fd->get(), prefix.data() + have, prefix.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.problem = fmt::format("cannot read the content to sniff its type: {}",
                                      errno_error("read", errno).message());
            return out;
        }
        if (n == 0) break;
        have += static_cast<size_t>(n);
    }
    prefix.resize(have);
    auto type = sniff_mime(prefix);
    if (!type) {
        out.problem = fmt::format("cannot sniff its type: {}", type.error().message());
        return out;
    }
    out.mime = std::move(*type);
    return out;
}

}  // namespace lethe::classify
