#include "agent/policy/local_today.hpp"

namespace lethe::policy {

LocalToday::LocalToday(const std::vector<RetentionSchedule>& schedules, util::TimePoint now)
    : m_now(now), m_utc(util::date_of(now)) {
    m_by_schedule.reserve(schedules.size());
    for (const auto& s : schedules) m_by_schedule.emplace_back(s.id, s.zone.local_date(now));
}

util::Date LocalToday::of(std::string_view schedule_id) const {
    for (const auto& [id, day] : m_by_schedule) {
        if (id == schedule_id) return day;
    }
    return m_utc;
}

const util::TimeZone& zone_of(const std::vector<RetentionSchedule>& schedules,
                              std::string_view schedule_id) {
    static const util::TimeZone kUtc = util::TimeZone::utc();
    for (const auto& s : schedules) {
        if (s.id == schedule_id) return s.zone;
    }
    return kUtc;
}

}  // namespace lethe::policy
