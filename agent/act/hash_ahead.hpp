#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/act/disposal.hpp"
#include "agent/util/error.hpp"

namespace lethe::act {

// The SHA-256 of a file's original content, computed on a helper thread ahead of the
// overwrite that destroys it, with durable checkpoints (internal to act/).
//
// One helper reads and hashes the file in segments, at most two segments ahead of the
// furthest byte the writer asked to cover; after each segment a second helper makes a
// checkpoint durable through the caller's callback (the midstate, or at the end the digest),
// in order, so that neither the hash nor the writer waits for the checkpoint's sync. The writer calls
// cover(end) before it writes any byte below `end`: that waits until a durable checkpoint
// reaches `end`. So whenever a byte at offset >= K has been written, a durable checkpoint
// holds the state of [0, K') with K' past every byte written, and the bytes from K' on are
// still the original ones: after a crash the hash is finished from the checkpoint by reading
// [K', size) (finish_hash()).
class HashAhead {
public:
    using Checkpoint = std::function<Status(const HashCheckpoint&)>;

    // Hashes [0, size) of `fd` (holes read as zeros) in segments of `segment` bytes (a
    // multiple of 64), the last segment's worth of the file in eighths of one (so the writer
    // has little left to write once the hash is done). Starts the helper threads at once.
    // `checkpoint` is called on one of them, one call at a time, in order, and never after
    // the destructor returns.
    HashAhead(int fd, uint64_t size, std::string path, Checkpoint checkpoint, uint64_t segment);
    ~HashAhead();
    HashAhead(const HashAhead&) = delete;
    HashAhead& operator=(const HashAhead&) = delete;

    // A durable checkpoint covers [0, end) when this returns success; on failure (the
    // checkpoint could not be written, the file could not be read) nothing past the last
    // durable checkpoint may be written.
    [[nodiscard]] Status cover(uint64_t end);
    // The whole hash, after a durable final checkpoint holding it.
    [[nodiscard]] Result<std::string> finish();

private:
    void run();
    void record();

    const int m_fd;
    const uint64_t m_size;
    const std::string m_path;
    const Checkpoint m_checkpoint;
    const uint64_t m_segment;

    std::mutex m_mutex;
    std::condition_variable m_changed;
    uint64_t m_durable = 0;    // guarded: the bytes a durable checkpoint covers
    uint64_t m_requested = 0;  // guarded: the furthest end the writer asked to cover
    std::string m_digest;      // guarded: set once all is hashed and durable
    std::deque<HashCheckpoint> m_queue;  // guarded: hashed, not yet recorded
    std::optional<Error> m_error;  // guarded
    std::atomic<bool> m_cancel{false};
    std::thread m_recorder;    // last: started once everything above is set
    std::thread m_thread;
};

// The segment the pre-disposal hash runs ahead in: 32 MiB (a test build may set another,
// a multiple of 64, with LETHE_TEST_HASH_SEGMENT=<bytes>). See hash_ahead_above().
uint64_t hash_segment();

}  // namespace lethe::act
