#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/classify/decision.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/retention.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/scan/walker.hpp"
#include "agent/service/holds.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One line of a plan: a file, where it stands, and everything `run` needs to act on it and
// certify it without consulting the schedules again. Value type.
struct PlanEntry {
    std::string root;
    scan::FileFacts facts;
    classify::Status status = classify::Status::NotDue;
    std::string reason;
    std::string category;
    std::string mandate;
    std::string schedule_id;
    int64_t schedule_version = 0;
    std::string schedule_sha256;
    policy::Mode mode = policy::Mode::Observe;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    util::Date trigger_date{};
    std::optional<util::Date> expires;  // none = permanent
    policy::Action action = policy::Action::Review;
    std::vector<std::string> holds;  // ids of the holds that keep it (status held)
    // Null unless the category needs review (then `action` is what approval carries out):
    // where the file stands in the review queue, and for an approved file in a pass's plan,
    // the approval its certificate records (see review.hpp).
    nlohmann::json review;

    // The JSON Lines object of DESIGN.md: root, path (+ path_b64 for non-UTF-8 bytes),
    // category, client, matter, trigger_date, expires, action, status (+ reason), size, and
    // the identity (inode, device, mtime) that `run` re-checks before acting.
    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<PlanEntry> from_json(const nlohmann::json& j);
};

PlanEntry make_entry(const std::string& root, const scan::FileFacts& facts,
                     const classify::Decision& decision);

// Sets `path` (display text) and, when `bytes` is not valid UTF-8, `path_b64` (exact bytes).
void put_path(nlohmann::json& j, const std::string& bytes);
// Reads back what put_path wrote: the exact bytes.
[[nodiscard]] Result<std::string> get_path(const nlohmann::json& j);

struct Tally {
    uint64_t files = 0;
    uint64_t bytes = 0;
    void add(uint64_t size) {
        ++files;
        bytes += size;
    }
};

// Counts of one plan, by status, category and action, and the walk of each root.
struct PlanSummary {
    std::map<std::string, Tally> by_status;
    std::map<std::string, Tally> by_category;  // due files only
    std::map<std::string, Tally> by_action;    // due files only
    std::map<std::string, scan::WalkStats> walks;
    std::map<std::string, Tally> due_by_root;
    std::map<std::string, Tally> due_enforced_by_root;  // due under schedules in enforce mode
    uint64_t unmatched = 0;
    uint64_t problems = 0;
    // With PlanOptions::due_within: the last day counted, in each zone of the schedules
    // (zone name -> today there + the duration), and the files not yet due but due by then.
    std::map<std::string, util::Date> horizons;
    Tally due_within;
    std::optional<std::string> client;        // when the plan was limited to one client

    void add(const PlanEntry& entry);
    [[nodiscard]] nlohmann::json to_json() const;
};

struct PlanOptions {
    // The pass's instant: each schedule turns it into its own local "today" (classify), and
    // the holds covering a file are those active on that today of the file's schedule.
    util::TimePoint now{};
    std::optional<std::string> root;                  // only this root
    // Also list files not yet due but due by today + this duration, both counted in the
    // zone of the file's schedule. Never permanent.
    std::optional<policy::Retention> due_within;
    std::optional<std::string> client;                // only files captured for this client
    std::optional<std::string> matter;                // ... and this matter
    bool list_all = false;                            // list every classified file (inventory)
    // Walk progress, on the caller's thread: the root being walked and its totals so far.
    std::function<void(const std::string& root, const scan::WalkStats&)> on_progress;
    const HoldSet* holds = nullptr;                   // due files they cover are `held`
    // When set and true, the walk stops between two folders and make_plan fails with
    // ErrorKind::Stopped: the entries already given to the sink are an incomplete plan.
    const std::atomic<bool>* stop = nullptr;
};

// Marks a due, review (or skipped) entry `held` when active holds cover it. `today` is
// today in the zone of the entry's schedule (policy::LocalToday::of(entry.schedule_id)).
void apply_holds(PlanEntry& entry, const HoldSet& holds, util::Date today);

// Walks every root (or the one asked for), classifies each file and calls `sink` for each
// file the plan lists: due, skipped, and (with `due_within`) not-due files expiring by then;
// with `list_all`, every file in a category. With `client` (and `matter`), only files whose
// category captured that client (and matter) are listed and counted in the summary.
// Problems met during the walk are logged and counted; they never stop it. Asked to stop
// (options.stop), it fails with ErrorKind::Stopped, naming the root whose walk it cut short.
//
// Threads: classification runs on the walk's threads, so classify::classify must stay
// thread safe (it only reads the schedules). `sink` is called from those threads too, but
// under one lock: one file at a time, never concurrently. An exception from `sink` stops
// the walk and propagates to the caller.
[[nodiscard]] Result<PlanSummary> make_plan(const policy::AgentConfig& config,
                                            const std::vector<policy::RetentionSchedule>& schedules,
                                            const PlanOptions& options,
                                            const std::function<void(const PlanEntry&)>& sink);

}  // namespace lethe::service
