#pragma once

// A client's erasure request (`lethe erase`): what of the client's data is erased now and
// what is kept, and why. The pass carries it out (RunOptions::erasure); this header holds
// the request and the rules that decide, file by file and archive by archive.
//
// Rules, checked in this order:
//  - a file or archive member under an active hold is kept (the hold ids are reported);
//  - a file in a category with `erasable = false` is kept (its mandate is reported), and an
//    archive with any such member is kept whole;
//  - a file or member under a schedule in observe mode is kept (observe never destroys);
//  - a file with other hard links is kept when its category overwrites;
//  - an archive that also holds data not of this client (and matter) is kept whole: lethe
//    does not rewrite archives, so part of one cannot be erased;
//  - everything else is erased now, whatever its expiry: `delete` categories unlink, every
//    other action (sanitize, archive, encrypt, review) overwrites, because an erasure must
//    not leave a new archived or encrypted copy behind; an archive is sanitized whole.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/config.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One line of an erasure's report: a file in a share or an archive of lethe's.
struct ErasureItem {
    enum class Kind { File, Archive };
    enum class Outcome { Erased, WouldErase, Kept, Failed };
    Kind kind = Kind::File;
    Outcome outcome = Outcome::Kept;
    std::string root;
    std::string path;      // file: relative to the root; archive: the archive's file name
    std::string category;  // file: its category; archive: empty
    std::string action;    // what erasure does or would do: "sanitize" or "delete"
    std::string reason;    // why kept or failed
    std::vector<std::string> holds;
    std::string mandate;  // of a non-erasable category that keeps it
    uint64_t size = 0;
    uint64_t members = 0;  // archive: how many archived copies it holds
    uint64_t certificate = 0;

    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static std::string_view to_string(Outcome outcome);
};

struct ErasureRequest {
    std::string client;
    std::optional<std::string> matter;
    std::string reference;       // the firm's reference of the request
    std::string by;              // who asked lethe to carry it out
    bool confirm_large = false;  // allow more than max_disposals_per_pass
    // Called for every item as it is decided (kept) or done (erased, failed).
    std::function<void(const ErasureItem&)> on_item;

    // The `request` object every certificate of the erasure carries.
    [[nodiscard]] nlohmann::json certificate_field() const;
};

// The category and schedule a plan entry names; null when no loaded schedule defines them.
struct CategoryRef {
    const policy::RetentionSchedule* schedule = nullptr;
    const policy::Category* category = nullptr;
};
[[nodiscard]] CategoryRef find_category(const std::vector<policy::RetentionSchedule>& schedules,
                                        const std::string& schedule_id,
                                        const std::string& category_id);

// Whether one file of the client is erased, and how. When kept, `reason` (and `holds` /
// `mandate`) say why.
struct ErasureVerdict {
    bool erase = false;
    policy::Action action = policy::Action::Sanitize;  // Sanitize or Delete
    std::string reason;
    std::vector<std::string> holds;
    std::string mandate;
};
// Holds are those active on today in the zone of the entry's schedule.
[[nodiscard]] ErasureVerdict erasure_verdict(
    const PlanEntry& entry, const std::vector<policy::RetentionSchedule>& schedules,
    const HoldSet& holds, const policy::LocalToday& today);

// Whether one archive is in the request's scope, and if so whether it is erased.
struct ArchiveErasure {
    const IndexedArchive* archive = nullptr;
    ErasureVerdict verdict;
};
// The live archives that hold data of the client (and matter), with their verdicts. Members
// of archives written without a captured client are attributed with the schedules' path
// patterns, as the inventory does. Holds as in holds_on_archive.
[[nodiscard]] std::vector<ArchiveErasure> archives_in_scope(
    const ArchiveIndex& index, const std::vector<policy::RetentionSchedule>& schedules,
    const HoldSet& holds, const ErasureRequest& request, const policy::LocalToday& today);

// What a dry run found.
struct ErasureDryRun {
    uint64_t files = 0;     // files that would be erased
    uint64_t bytes = 0;     // their size
    uint64_t archives = 0;  // archives that would be sanitized whole
    uint64_t copies = 0;    // archived copies in them
    uint64_t held = 0;      // files and archives kept by holds
    uint64_t kept = 0;      // kept for another reason
    // More files and archived copies than max_disposals_per_pass: the erasure itself is
    // refused without --confirm-large.
    bool needs_confirm_large = false;
};

// `lethe erase --dry-run`: decides every file (only in `root` when given) and archive of the
// request as the erasure would, and reports each through request.on_item (WouldErase or
// Kept) as it is decided. Takes no lock and creates, changes or removes nothing, in
// state_dir or anywhere else; a pass may run meanwhile, and the erasure decides again.
// Fails when a root, the archive index or the hold store cannot be read.
[[nodiscard]] Result<ErasureDryRun> dry_run_erasure(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    const ErasureRequest& request, util::TimePoint now, const std::optional<std::string>& root);

}  // namespace lethe::service
