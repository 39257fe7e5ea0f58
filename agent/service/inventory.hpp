#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/classify/decision.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/scan/walker.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One file kept about a client: what a firm hands over when a client asks what it holds.
// `category` is empty when the file is in no category (lethe never disposes of it); the
// client and matter then come from the first category path pattern that captures them.
// Value type.
struct InventoryEntry {
    std::string root;
    scan::FileFacts facts;
    std::string category;
    std::string schedule_id;  // the category's schedule ("" in no category)
    std::string client;
    std::optional<std::string> matter;
    classify::Status status = classify::Status::Unmatched;
    std::string reason;
    util::Date trigger_date{};
    std::optional<util::Date> expires;  // none = permanent (or in no category)
    policy::Action action = policy::Action::Review;
    std::vector<std::string> holds;  // active legal holds covering it today (apply_holds)

    // root, path (+ path_b64), client, matter, category (null in no category), size, mtime,
    // trigger_date, expires, action (null in no category), status (+ reason), holds.
    [[nodiscard]] nlohmann::json to_json() const;
};

// Fills `entry.holds` with the holds covering it on `today`, today in the zone of the
// entry's schedule (policy::LocalToday::of(entry.schedule_id): UTC in no category); a
// covered file that would otherwise be disposed of (due, in review or skipped) gets status
// `held`, as in a plan.
void apply_holds(InventoryEntry& entry, const HoldSet& holds, util::Date today);

struct InventorySummary {
    std::string client;
    std::optional<std::string> matter;
    Tally total;
    std::map<std::string, Tally> by_root;
    std::map<std::string, Tally> by_category;  // "" = in no category
    std::map<std::string, Tally> by_status;
    std::map<std::string, scan::WalkStats> walks;
    uint64_t problems = 0;

    [[nodiscard]] nlohmann::json to_json() const;
};

struct InventoryOptions {
    util::TimePoint now{};  // classified as of this instant (see PlanOptions::now)
    std::string client;
    std::optional<std::string> matter;
    std::function<void(const std::string& root, const scan::WalkStats&)> on_progress;
};

// Walks every root and calls `sink` (from the walk's threads, under one lock: one file at a
// time) for every file captured for
// the client (and matter), whether or not a category covers it. Problems met during the
// walk are logged and counted; they never stop it. Fails on a root that cannot be opened.
[[nodiscard]] Result<InventorySummary> make_inventory(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    const InventoryOptions& options, const std::function<void(const InventoryEntry&)>& sink);

// One archived copy kept about a client: a member of one of lethe's archives that is not
// yet disposed of. Value type.
struct ArchivedCopy {
    std::string archive;  // the archive's file name in the destination
    std::string archive_path;
    std::string root;
    ArchivedMember member;
    std::optional<std::string> matter;
    std::vector<std::string> holds;  // active holds covering it today

    // type "archived", archive, archive_path, root, path (+ path_b64), client, matter,
    // category, size, sha256, archived, expires, status ("held" or "archived"), holds.
    [[nodiscard]] nlohmann::json to_json(const std::string& client) const;
};

// The archived copies of the client (and matter) in the index, in index order; each one's
// holds are those active on today in the zone of its schedule.
[[nodiscard]] std::vector<ArchivedCopy> archived_copies(const ArchiveIndex& index,
                                                        const HoldSet& holds,
                                                        const std::string& client,
                                                        const std::optional<std::string>& matter,
                                                        const policy::LocalToday& today);

}  // namespace lethe::service
