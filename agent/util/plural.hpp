#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace lethe::util {

// A count with its noun in the right number, for messages people read: counted(1, "file",
// "files") is "1 file", counted(0, "file", "files") is "0 files".
[[nodiscard]] inline std::string counted(uint64_t n, std::string_view singular,
                                         std::string_view plural) {
    return fmt::format("{} {}", n, n == 1 ? singular : plural);
}

}  // namespace lethe::util
