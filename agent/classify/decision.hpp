#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/util/time.hpp"

namespace lethe::classify {

// Where a file stands against the schedules on a given day.
enum class Status {
    Unmatched,  // in no category: never touched, not listed
    NotDue,     // retention still running (or permanent)
    Due,        // retention has run out: the action applies
    Skipped,    // due, but lethe will not act on it; `reason` says why
};

std::string_view to_string(Status status);

// The verdict for one file. Points into the schedules it was made from: those must outlive
// it. Value type otherwise.
struct Decision {
    Status status = Status::Unmatched;
    const policy::RetentionSchedule* schedule = nullptr;
    const policy::Category* category = nullptr;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    util::Date trigger_date{};
    std::optional<util::Date> expires;  // none when the retention is permanent
    policy::Action action = policy::Action::Review;
    std::string reason;                 // for Skipped
    size_t matched_categories = 0;      // how many categories matched (for explain output)
};

// Classifies one file against every category of every schedule.
//
// When several categories match, the one that keeps the file longest wins (latest expiry;
// permanent beats any date); on an equal expiry the more protective action wins
// (review > archive > encrypt > sanitize > delete). A file is due on its expiry date and
// after. A due file whose action would overwrite an inode with other hard links is Skipped.
[[nodiscard]] Decision classify(const scan::FileFacts& facts,
                                const std::vector<policy::RetentionSchedule>& schedules,
                                util::Date today);

// Whether `category` matches the file; fills client/matter captures when it does.
[[nodiscard]] bool category_matches(const policy::Category& category, std::string_view path,
                                    std::optional<std::string>* client,
                                    std::optional<std::string>* matter);

}  // namespace lethe::classify
