#include "agent/act/archive_pipe.hpp"

namespace lethe::act::pipe {

Chunk ChunkQueue::acquire() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (!m_spare.empty()) {
            Chunk c = std::move(m_spare.back());
            m_spare.pop_back();
            c.size = 0;
            return c;
        }
    }
    Chunk c;
    // aligned_alloc wants a size that is a multiple of the alignment.
    size_t bytes = (m_chunk_size + kAlignment - 1) / kAlignment * kAlignment;
    c.data.reset(static_cast<char*>(std::aligned_alloc(kAlignment, bytes)));
    c.capacity = c.data ? m_chunk_size : 0;
    return c;
}

bool ChunkQueue::push(Chunk chunk) {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_changed.wait(lock, [this] { return m_aborted || m_queue.size() < m_depth; });
    if (m_aborted) return false;
    m_queue.push_back(std::move(chunk));
    m_changed.notify_all();
    return true;
}

Chunk ChunkQueue::pop() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_changed.wait(lock, [this] { return m_aborted || m_closed || !m_queue.empty(); });
    if (m_aborted || m_queue.empty()) return {};
    Chunk c = std::move(m_queue.front());
    m_queue.pop_front();
    m_changed.notify_all();
    return c;
}

void ChunkQueue::release(Chunk chunk) {
    if (!chunk) return;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_spare.push_back(std::move(chunk));
}

void ChunkQueue::close() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_closed = true;
    m_changed.notify_all();
}

void ChunkQueue::abort() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_aborted = true;
    m_queue.clear();
    m_changed.notify_all();
}

bool ChunkQueue::aborted() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_aborted;
}

}  // namespace lethe::act::pipe
