#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "agent/policy/config.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// Time between passes of `lethe agent`: "90s", "15m", "1h", "1d", or a combination such as
// "1h30m". At least one minute, at most 31 days.
[[nodiscard]] Result<std::chrono::seconds> parse_interval(std::string_view text);

// A daily local-time window in which the agent may dispose ("20:00-06:00" spans midnight).
// Minutes are minutes since local midnight. Value type.
struct ActWindow {
    int start = 0;  // inclusive
    int end = 0;    // exclusive; end < start means the window spans midnight

    // "HH:MM-HH:MM"; start and end must differ.
    [[nodiscard]] static Result<ActWindow> parse(std::string_view text);

    [[nodiscard]] bool contains(int minute_of_day) const;
    // Minutes from `minute_of_day` until the window next opens (0 when inside it).
    [[nodiscard]] int minutes_until_open(int minute_of_day) const;
    [[nodiscard]] std::string to_string() const;
};

// The agent's timing from the config's [agent] interval and window.
struct AgentTiming {
    std::chrono::seconds interval{3600};
    std::optional<ActWindow> window;
};

// Errors name the config key and what is expected.
[[nodiscard]] Result<AgentTiming> parse_timing(std::string_view interval, std::string_view window);
// The same from a loaded config; errors also name where the value is written
// ("file:line:column: [agent]: interval '5x': ...").
[[nodiscard]] Result<AgentTiming> parse_timing(const policy::AgentConfig& config);

// Local wall-clock time of `t`, as seconds since local midnight (uses the process time zone).
int local_second_of_day(util::TimePoint t);

// When the next pass may act: `last_start + interval` (or `now` if none ran yet, or if that
// time has passed), moved forward to the window's next opening when it falls outside the
// window. `second_of_day` maps a time to local seconds since midnight (injectable for tests).
util::TimePoint next_pass_time(const AgentTiming& timing, std::optional<util::TimePoint> last_start,
                               util::TimePoint now,
                               int (*second_of_day)(util::TimePoint) = local_second_of_day);

}  // namespace lethe::service
