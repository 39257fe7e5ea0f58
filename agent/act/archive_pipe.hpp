#pragma once

// Internal to act/: a bounded queue of byte blocks between two threads, so that an archive
// can be compressed, encrypted, written and read back at the same time. Not a public API.

#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace lethe::act::pipe {

// Blocks are aligned for direct I/O (O_DIRECT needs the buffer aligned to the block size).
inline constexpr size_t kAlignment = 4096;

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};

// A block of bytes handed from one thread to another: `size` bytes of `capacity` are used.
struct Chunk {
    std::unique_ptr<char, FreeDeleter> data;
    size_t size = 0;
    size_t capacity = 0;

    explicit operator bool() const { return data != nullptr; }
    [[nodiscard]] std::string_view view() const { return {data.get(), size}; }
    [[nodiscard]] size_t room() const { return capacity - size; }
};

// A bounded FIFO of chunks between one producer and one consumer, with a pool of spare
// chunks so that a running stream allocates nothing. close() ends the stream: the consumer
// gets what is queued, then an empty chunk. abort() ends it at once for both sides: push()
// fails and pop() returns an empty chunk from then on. Thread safe.
class ChunkQueue {
public:
    ChunkQueue(size_t depth, size_t chunk_size) : m_depth(depth), m_chunk_size(chunk_size) {}
    ChunkQueue(const ChunkQueue&) = delete;
    ChunkQueue& operator=(const ChunkQueue&) = delete;

    // A spare chunk with size 0; empty when memory is exhausted.
    Chunk acquire();
    // Blocks while the queue is full. False (the chunk dropped) once aborted.
    bool push(Chunk chunk);
    // Blocks while the queue is empty and open. Empty at the end of the stream or once aborted.
    Chunk pop();
    // Gives a chunk back to the pool.
    void release(Chunk chunk);
    void close();
    void abort();
    [[nodiscard]] bool aborted() const;

private:
    const size_t m_depth;
    const size_t m_chunk_size;
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Chunk> m_queue;
    std::vector<Chunk> m_spare;
    bool m_closed = false;
    bool m_aborted = false;
};

}  // namespace lethe::act::pipe
