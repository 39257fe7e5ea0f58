#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"

namespace lethe::util {

using Date = std::chrono::sys_days;
using TimePoint = std::chrono::sys_time<std::chrono::nanoseconds>;

// "YYYY-MM-DD" (ISO 8601 calendar date). Rejects impossible dates such as 2023-02-30.
[[nodiscard]] Result<Date> parse_date(std::string_view text);
std::string format_date(Date date);

// "YYYY-MM-DDThh:mm:ssZ"; with nanoseconds when `with_nanos` and they are non-zero.
std::string format_timestamp(TimePoint time, bool with_nanos = false);
// Accepts "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDThh:mm:ss[.fraction]Z".
[[nodiscard]] Result<TimePoint> parse_timestamp(std::string_view text);

TimePoint from_timespec(int64_t seconds, uint32_t nanoseconds);
Date date_of(TimePoint time);

}  // namespace lethe::util
