#include "agent/service/test_hooks.hpp"

#ifdef LETHE_TEST_HOOKS
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "agent/util/fd.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#endif

namespace lethe::service {

bool test_pause_due([[maybe_unused]] uint64_t files_done) {
#ifdef LETHE_TEST_HOOKS
    const char* after = std::getenv("LETHE_TEST_PAUSE_AFTER");
    return after != nullptr && std::getenv("LETHE_TEST_PAUSE_DIR") != nullptr &&
           std::to_string(files_done) == after;
#else
    return false;
#endif
}

#ifdef LETHE_TEST_HOOKS
namespace {

// Writes the pid to the FIFO DIR/paused and waits for a line on the FIFO DIR/resume.
void pause_here(const char* dir) {
    std::string paused = std::string(dir) + "/paused";
    std::string resume = std::string(dir) + "/resume";
    {
        // Opening a FIFO for writing blocks until the test opens it for reading.
        UniqueFd out(::open(paused.c_str(), O_WRONLY | O_CLOEXEC));
        if (!out) return;
        (void)util::write_all(out.get(), fmt::format("{}\n", ::getpid()), paused);
    }
    UniqueFd in(::open(resume.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return;
    char c = 0;
    while (::read(in.get(), &c, 1) == 1 && c != '\n') {
    }
}

}  // namespace
#endif

void test_pause_between_files([[maybe_unused]] uint64_t files_done) {
#ifdef LETHE_TEST_HOOKS
    const char* after = std::getenv("LETHE_TEST_PAUSE_AFTER");
    const char* dir = std::getenv("LETHE_TEST_PAUSE_DIR");
    if (after == nullptr || dir == nullptr) return;
    if (std::to_string(files_done) != after) return;
    util::log_info("test hook: pausing after {} files", files_done);
    pause_here(dir);
#endif
}

void test_pause_before_walk() {
#ifdef LETHE_TEST_HOOKS
    const char* before = std::getenv("LETHE_TEST_PAUSE_BEFORE_WALK");
    const char* dir = std::getenv("LETHE_TEST_PAUSE_DIR");
    if (before == nullptr || dir == nullptr || std::string(before) != "1") return;
    util::log_info("test hook: pausing before the walk");
    pause_here(dir);
#endif
}

}  // namespace lethe::service
