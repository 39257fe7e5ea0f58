#include "agent/util/fault.hpp"

#ifdef LETHE_TEST_HOOKS

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace lethe::util {

void fault_point(std::string_view step) {
    const char* spec = std::getenv("LETHE_FAULT_AT");
    if (spec == nullptr) return;
    std::string_view s(spec);
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return;
    std::string_view name = s.substr(0, colon);
    std::string_view arg = s.substr(colon + 1);
    if (name == "list") {
        std::string line = std::string(step) + "\n";
        int fd = ::open(std::string(arg).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
            ::close(fd);
        }
        return;
    }
    if (name != step) return;
    static std::mutex mutex;
    static std::map<std::string, long, std::less<>> seen;
    std::lock_guard<std::mutex> lock(mutex);
    long count = ++seen[std::string(step)];
    if (count == std::strtol(std::string(arg).c_str(), nullptr, 10)) ::kill(::getpid(), SIGKILL);
}

}  // namespace lethe::util

#endif
