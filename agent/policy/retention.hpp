#pragma once

#include <string>
#include <string_view>

#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::policy {

// How long a record is kept after its trigger date: calendar years, months and days, or
// permanently. Value type.
//
// Calendar rule (documented for records managers): years and months are added first on the
// calendar, and when the day does not exist in the target month it is clamped to that month's
// last day (29 Feb 2024 + 1y = 28 Feb 2025; 31 Jan + 1m = 28/29 Feb); then weeks and days
// are added.
struct Retention {
    bool permanent = false;
    int years = 0;
    int months = 0;
    int days = 0;  // weeks are stored as 7 days

    // "7y", "18m", "2w", "30d", combinations such as "1y6m", or "permanent".
    [[nodiscard]] static Result<Retention> parse(std::string_view text);

    // The trigger date plus this retention. Must not be called on a permanent retention.
    [[nodiscard]] util::Date add_to(util::Date start) const;
    [[nodiscard]] std::string to_string() const;
};

}  // namespace lethe::policy
