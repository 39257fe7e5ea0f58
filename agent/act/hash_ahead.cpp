#include "agent/act/hash_ahead.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <new>

#include <fmt/format.h>

#include "agent/util/fault.hpp"
#include "agent/util/sha256_state.hpp"

namespace lethe::act {

namespace {

// Read in pieces that stay in the CPU cache between the copy out of the page cache and the
// hash of them.
constexpr size_t kReadBlock = size_t{256} << 10;

}  // namespace

uint64_t hash_segment() {
    constexpr uint64_t kSegment = uint64_t{32} << 20;
#ifdef LETHE_TEST_HOOKS
    if (const char* env = std::getenv("LETHE_TEST_HASH_SEGMENT")) {
        uint64_t v = std::strtoull(env, nullptr, 10) / 64 * 64;
        if (v > 0) return v;
    }
#endif
    return kSegment;
}

uint64_t hash_ahead_above() { return 2 * hash_segment(); }

HashAhead::HashAhead(int fd, uint64_t size, std::string path, Checkpoint checkpoint,
                     uint64_t segment)
    : m_fd(fd),
      m_size(size),
      m_path(std::move(path)),
      m_checkpoint(std::move(checkpoint)),
      m_segment(std::max<uint64_t>(64, segment / 64 * 64)),
      m_recorder([this] { record(); }),
      m_thread([this] { run(); }) {}

HashAhead::~HashAhead() {
    {
        std::lock_guard lock(m_mutex);
        m_cancel = true;
        m_changed.notify_all();
    }
    if (m_thread.joinable()) m_thread.join();
    if (m_recorder.joinable()) m_recorder.join();
}

// Records the queued checkpoints in order; each is durable when the callback returns.
void HashAhead::record() {
    for (;;) {
        HashCheckpoint point;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [&] { return m_cancel || m_error || !m_queue.empty(); });
            if (m_cancel || m_error) return;
            point = std::move(m_queue.front());
            m_queue.pop_front();
        }
        if (auto st = m_checkpoint(point); !st) {
            std::lock_guard lock(m_mutex);
            m_error = st.error().with_context(fmt::format(
                "{}: the checkpoint of its hash could not be recorded, so nothing more of it was "
                "overwritten", m_path));
            m_changed.notify_all();
            return;
        }
        util::fault_point("hash-checkpoint");
        std::lock_guard lock(m_mutex);
        m_durable = point.bytes;
        m_digest = std::move(point.sha256);
        m_changed.notify_all();
        if (!m_digest.empty()) return;
    }
}

void HashAhead::run() {
    auto publish_error = [this](Error e) {
        std::lock_guard lock(m_mutex);
        m_error = std::move(e);
        m_changed.notify_all();
    };
    ::posix_fadvise(m_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    const size_t capacity =
        static_cast<size_t>(std::min<uint64_t>(kReadBlock, std::max<uint64_t>(m_size, 1)));
    std::unique_ptr<char[]> buffer(new (std::nothrow) char[capacity]);
    if (!buffer) return publish_error(Error(ErrorKind::Internal, "out of memory for the hash buffer"));
    util::Sha256State hash;
    uint64_t offset = 0;
    do {
        {
            // No further than two segments past what the writer needs.
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [&] {
                return m_cancel || m_error || offset < m_requested + 2 * m_segment;
            });
            if (m_cancel || m_error) return;
        }
        // The last segment's worth is checkpointed in eighths: the writer, which waits for
        // the hash there, then has an eighth of a segment left to write after it.
        uint64_t segment_end = std::min(m_size, (offset / m_segment + 1) * m_segment);
        if (m_size - offset <= m_segment) {
            const uint64_t eighth = std::max<uint64_t>(64, m_segment / 8 / 64 * 64);
            segment_end = std::min(m_size, offset + eighth);
        }
        while (offset < segment_end) {
            if (m_cancel) return;
            const size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, segment_end - offset));
            ssize_t n = ::pread(m_fd, buffer.get(), want, static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return publish_error(errno_error(fmt::format("read {}", m_path), errno));
            if (n == 0) {
                return publish_error(Error(
                    ErrorKind::Verification,
                    fmt::format("{}: shrank from {} to {} bytes while it was being hashed (another "
                                "process writes to it)", m_path, m_size, offset)));
            }
            hash.update(buffer.get(), static_cast<size_t>(n));
            offset += static_cast<uint64_t>(n);
        }
        HashCheckpoint point;
        point.bytes = offset;
        if (offset == m_size) {
            point.sha256 = hash.finish_hex();
        } else {
            auto exported = hash.export_state();
            if (!exported) return publish_error(exported.error());
            point.state = std::move(*exported);
        }
        std::lock_guard lock(m_mutex);
        m_queue.push_back(std::move(point));
        m_changed.notify_all();
    } while (offset < m_size);
}

Status HashAhead::cover(uint64_t end) {
    end = std::min(end, m_size);
    std::unique_lock lock(m_mutex);
    if (end > m_requested) {
        m_requested = end;
        m_changed.notify_all();
    }
    // A checkpoint of the whole file is the one that holds the digest.
    m_changed.wait(lock, [&] {
        return m_error || (m_durable >= end && (end < m_size || !m_digest.empty()));
    });
    if (m_error) return fail(*m_error);
    return {};
}

Result<std::string> HashAhead::finish() {
    if (auto st = cover(m_size); !st) return fail(st.error());
    std::lock_guard lock(m_mutex);
    return m_digest;
}

}  // namespace lethe::act
