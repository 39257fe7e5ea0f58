#include "agent/act/archive_pipe.hpp"

#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace lethe::act::pipe {
namespace {

pipe::Chunk chunk_of(ChunkQueue& q, const std::string& text) {
    Chunk c = q.acquire();
    EXPECT_TRUE(c);
    std::memcpy(c.data.get(), text.data(), text.size());
    c.size = text.size();
    return c;
}

TEST(ChunkQueue, DeliversEveryBlockInOrderThenTheEnd) {
    ChunkQueue q(2, 16);
    std::thread producer([&q] {
        for (int i = 0; i < 100; ++i) ASSERT_TRUE(q.push(chunk_of(q, std::to_string(i))));
        q.close();
    });
    std::string got;
    for (int i = 0; i < 100; ++i) {
        Chunk c = q.pop();
        ASSERT_TRUE(c);
        EXPECT_EQ(c.view(), std::to_string(i));
        EXPECT_EQ(reinterpret_cast<uintptr_t>(c.data.get()) % kAlignment, 0u);
        q.release(std::move(c));
    }
    EXPECT_FALSE(q.pop());  // closed and drained
    producer.join();
}

TEST(ChunkQueue, AbortWakesABlockedProducerAndEndsTheStream) {
    ChunkQueue q(1, 16);
    ASSERT_TRUE(q.push(chunk_of(q, "first")));
    bool pushed = true;
    std::thread producer([&] { pushed = q.push(chunk_of(q, "second")); });  // blocks: full
    q.abort();
    producer.join();
    EXPECT_FALSE(pushed);
    EXPECT_TRUE(q.aborted());
    EXPECT_FALSE(q.pop());  // nothing is delivered after an abort, not even what was queued
}

}  // namespace
}  // namespace lethe::act::pipe
