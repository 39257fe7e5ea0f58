#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/policy/schedule.hpp"
#include "agent/util/time.hpp"
#include "agent/util/tzif.hpp"

namespace lethe::policy {

// "Today" for each schedule at one instant: the local date of `now` in each schedule's time
// zone (DESIGN: dates are calendar dates in UTC unless the schedule names a zone). A date
// that belongs to a schedule (a file's or an archived copy's expiry, a hold's or a review
// extension's last day as it applies to a file of that schedule) is compared with that
// schedule's today; one that belongs to no loaded schedule (a file in no category, a copy
// whose schedule is gone, a hold listing) with today in UTC. Value type: it copies the ids
// and dates, so it may outlive the schedules.
class LocalToday {
public:
    LocalToday(const std::vector<RetentionSchedule>& schedules, util::TimePoint now);

    [[nodiscard]] util::TimePoint now() const { return m_now; }
    [[nodiscard]] util::Date utc() const { return m_utc; }
    // Today in the zone of the loaded schedule `schedule_id`; in UTC when none has that id.
    [[nodiscard]] util::Date of(std::string_view schedule_id) const;

private:
    util::TimePoint m_now;
    util::Date m_utc;
    std::vector<std::pair<std::string, util::Date>> m_by_schedule;
};

// The zone of the loaded schedule `schedule_id`; UTC when none has that id.
[[nodiscard]] const util::TimeZone& zone_of(const std::vector<RetentionSchedule>& schedules,
                                            std::string_view schedule_id);

}  // namespace lethe::policy
